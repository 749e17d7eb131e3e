// `holo shell` against a real two-node cluster (docs/shell.md): every command through `-c` (tables
// and --json), the refusal of admin and read-only commands without the admin key (and the refusal
// counter in `health`), `kill NODE/ACTOR` restarting the actor (seen in `actors`, relayed through
// the connected node), `drain` sending new generations elsewhere, and the interactive shell on a
// pseudo-terminal (test/shell_pty.py: completion, history, Ctrl-C during gen, Ctrl-D).
#define BOOST_TEST_MODULE shell
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "runtime/client.hpp"
#include "test/cluster.hpp"
#include "test/streams.hpp"

using namespace std::chrono_literals;
using holo::test::cluster_fixture;
namespace proto = holo::proto;

namespace {

const std::string model_name = "tinyllama";

// Slow enough (a few hundred tokens/s on one core) that a long `gen` can be interrupted.
const std::string& model_path() {
  static holo::test::temp_dir dir;
  static std::string path = holo::test::make_model(HOLO_BIN, dir, "shell.gguf",
                                                      {"--preset", "tiny", "--layers", "8", "--embd", "768",
                                                       "--heads", "12", "--kv-heads", "4", "--ff", "2048",
                                                       "--vocab-size", "4096", "--type", "Q8_0", "-q"});
  return path;
}

struct run_result {
  int rc = -1;
  std::string out, err;
};

std::string read_file(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string quoted(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

struct shell_fixture {
  cluster_fixture c{2};
  int metrics_port = holo::test::free_port();
  int runs = 0;

  shell_fixture() {
    c.serve("[[model]]\nname = \"" + model_name + "\"\npath = \"" + model_path() +
            "\"\ncontext_length = 4096\nparallel = 4\n\n[[placement]]\nmodel = \"" + model_name +
            "\"\nnodes = [\"n1\", \"n2\"]\n\n[routing]\nmax_tokens = 4000\n");
    // n1 serves /metrics (one node only: two on one host cannot share the port).
    auto text = read_file(c.config_path());
    auto at = text.find("name = \"n1\"\n");
    BOOST_REQUIRE(at != std::string::npos);
    text.insert(at + 12, "metrics_endpoint = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n");
    c.dir().write("cluster.toml", text);
    for (auto& n : c.names()) c.start(n);
    BOOST_REQUIRE_MESSAGE(holo::test::eventually(60s, [&] { return ready_replicas("n1") == 2 && ready_replicas("n2") == 2; }),
                          "replicas never ready\n" << c.logs());
  }

  std::size_t ready_replicas(const std::string& router) {
    holo::client cl(c.client_endpoint(router));
    auto ms = cl.models(500ms);
    if (!ms || ms->empty()) return 0;
    std::size_t n = 0;
    for (auto& r : (*ms)[0].replicas) n += r.state == "ready";
    return n;
  }

  // `holo shell ENDPOINT ARGS -c CMD`, stdout and stderr apart.
  run_result shell(const std::string& cmd, const std::string& args = "", const std::string& node = "n1") {
    auto n = std::to_string(runs++);
    auto out = c.dir().file("sh" + n + ".out"), err = c.dir().file("sh" + n + ".err");
    std::string line = std::string(HOLO_BIN) + " shell " + c.client_endpoint(node) + " " + args + " -c " + quoted(cmd) +
                       " >" + out + " 2>" + err;
    holo::test::child_process p({"/bin/sh", "-c", line}, c.dir().file("sh" + n + ".log"));
    run_result r;
    auto rc = p.wait_exit(60s);
    r.rc = rc ? *rc : -1;
    r.out = read_file(out);
    r.err = read_file(err);
    BOOST_TEST_MESSAGE("$ holo shell " << args << " -c '" << cmd << "' -> " << r.rc << "\n" << r.out << r.err);
    return r;
  }
  run_result admin(const std::string& cmd, const std::string& node = "n1") {
    return shell(cmd, "--admin-key " + c.admin_key_file(), node);
  }
};

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// The number in `"KEY":N` of a JSON text (the first), or -1.
std::int64_t json_int(const std::string& text, const std::string& key) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex("\"" + key + "\":(-?[0-9]+)"))) return std::stoll(m[1]);
  return -1;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(every_command_refusals_kill_drain_and_the_terminal, shell_fixture) {
  // ---- read-only and open commands --------------------------------------------------------------
  auto r = shell("nodes", "--json");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(has(r.out, "\"node\":\"n2\",\"state\":\"up\""), r.out);
  {
    // No memory hints here: every node announced the memory it can give to models, measured
    // (runtime/memory_available.hpp): more than nothing, no more than its total.
    std::regex mem("\"memory_gib\":([0-9.eE+-]+),\"free_gib\":([0-9.eE+-]+)");
    int seen = 0;
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), mem); it != std::sregex_iterator(); ++it, ++seen) {
      const double total = std::stod((*it)[1]), free = std::stod((*it)[2]);
      BOOST_TEST(free > 0.0, r.out);
      BOOST_TEST(free <= total, r.out);
    }
    BOOST_TEST(seen == 2, r.out);
  }
  r = shell("models");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST((has(r.out, "MODEL") && has(r.out, model_name) && has(r.out, "n2=ready")), r.out);
  r = shell("health");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST((has(r.out, "ADMIN_REFUSALS") && has(r.out, "client_api")), r.out);
  r = shell("help");
  BOOST_TEST(r.rc == 0);
  for (auto* cmd : {"nodes", "actors", "models", "placement", "plan", "requests", "gen", "kill", "drain", "checkpoint",
                    "backup", "metrics", "trace", "help", "quit"})
    BOOST_TEST(has(r.out, std::string(cmd)), cmd);
  BOOST_TEST(shell("frobnicate").rc == 2);
  BOOST_TEST(shell("drain").rc == 2);

  r = admin("actors");
  BOOST_TEST(r.rc == 0);
  for (auto* a : {"NAME", "SUPERVISOR", "RESTARTS", "MAILBOX", "transport", "health", "router", "shards", "s:0",
                  "client_api"})
    BOOST_TEST(has(r.out, std::string(a)), a << " missing in\n" << r.out);
  r = admin("actors n2", "n1");  // relayed to n2 through n1
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(has(r.out, "s:0"), r.out);
  r = shell("placement", "--json");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(has(r.out, "\"node\":\"n2\",\"shard\":\"s:0\",\"state\":\"ready\""), r.out);
  // The placement plan (open): the model is pinned to both nodes, so whole on each.
  r = shell("plan");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST((has(r.out, "plan of n1: revision") && has(r.out, model_name + "  whole") && has(r.out, "n1 ") &&
              has(r.out, "n2 ")),
             r.out);

  // ---- gen, trace, requests ----------------------------------------------------------------------
  r = shell("gen -n 6 " + model_name + " hello there", "--json");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(json_int(r.out, "generated_tokens") == 6, r.out);
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(r.out, m, std::regex("\"id\":\"(sh-[0-9]+)\"")));
  const std::string gen_id = m[1];
  r = admin("trace " + gen_id);
  BOOST_TEST(r.rc == 0);
  for (auto* e : {"received", "admitted", "placed", "first_token", "done"}) BOOST_TEST(has(r.out, std::string(e)), e);
  BOOST_TEST(admin("trace no-such-request").rc == 1);

  holo::test::stream_set streams;
  proto::generate_request req;
  req.id = "long-1";
  req.model = model_name;
  req.prompt = "A long story";
  req.options.max_tokens = 3000;
  req.options.ignore_eos = true;  // a random model may draw EOS at any step; this one must still run
  streams.start(c.client_endpoint("n1"), req);
  BOOST_REQUIRE(streams.pump_until(20s, [&] { return streams["long-1"].tokens.size() >= 3; }));
  r = admin("requests", "n1");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST((has(r.out, "long-1") && has(r.out, "running") && has(r.out, "PROGRESS_PCT")), r.out);
  r = shell("requests", "--admin-key " + c.admin_key_file() + " --json");
  BOOST_TEST(json_int(r.out, "tokens") >= 3, r.out);
  streams.disconnect(c.client_endpoint("n1"));

  // ---- refusals ---------------------------------------------------------------------------------
  r = shell("health", "--json");
  const auto refusals_before = json_int(r.out, "admin_refusals");
  BOOST_TEST(refusals_before >= 0, r.out);
  r = shell("actors");
  BOOST_TEST(r.rc == 3);
  BOOST_TEST(has(r.err, "permission_denied"), r.err);
  r = shell("kill n1/s:0");
  BOOST_TEST(r.rc == 3);
  auto wrong = c.dir().file("wrong.key");
  {
    std::ofstream f(wrong);
    f << std::string(64, 'a') << "\n";
  }
  ::chmod(wrong.c_str(), 0600);
  r = shell("drain n2", "--admin-key " + wrong);
  BOOST_TEST(r.rc == 3);
  BOOST_TEST(has(r.err, "wrong admin key"), r.err);
  ::chmod(wrong.c_str(), 0644);
  BOOST_TEST(shell("nodes", "--admin-key " + wrong).rc == 2);  // a key file others may read is refused
  r = shell("health", "--json");
  BOOST_TEST(json_int(r.out, "admin_refusals") == refusals_before + 3, r.out);

  // ---- kill: the actor restarts, visible in `actors` -----------------------------------------------
  auto restarts = [&](const std::string& node, const std::string& actor) -> std::int64_t {
    auto a = admin("actors " + node);
    std::smatch mm;
    if (std::regex_search(a.out, mm, std::regex("\\n" + actor + " +[a-z_]+ +[a-z]+ +([0-9]+)"))) return std::stoll(mm[1]);
    return -1;
  };
  BOOST_TEST(restarts("n2", "s:0") == 0);
  r = admin("kill n2/s:0");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(has(r.out, "ok: kill"), r.out);
  BOOST_TEST(holo::test::eventually(10s, [&] { return restarts("n2", "s:0") == 1; }));
  r = admin("kill n1/router");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(holo::test::eventually(10s, [&] { return restarts("n1", "router") == 1; }));
  BOOST_TEST(admin("kill n1/nothing").rc == 1);
  BOOST_REQUIRE(holo::test::eventually(30s, [&] { return ready_replicas("n1") == 2; }));

  // ---- drain: new generations go elsewhere ---------------------------------------------------------
  r = admin("drain n2");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(has(r.out, "ok: drain: draining s:0 on n2"), r.out);
  BOOST_TEST(holo::test::eventually(5s, [&] { return has(shell("placement").out, "draining"); }));
  for (int i = 0; i < 4; ++i) {
    r = shell("gen -n 2 " + model_name + " drained " + std::to_string(i), "--json");
    BOOST_TEST(r.rc == 0);
    BOOST_TEST(has(r.out, "\"node\":\"n1\""), r.out);
  }
  r = admin("drain n2 off");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(holo::test::eventually(5s, [&] { return ready_replicas("n1") == 2; }));

  // ---- checkpoint / backup: this cluster runs no store or backup actor ---------------------------
  r = admin("checkpoint");
  BOOST_TEST(r.rc == 1);
  BOOST_TEST((has(r.err, "unavailable") && has(r.err, "store")), r.err);
  r = admin("backup list");
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "backup"), r.err);
  BOOST_TEST(shell("backup now").rc == 3);

  // ---- metrics over HTTP ------------------------------------------------------------------------
  r = shell("metrics holo_");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST((has(r.out, "METRIC") && has(r.out, "holo_")), r.out);
  r = shell("metrics", "", "n2");  // n2 has no metrics endpoint
  BOOST_TEST(r.rc == 1);

  // ---- the terminal ------------------------------------------------------------------------------
  holo::test::temp_dir state;
  auto log = c.dir().file("pty.log");
  holo::test::child_process pty({"/usr/bin/python3", std::string(HOLO_SOURCE_DIR) + "/test/shell_pty.py", HOLO_BIN,
                                 c.client_endpoint("n1"), c.admin_key_file(), state.path(), model_name},
                                log);
  auto rc = pty.wait_exit(90s);
  BOOST_TEST((rc && *rc == 0), "shell_pty.py failed:\n" << pty.log());
  BOOST_TEST_MESSAGE("shell_pty.py:\n" << pty.log());
}

// `checkpoint` on a node with the store role (SQLite): the router writes the request-journal row of
// every generation in flight now, in one store batch, and says how many once the store committed
// them; with nothing in flight it says 0. The rows are in the node's store (`holo store check`).
BOOST_AUTO_TEST_CASE(checkpoint_writes_the_journal_of_every_generation_in_flight) {
  cluster_fixture c(1);
  c.serve("[[model]]\nname = \"" + model_name + "\"\npath = \"" + model_path() +
          "\"\ncontext_length = 4096\nparallel = 4\n\n[[placement]]\nmodel = \"" + model_name +
          "\"\nnodes = [\"n1\"]\n\n[routing]\nmax_tokens = 4000\n");
  auto text = read_file(c.config_path());
  const std::string from = "roles = [\"router\", \"shard\"]";
  auto at = text.find(from);
  BOOST_REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), "roles = [\"router\", \"shard\", \"store\"]");
  c.dir().write("store.toml", text);
  const auto config = c.dir().file("store.toml");
  c.start("n1", config);
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(60s,
                                               [&] {
                                                 holo::client cl(c.client_endpoint("n1"));
                                                 auto ms = cl.models(500ms);
                                                 return ms && !ms->empty() && !(*ms)[0].replicas.empty() &&
                                                        (*ms)[0].replicas[0].state == "ready";
                                               }),
                        "model never ready\n" << c.logs());
  int runs = 0;
  auto admin = [&](const std::string& cmd) {
    auto n = std::to_string(runs++);
    auto out = c.dir().file("ck" + n + ".out"), err = c.dir().file("ck" + n + ".err");
    holo::test::child_process p({"/bin/sh", "-c", std::string(HOLO_BIN) + " shell " + c.client_endpoint("n1") +
                                                      " --admin-key " + c.admin_key_file() + " -c " + quoted(cmd) +
                                                      " >" + out + " 2>" + err},
                                c.dir().file("ck" + n + ".log"));
    auto rc = p.wait_exit(60s);
    run_result r{rc ? *rc : -1, read_file(out), read_file(err)};
    BOOST_TEST_MESSAGE("$ holo shell -c '" << cmd << "' -> " << r.rc << "\n" << r.out << r.err);
    return r;
  };
  holo::test::stream_set s;
  for (auto* id : {"ck1", "ck2"}) {
    proto::generate_request req;
    req.id = id;
    req.model = model_name;
    req.prompt = std::string("checkpoint me ") + id;
    req.options.max_tokens = 4000;
    req.options.ignore_eos = true;
    s.start(c.client_endpoint("n1"), req);
  }
  BOOST_REQUIRE(s.pump_until(30s, [&] { return s["ck1"].tokens.size() >= 5 && s["ck2"].tokens.size() >= 5; }));
  auto r = admin("checkpoint");
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(has(r.out, "checkpoint: 2 generation(s) checkpointed on n1, committed by the store in"), r.out);
  // Both rows are in the store (read beside the running node: SQLite WAL).
  c.dir().write("ids.txt", "anon:ck1\nanon:ck2\n");
  holo::test::child_process check({HOLO_BIN, "store", "check", "--config", config, "--name", "n1", "--expect-ids",
                                   c.dir().file("ids.txt")},
                                  c.dir().file("check.log"));
  auto rc = check.wait_exit(30s);
  BOOST_TEST((rc && *rc == 0), check.log());
  // Cancelled, their final rows written: nothing left to checkpoint.
  for (auto* id : {"ck1", "ck2"}) s.send_raw(c.client_endpoint("n1"), proto::encode_cancel(id));
  BOOST_REQUIRE(s.run(30s));
  BOOST_TEST(holo::test::eventually(10s, [&] { return has(admin("checkpoint").out, "0 generations to checkpoint on n1"); }));
}
