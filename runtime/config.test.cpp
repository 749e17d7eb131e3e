#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>

#include "runtime/config.hpp"

using holo::config::load_file;
using holo::config::load_string;

namespace {

const std::string src = HOLO_SOURCE_DIR;

// The whole error text for `toml`, which must fail to load.
std::string error_of(const std::string& toml) {
  auto r = load_string(toml, "t.toml");
  BOOST_REQUIRE_MESSAGE(!r.ok(), "expected a rejection of:\n" << toml);
  BOOST_CHECK(r.error().code() == holo::status_code::invalid_argument);
  return r.error().message();
}

const std::string node_ok =
    "[[node]]\n"
    "name = \"a\"\n"
    "cluster_endpoint = \"tcp://127.0.0.1:7000\"\n";

template <class T>
std::string why(const holo::result<T>& r) {
  return r.ok() ? std::string("ok") : r.error().to_string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(shipped_configs_load) {
  auto local = load_file(src + "/config/local.toml");
  BOOST_REQUIRE_MESSAGE(local.ok(), why(local));
  BOOST_CHECK_EQUAL(local->name, "local");
  BOOST_REQUIRE_EQUAL(local->nodes.size(), 3u);
  BOOST_CHECK_EQUAL(local->nodes[1].client_endpoint, "tcp://127.0.0.1:7712");
  BOOST_CHECK(local->find_model("tiny") == local->find_model("demo"));
  BOOST_CHECK_EQUAL(local->resolve_path(local->nodes[0].data_dir), src + "/var/local-1");

  auto seed = load_file(src + "/config/holobionte.toml");
  BOOST_REQUIRE_MESSAGE(seed.ok(), why(seed));
  BOOST_CHECK_EQUAL(seed->nodes.size(), 4u);
  auto nodo4 = seed->find_node("nodo4");
  BOOST_REQUIRE(nodo4);
  BOOST_REQUIRE_EQUAL(nodo4->gpus.size(), 2u);
  BOOST_CHECK_EQUAL(nodo4->gpus[1].memory_gib, 48.0);
  BOOST_CHECK_EQUAL(seed->persistence.backend, "postgres");
  BOOST_CHECK(seed->backup.enabled);
  BOOST_CHECK_EQUAL(seed->find_model("light")->name, "qwen2-0.5b");
}

BOOST_AUTO_TEST_CASE(defaults_fill_what_is_left_out) {
  auto r = load_string(node_ok, "t.toml");
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(r->nodes[0].roles.size(), 3u);
  BOOST_CHECK_EQUAL(r->nodes[0].data_dir, "var/a");
  BOOST_CHECK_EQUAL(r->persistence.backend, "sqlite");
  BOOST_CHECK_EQUAL(r->health.heartbeat_interval_ms, 250);
  BOOST_CHECK_EQUAL(r->transport.coalesce_us, 100);
  BOOST_CHECK_EQUAL(r->routing.policy, "least_loaded");
  auto off = load_string(node_ok + "[transport]\ncoalesce_us = 0\n", "t.toml");
  BOOST_REQUIRE(off.ok());
  BOOST_CHECK_EQUAL(off->transport.coalesce_us, 0);
}

BOOST_AUTO_TEST_CASE(syntax_error_names_line_and_column) {
  auto e = error_of("[[node]]\nname = \"a\n");
  BOOST_CHECK_MESSAGE(e.rfind("t.toml:2:", 0) == 0, e);
  BOOST_CHECK(e.find("TOML syntax error") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_named_with_their_line) {
  auto e = error_of(node_ok + "colour = \"blue\"\n");
  BOOST_CHECK_EQUAL(e, "t.toml:4:1: node[0].colour: unknown key");
  e = error_of(node_ok + "[routing]\npolcy = \"x\"\n");
  BOOST_CHECK_EQUAL(e, "t.toml:5:1: routing.polcy: unknown key");
  e = error_of(node_ok + "[surprise]\nx = 1\n");
  BOOST_CHECK_MESSAGE(e.find("surprise: unknown key") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(wrong_types_say_what_was_expected) {
  auto e = error_of(node_ok + "hardware = { cores = \"many\" }\n");
  BOOST_CHECK_MESSAGE(e.find("t.toml:4:22: node[0].hardware.cores: expected an integer, got a string") == 0, e);
  e = error_of(node_ok + "roles = \"router\"\n");
  BOOST_CHECK_MESSAGE(e.find("node[0].roles: expected an array of strings, got a string") != std::string::npos, e);
  e = error_of(node_ok + "[metrics]\nenabled = 1\n");
  BOOST_CHECK_MESSAGE(e.find("metrics.enabled: expected a boolean, got an integer") != std::string::npos, e);
  // An integer is accepted where a number is expected.
  BOOST_CHECK(load_string(node_ok + "hardware = { memory_gib = 16 }\n", "t.toml").ok());
  // The planner's speed hint: a positive number.
  auto sp = load_string(node_ok + "hardware = { speed = 2.5 }\n", "t.toml");
  BOOST_REQUIRE(sp.ok());
  BOOST_CHECK_EQUAL(sp->nodes[0].speed.value_or(0), 2.5);
  e = error_of(node_ok + "hardware = { speed = 0 }\n");
  BOOST_CHECK_MESSAGE(e.find("node[0].hardware.speed") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(missing_required_values_are_named) {
  auto e = error_of("[[node]]\nname = \"a\"\n");
  BOOST_CHECK_EQUAL(e, "t.toml:1:1: node[0].cluster_endpoint: required value is missing");
  e = error_of("[cluster]\nname = \"x\"\n");
  BOOST_CHECK_MESSAGE(e.find("node: required value is missing") != std::string::npos, e);
  e = error_of(node_ok + "[[model]]\nname = \"m\"\n");
  BOOST_CHECK_MESSAGE(e.find("model[0].path: required value is missing") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(values_out_of_range_or_not_allowed) {
  auto e = error_of(node_ok + "[transport]\ncoalesce_us = 5000\n");
  BOOST_CHECK_MESSAGE(e.find("transport.coalesce_us: value 5000 is out of range [0, 1000]") != std::string::npos, e);
  e = error_of(node_ok + "[health]\nheartbeat_interval_ms = 0\n");
  BOOST_CHECK_MESSAGE(e.find("health.heartbeat_interval_ms: value 0 is out of range [10, 60000]") != std::string::npos, e);
  e = error_of(node_ok + "roles = [\"router\", \"chef\"]\n");
  BOOST_CHECK_MESSAGE(e.find("'chef' is not one of: router, shard, store, sync, backup") != std::string::npos, e);
  e = error_of("[[node]]\nname = \"a\"\ncluster_endpoint = \"127.0.0.1:7000\"\n");
  BOOST_CHECK_MESSAGE(e.find("is not a ZeroMQ endpoint") != std::string::npos, e);
  e = error_of(node_ok + "[persistence]\nbackend = \"mysql\"\n");
  BOOST_CHECK_MESSAGE(e.find("persistence.backend: 'mysql' is not one of: sqlite, postgres") != std::string::npos, e);
  e = error_of(node_ok + "[backup]\nenabled = true\n");
  BOOST_CHECK_MESSAGE(e.find("backup.key_file: required when backup.enabled") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(references_and_duplicates_are_checked) {
  auto two = node_ok + "[[node]]\nname = \"a\"\ncluster_endpoint = \"tcp://127.0.0.1:7001\"\n";
  auto e = error_of(two);
  BOOST_CHECK_MESSAGE(e.find("node[1].name: duplicate node name 'a'") != std::string::npos, e);
  auto same_port = node_ok + "[[node]]\nname = \"b\"\ncluster_endpoint = \"tcp://127.0.0.1:7000\"\n";
  e = error_of(same_port);
  BOOST_CHECK_MESSAGE(e.find("endpoint 'tcp://127.0.0.1:7000' is used twice") != std::string::npos, e);
  e = error_of(node_ok + "[[placement]]\nmodel = \"ghost\"\nnodes = [\"a\", \"b\"]\n");
  BOOST_CHECK_MESSAGE(e.find("placement[0].model: unknown model 'ghost'") != std::string::npos, e);
  BOOST_CHECK_MESSAGE(e.find("placement[0].nodes: unknown node 'b'") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(every_problem_is_reported_at_once) {
  auto e = error_of("[[node]]\nname = \"a\"\ncolour = 1\ncores = 2\n");
  // missing cluster_endpoint + two unknown keys: three lines.
  BOOST_CHECK_EQUAL(std::count(e.begin(), e.end(), '\n'), 2);
}

BOOST_AUTO_TEST_CASE(select_node_by_name) {
  auto local = load_file(src + "/config/local.toml");
  BOOST_REQUIRE(local.ok());
  auto n = holo::config::select_node(*local, "local-3");
  BOOST_REQUIRE(n.ok());
  BOOST_CHECK_EQUAL(n->cluster_endpoint, "tcp://127.0.0.1:7703");
  auto none = holo::config::select_node(*local, "");
  BOOST_REQUIRE(!none.ok());
  BOOST_CHECK(none.error().message().find("choose one with --name (local-1, local-2, local-3)") != std::string::npos);
  BOOST_CHECK(!holo::config::select_node(*local, "zzz").ok());
  BOOST_CHECK(!load_file(src + "/config/does-not-exist.toml").ok());
}

BOOST_AUTO_TEST_CASE(http_keys) {
  auto ok = load_string(node_ok + "[[http_key]]\nname = \"webui\"\nkey = \"sk-0123456789abcdef\"\n"
                                  "[[http_key]]\nname = \"ops\"\nkey_file = \"keys/ops.key\"\n", "t.toml");
  BOOST_REQUIRE_MESSAGE(ok.ok(), why(ok));
  BOOST_REQUIRE_EQUAL(ok->http_keys.size(), 2u);
  BOOST_CHECK_EQUAL(ok->http_keys[0].key, "sk-0123456789abcdef");
  BOOST_CHECK_EQUAL(ok->http_keys[1].key_file, "keys/ops.key");
  auto both = error_of(node_ok + "[[http_key]]\nname = \"a\"\nkey = \"sk-0123456789abcdef\"\nkey_file = \"f\"\n");
  BOOST_CHECK_MESSAGE(both.find("t.toml:6:") != std::string::npos &&
                          both.find("http_key[0].key: give exactly one of key and key_file") != std::string::npos,
                      both);
  BOOST_CHECK(error_of(node_ok + "[[http_key]]\nname = \"a\"\nkey = \"short\"\n").find("16 to 256") != std::string::npos);
  BOOST_CHECK(error_of(node_ok + "[[http_key]]\nname = \"a\"\nkey = \"has a space in the key\"\n").find("printable") !=
              std::string::npos);
  BOOST_CHECK(error_of(node_ok + "[[http_key]]\nkey = \"sk-0123456789abcdef\"\n").find("http_key[0].name") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sync_section) {
  auto ok = load_string(node_ok + "[sync]\ncentral_dsn = \"host=db dbname=central\"\ninterval_ms = 250\nbatch_rows = 100\n", "t.toml");
  BOOST_REQUIRE_MESSAGE(ok.ok(), why(ok));
  BOOST_CHECK_EQUAL(ok->sync.central_dsn, "host=db dbname=central");
  BOOST_CHECK_EQUAL(ok->sync.interval_ms, 250);
  BOOST_CHECK_EQUAL(ok->sync.batch_rows, 100);
  BOOST_CHECK_EQUAL(ok->sync.reconnect_max_ms, 10000);
  auto e = error_of(node_ok + "[sync]\nreconnect_min_ms = 500\nreconnect_max_ms = 100\n");
  BOOST_CHECK_MESSAGE(e.find("sync.reconnect_max_ms: must be >= reconnect_min_ms (500)") != std::string::npos, e);
  BOOST_CHECK(error_of(node_ok + "[sync]\nbatch_rows = 0\n").find("sync.batch_rows") != std::string::npos);
  BOOST_CHECK(error_of(node_ok + "[sync]\ncentral = \"x\"\n").find("sync.central") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(pipeline_stages) {
  const std::string two_nodes = node_ok +
                                "[[node]]\nname = \"b\"\ncluster_endpoint = \"tcp://127.0.0.1:7001\"\n"
                                "[[model]]\nname = \"m\"\npath = \"m.gguf\"\n";
  auto ok = load_string(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\", layers = 10 }, "
                                    "{ node = \"b\", layers = 22 }]\n",
                        "t.toml");
  BOOST_REQUIRE_MESSAGE(ok.ok(), why(ok));
  BOOST_REQUIRE_EQUAL(ok->placements[0].stages.size(), 2u);
  BOOST_CHECK_EQUAL(ok->placements[0].stages[1].node, "b");
  BOOST_CHECK_EQUAL(ok->placements[0].stages[1].layers, 22);
  BOOST_CHECK(ok->placements[0].nodes.empty());
  auto even = load_string(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\" }]\n",
                          "t.toml");
  BOOST_REQUIRE_MESSAGE(even.ok(), why(even));
  BOOST_CHECK_EQUAL(even->placements[0].stages[0].layers, 0);
  auto e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nnodes = [\"a\"]\nstages = [{ node = \"a\" }, { node = \"b\" }]\n");
  BOOST_CHECK_MESSAGE(e.find("not both") != std::string::npos, e);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }]\n");
  BOOST_CHECK_MESSAGE(e.find("at least 2 stages") != std::string::npos, e);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\", layers = 3 }, { node = \"b\" }]\n");
  BOOST_CHECK_MESSAGE(e.find("on every stage, or on none") != std::string::npos, e);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"a\" }]\n");
  BOOST_CHECK_MESSAGE(e.find("holds two stages") != std::string::npos, e);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"zz\" }]\n");
  BOOST_CHECK_MESSAGE(e.find("unknown node 'zz'") != std::string::npos, e);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\", layer = 3 }]\n");
  BOOST_CHECK_MESSAGE(e.find("unknown key") != std::string::npos, e);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\", layers = 0 }]\n");
  BOOST_CHECK_MESSAGE(e.find("layers") != std::string::npos, e);
  // Standbys: later stages only, on nodes that hold nothing else of the pipeline.
  const std::string three = two_nodes + "[[node]]\nname = \"c\"\ncluster_endpoint = \"tcp://127.0.0.1:7002\"\n";
  auto sb = load_string(three + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\", standby = [\"c\"] }]\n",
                        "t.toml");
  BOOST_REQUIRE_MESSAGE(sb.ok(), why(sb));
  BOOST_REQUIRE_EQUAL(sb->placements[0].stages[1].standby.size(), 1u);
  BOOST_CHECK_EQUAL(sb->placements[0].stages[1].standby[0], "c");
  e = error_of(three + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\", standby = [\"c\"] }, { node = \"b\" }]\n");
  BOOST_CHECK_MESSAGE(e.find("head") != std::string::npos, e);
  e = error_of(three + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\", standby = [\"a\"] }]\n");
  BOOST_CHECK_MESSAGE(e.find("holds two stages") != std::string::npos, e);
  e = error_of(three + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\", standby = [\"zz\"] }]\n");
  BOOST_CHECK_MESSAGE(e.find("unknown standby node 'zz'") != std::string::npos, e);
  // Replicas: for planned models only (pinned nodes each hold one already).
  auto rp = load_string(two_nodes + "[[placement]]\nmodel = \"m\"\nreplicas = 2\n", "t.toml");
  BOOST_REQUIRE_MESSAGE(rp.ok(), why(rp));
  BOOST_CHECK_EQUAL(rp->placements[0].replicas, 2);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nnodes = [\"a\"]\nreplicas = 2\n");
  BOOST_CHECK_MESSAGE(e.find("placement[0].replicas: replicas is for a model the plan places") != std::string::npos, e);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\" }]\nreplicas = 3\n");
  BOOST_CHECK_MESSAGE(e.find("replicas is for a model the plan places") != std::string::npos, e);
  e = error_of(two_nodes + "[[placement]]\nmodel = \"m\"\nreplicas = 0\n");
  BOOST_CHECK_MESSAGE(e.find("placement[0].replicas") != std::string::npos, e);
  // Spares: pipelines only, nodes holding nothing else of it.
  auto sp = load_string(three + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\" }]\nspares = [\"c\"]\n",
                        "t.toml");
  BOOST_REQUIRE_MESSAGE(sp.ok(), why(sp));
  BOOST_REQUIRE_EQUAL(sp->placements[0].spares.size(), 1u);
  BOOST_CHECK_EQUAL(sp->placements[0].spares[0], "c");
  e = error_of(three + "[[placement]]\nmodel = \"m\"\nnodes = [\"a\"]\nspares = [\"c\"]\n");
  BOOST_CHECK_MESSAGE(e.find("give `stages` too") != std::string::npos, e);
  e = error_of(three + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\" }]\nspares = [\"b\"]\n");
  BOOST_CHECK_MESSAGE(e.find("holds two stages") != std::string::npos, e);
  e = error_of(three + "[[placement]]\nmodel = \"m\"\nstages = [{ node = \"a\" }, { node = \"b\" }]\nspares = [\"zz\"]\n");
  BOOST_CHECK_MESSAGE(e.find("unknown spare node 'zz'") != std::string::npos, e);
}
