#include "runtime/actor_scheduler.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>

#include <caf/actor_system_config.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/coordinator.hpp>

#include "runtime/after_job.hpp"

namespace holo {

namespace {

// CAF 0.17's scheduler policy interface (caf/policy/work_sharing.hpp), with the same central queue
// under a mutex. What differs: after_resume runs the job's deferred work, and enqueue signals only
// when a worker sleeps.
class sharing_with_after_job : public caf::policy::unprofiled {
 public:
  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    std::deque<caf::resumable*> queue;
    std::mutex lock;
    std::condition_variable cv;
    std::size_t sleepers = 0;  // under lock
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
  };

  template <class Coordinator>
  void enqueue(Coordinator* self, caf::resumable* job) {
    auto& d = self->data();
    bool wake;
    {
      std::lock_guard<std::mutex> guard(d.lock);
      d.queue.push_back(job);
      wake = d.sleepers > 0;
    }
    if (wake) d.cv.notify_one();
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    enqueue(self, job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);  // to the back: the job gave up its turn
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    after_job::set_available(true);  // this is a worker thread (cheap: a thread-local flag)
    auto& d = self->parent()->data();
    std::unique_lock<std::mutex> guard(d.lock);
    ++d.sleepers;
    d.cv.wait(guard, [&] { return !d.queue.empty(); });
    --d.sleepers;
    auto* job = d.queue.front();
    d.queue.pop_front();
    return job;
  }

  template <class Worker>
  void after_resume(Worker*, caf::resumable*) {
    after_job::run();
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker*, UnaryFunction) {}

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    auto& d = self->data();
    std::lock_guard<std::mutex> guard(d.lock);
    while (!d.queue.empty()) {
      auto* job = d.queue.front();
      d.queue.pop_front();
      f(job);
    }
  }
};

using coordinator = caf::scheduler::coordinator<sharing_with_after_job>;

}  // namespace

void use_actor_scheduler(caf::actor_system_config& cfg) {
  // A scheduler module loaded by the config replaces the one `scheduler.policy` would pick.
  cfg.module_factories.push_back(
      [](caf::actor_system& sys) -> caf::actor_system::module* { return new coordinator(sys); });
}

bool runs_actor_scheduler(caf::actor_system& sys) { return dynamic_cast<coordinator*>(&sys.scheduler()) != nullptr; }

}  // namespace holo
