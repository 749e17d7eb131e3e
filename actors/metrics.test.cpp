// assess_node, the judgement behind /health and the systemd watchdog, against stand-in actors
// registered under the real names: a node is healthy only while its health actor answers "up",
// its shard is ready (not loading, stuck or missing) and its store says it can write; it turns
// unhealthy when one of them does not, and healthy again when they recover.
#define BOOST_TEST_MODULE actors_metrics
#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/metrics.hpp"
#include "actors/model_shard.hpp"
#include "runtime/cluster_messages.hpp"

using namespace std::chrono_literals;

namespace {

struct word_state {
  std::string word;
};
using word_actor = caf::stateful_actor<word_state>;

// Answers the status query with a settable word, as the store and the shards do.
caf::behavior stand_in(word_actor* self, std::string name, std::string word) {
  self->state.word = std::move(word);
  return {
      [=](holo::status_atom) { return holo::actor_status{name, self->state.word}; },
      [=](caf::put_atom, std::string& w) { self->state.word = w; },
      [=](holo::shard_info_atom) {
        holo::wire::shard_load l;
        l.model = "m";
        l.state = self->state.word;
        l.active = 2;
        l.tokens_per_second = 12.5;
        return l;
      },
  };
}

caf::behavior fake_health(caf::event_based_actor*) {
  return {
      [](holo::wire::health_query&) {
        return holo::wire::node_health{"n1", "c", "up", 10, {{"health", "running"}}};
      },
      [](holo::wire::membership_query&) {
        holo::wire::membership_view v;
        v.node = "n1";
        v.members.push_back({"n1", "up"});
        v.members.push_back({"n2", "suspect"});
        return v;
      },
  };
}

// Runs assess_node in an actor's context and answers its report.
caf::behavior prober(caf::event_based_actor* self, holo::node_context_ptr ctx) {
  return {
      [=](caf::get_atom) -> caf::result<std::string, bool> {
        auto rp = self->make_response_promise<std::string, bool>();
        holo::assess_node(self, ctx, [rp](holo::node_report r) mutable { rp.deliver(r.to_json(), r.healthy()); });
        return rp;
      },
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  holo::node_context_ptr ctx;
  caf::actor health, shard, store, probe;

  fixture() {
    auto c = std::make_shared<holo::node_context>();
    c->cluster.name = "c";
    c->node.name = "n1";
    c->node.roles = {"router", "shard", "store"};
    c->cluster.nodes.push_back(c->node);
    holo::config::model_config m;
    m.name = "m";
    c->cluster.models.push_back(m);
    holo::config::placement_config p;
    p.model = "m";
    p.nodes = {"n1"};
    c->cluster.placements.push_back(p);
    ctx = c;
    health = sys.spawn(fake_health);
    shard = sys.spawn(stand_in, std::string("s:0"), std::string("ready"));
    store = sys.spawn(stand_in, std::string("store"), std::string("running"));
    put(holo::names::health, health);
    put(holo::shard_actor_name(0), shard);
    put(holo::names::store, store);
    probe = sys.spawn(prober, ctx);
  }
  ~fixture() {
    for (auto& a : {health, shard, store, probe}) self->send_exit(a, caf::exit_reason::user_shutdown);
  }
  void put(const std::string& name, const caf::actor& a) {
    sys.registry().put(caf::atom_from_string(name), caf::actor_cast<caf::strong_actor_ptr>(a));
  }
  std::pair<std::string, bool> report() {
    std::pair<std::string, bool> out;
    self->request(probe, 5s, caf::get_atom::value)
        .receive([&](std::string& json, bool healthy) { out = {json, healthy}; },
                 [&](caf::error& e) { BOOST_FAIL("assess failed: " << sys.render(e)); });
    return out;
  }
  void set(const caf::actor& a, std::string word) { self->send(a, caf::put_atom::value, std::move(word)); }
};

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

}  // namespace

BOOST_FIXTURE_TEST_CASE(healthy_when_everything_answers, fixture) {
  auto [json, healthy] = report();
  BOOST_TEST(healthy, json);
  BOOST_TEST(has(json, R"("healthy":true)"), json);
  BOOST_TEST(has(json, R"("membership":{"n1":"up","n2":"suspect"})"), json);
  BOOST_TEST(has(json, R"("model":"m","shard":"s:0","state":"ready","active":2)"), json);
  BOOST_TEST(has(json, R"("store":{"status":"ok"})"), json);
}

BOOST_FIXTURE_TEST_CASE(a_stuck_shard_makes_it_unhealthy_until_it_recovers, fixture) {
  set(shard, "stuck");
  auto [json, healthy] = report();
  BOOST_TEST(!healthy, json);
  BOOST_TEST(has(json, "model m (s:0) is stuck"), json);
  set(shard, "loading");  // restarted: loading its model is not serving yet
  BOOST_TEST(!report().second);
  set(shard, "ready");
  BOOST_TEST(report().second);
}

BOOST_FIXTURE_TEST_CASE(a_degraded_or_missing_store_makes_it_unhealthy_until_it_recovers, fixture) {
  set(store, "degraded");  // what actors/store.cpp answers while its database is unreachable
  auto [json, healthy] = report();
  BOOST_TEST(!healthy, json);
  BOOST_TEST(has(json, R"("store":{"status":"degraded"})"), json);
  BOOST_TEST(has(json, "store is degraded"), json);
  set(store, "running");
  BOOST_TEST(report().second);
  sys.registry().erase(caf::atom_from_string(holo::names::store));  // gone (between a crash and its restart)
  std::tie(json, healthy) = report();
  BOOST_TEST(!healthy);
  BOOST_TEST(has(json, R"("store":{"status":"down"})"), json);
  put(holo::names::store, store);
  BOOST_TEST(report().second);
}

BOOST_FIXTURE_TEST_CASE(a_silent_health_actor_makes_it_unhealthy, fixture) {
  sys.registry().erase(caf::atom_from_string(holo::names::health));
  auto [json, healthy] = report();
  BOOST_TEST(!healthy);
  BOOST_TEST(has(json, "the health actor does not answer"), json);
}
