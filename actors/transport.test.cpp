// Two nodes' transports in one process (two actor systems, two ZeroMQ contexts, real TCP sockets on
// 127.0.0.1): the remote request and send contract of actors/transport.hpp, through the door and
// through the transport actor, with every typed error it promises.
#define BOOST_TEST_MODULE actors_transport
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include <caf/all.hpp>
#include <zmq.hpp>

#include "actors/actor_status.hpp"
#include "actors/node_context.hpp"
#include "actors/transport.hpp"
#include "runtime/actor_scheduler.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/errors.hpp"
#include "runtime/free_port.hpp"
#include "runtime/supervisor.hpp"

using namespace std::chrono_literals;
using holo::wire::ping;
using holo::wire::pong;
using clock_type = std::chrono::steady_clock;

namespace {

// "tcp://127.0.0.1:PORT" on a port nothing listens on now.
std::string loopback_endpoint() {
  auto port = holo::free_loopback_port();
  BOOST_REQUIRE_MESSAGE(port, (port ? "" : port.error().message()));
  return "tcp://127.0.0.1:" + std::to_string(*port);
}

struct node {
  zmq::context_t zmq{1};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor transport;
};

// On node b: "echo" answers a ping with a pong of the same seq; "silent" never answers;
// "grumpy" answers with an error; "sink" records one-way pongs in order.
caf::behavior echo(caf::event_based_actor*) {
  return {[](ping& p) { return pong{p.seq, std::move(p.payload)}; }};
}
caf::behavior silent(caf::event_based_actor* self) {
  return {[=](ping&) -> caf::result<pong> { return self->make_response_promise<pong>(); }};
}
caf::behavior grumpy(caf::event_based_actor*) {
  return {[](ping&) -> caf::result<pong> { return caf::make_error(caf::sec::unexpected_message); }};
}
struct sink_state {
  std::vector<std::uint64_t> seen;
};
caf::behavior sink(caf::stateful_actor<sink_state>* self) {
  return {
      [=](pong& p) { self->state.seen.push_back(p.seq); },
      [=](caf::get_atom) { return self->state.seen; },
  };
}

struct two_nodes {
  node a, b;
  caf::actor silent_actor;  // kept: its promises must stay unanswered, not broken
  explicit two_nodes(std::int64_t coalesce_us = holo::config::transport_config{}.coalesce_us) {
    holo::config::cluster_config cluster;
    cluster.name = "t";
    cluster.transport.coalesce_us = coalesce_us;
    for (auto name : {"a", "b"}) {
      holo::config::node_config n;
      n.name = name;
      n.cluster_endpoint = loopback_endpoint();
      cluster.nodes.push_back(n);
    }
    for (auto* n : {&a, &b}) {
      n->cfg.set("scheduler.max-threads", 2);
    holo::use_actor_scheduler(n->cfg);  // the node's (its end-of-job flush of batched frames)
      holo::register_error_category(n->cfg);
      n->sys = std::make_unique<caf::actor_system>(n->cfg);
    }
    auto start = [&](node& n, const std::string& self) {
      auto ctx = std::make_shared<holo::node_context>();
      ctx->cluster = cluster;
      ctx->node = *cluster.find_node(self);
      ctx->zmq = &n.zmq;
      n.transport = holo::spawn_transport(*n.sys, ctx);
      n.sys->registry().put(caf::atom("transport"), caf::actor_cast<caf::strong_actor_ptr>(n.transport));
      caf::scoped_actor s{*n.sys};
      s->request(n.transport, 5s, holo::sup::ready_atom::value).receive([](caf::ok_atom) {}, [](caf::error&) {});
    };
    start(a, "a");
    start(b, "b");
    auto put = [&](const char* name, caf::actor h) {
      b.sys->registry().put(caf::atom_from_string(name), caf::actor_cast<caf::strong_actor_ptr>(h));
    };
    put("echo", b.sys->spawn(echo));
    silent_actor = b.sys->spawn(silent);
    put("silent", silent_actor);
    put("grumpy", b.sys->spawn(grumpy));
    put("sink", b.sys->spawn(sink));
    a.sys->registry().put(caf::atom("echo"), caf::actor_cast<caf::strong_actor_ptr>(a.sys->spawn(echo)));
    // Each from its own system: CAF 0.17 runs a woken receiver on the sender's scheduler.
    caf::anon_send(a.transport, holo::peer_state_atom::value, std::string("b"), true);
    caf::anon_send(b.transport, holo::peer_state_atom::value, std::string("a"), true);
  }
  ~two_nodes() {
    for (auto* n : {&a, &b}) {
      caf::scoped_actor s{*n->sys};
      s->send_exit(n->transport, caf::exit_reason::user_shutdown);
    }
    for (auto* n : {&a, &b})
      for (auto name : {"echo", "silent", "grumpy", "sink"}) {
        if (auto h = n->sys->registry().get(caf::atom_from_string(name)))
          caf::anon_send_exit(caf::actor_cast<caf::actor>(h), caf::exit_reason::user_shutdown);
        n->sys->registry().erase(caf::atom_from_string(name));
      }
    caf::anon_send_exit(silent_actor, caf::exit_reason::user_shutdown);
  }

  // A request from node a; the answer's seq, or the error's text.
  struct answer {
    bool ok = false;
    std::uint64_t seq = 0;
    std::string error;
    double seconds = 0;
  };
  answer ask(const caf::actor& via, const std::string& node, const std::string& actor, std::int64_t timeout_ms,
             std::uint64_t seq = 7) {
    caf::scoped_actor s{*a.sys};
    answer out;
    auto t0 = clock_type::now();
    s->request(via, 10s, holo::remote_request_atom::value, node, actor, timeout_ms,
               caf::make_message(ping{seq, "payload"}))
        .receive(
            [&](pong& p) {
              out.ok = true;
              out.seq = p.seq;
            },
            [&](caf::error& e) { out.error = a.sys->render(e); });
    out.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return out;
  }
  // Requests until the link is up (the first may meet a connection still handshaking).
  void wait_linked() {
    for (int i = 0; i < 250; ++i) {
      if (ask(holo::transport_door(*a.sys), "b", "echo", 1000).ok) return;
      std::this_thread::sleep_for(20ms);
    }
    BOOST_FAIL("the link between a and b never came up");
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_door_is_registered_and_is_not_the_transport_actor) {
  two_nodes t;
  auto door = holo::transport_door(*t.a.sys);
  BOOST_REQUIRE(door);
  BOOST_CHECK(door != t.a.transport);
}

BOOST_AUTO_TEST_CASE(requests_through_the_door_and_the_transport_get_the_remote_answer) {
  two_nodes t;
  t.wait_linked();
  for (std::uint64_t i = 0; i < 200; ++i) {
    auto via = i % 2 ? t.a.transport : holo::transport_door(*t.a.sys);
    auto r = t.ask(via, "b", "echo", 2000, i);
    BOOST_REQUIRE_MESSAGE(r.ok, r.error);
    BOOST_CHECK_EQUAL(r.seq, i);
  }
  // To this node's own name: the local actor answers (no frame).
  auto local = t.ask(holo::transport_door(*t.a.sys), "a", "echo", 2000, 99);
  BOOST_CHECK(local.ok);
  BOOST_CHECK_EQUAL(local.seq, 99u);
}

BOOST_AUTO_TEST_CASE(every_failure_is_a_typed_error_and_none_hangs) {
  two_nodes t;
  t.wait_linked();
  auto door = holo::transport_door(*t.a.sys);
  auto unknown = t.ask(door, "b", "nobody", 2000);
  BOOST_CHECK(!unknown.ok);
  BOOST_CHECK_MESSAGE(unknown.error.find("unknown_actor") != std::string::npos, unknown.error);
  auto failed = t.ask(door, "b", "grumpy", 2000);
  BOOST_CHECK_MESSAGE(failed.error.find("remote_failure") != std::string::npos, failed.error);
  auto not_up = t.ask(door, "c", "echo", 2000);
  BOOST_CHECK_MESSAGE(not_up.error.find("node_unreachable") != std::string::npos, not_up.error);
  BOOST_CHECK_LT(not_up.seconds, 0.1);
  // No answer: remote_timeout after timeout_ms (the link's tick keeps deadlines to ~20 ms).
  auto late = t.ask(door, "b", "silent", 300);
  BOOST_CHECK_MESSAGE(late.error.find("remote_timeout") != std::string::npos, late.error);
  BOOST_CHECK_GE(late.seconds, 0.29);
  BOOST_CHECK_LT(late.seconds, 2.0);
  // A request pending when its node goes down fails then, not at its timeout.
  std::thread down([&] {
    std::this_thread::sleep_for(200ms);
    caf::anon_send(t.a.transport, holo::peer_state_atom::value, std::string("b"), false);
  });
  auto cut = t.ask(door, "b", "silent", 5000);
  down.join();
  BOOST_CHECK_MESSAGE(cut.error.find("node_unreachable") != std::string::npos, cut.error);
  BOOST_CHECK_LT(cut.seconds, 2.0);
  // ... and requests to it fail at once until it is up again.
  auto after = t.ask(door, "b", "echo", 2000);
  BOOST_CHECK_MESSAGE(after.error.find("node_unreachable") != std::string::npos, after.error);
  caf::anon_send(t.a.transport, holo::peer_state_atom::value, std::string("b"), true);
  t.wait_linked();
  // The counters saw none of this as a dropped frame, and nothing is left waiting.
  caf::scoped_actor s{*t.a.sys};
  s->request(t.a.transport, 2s, holo::transport_stats_atom::value)
      .receive(
          [&](holo::transport_stats& st) {
            BOOST_CHECK_EQUAL(st.dropped_frames, 0u);
            BOOST_CHECK_EQUAL(st.pending_requests, 0u);
          },
          [&](caf::error& e) { BOOST_FAIL(t.a.sys->render(e)); });
}

namespace {

holo::transport_stats stats_of(caf::actor_system& sys, const caf::actor& transport) {
  caf::scoped_actor s{sys};
  holo::transport_stats out;
  s->request(transport, 2s, holo::transport_stats_atom::value)
      .receive([&](holo::transport_stats& st) { out = st; }, [](caf::error&) {});
  return out;
}

// The sink's pongs as node b has them, once `n` arrived (or what arrived within 4 s).
std::vector<std::uint64_t> sink_contents(two_nodes& t, std::size_t n) {
  auto sink = caf::actor_cast<caf::actor>(t.b.sys->registry().get(caf::atom("sink")));
  caf::scoped_actor sb{*t.b.sys};
  std::vector<std::uint64_t> seen;
  for (int i = 0; i < 200 && seen.size() < n; ++i) {
    sb->request(sink, 2s, caf::get_atom::value).receive([&](std::vector<std::uint64_t>& v) { seen = v; },
                                                         [](caf::error&) {});
    if (seen.size() < n) std::this_thread::sleep_for(20ms);
  }
  return seen;
}

void check_all_in_order(const std::vector<std::uint64_t>& seen, std::uint64_t n) {
  BOOST_REQUIRE_EQUAL(seen.size(), n);
  for (std::uint64_t i = 0; i < n; ++i)
    if (seen[i] != i) {
      BOOST_ERROR("out of order at " << i << ": " << seen[i]);
      break;
    }
}

// A burst from one thread, with requests between its parts: everything arrives, in order, and
// the requests are answered although frames before them wait in a batch.
void burst_with_requests(two_nodes& t, std::uint64_t n) {
  auto door = holo::transport_door(*t.a.sys);
  caf::scoped_actor s{*t.a.sys};
  for (std::uint64_t i = 0; i < n; ++i) {
    s->send(door, holo::remote_send_atom::value, std::string("b"), std::string("sink"), caf::make_message(pong{i, "x"}));
    if (i % 250 == 249) BOOST_CHECK(t.ask(door, "b", "echo", 2000, i).seq == i);
  }
  check_all_in_order(sink_contents(t, n), n);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_burst_is_coalesced_into_batches_and_keeps_its_order) {
  two_nodes t;
  t.wait_linked();
  auto before = stats_of(*t.b.sys, t.b.transport);
  burst_with_requests(t, 1000);
  auto a = stats_of(*t.a.sys, t.a.transport);
  auto b = stats_of(*t.b.sys, t.b.transport);
  BOOST_TEST_MESSAGE("a sent " << a.frames_out << " frames in " << a.batches_out << " batches; b read "
                               << b.batches_in - before.batches_in << " batches");
  // A burst from one thread far outruns the 20 us window: most of it travels in batches.
  BOOST_CHECK_GT(a.batches_out, 0u);
  BOOST_CHECK_LT(a.batches_out, 500u);
  BOOST_CHECK_EQUAL(b.batches_in - before.batches_in, a.batches_out);
  BOOST_CHECK_EQUAL(b.dropped_frames, 0u);
}

// Three nodes: a streams short bursts to c for a while; one burst of two pongs goes to b's sink in
// the middle. The second of those waits in a batch of its own while c's batches come and go: one
// batch timer serves every peer of a node, and its flush must send every peer's batch, promptly
// (armed by the first batch since the last flush, never pushed back by later ones).
BOOST_AUTO_TEST_CASE(a_stream_to_one_peer_does_not_hold_back_a_batch_to_another) {
  holo::config::cluster_config cluster;
  cluster.name = "t3";
  for (auto name : {"a", "b", "c"}) {
    holo::config::node_config n;
    n.name = name;
    n.cluster_endpoint = loopback_endpoint();
    cluster.nodes.push_back(n);
  }
  node nodes[3];
  for (int i = 0; i < 3; ++i) {
    auto& n = nodes[i];
    n.cfg.set("scheduler.max-threads", 2);
    holo::use_actor_scheduler(n.cfg);
    holo::register_error_category(n.cfg);
    n.sys = std::make_unique<caf::actor_system>(n.cfg);
    auto ctx = std::make_shared<holo::node_context>();
    ctx->cluster = cluster;
    ctx->node = cluster.nodes[i];
    ctx->zmq = &n.zmq;
    n.transport = holo::spawn_transport(*n.sys, ctx);
    caf::scoped_actor s{*n.sys};
    s->request(n.transport, 5s, holo::sup::ready_atom::value).receive([](caf::ok_atom) {}, [](caf::error&) {});
    n.sys->registry().put(caf::atom("sink"), caf::actor_cast<caf::strong_actor_ptr>(n.sys->spawn(sink)));
    n.sys->registry().put(caf::atom("echo"), caf::actor_cast<caf::strong_actor_ptr>(n.sys->spawn(echo)));
  }
  auto& a = nodes[0];
  caf::scoped_actor s{*a.sys};
  for (auto peer : {"b", "c"}) s->send(a.transport, holo::peer_state_atom::value, std::string(peer), true);
  auto door = holo::transport_door(*a.sys);
  auto linked = [&](const char* peer) {
    for (int i = 0; i < 250; ++i) {
      bool ok = false;
      s->request(door, 2s, holo::remote_request_atom::value, std::string(peer), std::string("echo"),
                 std::int64_t{1000}, caf::make_message(ping{1, "x"}))
          .receive([&](pong&) { ok = true; }, [](caf::error&) {});
      if (ok) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };
  BOOST_REQUIRE(linked("b"));
  BOOST_REQUIRE(linked("c"));
  auto sink_of = [&](node& n) { return caf::actor_cast<caf::actor>(n.sys->registry().get(caf::atom("sink"))); };
  auto count_at = [&](node& n) {
    caf::scoped_actor q{*n.sys};
    std::size_t count = 0;
    q->request(sink_of(n), 2s, caf::get_atom::value)
        .receive([&](std::vector<std::uint64_t>& v) { count = v.size(); }, [](caf::error&) {});
    return count;
  };
  auto send_to = [&](const char* peer, std::uint64_t seq) {
    s->send(door, holo::remote_send_atom::value, std::string(peer), std::string("sink"), caf::make_message(pong{seq, "x"}));
  };
  std::atomic<bool> streaming{true};
  std::thread stream([&] {
    caf::scoped_actor t{*a.sys};
    std::uint64_t seq = 0;
    while (streaming) {  // bursts of three, 40 us apart: each starts a new batch to c
      for (int k = 0; k < 3; ++k)
        t->send(door, holo::remote_send_atom::value, std::string("c"), std::string("sink"),
                caf::make_message(pong{seq++, "x"}));
      // A spin, not a sleep: a sleep's slack (50 us and more) would space the batches out.
      for (auto until = clock_type::now() + 40us; clock_type::now() < until;) {
      }
    }
  });
  std::this_thread::sleep_for(50ms);
  auto t0 = clock_type::now();
  send_to("b", 0);
  send_to("b", 1);  // within 20 us of the first: waits in a batch
  bool arrived = false;
  while (!arrived && clock_type::now() - t0 < 1s) {
    arrived = count_at(nodes[1]) == 2;
    if (!arrived) std::this_thread::sleep_for(2ms);
  }
  auto waited = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
  streaming = false;
  stream.join();
  BOOST_TEST_MESSAGE("b had both pongs after " << waited << " ms; c got " << count_at(nodes[2]));
  BOOST_CHECK_MESSAGE(arrived, "the batched pong to b waited more than a second behind c's stream");
  BOOST_CHECK_LT(waited, 500.0);
  for (auto& n : nodes) {
    caf::scoped_actor q{*n.sys};
    q->send_exit(n.transport, caf::exit_reason::user_shutdown);
    for (auto name : {"sink", "echo"}) {
      if (auto h = n.sys->registry().get(caf::atom_from_string(name)))
        caf::anon_send_exit(caf::actor_cast<caf::actor>(h), caf::exit_reason::user_shutdown);
      n.sys->registry().erase(caf::atom_from_string(name));
    }
  }
}

BOOST_AUTO_TEST_CASE(with_coalescing_off_every_frame_travels_alone) {
  two_nodes t(0);
  t.wait_linked();
  burst_with_requests(t, 1000);
  auto a = stats_of(*t.a.sys, t.a.transport);
  BOOST_CHECK_EQUAL(a.batches_out, 0u);
  BOOST_CHECK_GE(a.frames_out, 1000u);
}

BOOST_AUTO_TEST_CASE(one_way_sends_from_one_thread_arrive_in_order) {
  two_nodes t;
  t.wait_linked();
  auto door = holo::transport_door(*t.a.sys);
  caf::scoped_actor s{*t.a.sys};
  constexpr std::uint64_t n = 1500;  // below the link's queue (peer_queue_frames_max x 2)
  for (std::uint64_t i = 0; i < n; ++i) {
    // Mixed paths from one sender: the door and the transport actor keep one order only when the
    // sender waits between them, so the transport actor's share goes first, then the door's.
    s->send(i < n / 2 ? t.a.transport : door, holo::remote_send_atom::value, std::string("b"), std::string("sink"),
            caf::make_message(pong{i, "x"}));
    if (i == n / 2 - 1) {
      // Drain the transport actor's mailbox before switching to the door.
      s->request(t.a.transport, 2s, holo::status_atom::value).receive([](holo::actor_status&) {}, [](caf::error&) {});
    }
  }
  check_all_in_order(sink_contents(t, n), n);
}
