#define BOOST_TEST_MODULE placement_planner
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <sstream>

#include "runtime/placement_planner.hpp"

using namespace holo;

namespace {

constexpr std::uint64_t gib = std::uint64_t{1} << 30;

// No headroom and no per-shard overhead: the figures in these tests are the model's own bytes.
planner_limits exact() {
  planner_limits l;
  l.headroom_percent = 0;
  l.shard_overhead_bytes = 0;
  return l;
}

// `n_layers` blocks of 1 GiB each, nothing else.
planner_model model(std::string name, std::int32_t n_layers) {
  planner_model m;
  m.name = std::move(name);
  m.n_layers = n_layers;
  m.layer_bytes_total = static_cast<std::uint64_t>(n_layers) * gib;
  return m;
}

planner_node node(std::string name, std::uint64_t ram_gib, double speed,
                  std::vector<std::uint64_t> gpus_gib = {}) {
  planner_node n;
  n.name = std::move(name);
  n.free_memory_bytes = ram_gib * gib;
  for (auto g : gpus_gib) n.gpu_free_bytes.push_back(g * gib);
  n.speed = speed;
  return n;
}

std::vector<model_plan> plan(const std::vector<planner_model>& models,
                             const std::vector<planner_node>& nodes,
                             const std::vector<planner_link>& links = {},
                             const planner_limits& limits = exact()) {
  auto r = plan_placement(models, nodes, links, limits);
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().to_string()));
  BOOST_REQUIRE_EQUAL(r->size(), models.size());
  return *r;
}

// "node backend first+count" per stage, or "node backend" per replica: one string to compare.
std::string layout(const model_plan& p) {
  std::ostringstream s;
  s << to_string(p.kind) << ":";
  for (const auto& r : p.replicas) s << " " << r.node << " " << r.backend;
  for (const auto& st : p.stages) s << " " << st.node << " " << st.backend << " " << st.first_layer << "+" << st.n_layers;
  return s.str();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_model_that_fits_on_one_node_stays_whole) {
  // n2 + n3 would run a split four times as fast, but a split that is not needed only adds hops.
  auto p = plan({model("m", 10)}, {node("n1", 16, 1), node("n2", 8, 4), node("n3", 8, 4)});
  BOOST_TEST(layout(p[0]) == "whole: n1 cpu");
  BOOST_TEST(p[0].why == "fits on n1 cpu (16.0 GiB free, needs 10.0 GiB)");
}

BOOST_AUTO_TEST_CASE(replicas_go_to_the_fastest_nodes_and_fewer_when_fewer_fit) {
  auto m = model("m", 10);
  m.replicas_wanted = 3;
  auto p = plan({m}, {node("a", 20, 1), node("b", 20, 3), node("c", 5, 9)});
  BOOST_TEST(layout(p[0]) == "whole: b cpu a cpu");
  BOOST_TEST(contains(p[0].why, "2 of 3 replicas wanted (only 2 up nodes hold it), needs 10.0 GiB each"));

  // Fits on neither: one pipeline (3:1 would give b 7.5 layers; it holds 6), and why says so.
  m.replicas_wanted = 2;
  p = plan({m}, {node("a", 6, 1), node("b", 6, 3)});
  BOOST_TEST(layout(p[0]) == "pipeline: a cpu 0+4 b cpu 4+6");
  BOOST_TEST(contains(p[0].why, "; one pipeline, not the 2 replicas wanted"));

  p = plan({m}, {node("a", 20, 1), node("b", 20, 3), node("c", 20, 9)});
  BOOST_TEST(layout(p[0]) == "whole: c cpu b cpu");
  BOOST_TEST(contains(p[0].why, "2 replicas, needs 10.0 GiB each"));
}

BOOST_AUTO_TEST_CASE(a_model_that_fits_nowhere_splits_in_two_by_speed) {
  // 30 GiB, largest node 24: two stages, 2:1 speeds -> 20 and 10 layers.
  auto p = plan({model("m", 30)}, {node("slow", 24, 1), node("fast", 24, 2)});
  BOOST_TEST(layout(p[0]) == "pipeline: fast cpu 0+20 slow cpu 20+10");
  BOOST_TEST(p[0].stages[0].need_bytes == 20 * gib);
  BOOST_TEST(p[0].stages[1].need_bytes == 10 * gib);
  BOOST_TEST(contains(p[0].why, "fits on no single node (needs 30.0 GiB, the largest has 24.0 GiB free): 2 stages"));
  BOOST_TEST(contains(p[0].why, "fast cpu layers 0-19 (20.0 GiB) slow cpu layers 20-29 (10.0 GiB)"));
}

BOOST_AUTO_TEST_CASE(a_model_that_needs_three_nodes_takes_the_fastest_three) {
  // 48 GiB; the two largest hold 46: three stages. {a, b, c} (speeds 3+2+1) beats any set with d
  // (speed 0.5, as much memory as b); 3:2:1 gives 24, 16, 8 layers, within every node's memory.
  auto p = plan({model("m", 48)},
                {node("d", 20, 0.5), node("c", 12, 1), node("b", 20, 2), node("a", 26, 3)});
  BOOST_TEST(layout(p[0]) == "pipeline: a cpu 0+24 b cpu 24+16 c cpu 40+8");
  BOOST_TEST(contains(p[0].why, "3 stages"));

  // Past node_sets_max sets the search stops: the largest nodes (a, then b and d tied on memory,
  // by name) are used, still three stages but not the fastest three. a full; b:d 2:0.5 of the
  // other 22 is 17.6:4.4, and 18:4 (times 9 and 8) beats 17:5 (8.5 and 10).
  auto few = exact();
  few.node_sets_max = 3;  // C(4, 3) = 4 sets
  p = plan({model("m", 48)}, {node("d", 20, 0.5), node("c", 12, 1), node("b", 20, 2), node("a", 26, 3)}, {},
           few);
  BOOST_TEST(layout(p[0]) == "pipeline: a cpu 0+26 b cpu 26+18 d cpu 44+4");
}

BOOST_AUTO_TEST_CASE(a_memory_cap_overrides_speed) {
  // Speeds 4:1 would put 24 of 30 layers on `fast`, but it holds 12; the rest go to `slow`.
  auto p = plan({model("m", 30)}, {node("fast", 12, 4), node("slow", 24, 1)});
  BOOST_TEST(layout(p[0]) == "pipeline: fast cpu 0+12 slow cpu 12+18");
}

BOOST_AUTO_TEST_CASE(embeddings_go_on_the_first_stage_and_the_head_on_the_last) {
  // 20 layers + 4 GiB embeddings + 2 GiB head = 26 GiB. With b (15 GiB) first: b takes 4 + 10 and
  // a (13 GiB) 10 + 2, 10 layers each. With a first it would hold only 9 layers.
  auto m = model("m", 20);
  m.embd_bytes = 4 * gib;
  m.head_bytes = 2 * gib;
  auto p = plan({m}, {node("a", 13, 1), node("b", 15, 1)});
  BOOST_TEST(layout(p[0]) == "pipeline: b cpu 0+10 a cpu 10+10");
  BOOST_TEST(p[0].stages[0].need_bytes == 14 * gib);
  BOOST_TEST(p[0].stages[1].need_bytes == 12 * gib);
  BOOST_TEST(contains(p[0].why, "needs 26.0 GiB"));
}

BOOST_AUTO_TEST_CASE(tied_embeddings_are_counted_once_whole_and_on_both_ends_of_a_split) {
  auto m = model("m", 20);
  m.embd_bytes = 3 * gib;  // head_bytes 0: the output matrix is the embeddings
  auto whole = plan({m}, {node("a", 23, 1)});
  BOOST_TEST(layout(whole[0]) == "whole: a cpu");
  auto split = plan({m}, {node("a", 13, 1), node("b", 13, 1)});
  BOOST_TEST(layout(split[0]) == "pipeline: a cpu 0+10 b cpu 10+10");
  BOOST_TEST(split[0].stages[0].need_bytes == 13 * gib);
  BOOST_TEST(split[0].stages[1].need_bytes == 13 * gib);
}

BOOST_AUTO_TEST_CASE(a_gpu_is_chosen_when_it_fits) {
  // GPU 1 holds the 10 GiB model, GPU 0 the 2 GiB one; the next 10 GiB one fits only in RAM.
  auto p = plan({model("big", 10), model("small", 2), model("big2", 10)}, {node("n", 64, 1, {4, 16})});
  BOOST_TEST(layout(p[0]) == "whole: n cuda:1");
  BOOST_TEST(layout(p[1]) == "whole: n cuda:0");
  BOOST_TEST(layout(p[2]) == "whole: n cpu");
  BOOST_TEST(p[0].why == "fits on n cuda:1 (16.0 GiB free, needs 10.0 GiB)");

  // A configured backend is obeyed.
  auto m = model("m", 2);
  m.backend = "cpu";
  BOOST_TEST(layout(plan({m}, {node("n", 64, 1, {16})})[0]) == "whole: n cpu");
  m.backend = "cuda:1";
  BOOST_TEST(layout(plan({m}, {node("n", 64, 1, {16, 16})})[0]) == "whole: n cuda:1");

  // A stage goes on a GPU when its layers fit there, else in RAM.
  auto s = plan({model("m", 30)}, {node("a", 8, 1, {20}), node("b", 20, 1)});
  BOOST_TEST(layout(s[0]) == "pipeline: a cuda:0 0+15 b cpu 15+15");
}

BOOST_AUTO_TEST_CASE(a_pin_is_honoured_and_a_pin_that_does_not_fit_is_refused) {
  auto small = model("small", 6);
  small.pinned_nodes = {"a", "gone"};
  auto big = model("big", 10);
  big.pinned_nodes = {"a"};
  auto nodes = std::vector<planner_node>{node("a", 8, 1), node("b", 32, 5), node("gone", 32, 5)};
  nodes[2].up = false;
  auto p = plan({big, small}, nodes);
  // Not moved to b, which would hold it; and the refusal takes no memory from a.
  BOOST_TEST(layout(p[0]) == "refused:");
  BOOST_TEST(p[0].why == "pinned to a, which has 8.0 GiB free; needs 10.0 GiB");
  BOOST_TEST(layout(p[1]) == "whole: a cpu");  // not b, the faster one
  BOOST_TEST(p[1].why == "pinned, needs 6.0 GiB each: a cpu (8.0 GiB free); not up: gone");

  auto only_gone = model("m", 6);
  only_gone.pinned_nodes = {"gone"};
  BOOST_TEST(plan({only_gone}, nodes)[0].why == "pinned to gone; none is up");

  auto on_gpu = model("m", 6);
  on_gpu.pinned_nodes = {"b"};
  on_gpu.backend = "cuda:0";
  BOOST_TEST(plan({on_gpu}, nodes)[0].why == "pinned to b cuda:0, which has no cuda:0");
}

BOOST_AUTO_TEST_CASE(a_cluster_too_small_is_refused_with_the_figures) {
  auto p = plan({model("m", 80)}, {node("a", 24, 1), node("b", 20, 1), node("c", 16, 1)});
  BOOST_TEST(layout(p[0]) == "refused:");
  BOOST_TEST(p[0].why ==
             "needs 80.0 GiB; the largest node has 24.0 GiB free and all 3 up nodes together 60.0 GiB");

  // Enough bytes in total, but a stage holds whole layers: refused, saying why.
  auto three_quarters = [](std::string name) {
    auto n = node(std::move(name), 0, 1);
    n.free_memory_bytes = gib / 4 * 3;
    return n;
  };
  auto q = plan({model("one", 1)}, {three_quarters("a"), three_quarters("b")});
  BOOST_TEST(layout(q[0]) == "refused:");
  BOOST_TEST(q[0].why ==
             "needs 1.0 GiB; the largest node has 0.8 GiB free and all 2 up nodes together 1.5 GiB; "
             "split, it still does not fit (each stage adds its overhead, the first holds the "
             "embeddings, the last the head, each at least one of 1 layers)");
  BOOST_TEST(layout(plan({model("z", 3)}, {})[0]) == "refused:");
  BOOST_TEST(plan({model("z", 3)}, {})[0].why == "needs 3.0 GiB; no node is up");
}

BOOST_AUTO_TEST_CASE(headroom_and_shard_overhead_are_counted) {
  // 10 GiB + 10% + 512 MiB = 11.5 GiB with the default limits.
  const std::vector<planner_model> m{model("m", 10)};
  auto fits = plan_placement(m, {node("a", 12, 1)});
  BOOST_REQUIRE(fits.ok());
  BOOST_TEST(layout((*fits)[0]) == "whole: a cpu");
  BOOST_TEST((*fits)[0].replicas[0].need_bytes == 10 * gib + gib + gib / 2);
  auto short_by_a_byte = node("a", 0, 1);
  short_by_a_byte.free_memory_bytes = 10 * gib + gib + gib / 2 - 1;
  auto refused = plan_placement(m, {short_by_a_byte});
  BOOST_REQUIRE(refused.ok());
  BOOST_TEST(contains((*refused)[0].why, "needs 11.5 GiB; the only up node, a, has 11.5 GiB free"));
}

BOOST_AUTO_TEST_CASE(a_node_going_down_changes_the_plan) {
  auto nodes = std::vector<planner_node>{node("a", 40, 1), node("b", 20, 1), node("c", 20, 1)};
  BOOST_TEST(layout(plan({model("m", 30)}, nodes)[0]) == "whole: a cpu");
  nodes[0].up = false;
  BOOST_TEST(layout(plan({model("m", 30)}, nodes)[0]) == "pipeline: b cpu 0+15 c cpu 15+15");
  nodes[1].up = false;
  auto p = plan({model("m", 30)}, nodes);
  BOOST_TEST(p[0].why == "needs 30.0 GiB; the only up node, c, has 20.0 GiB free");
}

BOOST_AUTO_TEST_CASE(two_models_consume_memory_in_order) {
  // m1 takes the faster a, m2 then b; m3 fits on neither's remaining 4 GiB and is split over both.
  auto p = plan({model("m1", 12), model("m2", 12), model("m3", 6)}, {node("b", 16, 1), node("a", 16, 2)});
  BOOST_TEST(layout(p[0]) == "whole: a cpu");
  BOOST_TEST(layout(p[1]) == "whole: b cpu");
  BOOST_TEST(layout(p[2]) == "pipeline: a cpu 0+4 b cpu 4+2");
  // In the other order the small one goes first and the second 12 GiB model no longer fits whole.
  auto q = plan({model("m3", 6), model("m1", 12), model("m2", 12)}, {node("b", 16, 1), node("a", 16, 2)});
  BOOST_TEST(layout(q[0]) == "whole: a cpu");
  BOOST_TEST(layout(q[1]) == "whole: b cpu");
  BOOST_TEST(layout(q[2]) == "pipeline: a cpu 0+8 b cpu 8+4");
}

BOOST_AUTO_TEST_CASE(link_latency_orders_stages_and_picks_between_equal_sets) {
  // Three equal stages; without latencies the order is by name.
  auto m = model("m", 30);
  auto nodes = std::vector<planner_node>{node("a", 10, 1), node("b", 10, 1), node("c", 10, 1)};
  BOOST_TEST(layout(plan({m}, nodes)[0]) == "pipeline: a cpu 0+10 b cpu 10+10 c cpu 20+10");
  // a-b is slow: the path avoids it (a-c-b and b-c-a both cost 2 ms; the names decide).
  auto links = std::vector<planner_link>{{"a", "b", 10}, {"c", "b", 1}, {"a", "c", 1}};
  BOOST_TEST(layout(plan({m}, nodes, links)[0]) == "pipeline: a cpu 0+10 c cpu 10+10 b cpu 20+10");

  // Four equal nodes, two needed: the pair with the fastest link; unlisted pairs count as the
  // slowest listed one.
  auto four = std::vector<planner_node>{node("a", 10, 1), node("b", 10, 1), node("c", 10, 1), node("d", 10, 1)};
  auto p = plan({model("m", 20)}, four, {{"d", "c", 0.5}, {"a", "b", 3}});
  BOOST_TEST(layout(p[0]) == "pipeline: c cpu 0+10 d cpu 10+10");
}

BOOST_AUTO_TEST_CASE(the_plan_does_not_depend_on_input_order) {
  auto m1 = model("m1", 40);
  m1.embd_bytes = gib;
  auto m2 = model("m2", 9);
  m2.replicas_wanted = 2;
  auto nodes = std::vector<planner_node>{node("a", 16, 1.5, {8}), node("b", 16, 1.5), node("c", 12, 3),
                                         node("d", 14, 0.7, {6, 6})};
  auto links = std::vector<planner_link>{{"a", "b", 2}, {"b", "c", 1}, {"c", "d", 4}, {"a", "d", 0.3}};
  auto reference = plan({m1, m2}, nodes, links);
  std::sort(nodes.begin(), nodes.end(), [](auto& x, auto& y) { return x.name < y.name; });
  int permutations = 0;
  do {
    std::rotate(links.begin(), links.begin() + 1, links.end());
    auto p = plan({m1, m2}, nodes, links);
    for (std::size_t i = 0; i < p.size(); ++i) {
      BOOST_TEST(layout(p[i]) == layout(reference[i]));
      BOOST_TEST(p[i].why == reference[i].why);
    }
    ++permutations;
  } while (std::next_permutation(nodes.begin(), nodes.end(),
                                 [](auto& x, auto& y) { return x.name < y.name; }));
  BOOST_TEST(permutations == 24);
  BOOST_TEST(to_string(reference[0].kind) == "pipeline");
}

BOOST_AUTO_TEST_CASE(malformed_input_is_an_invalid_argument) {
  auto bad = [](std::vector<planner_model> m, std::vector<planner_node> n, std::vector<planner_link> l = {}) {
    auto r = plan_placement(m, n, l);
    return !r.ok() && r.error().code() == status_code::invalid_argument;
  };
  BOOST_TEST(bad({model("m", 1)}, {node("a", 1, 1), node("a", 1, 1)}));
  BOOST_TEST(bad({model("m", 1)}, {node("a", 1, 0)}));
  BOOST_TEST(bad({model("m", 0)}, {node("a", 1, 1)}));
  auto m = model("m", 1);
  m.backend = "gpu";
  BOOST_TEST(bad({m}, {node("a", 1, 1)}));
  BOOST_TEST(bad({model("m", 1)}, {node("a", 1, 1)}, {{"a", "b", -1}}));
  // A node that is down may not have a measured speed.
  auto down = node("a", 1, 0);
  down.up = false;
  BOOST_TEST(plan_placement({model("m", 1)}, {down}).ok());
}
