#include "gpu/cpu/kernel_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "gpu/cpu/cpu_backend.hpp"
#include "gpu/cpu/simd.hpp"
#include "gpu/cpu/thread_pool.hpp"
#include "gpu/quant.hpp"

namespace holo::gpu::cpu {
namespace {

using clock_type = std::chrono::steady_clock;

// Copies of each matrix cycled through: together ~4x a 32 MiB LLC for Q4_0 at 4096^2.
constexpr int matrix_copies = 8;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Streaming read of `bytes` split over the pool: sum of all floats (kept so it is not optimised out).
double probe_gb_per_second(thread_pool& pool, const std::vector<float>& buf, double min_seconds) {
  std::vector<double> sink(static_cast<std::size_t>(pool.size()) * 8);
  auto pass = [&] {
    pool.parallel_for(std::int64_t(buf.size()), 1024, [&](std::int64_t b, std::int64_t e, int tid) {
      std::int64_t i = b;
      float s = 0.0f;
#ifdef HOLO_CPU_AVX2
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
             a3 = _mm256_setzero_ps();
      for (; i + 32 <= e; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(&buf[i]));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(&buf[i + 8]));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(&buf[i + 16]));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(&buf[i + 24]));
      }
      s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#endif
      for (; i < e; ++i) s += buf[static_cast<std::size_t>(i)];
      sink[static_cast<std::size_t>(tid) * 8] += s;
    });
  };
  pass();  // warm-up (page faults)
  int calls = 0;
  const auto t0 = clock_type::now();
  do {
    pass();
    ++calls;
  } while (seconds_since(t0) < min_seconds);
  const double secs = seconds_since(t0);
  volatile double keep = sink[0];
  (void)keep;
  return double(buf.size() * sizeof(float)) * calls / secs / 1e9;
}

}  // namespace

std::vector<kernel_bench_row> run_kernel_bench(const kernel_bench_config& cfg) {
  std::vector<kernel_bench_row> out;
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const std::int64_t n_max = std::max<std::int64_t>(1, cfg.prefill_tokens);
  std::vector<float> src(static_cast<std::size_t>(cfg.cols) * 64), x(static_cast<std::size_t>(cfg.cols * n_max)),
      y(static_cast<std::size_t>(cfg.rows * n_max));
  for (auto& v : src) v = dist(rng);
  for (auto& v : x) v = dist(rng);
  std::vector<float> probe(static_cast<std::size_t>(cfg.probe_bytes / 4), 1.0f);

  for (int threads : cfg.thread_counts) {
    cpu_backend be(threads);
    if (!be.reserve({n_max, cfg.cols, 0, 0, 0}).ok()) continue;
    {
      thread_pool pool(threads);
      out.push_back({"probe", threads, 0, 0, 0, probe_gb_per_second(pool, probe, cfg.seconds_per_case), 0});
    }
    for (tensor_type t : cfg.types) {
      const std::size_t rb = row_bytes(t, static_cast<std::size_t>(cfg.cols));
      const std::size_t matrix_bytes = rb * static_cast<std::size_t>(cfg.rows);
      std::vector<std::byte> data(matrix_bytes * matrix_copies);
      // Quantize 64 distinct rows and tile them: the values do not matter for speed, quantizing
      // 4096 K-quant rows would take longer than the measurement.
      std::vector<std::byte> rows64(rb * 64);
      for (int r = 0; r < 64; ++r) {
        if (!quantize_row(t, src.data() + r * cfg.cols, rows64.data() + r * rb, cfg.cols).ok()) return out;
      }
      for (std::size_t r = 0; r < std::size_t(cfg.rows) * matrix_copies; ++r) {
        std::copy_n(rows64.data() + (r % 64) * rb, rb, data.data() + r * rb);
      }
      std::vector<std::int64_t> token_counts{1};  // matvec, then the prefill case if asked for
      if (cfg.prefill_tokens > 1) token_counts.push_back(cfg.prefill_tokens);
      for (std::int64_t n : token_counts) {
        auto call = [&](int copy) {
          const tensor_view w{t, cfg.cols, cfg.rows, data.data() + matrix_bytes * std::size_t(copy)};
          (void)be.matmul(w, x.data(), n, nullptr, y.data());
        };
        for (int c = 0; c < matrix_copies; ++c) call(c);  // warm-up
        int calls = 0;
        const auto t0 = clock_type::now();
        do {
          call(calls % matrix_copies);
          ++calls;
        } while (seconds_since(t0) < cfg.seconds_per_case);
        const double secs = seconds_since(t0) / calls;
        out.push_back({std::string(traits(t).name), threads, n, double(matrix_bytes), secs,
                       double(matrix_bytes) / secs / 1e9, double(cfg.rows) * double(cfg.cols) * double(n) / secs / 1e9});
      }
    }
  }
  return out;
}

std::string format_kernel_bench(const std::vector<kernel_bench_row>& rows) {
  // GB/s of weights for the matvec rows (decode is read-bound); GMAC/s for every row (prefill is
  // compute-bound).
  std::string s = "what     threads  tokens  MiB/matrix    us/call    GB/s   GMAC/s\n";
  char line[160];
  for (const auto& r : rows) {
    if (r.what == "probe") {
      std::snprintf(line, sizeof line, "%-8s %7d  %6s  %10s  %9s  %6.2f  %7s\n", r.what.c_str(), r.threads, "-", "-",
                    "-", r.gb_per_second, "-");
    } else {
      char gbs[16] = "-";
      if (r.tokens == 1) std::snprintf(gbs, sizeof gbs, "%.2f", r.gb_per_second);
      std::snprintf(line, sizeof line, "%-8s %7d  %6lld  %10.2f  %9.1f  %6s  %7.1f\n", r.what.c_str(), r.threads,
                    static_cast<long long>(r.tokens), r.weight_bytes / (1 << 20), r.seconds_per_call * 1e6, gbs,
                    r.gmac_per_second);
    }
    s += line;
  }
  return s;
}

}  // namespace holo::gpu::cpu
