#define BOOST_TEST_MODULE membership
#include <boost/test/unit_test.hpp>

#include <ostream>

#include "runtime/membership.hpp"

using holo::member_state;
using holo::membership;
using holo::node_info;
using namespace std::chrono_literals;
using change = membership::change;

namespace holo {
std::ostream& operator<<(std::ostream& os, member_state s) { return os << to_string(s); }
std::ostream& operator<<(std::ostream& os, const membership::change& c) {
  return os << "{" << c.node << " " << c.from << "->" << c.to << " #" << c.incarnation << "}";
}
}  // namespace holo

namespace {

const membership::time_point t0 = membership::time_point{} + 1000h;

membership::params cluster_params() {
  membership::params p;  // suspect_phi 4, down_phi 8
  p.detector.min_std_ms = 100;
  p.detector.acceptable_pause_ms = 500;
  p.detector.first_interval_ms = 250;
  return p;
}

membership make() { return membership("a", {"b", "c"}, cluster_params()); }

member_state state_of(const membership& m, std::string_view name) {
  auto* p = m.find(name);
  BOOST_REQUIRE(p != nullptr);
  return p->state;
}

// Heartbeats from `name` every 250 ms over [from, from + n*250ms); returns the last beat's time.
membership::time_point beat(membership& m, std::string_view name, std::uint64_t inc, membership::time_point from,
                            int n) {
  auto t = from;
  for (int i = 0; i < n; ++i) {
    t = from + i * 250ms;
    auto ch = m.on_heartbeat(name, inc, "up", t);
    auto ticked = m.tick(t);
    BOOST_CHECK(ticked.empty());
    if (i > 0) BOOST_CHECK(ch.empty());
  }
  return t;
}

}  // namespace

BOOST_AUTO_TEST_CASE(initial_view_has_self_up_and_peers_joining) {
  membership m("a", {"b", "a", "c", "b"}, cluster_params());
  auto v = m.view();
  BOOST_REQUIRE_EQUAL(v.size(), 3u);
  BOOST_CHECK_EQUAL(v[0].name, "a");
  BOOST_CHECK(v[0].is_self);
  BOOST_CHECK_EQUAL(v[0].state, member_state::up);
  BOOST_CHECK_EQUAL(v[1].name, "b");
  BOOST_CHECK_EQUAL(v[1].state, member_state::joining);
  BOOST_CHECK(!v[1].last_heartbeat);
  BOOST_CHECK_EQUAL(v[2].name, "c");
  BOOST_CHECK_EQUAL(m.self(), "a");
  BOOST_CHECK(m.find("zz") == nullptr);

  node_info me;
  me.roles = {"router"};
  me.cores = 2;
  m.set_self(42, me);
  BOOST_CHECK_EQUAL(m.find("a")->incarnation, 42u);
  BOOST_CHECK(m.find("a")->info == me);
  // joining never times out on its own: nothing to measure.
  BOOST_CHECK(m.tick(t0 + 1h).empty());
  BOOST_CHECK_EQUAL(state_of(m, "b"), member_state::joining);
}

BOOST_AUTO_TEST_CASE(first_heartbeat_joins) {
  auto m = make();
  auto ch = m.on_heartbeat("b", 7, "up", t0);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::joining, member_state::up, 7}));
  auto* b = m.find("b");
  BOOST_CHECK_EQUAL(b->incarnation, 7u);
  BOOST_CHECK(b->last_heartbeat == t0);
  BOOST_CHECK_EQUAL(b->reported_state, "up");
  BOOST_CHECK(b->since == t0);

  ch = m.on_heartbeat("c", 9, "degraded", t0);  // first words: degraded
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"c", member_state::joining, member_state::suspect, 9}));
}

BOOST_AUTO_TEST_CASE(regular_heartbeats_cause_no_changes) {
  auto m = make();
  m.on_heartbeat("b", 1, "up", t0);
  beat(m, "b", 1, t0 + 250ms, 400);  // 100 s of heartbeats, ticked at each
  BOOST_CHECK_EQUAL(state_of(m, "b"), member_state::up);
}

BOOST_AUTO_TEST_CASE(silence_makes_suspect_then_down_on_time) {
  auto m = make();
  auto last = beat(m, "b", 1, t0, 100);
  int suspect_ms = -1, down_ms = -1;
  for (int ms = 10; ms <= 3000; ms += 10) {
    for (auto& c : m.tick(last + std::chrono::milliseconds(ms))) {
      BOOST_CHECK_EQUAL(c.node, "b");
      BOOST_CHECK_EQUAL(c.incarnation, 1u);
      if (c.to == member_state::suspect) {
        BOOST_CHECK_EQUAL(c.from, member_state::up);
        suspect_ms = ms;
      } else if (c.to == member_state::down) {
        BOOST_CHECK_EQUAL(c.from, member_state::suspect);
        down_ms = ms;
      } else {
        BOOST_ERROR("unexpected change");
      }
    }
  }
  // 250 ms beats, std floor 100 ms, pause 500 ms: phi 4 near 1.11 s, phi 8 near 1.27 s.
  BOOST_TEST_MESSAGE("suspect after " << suspect_ms << " ms, down after " << down_ms << " ms");
  BOOST_CHECK_GT(suspect_ms, 1000);
  BOOST_CHECK_LE(suspect_ms, 1200);
  BOOST_CHECK_GT(down_ms, 1200);
  BOOST_CHECK_LE(down_ms, 1300);
  BOOST_CHECK_EQUAL(state_of(m, "b"), member_state::down);
  BOOST_CHECK(m.tick(last + 1h).empty());  // down stays down
  BOOST_CHECK_EQUAL(state_of(m, "c"), member_state::joining);
}

BOOST_AUTO_TEST_CASE(one_late_tick_reports_both_steps) {
  auto m = make();
  auto last = beat(m, "b", 1, t0, 20);
  auto ch = m.tick(last + 5s);
  BOOST_REQUIRE_EQUAL(ch.size(), 2u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::up, member_state::suspect, 1}));
  BOOST_CHECK_EQUAL(ch[1], (change{"b", member_state::suspect, member_state::down, 1}));
}

BOOST_AUTO_TEST_CASE(suspect_returns_to_up_on_a_fresh_heartbeat) {
  auto m = make();
  auto last = beat(m, "b", 1, t0, 20);
  auto ch = m.tick(last + 1150ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0].to, member_state::suspect);
  ch = m.on_heartbeat("b", 1, "up", last + 1160ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::suspect, member_state::up, 1}));
  BOOST_CHECK(m.tick(last + 1200ms).empty());
}

BOOST_AUTO_TEST_CASE(down_returns_to_up_within_the_same_incarnation) {
  auto m = make();
  auto last = beat(m, "b", 1, t0, 20);
  BOOST_CHECK_EQUAL(m.tick(last + 30s).size(), 2u);
  auto ch = m.on_heartbeat("b", 1, "up", last + 30s);  // a partition healed
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::down, member_state::up, 1}));
  // The 30 s gap was not learnt as an interval: the detector started over.
  BOOST_CHECK_EQUAL(m.find("b")->detector.samples(), 2u);
  BOOST_CHECK(m.tick(last + 30s + 250ms).empty());
}

BOOST_AUTO_TEST_CASE(degraded_report_makes_suspect_but_not_down) {
  auto m = make();
  auto t = beat(m, "b", 1, t0, 20);
  auto ch = m.on_heartbeat("b", 1, "degraded", t += 250ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::up, member_state::suspect, 1}));
  BOOST_CHECK_EQUAL(m.find("b")->reported_state, "degraded");
  for (int i = 0; i < 40; ++i) {  // it keeps beating, degraded: suspect, never down
    BOOST_CHECK(m.on_heartbeat("b", 1, "degraded", t += 250ms).empty());
    BOOST_CHECK(m.tick(t + 100ms).empty());
  }
  ch = m.on_heartbeat("b", 1, "up", t += 250ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::suspect, member_state::up, 1}));
  // An unknown health word is treated like "degraded".
  ch = m.on_heartbeat("b", 1, "confused", t += 250ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0].to, member_state::suspect);
}

BOOST_AUTO_TEST_CASE(newer_incarnation_is_a_restart) {
  auto m = make();
  auto t = beat(m, "b", 100, t0, 20);
  node_info info;
  info.models = {"tiny"};
  BOOST_CHECK(m.on_announce("b", 100, info, t).empty());
  BOOST_CHECK(m.find("b")->info_known);

  // Restarted between two ticks: up -> up with the new incarnation, state reset.
  auto ch = m.on_heartbeat("b", 200, "up", t += 250ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::up, member_state::up, 200}));
  auto* b = m.find("b");
  BOOST_CHECK_EQUAL(b->incarnation, 200u);
  BOOST_CHECK(!b->info_known);  // the old process's models say nothing about the new one
  BOOST_CHECK(b->info.models.empty());
  BOOST_CHECK_EQUAL(b->detector.samples(), 2u);

  // Down, then back with a newer incarnation: a rejoin.
  BOOST_CHECK_EQUAL(m.tick(t + 10s).size(), 2u);
  ch = m.on_heartbeat("b", 300, "up", t + 20s);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::down, member_state::up, 300}));

  // Suspect, then a restart reporting up.
  t = t + 20s;
  BOOST_CHECK_EQUAL(m.tick(t + 1150ms).size(), 1u);
  ch = m.on_heartbeat("b", 400, "up", t + 1200ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::suspect, member_state::up, 400}));
}

BOOST_AUTO_TEST_CASE(older_incarnation_is_stale) {
  auto m = make();
  auto t = beat(m, "b", 500, t0, 10);
  BOOST_CHECK(m.on_heartbeat("b", 499, "up", t + 100ms).empty());
  BOOST_CHECK(m.on_announce("b", 1, node_info{}, t + 100ms).empty());
  BOOST_CHECK(m.on_leave("b", 499, t + 100ms).empty());
  BOOST_CHECK_EQUAL(m.stale_ignored(), 3u);
  auto* b = m.find("b");
  BOOST_CHECK_EQUAL(b->incarnation, 500u);
  BOOST_CHECK_EQUAL(b->state, member_state::up);
  BOOST_CHECK(b->last_heartbeat == t);  // the stale beat did not count as life
  BOOST_CHECK(!b->info_known);
}

BOOST_AUTO_TEST_CASE(leave_is_final_until_a_newer_incarnation) {
  auto m = make();
  auto t = beat(m, "b", 5, t0, 10);
  auto ch = m.on_leave("b", 5, t + 10ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::up, member_state::left, 5}));
  BOOST_CHECK(m.on_leave("b", 5, t + 20ms).empty());  // said twice: no second change

  // A heartbeat or announce that crossed the goodbye is stale; ticks leave it alone.
  BOOST_CHECK(m.on_heartbeat("b", 5, "up", t + 30ms).empty());
  BOOST_CHECK(m.on_announce("b", 5, node_info{}, t + 40ms).empty());
  BOOST_CHECK_EQUAL(m.stale_ignored(), 2u);
  BOOST_CHECK(m.tick(t + 1h).empty());
  BOOST_CHECK_EQUAL(state_of(m, "b"), member_state::left);

  // Started again: left -> up, a rejoin.
  ch = m.on_heartbeat("b", 6, "up", t + 2h);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::left, member_state::up, 6}));

  // A leave before ever being heard, and from down and suspect.
  ch = m.on_leave("c", 3, t);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"c", member_state::joining, member_state::left, 3}));
  BOOST_CHECK(m.on_heartbeat("c", 3, "up", t + 1s).empty());
  BOOST_CHECK_EQUAL(m.on_heartbeat("c", 4, "up", t + 2s).size(), 1u);
  BOOST_CHECK_EQUAL(m.tick(t + 20s).size(), 2u);  // c: up -> suspect -> down
  ch = m.on_leave("c", 4, t + 21s);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"c", member_state::down, member_state::left, 4}));
  // A leave with a newer incarnation than known (restarted and stopped unseen) is taken.
  ch = m.on_leave("b", 9, t + 2h + 1s);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::up, member_state::left, 9}));
}

BOOST_AUTO_TEST_CASE(unknown_names_and_self_are_ignored_and_counted) {
  auto m = make();
  BOOST_CHECK(m.on_heartbeat("zz", 1, "up", t0).empty());
  BOOST_CHECK(m.on_announce("zz", 1, node_info{}, t0).empty());
  BOOST_CHECK(m.on_leave("zz", 1, t0).empty());
  BOOST_CHECK_EQUAL(m.unknown_ignored(), 3u);
  BOOST_CHECK(m.on_heartbeat("a", 1, "up", t0).empty());
  BOOST_CHECK(m.on_leave("a", 1, t0).empty());
  BOOST_CHECK_EQUAL(m.self_conflicts(), 2u);
  BOOST_CHECK_EQUAL(state_of(m, "a"), member_state::up);
  BOOST_CHECK_EQUAL(m.view().size(), 3u);
}

BOOST_AUTO_TEST_CASE(announce_sets_info_and_counts_as_life) {
  auto m = make();
  node_info info;
  info.roles = {"shard", "router"};
  info.cores = 16;
  info.memory_bytes = 64ull << 30;
  info.gpus = {{"RTX 3060", 12ull << 30}};
  info.models = {"qwen2.5-0.5b"};
  auto ch = m.on_announce("b", 11, info, t0);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::joining, member_state::up, 11}));
  auto* b = m.find("b");
  BOOST_CHECK(b->info_known);
  BOOST_CHECK(b->info == info);
  BOOST_CHECK(b->last_heartbeat == t0);
  // Announced and then silent: detected like any silence.
  BOOST_CHECK_EQUAL(m.tick(t0 + 10s).size(), 2u);

  // A newer incarnation's announce is a restart and brings its own info.
  info.models = {"other"};
  ch = m.on_announce("b", 12, info, t0 + 11s);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::down, member_state::up, 12}));
  BOOST_CHECK(m.find("b")->info.models == std::vector<std::string>{"other"});
  // The heartbeat that follows, same incarnation, changes nothing.
  BOOST_CHECK(m.on_heartbeat("b", 12, "up", t0 + 11s + 10ms).empty());
  BOOST_CHECK(m.find("b")->info_known);
}

BOOST_AUTO_TEST_CASE(thresholds_are_sanitized) {
  membership::params p = cluster_params();
  p.suspect_phi = 6;
  p.down_phi = 2;
  membership m("a", {"b"}, p);
  BOOST_CHECK_EQUAL(m.parameters().down_phi, 6.0);
}

BOOST_AUTO_TEST_CASE(state_words) {
  BOOST_CHECK_EQUAL(holo::to_string(member_state::joining), "joining");
  BOOST_CHECK_EQUAL(holo::to_string(member_state::up), "up");
  BOOST_CHECK_EQUAL(holo::to_string(member_state::suspect), "suspect");
  BOOST_CHECK_EQUAL(holo::to_string(member_state::down), "down");
  BOOST_CHECK_EQUAL(holo::to_string(member_state::left), "left");
}

BOOST_AUTO_TEST_CASE(a_lost_link_is_down_at_once_and_a_heartbeat_brings_it_back) {
  auto m = make();
  auto last = beat(m, "b", 1, t0, 8);
  auto ch = m.on_link_lost("b", last + 10ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::up, member_state::down, 1}));
  // Again, or for a peer that never joined: nothing to change.
  BOOST_CHECK(m.on_link_lost("b", last + 20ms).empty());
  BOOST_CHECK(m.on_link_lost("c", last + 20ms).empty());
  BOOST_CHECK(m.on_link_lost("nobody", last + 20ms).empty());
  // The link blipped but the node lives: its next heartbeat makes it up again.
  ch = m.on_heartbeat("b", 1, "up", last + 250ms);
  BOOST_REQUIRE_EQUAL(ch.size(), 1u);
  BOOST_CHECK_EQUAL(ch[0], (change{"b", member_state::down, member_state::up, 1}));
}
