#define BOOST_TEST_MODULE placement_keeper
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

#include "actors/placement_keeper.hpp"
#include "gpu/model_builder.hpp"

using namespace holo;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t gib = std::uint64_t{1} << 30;

// A 3-layer tiny model (about 4.6 MiB of weights), as `holo mkmodel --layers 3` writes it.
struct fixture {
  fs::path path = fs::temp_directory_path() / ("holo_placement_keeper_" + std::to_string(::getpid()) + ".gguf");
  config::cluster_config cfg;

  fixture() {
    auto spec = gpu::model_preset("tiny");
    BOOST_REQUIRE(spec.ok());
    spec->n_layer = 3;
    auto r = gpu::build_model(*spec, path.string());
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().to_string()));
    // `small` fits anywhere. `wide` has the same weights but 65536 positions x 64 sessions of KV:
    // 2 GiB per layer (512 bytes per position), so one layer per 4 GiB node (2.2 GiB + 10% + the
    // 512 MiB shard overhead) and never two. `gone` names a file that does not exist.
    std::string toml;
    for (auto n : {"a", "b", "c"})
      toml += std::string("[[node]]\nname = \"") + n + "\"\ncluster_endpoint = \"tcp://127.0.0.1:" +
              std::to_string(7000 + n[0]) + "\"\n";
    toml += "[[model]]\nname = \"small\"\npath = \"" + path.string() + "\"\n";
    toml += "[[model]]\nname = \"wide\"\npath = \"" + path.string() + "\"\ncontext_length = 65536\nparallel = 64\n";
    toml += "[[model]]\nname = \"gone\"\npath = \"/nonexistent/holo/gone.gguf\"\n";
    auto c = config::load_string(toml, "t.toml");
    BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? std::string() : c.error().to_string()));
    cfg = *c;
  }
  ~fixture() { fs::remove(path); }
};

wire::member_info member(std::string name, std::string state, std::uint64_t memory) {
  wire::member_info m;
  m.node = std::move(name);
  m.state = std::move(state);
  m.cores = 2;
  m.memory_bytes = memory;
  return m;
}

const model_plan& plan_of(const placement_keeper& k, const std::string& model) {
  for (auto& p : k.latest().plans)
    if (p.model == model) return p;
  BOOST_FAIL("no plan for " + model);
  throw 0;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(the_plan_follows_the_membership, fixture) {
  placement_keeper k("a");
  std::vector<wire::member_info> v = {member("a", "up", 4 * gib), member("b", "up", 4 * gib), member("c", "up", 4 * gib)};
  BOOST_REQUIRE(k.update(cfg, v, 1000));
  BOOST_CHECK_EQUAL(k.latest().revision, 1u);
  BOOST_CHECK_EQUAL(k.latest().trigger, "node start");
  BOOST_REQUIRE_EQUAL(k.latest().plans.size(), 3u);
  BOOST_CHECK_EQUAL(k.latest().plans[0].model, "small");  // config order
  BOOST_CHECK_EQUAL(k.latest().plans[2].model, "gone");

  auto& small = plan_of(k, "small");
  BOOST_CHECK(small.kind == placement_kind::whole);
  BOOST_REQUIRE_EQUAL(small.replicas.size(), 1u);
  BOOST_CHECK_EQUAL(small.replicas[0].node, "a");  // equal speeds: by name
  BOOST_CHECK_EQUAL(small.replicas[0].backend, "cpu");

  auto& wide = plan_of(k, "wide");
  BOOST_CHECK_MESSAGE(wide.kind == placement_kind::pipeline, wide.why);
  BOOST_REQUIRE_EQUAL(wide.stages.size(), 3u);
  for (std::int32_t i = 0; i < 3; ++i) {
    BOOST_CHECK_EQUAL(wide.stages[static_cast<std::size_t>(i)].first_layer, i);
    BOOST_CHECK_EQUAL(wide.stages[static_cast<std::size_t>(i)].n_layers, 1);
  }
  const auto text = placement_text(wide);
  BOOST_CHECK_MESSAGE(text.find("layers 0-0") != std::string::npos && text.find("layers 2-2") != std::string::npos, text);

  auto& gone = plan_of(k, "gone");
  BOOST_CHECK(gone.kind == placement_kind::refused);
  BOOST_CHECK_MESSAGE(gone.why.find("no GGUF on node a") != std::string::npos, gone.why);

  // Heartbeat noise and a suspicion change nothing the planner reads: no recomputation.
  auto noisy = v;
  noisy[1].state = "suspect";
  noisy[1].phi = 5;
  BOOST_CHECK(!k.update(cfg, noisy, 2000));
  BOOST_CHECK_EQUAL(k.latest().revision, 1u);

  // c goes down: two nodes cannot hold three 2.7 GiB stages.
  auto down = noisy;
  down[2].state = "down";
  BOOST_REQUIRE(k.update(cfg, down, 3000));
  BOOST_CHECK_EQUAL(k.latest().revision, 2u);
  BOOST_CHECK_EQUAL(k.latest().trigger, "c down");
  BOOST_CHECK_EQUAL(k.latest().computed_unix_ms, 3000);
  BOOST_CHECK(plan_of(k, "wide").kind == placement_kind::refused);
  BOOST_CHECK(plan_of(k, "small").kind == placement_kind::whole);

  // a announces more memory: the whole model fits there now.
  auto bigger = down;
  bigger[0].memory_bytes = 16 * gib;
  BOOST_REQUIRE(k.update(cfg, bigger, 4000));
  BOOST_CHECK_EQUAL(k.latest().trigger, "a memory 4.0 GiB -> 16.0 GiB");
  BOOST_CHECK(plan_of(k, "wide").kind == placement_kind::whole);
  BOOST_CHECK_EQUAL(plan_of(k, "wide").replicas.at(0).node, "a");
}

BOOST_FIXTURE_TEST_CASE(nodes_too_small_for_any_shard_refuse_with_the_figures, fixture) {
  placement_keeper k("b");
  // 512 MiB each: not even the per-shard overhead plus the small model fits.
  BOOST_REQUIRE(k.update(cfg, {member("a", "up", gib / 2), member("b", "up", gib / 2), member("c", "joining", 0)}, 1));
  auto& small = plan_of(k, "small");
  BOOST_CHECK(small.kind == placement_kind::refused);
  BOOST_CHECK_MESSAGE(small.why.find("needs") != std::string::npos, small.why);
}

BOOST_FIXTURE_TEST_CASE(the_table_has_a_row_per_model_with_revision_age_and_trigger, fixture) {
  placement_keeper k("a");
  BOOST_REQUIRE(k.update(cfg, {member("a", "up", 4 * gib), member("b", "up", 4 * gib), member("c", "up", 4 * gib)}, 1000));
  auto t = k.table(1500);
  BOOST_CHECK_EQUAL(t.node, "a");
  BOOST_CHECK(t.columns == (std::vector<std::string>{"model", "kind", "placement", "why", "revision", "age_ms", "trigger"}));
  BOOST_REQUIRE_EQUAL(t.rows.size(), 3u);
  BOOST_CHECK_EQUAL(proto::to_text(t.rows[0][0]), "small");
  BOOST_CHECK_EQUAL(proto::to_text(t.rows[0][1]), "whole");
  BOOST_CHECK_EQUAL(proto::to_text(t.rows[1][1]), "pipeline");
  BOOST_CHECK_EQUAL(proto::to_text(t.rows[2][1]), "refused");
  BOOST_CHECK_EQUAL(proto::to_text(t.rows[2][2]), "-");
  BOOST_CHECK(std::get<std::int64_t>(t.rows[0][4]) == 1);
  BOOST_CHECK(std::get<std::int64_t>(t.rows[0][5]) == 500);
  BOOST_CHECK_EQUAL(proto::to_text(t.rows[0][6]), "node start");
  BOOST_CHECK_MESSAGE(k.summary().find("small: whole a cpu") == 0, k.summary());
}

// What a node runs for a model, read off a plan: the planned shards' start functions use this.
BOOST_AUTO_TEST_CASE(assignments_read_off_the_plan) {
  placement_snapshot s;
  model_plan whole;
  whole.model = "w";
  whole.kind = placement_kind::whole;
  whole.replicas = {{"a", "cpu", 1}, {"b", "cuda:0", 1}};
  model_plan pipe;
  pipe.model = "p";
  pipe.kind = placement_kind::pipeline;
  pipe.stages = {{"c", "cpu", 0, 3, 1}, {"a", "cuda:1", 3, 5, 1}};
  s.plans = {whole, pipe};
  auto a = assignment_of(s, "w", "b");
  BOOST_CHECK(a.what == local_assignment::kind::whole);
  BOOST_CHECK_EQUAL(a.backend, "cuda:0");
  auto st = assignment_of(s, "p", "a");
  BOOST_CHECK(st.what == local_assignment::kind::stage);
  BOOST_CHECK_EQUAL(st.stage_index, 1);
  BOOST_CHECK_EQUAL(st.stage_count, 2);
  BOOST_CHECK(st.stage_layers == (std::vector<std::int64_t>{3, 5}));
  BOOST_CHECK(st.stage_nodes == (std::vector<std::string>{"c", "a"}));
  BOOST_CHECK_EQUAL(st.backend, "cuda:1");
  BOOST_CHECK(assignment_of(s, "p", "b").what == local_assignment::kind::none);
  BOOST_CHECK(assignment_of(s, "unknown", "a").what == local_assignment::kind::none);
  // The box hands out nothing until the plan is settled, and records what each shard started with.
  plan_box box;
  box.latest = s;
  BOOST_CHECK(box.start("w", "a").what == local_assignment::kind::none);
  box.settled = true;
  BOOST_CHECK(box.start("w", "a").what == local_assignment::kind::whole);
  BOOST_CHECK(box.started.at("w") == assignment_of(s, "w", "a"));
}
