// The fast matmul of cpu_backend: out (n, rows) = x (n, cols) @ W^T + bias for any supported weight
// type, rows split across the pool's threads (static partition).
//
// Performance bets: decode (n = 1) is a matvec bound by reading W once from memory, so the activation
// is quantized once (to Q8_0 or Q8_K, llama.cpp's scheme) and each weight block is consumed by an
// integer dot product straight from the file mapping. Prefill (n > 1) is compute-bound: register tiles
// of a few weight rows x a few tokens (gpu/cpu/gemm.cpp) load and decode each weight block once for
// several tokens and each activation block once for several rows; the tile's weight rows stay in L1,
// the quantized activations (~1.1 bytes per element) in L2, a chunk of tokens at a time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gpu/tensor_view.hpp"

namespace holo::gpu::cpu {

class thread_pool;

// Scratch bytes matmul needs for up to `tokens_max` rows of up to `cols_max` elements.
std::size_t matmul_scratch_bytes(std::int64_t tokens_max, std::int64_t cols_max);

// Arguments checked by the caller (check_matmul); `scratch` holds matmul_scratch_bytes for n, w.cols.
void matmul(thread_pool& pool, const tensor_view& w, const float* x, std::int64_t n, const float* bias,
            float* out, std::byte* scratch);

// matmul for each part on the same x. Parts of one weight type and width share the activations'
// preparation and one partition of all their rows over the threads; otherwise one matmul each.
struct matmul_part {
  const tensor_view* w = nullptr;
  const float* bias = nullptr;
  float* out = nullptr;
};
void matmul_parts(thread_pool& pool, const matmul_part* parts, std::size_t count, const float* x, std::int64_t n,
                  std::byte* scratch);

}  // namespace holo::gpu::cpu
