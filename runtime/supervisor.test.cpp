#define BOOST_TEST_MODULE supervisor
#include <boost/test/unit_test.hpp>

#include "runtime/supervisor.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "caf/all.hpp"

using namespace std::chrono_literals;
using namespace holo::sup;

namespace {

using crash_atom = caf::atom_constant<caf::atom("t_crash")>;
using quit_atom = caf::atom_constant<caf::atom("t_quit")>;
using go_atom = caf::atom_constant<caf::atom("t_go")>;

// ---- test children ------------------------------------------------------------------------------

struct counter_state {
  std::int64_t n = 0;
};

// A well-behaved child: answers ready, counts, crashes (throws) or quits normally on request.
// `quiet` installs an exception handler so the many crashes of these tests do not flood stderr.
caf::behavior counter(caf::stateful_actor<counter_state>* self, bool quiet) {
  if (quiet)
    self->set_exception_handler(
      [](std::exception_ptr&) -> caf::error { return caf::sec::runtime_error; });
  return {
    [](ready_atom) { return caf::ok_atom::value; },
    [self](caf::add_atom) { return ++self->state.n; },
    [self](caf::get_atom) { return self->state.n; },
    [](crash_atom) { throw std::runtime_error("test crash"); },
    [self](quit_atom) { self->quit(); },
  };
}

child_spec counter_child(std::string id, restart_type rt = restart_type::permanent,
                         bool quiet = true) {
  child_spec c;
  c.id = std::move(id);
  c.restart = rt;
  c.shutdown_timeout = 1s;
  c.start = [quiet](caf::actor_system& sys) { return sys.spawn(counter, quiet); };
  return c;
}

// Collects lines from several actors; causally ordered sends arrive in order.
struct log_state {
  std::vector<std::string> lines;
};

caf::behavior log_actor(caf::stateful_actor<log_state>* self) {
  return {
    [self](caf::put_atom, const std::string& line) { self->state.lines.push_back(line); },
    [self](caf::get_atom) { return self->state.lines; },
  };
}

struct logged_state {
  std::optional<caf::typed_response_promise<caf::ok_atom>> ready;
};

// Logs "start:ID" in init, "ready:ID" when it answers ready (after `ready_delay`), and
// "stop:ID" (or "ignore:ID" when `ignore_shutdown`) when its supervisor asks it to stop.
caf::behavior logged(caf::stateful_actor<logged_state>* self, caf::actor log, std::string id,
                     bool ignore_shutdown, std::chrono::milliseconds ready_delay) {
  self->send(log, caf::put_atom::value, "start:" + id);
  self->set_exit_handler([self, log, id, ignore_shutdown](caf::exit_msg& em) {
    if (ignore_shutdown && em.reason == caf::exit_reason::user_shutdown) {
      self->send(log, caf::put_atom::value, "ignore:" + id);
      return;
    }
    self->send(log, caf::put_atom::value, "stop:" + id);
    self->quit(em.reason);
  });
  return {
    [self, ready_delay](ready_atom) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise<caf::ok_atom>();
      self->state.ready = rp;
      self->delayed_send(self, ready_delay, go_atom::value);
      return rp;
    },
    [self, log, id](go_atom) {
      self->send(log, caf::put_atom::value, "ready:" + id);
      if (self->state.ready)
        self->state.ready->deliver(caf::ok_atom::value);
      self->state.ready.reset();
    },
  };
}

child_spec logged_child(caf::actor log, std::string id, bool ignore_shutdown = false,
                        std::chrono::milliseconds ready_delay = 0ms) {
  child_spec c;
  c.id = id;
  c.shutdown_timeout = 1s;
  c.start = [log, id, ignore_shutdown, ready_delay](caf::actor_system& sys) {
    return sys.spawn(logged, log, id, ignore_shutdown, ready_delay);
  };
  return c;
}

// ---- fixture ------------------------------------------------------------------------------------

struct fixture {
  caf::actor_system_config cfg;  // before sys: the system keeps a reference to it
  caf::actor_system sys;
  caf::scoped_actor self;
  std::vector<caf::actor> to_stop;
  std::vector<caf::down_msg> downs;  // received, not yet waited for

  fixture() : sys(init(cfg)), self(sys) {}

  ~fixture() {
    // Stop what a test left running so that ~actor_system does not wait forever.
    for (auto& a : to_stop)
      self->send_exit(a, caf::exit_reason::user_shutdown);
  }

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    c.set("scheduler.max-threads", 2);
    register_error_category(c);
    return c;
  }

  template <class T, class... Ts>
  T ask(const caf::actor& dst, Ts&&... xs) {
    T r{};
    self->request(dst, 5s, std::forward<Ts>(xs)...)
      .receive([&](T& x) { r = std::move(x); },
               [&](caf::error& e) { BOOST_FAIL("request failed: " << sys.render(e)); });
    return r;
  }

  // The error a request answers (an empty error if it succeeded).
  template <class... Ts>
  caf::error ask_error(const caf::actor& dst, Ts&&... xs) {
    caf::error r;
    self->request(dst, 5s, std::forward<Ts>(xs)...)
      .receive([](const caf::message&) {}, [&](caf::error& e) { r = std::move(e); });
    return r;
  }

  caf::actor start_sup(flags f, std::vector<child_spec> children, std::string name = "test") {
    auto sup = spawn_supervisor(sys, std::move(name), f, std::move(children));
    to_stop.push_back(sup);
    return sup;
  }

  std::vector<child_info> which(const caf::actor& sup) {
    return ask<std::vector<child_info>>(sup, which_atom::value);
  }

  child_info info(const caf::actor& sup, const std::string& id) {
    for (auto& c : which(sup))
      if (c.id == id)
        return c;
    BOOST_FAIL("no child " << id);
    return {};
  }

  std::int64_t value(const caf::actor& a) { return ask<std::int64_t>(a, caf::get_atom::value); }

  void add(const caf::actor& a, int times) {
    for (int i = 0; i < times; ++i)
      ask<std::int64_t>(a, caf::add_atom::value);
  }

  template <class Pred>
  bool eventually(Pred pred, std::chrono::milliseconds limit = 3s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred())
        return true;
      std::this_thread::sleep_for(2ms);
    }
    return pred();
  }

  // Waits until child `id` runs with a handle other than `old`; returns the new handle.
  caf::actor restarted(const caf::actor& sup, const std::string& id, const caf::actor& old) {
    caf::actor now;
    BOOST_REQUIRE(eventually([&] {
      auto c = info(sup, id);
      now = c.handle;
      return c.running && c.handle != old;
    }));
    return now;
  }

  // The reason of `who`'s down_msg (monitor it first); fails the test after `limit`. Down
  // messages of other actors are kept for later calls.
  caf::error wait_down(const caf::actor_addr& who, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      for (auto i = downs.begin(); i != downs.end(); ++i)
        if (i->source == who) {
          auto reason = i->reason;
          downs.erase(i);
          return reason;
        }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left <= 0ms)
        BOOST_FAIL("no down_msg in time");
      self->receive([&](caf::down_msg& dm) { downs.push_back(std::move(dm)); },
                    caf::after(left) >> [] {});
    }
  }

  // Orderly stop of a supervisor; returns its exit reason.
  caf::error stop(const caf::actor& sup) {
    self->monitor(sup);
    self->send_exit(sup, caf::exit_reason::user_shutdown);
    return wait_down(sup.address(), 10s);
  }
};

flags fast(strategy s, std::size_t intensity = 5, std::chrono::milliseconds period = 2s) {
  flags f;
  f.strat = s;
  f.intensity = intensity;
  f.period = period;
  f.start_timeout = 2s;
  return f;
}

}  // namespace

// ---- strategies ---------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(one_for_one_restarts_only_the_failed_child, fixture) {
  auto sup = start_sup(fast(strategy::one_for_one),
                       {counter_child("a"), counter_child("b"), counter_child("c")});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto before = which(sup);
  BOOST_REQUIRE_EQUAL(before.size(), 3u);
  add(before[1].handle, 7);
  // Crash a, and queue work for b behind it: b must keep its state and its mailbox.
  self->send(before[0].handle, crash_atom::value);
  for (int i = 0; i < 3; ++i)
    self->send(before[1].handle, caf::add_atom::value);
  auto a2 = restarted(sup, "a", before[0].handle);
  auto after = which(sup);
  BOOST_CHECK(after[1].handle == before[1].handle);
  BOOST_CHECK(after[2].handle == before[2].handle);
  BOOST_CHECK_EQUAL(value(before[1].handle), 10);
  BOOST_CHECK_EQUAL(value(a2), 0);
  BOOST_CHECK_EQUAL(after[0].restarts, 1u);
  BOOST_CHECK_EQUAL(after[1].restarts, 0u);
  auto st = ask<supervisor_stats>(sup, stats_atom::value);
  BOOST_CHECK_EQUAL(st.total_restarts, 1u);
  BOOST_CHECK(!st.escalated);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(one_for_all_restarts_every_child_as_one_restart, fixture) {
  auto sup = start_sup(fast(strategy::one_for_all),
                       {counter_child("a"), counter_child("b"), counter_child("c")});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto before = which(sup);
  add(before[1].handle, 7);
  self->send(before[0].handle, crash_atom::value);
  restarted(sup, "a", before[0].handle);
  BOOST_REQUIRE(eventually([&] {
    auto now = which(sup);
    for (std::size_t i = 0; i < now.size(); ++i)
      if (!now[i].running || now[i].handle == before[i].handle)
        return false;
    return true;
  }));
  auto after = which(sup);
  BOOST_CHECK_EQUAL(value(after[1].handle), 0);  // b was restarted: fresh state
  auto st = ask<supervisor_stats>(sup, stats_atom::value);
  BOOST_CHECK_EQUAL(st.total_restarts, 1u);
  for (auto& c : after)
    BOOST_CHECK_EQUAL(c.restarts, 1u);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(rest_for_one_restarts_the_failed_child_and_later_ones, fixture) {
  auto sup = start_sup(fast(strategy::rest_for_one),
                       {counter_child("a"), counter_child("b"), counter_child("c")});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto before = which(sup);
  add(before[0].handle, 7);
  add(before[2].handle, 3);
  self->send(before[1].handle, crash_atom::value);
  restarted(sup, "b", before[1].handle);
  auto c2 = restarted(sup, "c", before[2].handle);
  auto after = which(sup);
  BOOST_CHECK(after[0].handle == before[0].handle);
  BOOST_CHECK_EQUAL(value(before[0].handle), 7);
  BOOST_CHECK_EQUAL(value(c2), 0);
  BOOST_CHECK_EQUAL(ask<supervisor_stats>(sup, stats_atom::value).total_restarts, 1u);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
}

// ---- restart types ------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(restart_types, fixture) {
  auto sup = start_sup(fast(strategy::one_for_one),
                       {counter_child("perm", restart_type::permanent),
                        counter_child("trans", restart_type::transient),
                        counter_child("temp", restart_type::temporary)});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto before = which(sup);
  // permanent: restarted even after a normal exit
  self->send(before[0].handle, quit_atom::value);
  restarted(sup, "perm", before[0].handle);
  // transient: not after a normal exit ...
  self->monitor(before[1].handle);
  self->send(before[1].handle, quit_atom::value);
  BOOST_CHECK(!wait_down(before[1].handle.address()));
  BOOST_REQUIRE(eventually([&] { return !info(sup, "trans").running; }));
  std::this_thread::sleep_for(50ms);
  BOOST_CHECK(!info(sup, "trans").running);
  // ... restarted by restart_child, and restarted after a crash
  BOOST_CHECK(ask<caf::ok_atom>(sup, restart_child_atom::value, std::string{"trans"})
              == caf::ok_atom::value);
  auto t2 = info(sup, "trans").handle;
  BOOST_REQUIRE(t2);
  self->send(t2, crash_atom::value);
  restarted(sup, "trans", t2);
  // temporary: never restarted, and forgotten
  self->send(before[2].handle, crash_atom::value);
  BOOST_REQUIRE(eventually([&] { return which(sup).size() == 2; }));
  BOOST_CHECK(ask_error(sup, restart_child_atom::value, std::string{"temp"})
              == sup_errc::unknown_child);
  BOOST_CHECK_EQUAL(ask<supervisor_stats>(sup, stats_atom::value).total_restarts, 2u);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(a_throwing_handler_counts_as_a_crash, fixture) {
  // Transient: restarted only after an abnormal exit, so the restart proves the exception counted
  // as a crash. Default exception handler (prints "unhandled exception" on stderr, as in prod).
  auto sup = start_sup(fast(strategy::one_for_one),
                       {counter_child("t", restart_type::transient, false)});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto old = info(sup, "t").handle;
  self->monitor(old);
  self->send(old, crash_atom::value);
  BOOST_CHECK(wait_down(old.address()) == caf::sec::runtime_error);
  restarted(sup, "t", old);
  BOOST_CHECK_EQUAL(info(sup, "t").restarts, 1u);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
}

// ---- intensity ----------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(ten_crashes_under_5_per_30s_restart_5_times_then_escalate, fixture) {
  flags f;  // the defaults: one_for_one, 5 restarts / 30 s
  BOOST_REQUIRE_EQUAL(f.intensity, 5u);
  BOOST_REQUIRE(f.period == 30s);
  auto sup = start_sup(f, {counter_child("crasher"), counter_child("sibling")});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  self->monitor(sup);
  auto sibling = info(sup, "sibling").handle;
  self->monitor(sibling);
  auto child = info(sup, "crasher").handle;
  int crashes = 0;
  std::vector<caf::actor> seen{child};
  for (int i = 1; i <= 10; ++i) {
    self->send(child, crash_atom::value);
    ++crashes;
    if (i <= 5) {
      child = restarted(sup, "crasher", child);
      seen.push_back(child);
      auto st = ask<supervisor_stats>(sup, stats_atom::value);
      BOOST_CHECK_EQUAL(st.total_restarts, static_cast<std::uint64_t>(i));
      BOOST_CHECK(!st.escalated);
      continue;
    }
    // The 6th crash exceeds 5 restarts in 30 s: the supervisor escalates.
    auto reason = wait_down(sup.address());
    BOOST_CHECK_MESSAGE(reason == sup_errc::too_many_restarts, sys.render(reason));
    break;
  }
  BOOST_CHECK_EQUAL(crashes, 6);
  BOOST_CHECK_EQUAL(seen.size(), 6u);  // the first child + exactly 5 restarts
  // Children die with it: the sibling was stopped in the orderly way.
  BOOST_CHECK(wait_down(sibling.address()) == caf::exit_reason::user_shutdown);
  for (auto& c : seen) {
    self->monitor(c);
    wait_down(c.address());  // an already dead actor answers the monitor at once
  }
}

BOOST_FIXTURE_TEST_CASE(restarts_outside_the_period_do_not_add_up, fixture) {
  auto sup = start_sup(fast(strategy::one_for_one, 2, 300ms), {counter_child("a")});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto child = info(sup, "a").handle;
  for (int i = 0; i < 5; ++i) {  // 5 crashes, but at most 2 within any 300 ms
    self->send(child, crash_atom::value);
    child = restarted(sup, "a", child);
    std::this_thread::sleep_for(200ms);
  }
  auto st = ask<supervisor_stats>(sup, stats_atom::value);
  BOOST_CHECK_EQUAL(st.total_restarts, 5u);
  BOOST_CHECK(!st.escalated);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
}

// ---- ordered start, reverse stop ----------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(ordered_start_and_reverse_stop_with_kill_after_timeout, fixture) {
  auto log = sys.spawn(log_actor);
  to_stop.push_back(log);
  auto stubborn = logged_child(log, "2", true);
  stubborn.shutdown_timeout = 300ms;
  auto sup = start_sup(fast(strategy::one_for_one),
                       {logged_child(log, "1", false, 100ms), stubborn, logged_child(log, "3")});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto kids = which(sup);
  for (auto& k : kids)
    self->monitor(k.handle);
  auto t0 = std::chrono::steady_clock::now();
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  BOOST_CHECK(elapsed >= 300ms);
  BOOST_CHECK(elapsed < 2300ms);
  BOOST_CHECK(wait_down(kids[0].handle.address()) == caf::exit_reason::user_shutdown);
  BOOST_CHECK(wait_down(kids[1].handle.address()) == caf::exit_reason::kill);
  BOOST_CHECK(wait_down(kids[2].handle.address()) == caf::exit_reason::user_shutdown);
  auto lines = ask<std::vector<std::string>>(log, caf::get_atom::value);
  std::vector<std::string> expected{"start:1", "ready:1", "start:2", "ready:2", "start:3",
                                    "ready:3", "stop:3",  "ignore:2", "stop:1"};
  BOOST_CHECK_EQUAL_COLLECTIONS(lines.begin(), lines.end(), expected.begin(), expected.end());
}

// ---- start failures -----------------------------------------------------------------------------

namespace {

// Child 1 starts, `bad` fails: ready answers start_failed, 1 is stopped, 3 never starts.
void check_start_failure(fixture& fx, child_spec bad) {
  auto log = fx.sys.spawn(log_actor);
  fx.to_stop.push_back(log);
  auto sup = fx.start_sup(fast(strategy::one_for_one),
                          {logged_child(log, "1"), std::move(bad), logged_child(log, "3")});
  fx.self->monitor(sup);
  auto err = fx.ask_error(sup, ready_atom::value);
  BOOST_CHECK_MESSAGE(err == sup_errc::start_failed, fx.sys.render(err));
  auto reason = fx.wait_down(sup.address());
  BOOST_CHECK_MESSAGE(reason == sup_errc::start_failed, fx.sys.render(reason));
  auto lines = fx.ask<std::vector<std::string>>(log, caf::get_atom::value);
  std::vector<std::string> expected{"start:1", "ready:1", "stop:1"};
  BOOST_CHECK_EQUAL_COLLECTIONS(lines.begin(), lines.end(), expected.begin(), expected.end());
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(start_function_throwing_fails_the_start, fixture) {
  child_spec bad;
  bad.id = "bad";
  bad.start = [](caf::actor_system&) -> caf::actor { throw std::runtime_error("no model"); };
  check_start_failure(*this, bad);
}

BOOST_FIXTURE_TEST_CASE(child_dying_in_init_fails_the_start, fixture) {
  child_spec bad;
  bad.id = "bad";
  bad.start = [](caf::actor_system& sys) {
    return sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
      self->set_exception_handler(
        [](std::exception_ptr&) -> caf::error { return caf::sec::runtime_error; });
      throw std::runtime_error("init failed");
    });
  };
  check_start_failure(*this, bad);
}

BOOST_FIXTURE_TEST_CASE(child_never_ready_fails_the_start_after_the_timeout, fixture) {
  child_spec bad;
  bad.id = "bad";
  bad.start = [](caf::actor_system& sys) {
    return sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
      return {[self](ready_atom) -> caf::result<caf::ok_atom> {
        return self->make_response_promise<caf::ok_atom>();  // never delivered
      }};
    });
  };
  auto log = sys.spawn(log_actor);
  to_stop.push_back(log);
  auto f = fast(strategy::one_for_one);
  f.start_timeout = 200ms;
  auto sup = start_sup(f, {logged_child(log, "1"), bad});
  self->monitor(sup);
  auto t0 = std::chrono::steady_clock::now();
  BOOST_CHECK(ask_error(sup, ready_atom::value) == sup_errc::start_failed);
  BOOST_CHECK(std::chrono::steady_clock::now() - t0 >= 190ms);
  BOOST_CHECK(wait_down(sup.address()) == sup_errc::start_failed);
  auto lines = ask<std::vector<std::string>>(log, caf::get_atom::value);
  BOOST_CHECK(lines.back() == "stop:1");
}

// ---- nesting, registry, explicit terminate/restart ----------------------------------------------

BOOST_FIXTURE_TEST_CASE(nested_escalation_restarts_the_nested_supervisor, fixture) {
  auto worker = counter_child("w");
  worker.registered_as = caf::atom("t_inner_w");
  auto sup = start_sup(fast(strategy::one_for_one),
                       {counter_child("x"),
                        supervisor_child("inner", fast(strategy::one_for_one, 1, 5s), {worker})});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto x = info(sup, "x").handle;
  add(x, 7);
  auto inner = info(sup, "inner").handle;
  BOOST_REQUIRE(ask<caf::ok_atom>(inner, ready_atom::value) == caf::ok_atom::value);
  auto w = sys.registry().get<caf::actor>(caf::atom("t_inner_w"));
  BOOST_REQUIRE(w == info(inner, "w").handle);
  self->monitor(inner);
  // First crash: the inner supervisor restarts w (1 restart allowed) ...
  self->send(w, crash_atom::value);
  auto w2 = restarted(inner, "w", w);
  // ... the second escalates: inner exits with too_many_restarts and the top restarts it.
  self->send(w2, crash_atom::value);
  auto reason = wait_down(inner.address());
  BOOST_CHECK_MESSAGE(reason == sup_errc::too_many_restarts, sys.render(reason));
  auto inner2 = restarted(sup, "inner", inner);
  BOOST_REQUIRE(ask<caf::ok_atom>(inner2, ready_atom::value) == caf::ok_atom::value);
  auto w3 = info(inner2, "w").handle;
  BOOST_CHECK(w3 != w2);
  BOOST_CHECK(sys.registry().get<caf::actor>(caf::atom("t_inner_w")) == w3);
  BOOST_CHECK_EQUAL(ask<supervisor_stats>(inner2, stats_atom::value).total_restarts, 0u);
  BOOST_CHECK_EQUAL(info(sup, "inner").restarts, 1u);
  BOOST_CHECK(info(sup, "x").handle == x);
  BOOST_CHECK_EQUAL(value(x), 7);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
  BOOST_CHECK(!sys.registry().get<caf::actor>(caf::atom("t_inner_w")));
}

BOOST_FIXTURE_TEST_CASE(registered_name_follows_restarts, fixture) {
  auto spec = counter_child("reg");
  spec.registered_as = caf::atom("t_reg");
  auto sup = start_sup(fast(strategy::one_for_one), {spec});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  auto old = info(sup, "reg").handle;
  BOOST_CHECK(sys.registry().get<caf::actor>(caf::atom("t_reg")) == old);
  self->send(old, crash_atom::value);
  auto now = restarted(sup, "reg", old);
  BOOST_CHECK(sys.registry().get<caf::actor>(caf::atom("t_reg")) == now);
  // terminate_child: stopped, not restarted, name erased; restart_child brings both back.
  BOOST_CHECK(ask<caf::ok_atom>(sup, terminate_child_atom::value, std::string{"reg"})
              == caf::ok_atom::value);
  BOOST_CHECK(!sys.registry().get<caf::actor>(caf::atom("t_reg")));
  std::this_thread::sleep_for(50ms);
  BOOST_CHECK(!info(sup, "reg").running);
  BOOST_CHECK(ask<caf::ok_atom>(sup, restart_child_atom::value, std::string{"reg"})
              == caf::ok_atom::value);
  auto again = info(sup, "reg").handle;
  BOOST_CHECK(again && again != now);
  BOOST_CHECK(sys.registry().get<caf::actor>(caf::atom("t_reg")) == again);
  BOOST_CHECK_EQUAL(ask<supervisor_stats>(sup, stats_atom::value).total_restarts, 1u);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
  BOOST_CHECK(!sys.registry().get<caf::actor>(caf::atom("t_reg")));
}

BOOST_FIXTURE_TEST_CASE(protocol_errors_do_not_hurt_the_supervisor, fixture) {
  auto sup = start_sup(fast(strategy::one_for_one), {counter_child("a")});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  BOOST_CHECK(ask_error(sup, terminate_child_atom::value, std::string{"nope"})
              == sup_errc::unknown_child);
  BOOST_CHECK(ask_error(sup, restart_child_atom::value, std::string{"a"})
              == sup_errc::child_running);
  BOOST_CHECK(ask_error(sup, caf::add_atom::value, 1, 2) == caf::sec::unexpected_message);
  self->send(sup, caf::make_error(caf::sec::runtime_error));  // an error as a plain message
  self->send_exit(sup, caf::exit_reason::normal);             // normal exits are ignored
  BOOST_CHECK(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  BOOST_CHECK(info(sup, "a").running);
  BOOST_CHECK(sys.render(make_error(sup_errc::too_many_restarts)).find("too_many_restarts")
              != std::string::npos);
  BOOST_CHECK(stop(sup) == caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(duplicate_ids_fail_the_start, fixture) {
  auto sup = start_sup(fast(strategy::one_for_one), {counter_child("a"), counter_child("a")});
  self->monitor(sup);
  BOOST_CHECK(ask_error(sup, ready_atom::value) == sup_errc::start_failed);
  BOOST_CHECK(wait_down(sup.address()) == sup_errc::start_failed);
}

BOOST_FIXTURE_TEST_CASE(the_observer_hears_every_unordered_exit, fixture) {
  // The observer runs on the supervisor's thread; a mutex-free handoff through a shared vector is
  // safe here because the test reads it only after the supervisor is gone.
  auto events = std::make_shared<std::vector<child_event>>();
  auto f = fast(strategy::one_for_one, 1);
  f.observer = [events](const child_event& e) { events->push_back(e); };
  auto sup = start_sup(f, {counter_child("c"), counter_child("t", restart_type::temporary)});
  BOOST_REQUIRE(ask<caf::ok_atom>(sup, ready_atom::value) == caf::ok_atom::value);
  self->monitor(sup);
  auto t = info(sup, "t").handle;
  self->send(t, crash_atom::value);
  BOOST_REQUIRE(eventually([&] { return which(sup).size() == 1; }));  // the temporary one is gone
  auto c = info(sup, "c").handle;
  self->send(c, crash_atom::value);
  c = restarted(sup, "c", c);
  self->send(c, crash_atom::value);  // the second restart within the period: escalate
  BOOST_CHECK(wait_down(sup.address()) == sup_errc::too_many_restarts);
  BOOST_REQUIRE_EQUAL(events->size(), 3u);
  using act = child_event::action;
  BOOST_CHECK((*events)[0].child == "t" && (*events)[0].taken == act::not_restarted);
  BOOST_CHECK((*events)[1].child == "c" && (*events)[1].taken == act::restarted);
  BOOST_CHECK((*events)[2].child == "c" && (*events)[2].taken == act::escalated);
  BOOST_CHECK_EQUAL((*events)[2].supervisor, "test");
  BOOST_CHECK((*events)[1].reason != "none");
}
