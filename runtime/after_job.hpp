#pragma once
// Work a thread defers to the end of the actor job it is running. The node's scheduler
// (runtime/actor_scheduler.hpp) runs it after every job on its workers; other threads (the
// transport's I/O thread, a scoped actor's, an engine's) have none, and callers fall back to
// something else there (cluster_io: its batch timer).
//
// Why: an actor that sends a burst of frames in one run of its behaviour (a router forwarding a
// batch, a sender refilling its window) should have them leave together when the run ends, not
// one by one nor after a timer.

#include <memory>

namespace holo::after_job {

// True on a thread that runs deferred work after each job.
bool available();

// Marks this thread as one that calls run() after each job (the scheduler's workers).
void set_available(bool on);

// Has fn(target.get()) called once when this thread's current job ends; a second defer of the same
// target within the job is a no-op. `target` stays alive until then.
void defer(void (*fn)(void*), const std::shared_ptr<void>& target);

// Runs and forgets everything deferred on this thread (work deferred meanwhile runs too).
void run();

}  // namespace holo::after_job
