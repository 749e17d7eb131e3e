// Micro-benchmark of the matmul hot paths, for `holo bench engine --kernels`: matvec throughput (GB/s
// of weight bytes read; decode) of cpu_backend per tensor type, beside a streaming-read probe of the
// same machine in the same run, so a figure reads as "fraction of memory bandwidth"; and the same
// matrices times `prefill_tokens` activation rows at once (GMAC/s; prefill). Not a test: it takes seconds,
// allocates freely, and its numbers depend on what else the machine runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpu/tensor_type.hpp"

namespace holo::gpu::cpu {

struct kernel_bench_config {
  std::int64_t rows = 4096;
  std::int64_t cols = 4096;
  std::vector<int> thread_counts = {1, 2};
  std::vector<tensor_type> types = {tensor_type::f32,  tensor_type::f16,  tensor_type::bf16,
                                    tensor_type::q8_0, tensor_type::q4_0, tensor_type::q4_k,
                                    tensor_type::q5_k, tensor_type::q6_k};
  std::int64_t prefill_tokens = 128;                   // n of the prefill case; 0: matvec only
  double seconds_per_case = 0.5;                       // minimum time measured per (type, threads)
  std::int64_t probe_bytes = std::int64_t(256) << 20;  // streaming-read buffer, well beyond the LLC
};

struct kernel_bench_row {
  std::string what;  // "probe" or the type name
  int threads = 0;
  std::int64_t tokens = 1;      // activation rows per call: 1 (matvec) or prefill_tokens
  double weight_bytes = 0;      // bytes read per matvec (0 for the probe)
  double seconds_per_call = 0;  // mean: total time / calls
  double gb_per_second = 0;     // weight bytes read per second (matvec rows)
  double gmac_per_second = 0;   // multiply-adds per second (rows x cols x tokens per call)
};

// Runs every (type, threads) case; the probe once per thread count. Matrices are seeded random,
// larger than the LLC at the default size (4096x4096 Q4_0 = 9 MiB), and rotated between several
// copies so the caches never hold a whole one.
std::vector<kernel_bench_row> run_kernel_bench(const kernel_bench_config& config);

// A plain-text table of the rows.
std::string format_kernel_bench(const std::vector<kernel_bench_row>& rows);

}  // namespace holo::gpu::cpu
