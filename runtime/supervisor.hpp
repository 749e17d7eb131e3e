// holo::sup: OTP-style supervisors on CAF 0.17 (design.md §3). A supervisor is an ordinary actor
// that starts its children in list order, links to them, traps their exits and restarts them by
// strategy (one_for_one / one_for_all / rest_for_one) and restart type (permanent / transient /
// temporary), within a restart intensity (N restarts per period; one more escalates: the
// supervisor stops its children and exits with `sup_errc::too_many_restarts`, so that its own
// supervisor can restart it).
//
// Contract for children (what `child_spec::start` spawns):
// - Spawn unlinked and return the handle; the supervisor links. A throw or an invalid handle is a
//   start failure.
// - Readiness: after the spawn the supervisor sends `(ready_atom)` with `flags::start_timeout` and
//   starts the next sibling only when the child answers. `ok_atom` means ready; a child may keep
//   the request in a response promise until it really is (sockets bound, model loaded). A child
//   that does not know `ready_atom` also counts as started by its `unexpected_message` reply
//   (its init ran and it reads its mailbox), but CAF's default handler prints "*** unexpected
//   message" for it, so such children should `set_default_handler(caf::drop)` or answer it.
//   No answer in time, death, or any other error is a start failure. Nested supervisors answer
//   `ready_atom` only once all their own children are up.
// - Stopping: the supervisor sends `exit_reason::user_shutdown`, waits `shutdown_timeout` for the
//   exit, then sends `kill`. A child needs no exit handler; if it traps exits (to flush or close
//   something) it must `quit(em.reason)` soon after any exit_msg from its supervisor.
// - A child's exit reason decides the restart: none/normal and user_shutdown are "normal", any
//   other reason (an exception gives sec::runtime_error) is a crash.
//
// All functions here may be called from any thread; the supervisor's state is owned by its actor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "caf/fwd.hpp"
#include "caf/atom.hpp"        // atom_constant, atom(): light (std headers only)
#include "caf/actor.hpp"       // child_info holds a handle by value, so the type must be complete
#include "caf/meta/type_name.hpp"

namespace holo::sup {

// ---- protocol: what a supervisor answers -----------------------------------------------------
// (which_atom)                           -> std::vector<child_info>
// (ready_atom)                           -> ok_atom once every child has started (at once if so);
//                                           the error if startup failed or the supervisor stops
// (terminate_child_atom, std::string id) -> ok_atom after the child stopped in the orderly way; it
//                                           stays stopped (no restart) until restart_child.
//                                           Errors: unknown_child, shutting_down.
// (restart_child_atom, std::string id)   -> ok_atom once the stopped child started again.
//                                           Errors: unknown_child, child_running, start_failed.
// (stats_atom)                           -> supervisor_stats
// Anything else is dropped (requesters get sec::unexpected_message); the supervisor never dies of
// an unexpected message.
using which_atom = caf::atom_constant<caf::atom("which")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using terminate_child_atom = caf::atom_constant<caf::atom("term_child")>;
using restart_child_atom = caf::atom_constant<caf::atom("rstr_child")>;
using stats_atom = caf::atom_constant<caf::atom("sup_stats")>;

enum class strategy { one_for_one, one_for_all, rest_for_one };

// permanent: always restarted; transient: restarted only after an abnormal exit (not none/normal,
// not user_shutdown); temporary: never restarted, and forgotten once it stopped.
enum class restart_type { permanent, transient, temporary };

struct child_spec {
  std::string id;                                       // unique among siblings
  std::function<caf::actor(caf::actor_system&)> start;  // spawns the child (unlinked); may throw
  restart_type restart = restart_type::permanent;
  std::chrono::milliseconds shutdown_timeout{5000};     // after send_exit(user_shutdown), then kill
  // If not atom(""): sys.registry() maps this name to the child while it runs (updated on restart,
  // erased when it stops).
  caf::atom_value registered_as = caf::atom("");
};

// What a supervisor tells its observer when a child exits on its own: for logs and metrics.
struct child_event {
  std::string supervisor;  // the supervisor's name
  std::string child;       // the child's id
  std::string reason;      // the rendered exit reason ("none" for a normal exit)
  enum class action { restarted, not_restarted, escalated } taken;
};

struct flags {
  strategy strat = strategy::one_for_one;
  std::size_t intensity = 5;                        // max restarts ...
  std::chrono::milliseconds period{30000};          // ... within this window; one more escalates
  std::chrono::milliseconds start_timeout{10000};   // per child: spawn until its ready answer
  // Called from the supervisor's actor (keep it short and thread-safe) for every exit of a child
  // that the supervisor did not order. Optional.
  std::function<void(const child_event&)> observer;
};

struct child_info {
  std::string id;
  caf::actor handle;       // invalid when not running
  std::uint64_t restarts;  // automatic restarts of this child
  bool running;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_info& x) {
  return f(caf::meta::type_name("holo_sup_child_info"), x.id, x.handle, x.restarts, x.running);
}

struct supervisor_stats {
  std::uint64_t total_restarts;  // restart events (a one_for_all restart of all children is one)
  bool escalated;                // intensity exceeded; the supervisor is stopping or gone
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, supervisor_stats& x) {
  return f(caf::meta::type_name("holo_sup_stats"), x.total_restarts, x.escalated);
}

// ---- errors (category atom "holo_sup") --------------------------------------------------------
enum class sup_errc : std::uint8_t {
  start_failed = 1,   // a child failed to start (initial start: the supervisor's exit reason)
  too_many_restarts,  // intensity exceeded: the supervisor's exit reason when it escalates
  unknown_child,      // terminate/restart_child named no child
  child_running,      // restart_child on a running child
  shutting_down,      // the supervisor is stopping
};

std::string to_string(sup_errc x);
caf::error make_error(sup_errc x);
// Same code with a context string (comparisons with `== sup_errc::x` ignore the context).
caf::error make_error(sup_errc x, std::string context);
// Lets sys.render(err) / to_string print "holo_sup::too_many_restarts(...)".
void register_error_category(caf::actor_system_config& cfg);

// ---- factories ------------------------------------------------------------------------------
// Spawns a supervisor that starts `children` in order (asynchronously: ask it `ready_atom` to wait
// for that). Ids must be unique. The supervisor exits with the reason of an exit_msg it gets from
// a non-child (after stopping its children, in reverse order), with too_many_restarts when it
// escalates, and with start_failed when the initial start fails. Normal exits of linked
// non-children are ignored, as CAF does for actors without an exit handler.
caf::actor spawn_supervisor(caf::actor_system& sys, std::string name, flags f,
                            std::vector<child_spec> children);

// A nested supervisor as a child: restart permanent, shutdown_timeout long enough for it to stop
// all its children in the orderly way (sum of their shutdown_timeout plus kill grace, plus margin).
child_spec supervisor_child(std::string id, flags f, std::vector<child_spec> children);

}  // namespace holo::sup
