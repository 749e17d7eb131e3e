#include "runtime/after_job.hpp"

#include <utility>
#include <vector>

namespace holo::after_job {

namespace {

struct deferred {
  void (*fn)(void*);
  std::shared_ptr<void> target;
};

struct thread_state {
  bool available = false;
  std::vector<deferred> pending;
  std::vector<deferred> running;  // kept to reuse its capacity
};

thread_local thread_state state;

}  // namespace

bool available() { return state.available; }

void set_available(bool on) { state.available = on; }

void defer(void (*fn)(void*), const std::shared_ptr<void>& target) {
  for (auto& d : state.pending)
    if (d.fn == fn && d.target == target) return;
  state.pending.push_back({fn, target});
}

void run() {
  // Bounded: what runs may defer more (it lands in `pending` again), but not forever.
  for (int round = 0; round < 4 && !state.pending.empty(); ++round) {
    std::swap(state.pending, state.running);
    for (auto& d : state.running) d.fn(d.target.get());
    state.running.clear();
  }
}

}  // namespace holo::after_job
