// The supervisor actor. Everything it does to children runs as a queue of operations executed one
// at a time (start one child, stop one child, quit), because each of them waits for an answer
// (a ready reply, a down_msg, a timer) and OTP orders them strictly: starts in list order, stops
// in reverse, never two at once. Operations look at the children's state when they run, not when
// they were queued, so a queue planned before another crash stays valid (start of a running child
// and stop of a stopped child are no-ops).
#include "runtime/supervisor.hpp"

#include <algorithm>
#include <deque>
#include <exception>
#include <optional>
#include <utility>

#include "caf/actor_registry.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/duration.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/sec.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_response_promise.hpp"

namespace holo::sup {

std::string to_string(sup_errc x) {
  switch (x) {
    case sup_errc::start_failed: return "start_failed";
    case sup_errc::too_many_restarts: return "too_many_restarts";
    case sup_errc::unknown_child: return "unknown_child";
    case sup_errc::child_running: return "child_running";
    case sup_errc::shutting_down: return "shutting_down";
  }
  return "unknown";
}

namespace {
constexpr caf::atom_value error_category = caf::atom("holo_sup");
}  // namespace

caf::error make_error(sup_errc x) {
  return caf::error{static_cast<std::uint8_t>(x), error_category};
}

caf::error make_error(sup_errc x, std::string context) {
  return caf::error{static_cast<std::uint8_t>(x), error_category,
                    caf::make_message(std::move(context))};
}

void register_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category,
                         [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
                           auto s = "holo_sup::" + to_string(static_cast<sup_errc>(code));
                           if (!ctx.empty())
                             s += caf::deep_to_string(ctx);
                           return s;
                         });
}

namespace {

using clock_type = std::chrono::steady_clock;
using ok_promise = caf::typed_response_promise<caf::ok_atom>;

// Private messages to itself; the token makes stale timers and replies harmless.
using sup_kick_atom = caf::atom_constant<caf::atom("sup_kick")>;
using sup_timer_atom = caf::atom_constant<caf::atom("sup_timer")>;

// How long to wait for a child's exit after `kill`. A killed event-based actor exits as soon as it
// is scheduled; only one stuck inside a long handler (a detached engine call) can take longer, and
// then the supervisor stops waiting for it rather than blocking its siblings forever.
constexpr std::chrono::milliseconds kill_grace{5000};
// Timeouts above this mean "wait forever" (and would overflow the clock arithmetic).
constexpr std::chrono::milliseconds forever_threshold{std::chrono::hours{24 * 365}};

enum class phase { starting, running, stopping };
enum class op_kind { start, stop, quit };
enum class start_mode { initial, restart, requested };
// What the current operation waits for.
enum class stage { idle, probing, exit_sent, kill_sent };

struct child_rec {
  child_spec spec;
  caf::actor handle;          // valid while running
  std::uint64_t restarts = 0;
  // A temporary child that stopped: forgotten, as OTP deletes its spec. (Other stopped children
  // stay listed, not running, until restart_child or a sibling's restart brings them back; a
  // restart plan only includes children that were running.)
  bool removed = false;
};

struct op {
  op_kind kind = op_kind::quit;
  std::size_t child = 0;                   // start, stop
  start_mode smode = start_mode::initial;  // start
  std::optional<ok_promise> rp;            // answered when the operation finishes
  caf::error reason;                       // quit
};

op start_op(std::size_t child, start_mode m, std::optional<ok_promise> rp = std::nullopt) {
  return op{op_kind::start, child, m, std::move(rp), {}};
}

op stop_op(std::size_t child, std::optional<ok_promise> rp = std::nullopt) {
  return op{op_kind::stop, child, start_mode::initial, std::move(rp), {}};
}

op quit_op(caf::error reason) {
  return op{op_kind::quit, 0, start_mode::initial, std::nullopt, std::move(reason)};
}

struct sup_state {
  static inline const char* name = "holo_supervisor";

  std::string sup_name;
  flags fl;
  caf::actor_system* sys = nullptr;
  std::vector<child_rec> children;
  std::deque<op> ops;
  std::optional<op> current;  // the operation in progress (waiting while stage != idle)
  stage st = stage::idle;
  std::uint64_t token = 0;    // identifies the current wait (probe reply, timer)
  caf::error start_failure;   // why the current start failed, reported once the child is gone
  phase ph = phase::starting;
  bool kicked = false;
  caf::error quit_reason;
  std::vector<ok_promise> ready_waiters;
  std::deque<clock_type::time_point> restart_times;
  std::uint64_t total_restarts = 0;
  bool escalated = false;
  // Recently gone children. A crash reaches us twice, as the link's exit_msg and the monitor's
  // down_msg, in either order; once the child is gone its exit_msg must not read as a non-child's
  // exit (which would stop the supervisor). Bounded: a late exit_msg follows its down_msg closely.
  std::deque<caf::actor_addr> former;

  // The actor may die without the orderly path (kill): drop registry entries that still name
  // our children, so nobody finds a dead child there.
  ~sup_state() {
    if (sys == nullptr)
      return;
    for (auto& c : children)
      if (c.handle && c.spec.registered_as != caf::atom("")
          && sys->registry().get<caf::actor>(c.spec.registered_as) == c.handle)
        sys->registry().erase(c.spec.registered_as);
  }
};

using sup_actor = caf::stateful_actor<sup_state>;

void pump(sup_actor* self);

bool is_normal_exit(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::user_shutdown;
}

std::optional<std::size_t> find_child(const sup_state& s, const caf::actor_addr& addr) {
  for (std::size_t i = 0; i < s.children.size(); ++i)
    if (s.children[i].handle && s.children[i].handle.address() == addr)
      return i;
  return std::nullopt;
}

std::optional<std::size_t> find_child(const sup_state& s, const std::string& id) {
  for (std::size_t i = 0; i < s.children.size(); ++i)
    if (!s.children[i].removed && s.children[i].spec.id == id)
      return i;
  return std::nullopt;
}

void arm_timer(sup_actor* self, std::chrono::milliseconds d) {
  auto tok = ++self->state.token;
  if (d < forever_threshold)
    self->delayed_send(self, d, sup_timer_atom::value, tok);
}

constexpr std::size_t former_max = 64;

// The child is no longer running (exited, or given up on).
void child_gone(sup_actor* self, child_rec& c) {
  auto& former = self->state.former;
  former.push_back(c.handle.address());
  if (former.size() > former_max)
    former.pop_front();
  if (c.spec.registered_as != caf::atom("")
      && self->system().registry().get<caf::actor>(c.spec.registered_as) == c.handle)
    self->system().registry().erase(c.spec.registered_as);
  c.handle = nullptr;
}

// Ends the current operation; the caller continues with pump().
op finish_current(sup_actor* self) {
  auto& s = self->state;
  op o = std::move(*s.current);
  s.current.reset();
  s.st = stage::idle;
  ++s.token;
  return o;
}

// Orderly stop of everything (reverse order), then quit(reason). Used for an exit from the parent
// or any non-child, for escalation and for a failed initial start.
void begin_shutdown(sup_actor* self, caf::error reason) {
  auto& s = self->state;
  if (s.ph == phase::stopping)
    return;
  s.ph = phase::stopping;
  s.quit_reason = reason;
  for (auto& w : s.ready_waiters)
    w.deliver(reason);
  s.ready_waiters.clear();
  for (auto& o : s.ops)
    if (o.rp)
      o.rp->deliver(make_error(sup_errc::shutting_down));
  s.ops.clear();
  // A stop in progress (or the kill of a child that failed to start) keeps waiting for its exit;
  // a start waiting for its ready reply is dropped: the child runs and is stopped below.
  if (s.current && s.current->kind == op_kind::start && s.st == stage::probing) {
    auto o = finish_current(self);
    if (o.rp)
      o.rp->deliver(make_error(sup_errc::shutting_down));
  }
  for (auto i = s.children.size(); i-- > 0;)
    s.ops.push_back(stop_op(i));
  s.ops.push_back(quit_op(reason));
}

// A child exited on its own (not stopped by us): apply its restart type, the intensity limit and
// the strategy. Queues operations; the caller pumps.
void on_crash(sup_actor* self, std::size_t idx, const caf::error& reason) {
  auto& s = self->state;
  if (s.ph == phase::stopping)
    return;
  auto& c = s.children[idx];
  bool restart = c.spec.restart == restart_type::permanent
                 || (c.spec.restart == restart_type::transient && !is_normal_exit(reason));
  auto tell = [&](child_event::action a) {
    if (s.fl.observer)
      s.fl.observer(child_event{s.sup_name, c.spec.id, self->system().render(reason), a});
  };
  if (!restart) {
    c.removed = c.spec.restart == restart_type::temporary;
    tell(child_event::action::not_restarted);
    return;
  }
  auto now = clock_type::now();
  while (!s.restart_times.empty() && now - s.restart_times.front() > s.fl.period)
    s.restart_times.pop_front();
  if (s.restart_times.size() >= s.fl.intensity) {
    tell(child_event::action::escalated);
    s.escalated = true;
    begin_shutdown(self, make_error(sup_errc::too_many_restarts,
                                    s.sup_name + ": child '" + c.spec.id + "' exited with "
                                      + self->system().render(reason)));
    return;
  }
  s.restart_times.push_back(now);
  ++s.total_restarts;
  tell(child_event::action::restarted);
  // Siblings that go down and come back with the failed child.
  std::vector<std::size_t> affected;
  for (std::size_t j = 0; j < s.children.size(); ++j) {
    bool in_scope = s.fl.strat == strategy::one_for_all
                    || (s.fl.strat == strategy::rest_for_one && j > idx);
    if (j != idx && in_scope && s.children[j].handle)
      affected.push_back(j);
  }
  for (auto it = affected.rbegin(); it != affected.rend(); ++it)
    s.ops.push_back(stop_op(*it));
  affected.push_back(idx);
  std::sort(affected.begin(), affected.end());
  for (auto j : affected)
    if (j == idx || s.children[j].spec.restart != restart_type::temporary)
      s.ops.push_back(start_op(j, start_mode::restart));
}

// The current start operation failed and its child (if any) is gone.
void fail_start(sup_actor* self) {
  auto& s = self->state;
  auto o = finish_current(self);
  auto& c = s.children[o.child];
  auto why = make_error(sup_errc::start_failed, s.sup_name + ": child '" + c.spec.id
                                                  + "' failed to start: "
                                                  + self->system().render(s.start_failure));
  switch (o.smode) {
    case start_mode::initial:
      begin_shutdown(self, why);
      break;
    case start_mode::restart:
      on_crash(self, o.child, why);
      break;
    case start_mode::requested:
      if (o.rp)
        o.rp->deliver(why);
      break;
  }
}

void finish_stop(sup_actor* self) {
  auto& s = self->state;
  auto o = finish_current(self);
  auto& c = s.children[o.child];
  if (c.spec.restart == restart_type::temporary)
    c.removed = true;
  if (o.rp)
    o.rp->deliver(caf::ok_atom::value);
}

void probe_ok(sup_actor* self, std::uint64_t tok) {
  auto& s = self->state;
  if (tok != s.token || s.st != stage::probing)
    return;
  auto o = finish_current(self);
  if (o.rp)
    o.rp->deliver(caf::ok_atom::value);
  pump(self);
}

void probe_failed(sup_actor* self, std::uint64_t tok, caf::error err) {
  auto& s = self->state;
  if (tok != s.token || s.st != stage::probing)
    return;
  s.start_failure = std::move(err);
  auto& c = s.children[s.current->child];
  if (c.handle) {
    // It may be alive (a timeout): kill it and wait for its down_msg before going on, so that no
    // two instances of the child ever run at once.
    s.st = stage::kill_sent;
    self->send_exit(c.handle, caf::exit_reason::kill);
    arm_timer(self, kill_grace);
    return;
  }
  fail_start(self);
  pump(self);
}

void run_start(sup_actor* self) {
  auto& s = self->state;
  auto& o = *s.current;
  auto& c = s.children[o.child];
  if (c.handle || c.removed) {
    auto done = finish_current(self);
    if (done.rp && c.handle)
      done.rp->deliver(caf::ok_atom::value);
    else if (done.rp)
      done.rp->deliver(make_error(sup_errc::unknown_child, c.spec.id));
    return;
  }
  if (o.smode == start_mode::restart)
    ++c.restarts;
  caf::actor h;
  try {
    h = c.spec.start(self->system());
    s.start_failure = caf::make_error(caf::sec::invalid_argument, "start returned no actor");
  } catch (const std::exception& e) {
    s.start_failure = caf::make_error(caf::sec::runtime_error, std::string{e.what()});
  } catch (...) {
    s.start_failure = caf::make_error(caf::sec::runtime_error, "unknown exception");
  }
  if (!h) {
    fail_start(self);
    return;
  }
  c.handle = h;
  // The link makes the child die with us. We learn of its exits from the monitor: a CAF 0.17 actor
  // that gets an exit_msg unlinks from its sender, so a child we stop never sends one back.
  self->link_to(h);
  self->monitor(h);
  if (c.spec.registered_as != caf::atom(""))
    self->system().registry().put(c.spec.registered_as, h);
  s.st = stage::probing;
  auto tok = ++s.token;
  auto timeout = s.fl.start_timeout < forever_threshold ? caf::duration{s.fl.start_timeout}
                                                        : caf::duration{caf::infinite};
  self->request(h, timeout, ready_atom::value)
    .then([self, tok](caf::ok_atom) { probe_ok(self, tok); },
          [self, tok](caf::error& err) {
            // The child ran its init and reads its mailbox, it just does not speak our protocol.
            if (err == caf::sec::unexpected_message || err == caf::sec::unexpected_response)
              probe_ok(self, tok);
            else
              probe_failed(self, tok, std::move(err));
          });
}

void run_stop(sup_actor* self) {
  auto& s = self->state;
  auto& c = s.children[s.current->child];
  if (!c.handle) {
    finish_stop(self);
    return;
  }
  s.st = stage::exit_sent;
  self->send_exit(c.handle, caf::exit_reason::user_shutdown);
  arm_timer(self, c.spec.shutdown_timeout);
}

// Runs queued operations until one has to wait.
void pump(sup_actor* self) {
  auto& s = self->state;
  while (!s.current && !s.ops.empty()) {
    s.current = std::move(s.ops.front());
    s.ops.pop_front();
    switch (s.current->kind) {
      case op_kind::start: run_start(self); break;
      case op_kind::stop: run_stop(self); break;
      case op_kind::quit: {
        auto o = finish_current(self);
        self->quit(o.reason);
        return;
      }
    }
  }
  if (!s.current && s.ops.empty() && s.ph == phase::starting && s.kicked) {
    s.ph = phase::running;
    for (auto& w : s.ready_waiters)
      w.deliver(caf::ok_atom::value);
    s.ready_waiters.clear();
  }
}

void on_timer(sup_actor* self, std::uint64_t tok) {
  auto& s = self->state;
  if (tok != s.token || !s.current)
    return;
  auto& c = s.children[s.current->child];
  if (s.st == stage::exit_sent) {
    s.st = stage::kill_sent;
    self->send_exit(c.handle, caf::exit_reason::kill);
    arm_timer(self, kill_grace);
    return;
  }
  if (s.st != stage::kill_sent)
    return;
  // Killed but still not gone: stop waiting (child_gone remembers it, so a late exit is ignored).
  child_gone(self, c);
  if (s.current->kind == op_kind::stop)
    finish_stop(self);
  else
    fail_start(self);
  pump(self);
}

// exit_msg: from a child (its link) it is only a duplicate of the down_msg; from anyone else it is
// the order to stop (the parent's shutdown, or a linked peer's crash).
void on_exit(sup_actor* self, caf::exit_msg& em) {
  auto& s = self->state;
  if (find_child(s, em.source))
    return;
  auto f = std::find(s.former.begin(), s.former.end(), em.source);
  if (f != s.former.end()) {
    s.former.erase(f);
    return;
  }
  if (!em.reason)
    return;  // a linked non-child ended normally: not a reason to stop
  begin_shutdown(self, em.reason);
  pump(self);
}

void on_down(sup_actor* self, caf::down_msg& dm) {
  auto& s = self->state;
  auto idx = find_child(s, dm.source);
  if (!idx)
    return;  // a child given up on after kill, finally gone
  auto& c = s.children[*idx];
  child_gone(self, c);
  if (s.current && s.current->child == *idx && s.st != stage::idle) {
    if (s.current->kind == op_kind::stop) {
      finish_stop(self);
    } else {
      if (s.st == stage::probing)
        s.start_failure = dm.reason;  // died before it answered: a start failure
      fail_start(self);
    }
    pump(self);
    return;
  }
  if (s.ph == phase::stopping) {
    if (c.spec.restart == restart_type::temporary)
      c.removed = true;
    return;
  }
  // Part of a restart already planned (e.g. a sibling stopped for one_for_all crashed first).
  bool start_queued = std::any_of(s.ops.begin(), s.ops.end(), [&](const op& o) {
    return o.kind == op_kind::start && o.child == *idx;
  });
  if (!start_queued)
    on_crash(self, *idx, dm.reason);
  pump(self);
}

// Ids name children in terminate/restart_child and which; a duplicate would make them ambiguous.
std::optional<std::string> duplicate_id(const sup_state& s) {
  for (std::size_t i = 0; i < s.children.size(); ++i)
    for (std::size_t j = i + 1; j < s.children.size(); ++j)
      if (s.children[i].spec.id == s.children[j].spec.id)
        return s.children[i].spec.id;
  return std::nullopt;
}

caf::behavior supervisor_behavior(sup_actor* self) {
  return {
    [self](sup_kick_atom) {
      auto& st = self->state;
      if (st.kicked)
        return;
      st.kicked = true;
      if (auto dup = duplicate_id(st))
        begin_shutdown(self, make_error(sup_errc::start_failed,
                                        st.sup_name + ": duplicate child id '" + *dup + "'"));
      pump(self);
    },
    [self](sup_timer_atom, std::uint64_t tok) { on_timer(self, tok); },
    [self](ready_atom) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (st.ph == phase::running)
        return caf::ok_atom::value;
      if (st.ph == phase::stopping)
        return st.quit_reason ? st.quit_reason : make_error(sup_errc::shutting_down);
      auto rp = self->make_response_promise<caf::ok_atom>();
      st.ready_waiters.push_back(rp);
      return rp;
    },
    [self](which_atom) {
      std::vector<child_info> out;
      for (auto& c : self->state.children)
        if (!c.removed)
          out.push_back(child_info{c.spec.id, c.handle, c.restarts, static_cast<bool>(c.handle)});
      return out;
    },
    [self](terminate_child_atom, const std::string& id) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      auto idx = find_child(st, id);
      if (!idx)
        return make_error(sup_errc::unknown_child, id);
      if (st.ph == phase::stopping)
        return make_error(sup_errc::shutting_down);
      auto rp = self->make_response_promise<caf::ok_atom>();
      st.ops.push_back(stop_op(*idx, rp));
      pump(self);
      return rp;
    },
    [self](restart_child_atom, const std::string& id) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      auto idx = find_child(st, id);
      if (!idx)
        return make_error(sup_errc::unknown_child, id);
      if (st.ph == phase::stopping)
        return make_error(sup_errc::shutting_down);
      if (st.children[*idx].handle)
        return make_error(sup_errc::child_running, id);
      auto rp = self->make_response_promise<caf::ok_atom>();
      st.ops.push_back(start_op(*idx, start_mode::requested, rp));
      pump(self);
      return rp;
    },
    [self](stats_atom) {
      return supervisor_stats{self->state.total_restarts, self->state.escalated};
    },
  };
}

caf::behavior supervisor_impl(sup_actor* self, std::string name, flags f,
                              std::vector<child_spec> specs) {
  auto& s = self->state;
  s.sup_name = std::move(name);
  s.fl = f;
  s.sys = &self->system();
  for (auto& spec : specs)
    s.children.push_back(child_rec{std::move(spec), nullptr, 0, false});
  for (std::size_t i = 0; i < s.children.size(); ++i)
    s.ops.push_back(start_op(i, start_mode::initial));
  self->set_exit_handler([self](caf::exit_msg& em) { on_exit(self, em); });
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  self->set_default_handler(caf::drop);
  // An error sent as a plain message would otherwise quit the actor (notes §4).
  self->set_error_handler([](caf::error&) {});
  // Start from the mailbox rather than from init, so the first child spawns after the supervisor
  // is fully set up and can receive the child's answers.
  self->send(self, sup_kick_atom::value);
  return supervisor_behavior(self);
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, std::string name, flags f,
                            std::vector<child_spec> children) {
  return sys.spawn(supervisor_impl, std::move(name), f, std::move(children));
}

child_spec supervisor_child(std::string id, flags f, std::vector<child_spec> children) {
  // Saturating sum: each child may take its shutdown_timeout and then kill_grace.
  using ms = std::chrono::milliseconds;
  ms total{1000};
  for (auto& c : children) {
    auto add = c.shutdown_timeout + kill_grace;
    total = (add >= forever_threshold || total >= forever_threshold - add) ? forever_threshold
                                                                         : total + add;
  }
  child_spec spec;
  spec.id = id;
  spec.restart = restart_type::permanent;
  spec.shutdown_timeout = total;
  spec.start = [name = std::move(id), f, children = std::move(children)](caf::actor_system& sys) {
    return spawn_supervisor(sys, name, f, children);
  };
  return spec;
}

}  // namespace holo::sup
