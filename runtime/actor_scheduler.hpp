#pragma once
// The node's CAF scheduler: CAF's work sharing (one central queue; an idle worker is woken at once,
// where work stealing's idle workers sleep in long slices) plus, after every job a worker runs, the
// work that job deferred (runtime/after_job.hpp).

#include <cstdint>

namespace caf {
class actor_system;
class actor_system_config;
}  // namespace caf

namespace holo {

// Installs the scheduler into `cfg`, before the actor system is made from it; `scheduler.max-threads`
// still sets the number of workers.
void use_actor_scheduler(caf::actor_system_config& cfg);

// True when `sys` runs on it.
bool runs_actor_scheduler(caf::actor_system& sys);

}  // namespace holo
