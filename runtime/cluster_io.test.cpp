#define BOOST_TEST_MODULE cluster_io
#include <boost/test/unit_test.hpp>


#include <atomic>
#include <chrono>
#include <thread>

#include <caf/all.hpp>
#include <zmq.hpp>

#include "runtime/actor_scheduler.hpp"
#include "runtime/cluster_io.hpp"
#include "runtime/free_port.hpp"

using namespace holo;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// "tcp://127.0.0.1:PORT" on a port nothing listens on now.
std::string loopback_endpoint() {
  auto port = free_loopback_port();
  BOOST_REQUIRE_MESSAGE(port, (port ? "" : port.error().message()));
  return "tcp://127.0.0.1:" + std::to_string(*port);
}

// Two cluster_io ends, "a" (on an actor system running the node's scheduler) sending to "b",
// which counts what arrives. Batches wait up to 1 ms on the timer (coalesce_wait_us); a batch
// begun in an actor's job waits at most `job_bound_us`.
struct link_pair {
  zmq::context_t zmq{1};
  caf::actor_system_config cfg_a, cfg_b;
  std::unique_ptr<caf::actor_system> sys_a, sys_b;
  caf::actor owner_a, owner_b;
  std::unique_ptr<cluster_io> a, b;
  std::atomic<int> frames_at_b{0};

  explicit link_pair(int job_bound_us) {
    cfg_a.set("scheduler.max-threads", 2);
    use_actor_scheduler(cfg_a);
    cfg_b.set("scheduler.max-threads", 2);
    sys_a = std::make_unique<caf::actor_system>(cfg_a);
    sys_b = std::make_unique<caf::actor_system>(cfg_b);
    auto ignore_all = [](caf::event_based_actor* self) -> caf::behavior {
      self->set_default_handler(caf::drop);
      return {[](int) {}};
    };
    owner_a = sys_a->spawn(ignore_all);
    owner_b = sys_b->spawn(ignore_all);
    auto ep_a = loopback_endpoint();
    auto ep_b = loopback_endpoint();
    cluster_io_options oa;
    oa.self = "a";
    oa.bind_endpoint = ep_a;
    oa.peers = {{"b", ep_b, ""}};
    oa.coalesce_wait_us = 1000;
    oa.job_flush_bound_us = job_bound_us;
    cluster_io_options ob;
    ob.self = "b";
    ob.bind_endpoint = ep_b;
    ob.peers = {{"a", ep_a, ""}};
    ob.deliver_inline = [this](const std::string&, std::string_view, caf::execution_unit*) {
      ++frames_at_b;
      return true;
    };
    auto ra = cluster_io::start(*sys_a, zmq, std::move(oa), owner_a);
    auto rb = cluster_io::start(*sys_b, zmq, std::move(ob), owner_b);
    BOOST_REQUIRE(ra.ok());
    BOOST_REQUIRE(rb.ok());
    a = std::move(ra).value();
    b = std::move(rb).value();
    // Up when a frame gets through.
    for (int i = 0; i < 250 && frames_at_b == 0; ++i) {
      a->send("b", "hello");
      std::this_thread::sleep_for(20ms);
    }
    BOOST_REQUIRE(frames_at_b > 0);
    std::this_thread::sleep_for(50ms);
    frames_at_b = 0;
  }
  ~link_pair() {
    a->stop();
    b->stop();
    caf::anon_send_exit(owner_a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(owner_b, caf::exit_reason::user_shutdown);
  }

  // Seconds from `t0` until b has counted `n` frames; a negative figure if that took over 8 s.
  double seconds_until(int n, clock_type::time_point t0) {
    while (frames_at_b < n) {
      if (clock_type::now() - t0 > 8s) return -1;
      std::this_thread::sleep_for(1ms);
    }
    return std::chrono::duration<double>(clock_type::now() - t0).count();
  }

  // a's count of batches sent, once it is at least 1 (or after 2 s). The sender counts a batch just
  // after ZeroMQ took it, so b may have all its frames before the count moves (CI saw 0 there).
  std::uint64_t batches_sent() {
    for (int i = 0; i < 2000 && a->counters().batches_out == 0; ++i) std::this_thread::sleep_for(1ms);
    return a->counters().batches_out;
  }

  // An actor on a's system that sends a burst of `n` frames, then stays in the same job for `hold`.
  void burst_from_an_actor(int n, std::chrono::milliseconds hold) {
    sys_a->spawn([this, n, hold] {
      for (int i = 0; i < n; ++i) a->send("b", "frame of a burst");
      std::this_thread::sleep_for(hold);
    });
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_burst_an_actor_sends_leaves_when_its_job_ends) {
  // The bound is 10 s: only the end of the job can send the batch sooner.
  link_pair t(10'000'000);
  auto t0 = clock_type::now();
  t.burst_from_an_actor(20, 300ms);
  auto s = t.seconds_until(20, t0);
  BOOST_TEST_MESSAGE("a burst from a 300 ms job arrived after " << s << " s");
  BOOST_CHECK_GE(s, 0.25);  // not before the job ended (the first frame, alone, may: not all 20)
  BOOST_CHECK_LT(s, 5.0);   // and not at the 10 s bound
  BOOST_CHECK_GE(t.batches_sent(), 1u);
  // The same from an actor whose job ends at once: the batch goes at once.
  t.frames_at_b = 0;
  t0 = clock_type::now();
  t.burst_from_an_actor(20, 0ms);
  s = t.seconds_until(20, t0);
  BOOST_TEST_MESSAGE("a burst from a short job arrived after " << s << " s");
  BOOST_CHECK_GE(s, 0.0);
  BOOST_CHECK_LT(s, 0.25);
}

BOOST_AUTO_TEST_CASE(a_job_that_goes_on_does_not_hold_its_batch_past_the_bound) {
  link_pair t(50'000);  // 50 ms
  auto t0 = clock_type::now();
  t.burst_from_an_actor(20, 3000ms);
  auto s = t.seconds_until(20, t0);
  BOOST_TEST_MESSAGE("a burst from a 3 s job arrived after " << s << " s");
  BOOST_CHECK_GE(s, 0.0);
  BOOST_CHECK_LT(s, 2.0);
}

BOOST_AUTO_TEST_CASE(a_burst_from_a_plain_thread_leaves_on_the_timer) {
  link_pair t(10'000'000);  // the job bound does not apply: this thread runs no jobs
  auto t0 = clock_type::now();
  for (int i = 0; i < 20; ++i) t.a->send("b", "frame of a burst");
  auto s = t.seconds_until(20, t0);
  BOOST_TEST_MESSAGE("a burst from a plain thread arrived after " << s << " s");
  BOOST_CHECK_GE(s, 0.0);
  BOOST_CHECK_LT(s, 2.0);
  BOOST_CHECK_GE(t.batches_sent(), 1u);
}
