#include "runtime/memory_bandwidth.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <thread>
#include <vector>

namespace holo {

namespace {

// Sums a range of 64-bit words; four accumulators so the loads, not the adds, set the pace.
std::uint64_t sum_words(const std::uint64_t* p, std::size_t n) {
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

}  // namespace

double measure_read_bandwidth_gbs(int threads, std::size_t bytes, int passes) {
  threads = std::max(1, threads);
  const std::size_t words = bytes / sizeof(std::uint64_t);
  std::unique_ptr<std::uint64_t[]> buf(new (std::nothrow) std::uint64_t[words]);
  if (!buf || words == 0) return 0;
  for (std::size_t i = 0; i < words; ++i) buf[i] = i;  // touch every page: no page faults while timed
  std::atomic<std::uint64_t> sink{0};  // keeps the sums (and so the reads) from being optimized away
  double best = 0;
  for (int pass = 0; pass < std::max(1, passes); ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    const std::size_t per = words / static_cast<std::size_t>(threads);
    for (int t = 0; t < threads; ++t) {
      const std::size_t from = per * static_cast<std::size_t>(t);
      const std::size_t n = t + 1 == threads ? words - from : per;
      pool.emplace_back([&, from, n] { sink.fetch_add(sum_words(buf.get() + from, n), std::memory_order_relaxed); });
    }
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0) best = std::max(best, static_cast<double>(words * sizeof(std::uint64_t)) / s / 1e9);
  }
  return best;
}

}  // namespace holo
