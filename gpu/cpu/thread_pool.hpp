// The engine's compute threads: a persistent pool of `size() - 1` workers plus the calling thread.
// Threads are created once in the constructor and joined in the destructor. Between jobs a worker
// spins briefly (decode issues matmuls microseconds apart, and waking a sleeping thread costs more
// than that), then sleeps on an atomic (futex) until the next job. This and ZeroMQ's I/O thread are
// the only threads in the system (style.md); nothing else should create one.
//
// Contract: one thread (the owner: the backend's caller) submits jobs, one at a time; run() and
// parallel_for() are not re-entrant and must not be called from inside a job. A job runs on every
// thread at once and returns when all have finished. Submitting allocates nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace holo::gpu::cpu {

class thread_pool {
 public:
  // n_threads >= 1 counts the caller: thread_pool(1) starts no thread.
  explicit thread_pool(int n_threads);
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index, n_threads) on every thread (index 0 is the caller), returns when all did.
  template <class F>
  void run(F&& fn) {
    auto* ctx = &fn;
    run_erased([](void* c, int tid, int nth) { (*static_cast<decltype(ctx)>(c))(tid, nth); }, ctx);
  }

  // Static partition of [0, n) into size() contiguous ranges (sizes differ by at most one, rounded to
  // `grain` so a range is whole multiples of it except the last): fn(begin, end, thread_index) for
  // every non-empty range.
  template <class F>
  void parallel_for(std::int64_t n, std::int64_t grain, F&& fn) {
    run([&](int tid, int nth) {
      const auto [begin, end] = partition(n, grain, tid, nth);
      if (begin < end) fn(begin, end, tid);
    });
  }

  // Range of thread `tid` of `nth` over [0, n) (see parallel_for).
  struct range {
    std::int64_t begin, end;
  };
  static range partition(std::int64_t n, std::int64_t grain, int tid, int nth);

 private:
  using job_fn = void (*)(void* ctx, int tid, int nth);
  void run_erased(job_fn fn, void* ctx);
  void worker(int tid);

  int n_threads_;
  job_fn job_ = nullptr;
  void* job_ctx_ = nullptr;
  // Bumped once per job (and at shutdown); workers wait for it to change.
  std::atomic<std::uint32_t> generation_{0};
  // Workers still running the current job.
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace holo::gpu::cpu
