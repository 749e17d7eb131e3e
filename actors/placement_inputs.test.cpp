#define BOOST_TEST_MODULE placement_inputs
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

#include "actors/placement_inputs.hpp"
#include "gpu/model_builder.hpp"

using namespace holo;
namespace fs = std::filesystem;

namespace {

// The tiny preset with 3 layers, F16 matrices (F32 norms), written by the builder `holo mkmodel`
// uses. Byte sizes below follow from its shape: n_embd 256, 4 heads of 64, 2 KV heads, n_ff 512,
// vocab 1024, trained context 512.
struct built {
  fs::path path;
  explicit built(bool tied) {
    auto spec = gpu::model_preset("tiny");
    BOOST_REQUIRE(spec.ok());
    spec->n_layer = 3;
    spec->tied_output = tied;
    path = fs::temp_directory_path() /
           ("holo_placement_inputs_" + std::to_string(::getpid()) + (tied ? "_tied" : "") + ".gguf");
    auto r = gpu::build_model(*spec, path.string());
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().to_string()));
  }
  ~built() { fs::remove(path); }
};

constexpr std::uint64_t norm = 256 * 4;                  // F32 [n_embd]
constexpr std::uint64_t layer_bytes = norm + 256 * 256 * 2 + 2 * (256 * 128 * 2) + 256 * 256 * 2 + norm +
                                      3 * (256 * 512 * 2);  // attn_norm q k v o ffn_norm gate up down
constexpr std::uint64_t embd = 256 * 1024 * 2;           // F16 [n_embd, n_vocab]

config::cluster_config load(const std::string& toml) {
  auto r = config::load_string(toml, "t.toml");
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().to_string()));
  return *r;
}

const std::string nodes_toml =
    "[[node]]\nname = \"a\"\ncluster_endpoint = \"tcp://127.0.0.1:7000\"\n"
    "[[node]]\nname = \"b\"\ncluster_endpoint = \"tcp://127.0.0.1:7001\"\n";

wire::member_info member(std::string name, std::string state, std::int64_t cores, std::uint64_t memory) {
  wire::member_info m;
  m.node = std::move(name);
  m.state = std::move(state);
  m.cores = cores;
  m.memory_bytes = memory;
  return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(sizes_come_from_the_gguf_header) {
  built f(false);
  auto s = read_model_sizes(f.path.string());
  BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? std::string() : s.error().to_string()));
  BOOST_CHECK_EQUAL(s->n_layers, 3);
  BOOST_CHECK_EQUAL(s->layer_bytes_total, 3 * layer_bytes);
  BOOST_CHECK_EQUAL(s->embd_bytes, embd);
  BOOST_CHECK_EQUAL(s->head_bytes, embd + norm);  // output.weight + output_norm
  BOOST_CHECK_EQUAL(s->kv_bytes_per_position, 2u * 2 * 64 * 2);  // K and V, 2 KV heads of 64, F16
  BOOST_CHECK_EQUAL(s->n_ctx_train, 512);
}

BOOST_AUTO_TEST_CASE(a_tied_model_has_no_head_bytes) {
  built f(true);
  auto s = read_model_sizes(f.path.string());
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK_EQUAL(s->head_bytes, 0u);
  BOOST_CHECK_EQUAL(s->embd_bytes, embd + norm);  // output_norm rides with the embeddings
  BOOST_CHECK_EQUAL(s->layer_bytes_total, 3 * layer_bytes);
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_not_found) {
  auto s = read_model_sizes("/nonexistent/holo/model.gguf");
  BOOST_REQUIRE(!s.ok());
  BOOST_CHECK(s.error().code() == status_code::not_found);
}

BOOST_AUTO_TEST_CASE(the_planner_model_takes_context_parallel_and_pins_from_the_config) {
  built f(false);
  auto s = read_model_sizes(f.path.string());
  BOOST_REQUIRE(s.ok());
  auto cfg = load(nodes_toml +
                  "[[model]]\nname = \"m\"\npath = \"" + f.path.string() + "\"\nparallel = 3\n"
                  "[[model]]\nname = \"long\"\npath = \"x.gguf\"\ncontext_length = 8192\nparallel = 2\n"
                  "[[placement]]\nmodel = \"m\"\nnodes = [\"b\"]\nbackend = \"cpu\"\n"
                  "[[placement]]\nmodel = \"m\"\nnodes = [\"a\", \"b\"]\n");
  auto pm = make_planner_model(cfg, cfg.models[0], *s);
  BOOST_CHECK_EQUAL(pm.name, "m");
  BOOST_CHECK_EQUAL(pm.n_layers, 3);
  BOOST_CHECK_EQUAL(pm.layer_bytes_total, 3 * layer_bytes);
  BOOST_CHECK_EQUAL(pm.kv_bytes_per_layer, 512u * 512 * 3);  // the model's own 512 positions x 3 sessions
  BOOST_CHECK_EQUAL(pm.backend, "cpu");
  BOOST_CHECK(pm.pinned_nodes == (std::vector<std::string>{"b", "a"}));
  BOOST_CHECK_EQUAL(pm.replicas_wanted, 1);
  BOOST_CHECK_EQUAL(model_path(cfg, cfg.models[0]), f.path.string());

  auto pl = make_planner_model(cfg, cfg.models[1], *s);
  BOOST_CHECK_EQUAL(pl.kv_bytes_per_layer, 512u * 8192 * 2);
  BOOST_CHECK(pl.pinned_nodes.empty());
  BOOST_CHECK_EQUAL(pl.backend, "auto");
  BOOST_CHECK_EQUAL(model_path(cfg, cfg.models[1]), cfg.resolve_path("x.gguf"));
  BOOST_CHECK(fs::path(model_path(cfg, cfg.models[1])).is_absolute());

  // A planned placement's `replicas` is what the planner is asked for.
  auto planned = load(nodes_toml + "[[model]]\nname = \"m\"\npath = \"" + f.path.string() +
                      "\"\n[[placement]]\nmodel = \"m\"\nreplicas = 2\n");
  BOOST_CHECK_EQUAL(make_planner_model(planned, planned.models[0], *s).replicas_wanted, 2);
}

BOOST_AUTO_TEST_CASE(nodes_come_from_the_membership_view) {
  auto m = member("a", "up", 8, 16ull << 30);
  m.gpus.push_back({"GPU 0", 24ull << 30});
  auto nodes = make_planner_nodes({m, member("b", "suspect", 0, 4ull << 30), member("c", "down", 4, 1ull << 30),
                                   member("d", "joining", 0, 0), member("e", "left", 2, 1ull << 30)});
  BOOST_REQUIRE_EQUAL(nodes.size(), 5u);
  BOOST_CHECK_EQUAL(nodes[0].free_memory_bytes, 16ull << 30);
  BOOST_CHECK(nodes[0].gpu_free_bytes == (std::vector<std::uint64_t>{24ull << 30}));
  BOOST_CHECK_EQUAL(nodes[0].speed, 8.0);  // cores: the speed proxy
  BOOST_CHECK(nodes[0].up);
  BOOST_CHECK(nodes[1].up);                // suspect still counts
  BOOST_CHECK_EQUAL(nodes[1].speed, 1.0);  // cores unknown
  BOOST_CHECK(!nodes[2].up);
  BOOST_CHECK(!nodes[3].up);
  BOOST_CHECK(!nodes[4].up);
}

BOOST_AUTO_TEST_CASE(an_announced_speed_beats_the_core_count_and_a_change_of_it_replans) {
  auto a = member("a", "up", 8, 1);
  auto b = member("b", "up", 2, 1);
  b.speed = 21.5;  // measured GB/s
  auto nodes = make_planner_nodes({a, b});
  BOOST_CHECK_EQUAL(nodes[0].speed, 8.0);
  BOOST_CHECK_EQUAL(nodes[1].speed, 21.5);
  auto b2 = b;
  b2.speed = 9;
  BOOST_CHECK_EQUAL(describe_member_changes({a, b}, {a, b2}), "b speed 21.5 -> 9");
}

// Links come from what every member announced, so any node reading the same view gets the same
// table (its own rtt_ms, which only it measured, is not read); only between up members.
BOOST_AUTO_TEST_CASE(links_are_the_announced_round_trips_of_up_members_in_whole_ms) {
  auto a = member("a", "up", 2, 1);
  a.links = {{"b", 0.31}, {"c", 12.9}, {"d", 3}, {"e", 40}};  // d down, e unknown to the view
  a.rtt_ms = 99;  // the viewer's own measure: not read
  auto b = member("b", "up", 2, 1);
  b.links = {{"a", 0}, {"c", 7.2}, {"b", 1}};  // a link to itself is nonsense: dropped
  auto c = member("c", "suspect", 2, 1);
  c.links = {{"a", 14}};
  auto d = member("d", "down", 2, 1);
  d.links = {{"a", 3}};
  auto links = make_planner_links({a, b, c, d});
  std::vector<std::string> got;
  for (auto& l : links) got.push_back(l.a + "-" + l.b + "=" + std::to_string(static_cast<int>(l.latency_ms)));
  const std::vector<std::string> want = {"a-b=0", "a-c=12", "b-a=0", "b-c=7", "c-a=14"};
  BOOST_CHECK_EQUAL_COLLECTIONS(got.begin(), got.end(), want.begin(), want.end());
  // The same view read anywhere gives the same links: the planner then places alike everywhere.
  auto reordered = make_planner_links({d, c, b, a});
  BOOST_CHECK_EQUAL(reordered.size(), links.size());
}

BOOST_AUTO_TEST_CASE(changes_are_described_only_when_the_planner_reads_them) {
  std::vector<wire::member_info> v1 = {member("a", "up", 2, 4ull << 30), member("b", "up", 2, 4ull << 30),
                                       member("c", "joining", 0, 0)};
  auto v2 = v1;
  v2[1].state = "suspect";
  v2[1].phi = 5;
  v2[1].last_heard_ms = 900;
  v2[1].rtt_ms = 7.5;  // round trips move all the time: never a reason to replan
  BOOST_CHECK_EQUAL(describe_member_changes(v1, v2), "");
  auto v3 = v2;
  v3[1].state = "down";
  BOOST_CHECK_EQUAL(describe_member_changes(v2, v3), "b down");
  auto v4 = v3;
  v4[2] = member("c", "up", 4, 8ull << 30);
  v4[0].memory_bytes = 8ull << 30;
  v4[1].memory_bytes = 1;  // down: not read
  BOOST_CHECK_EQUAL(describe_member_changes(v3, v4), "a memory 4.0 GiB -> 8.0 GiB, c up");
  auto v5 = v4;
  v5[2].state = "left";
  BOOST_CHECK_EQUAL(describe_member_changes(v4, v5), "c left");
  auto v6 = v4;
  v6[0].cores = 4;
  v6[0].gpus.push_back({"GPU", 1});
  BOOST_CHECK_EQUAL(describe_member_changes(v4, v6), "a cores 2 -> 4, gpus 0 -> 1");
  auto v6f = v4;
  v6f[0].memory_free_bytes = 6ull << 30;  // a re-announce after other programs took memory
  BOOST_CHECK_EQUAL(describe_member_changes(v4, v6f), "a free memory 0.0 GiB -> 6.0 GiB");
  auto v6l = v4;
  v6l[0].links = {{"b", 0}, {"c", 25}};  // announced round trips are planner input
  BOOST_CHECK_EQUAL(describe_member_changes(v4, v6l), "a links b=0ms c=25ms");
  // Up by heartbeat before its announce (nothing known), then announced.
  auto v7 = v4;
  v7[2].cores = 0;
  v7[2].memory_bytes = 0;
  BOOST_CHECK_EQUAL(describe_member_changes(v7, v4), "c announced memory 8.0 GiB, cores 4, gpus 0");
  BOOST_CHECK_EQUAL(describe_member_changes(v5, {v5[0], v5[1]}), "");  // c was not up
  BOOST_CHECK_EQUAL(describe_member_changes(v4, {v4[0], v4[1]}), "c gone");
}

// The planner plans with what a node can give, not what it has: the announced free memory
// (capped by the total: a hint larger than the machine is not believed), per GPU likewise; a
// node that announced no free figure is planned by its total.
BOOST_AUTO_TEST_CASE(nodes_are_planned_by_their_free_memory) {
  auto a = member("a", "up", 8, 16ull << 30);
  a.memory_free_bytes = 5ull << 30;
  a.gpus.push_back({"GPU 0", 24ull << 30, 20ull << 30});
  a.gpus.push_back({"GPU 1", 24ull << 30, 0});
  auto b = member("b", "up", 8, 4ull << 30);
  b.memory_free_bytes = 64ull << 30;
  auto nodes = make_planner_nodes({a, b, member("c", "up", 2, 2ull << 30)});
  BOOST_REQUIRE_EQUAL(nodes.size(), 3u);
  BOOST_CHECK_EQUAL(nodes[0].free_memory_bytes, 5ull << 30);
  BOOST_CHECK(nodes[0].gpu_free_bytes == (std::vector<std::uint64_t>{20ull << 30, 24ull << 30}));
  BOOST_CHECK_EQUAL(nodes[1].free_memory_bytes, 4ull << 30);
  BOOST_CHECK_EQUAL(nodes[2].free_memory_bytes, 2ull << 30);
}

BOOST_AUTO_TEST_CASE(human_bytes_reads_well) {
  BOOST_CHECK_EQUAL(human_bytes(512), "512 B");
  BOOST_CHECK_EQUAL(human_bytes(3ull << 20), "3.0 MiB");
  BOOST_CHECK_EQUAL(human_bytes((5ull << 30) / 2), "2.5 GiB");
}
