#include "gpu/cpu/thread_pool.hpp"

#include <algorithm>
#include <cassert>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace holo::gpu::cpu {
namespace {

// ~2^14 pause instructions: on the order of a millisecond. Long enough to bridge the gap between the
// ops of one token, short enough not to burn a core when the model is idle.
constexpr int spin_iterations = 1 << 14;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

thread_pool::thread_pool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(static_cast<std::size_t>(n_threads_ - 1));
  for (int tid = 1; tid < n_threads_; ++tid) workers_.emplace_back([this, tid] { worker(tid); });
}

thread_pool::~thread_pool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

thread_pool::range thread_pool::partition(std::int64_t n, std::int64_t grain, int tid, int nth) {
  grain = std::max<std::int64_t>(1, grain);
  const std::int64_t units = (n + grain - 1) / grain;
  const std::int64_t base = units / nth, extra = units % nth;
  const std::int64_t first = tid * base + std::min<std::int64_t>(tid, extra);
  const std::int64_t count = base + (tid < extra ? 1 : 0);
  return {std::min(n, first * grain), std::min(n, (first + count) * grain)};
}

void thread_pool::run_erased(job_fn fn, void* ctx) {
  if (n_threads_ == 1) {
    fn(ctx, 0, 1);
    return;
  }
  job_ = fn;
  job_ctx_ = ctx;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);  // publishes job_ and pending_
  generation_.notify_all();
  fn(ctx, 0, n_threads_);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    // Workers finish about when we do; yield only if one was descheduled (shared cores).
    if (spins < spin_iterations) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

void thread_pool::worker(int tid) {
  std::uint32_t seen = 0;
  for (;;) {
    std::uint32_t gen = generation_.load(std::memory_order_acquire);
    for (int spins = 0; gen == seen && spins < spin_iterations; ++spins) {
      cpu_relax();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = gen;
    if (stop_.load(std::memory_order_relaxed)) return;
    job_(job_ctx_, tid, n_threads_);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace holo::gpu::cpu
