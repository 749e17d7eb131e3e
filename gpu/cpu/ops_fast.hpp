// The fast element-wise ops of cpu_backend: rmsnorm, add, swiglu, scale, softmax, rope. Vectorised
// with AVX2 (scalar fallback), threaded over rows or heads only when a call is big enough to repay
// the ~microsecond of waking the pool (prefill); decode-sized calls run on the caller's thread.
// Arguments are checked by the caller; see gpu/backend.hpp for the contracts.
#pragma once

#include <cstdint>

#include "gpu/backend.hpp"

namespace holo::gpu::cpu {

class thread_pool;

// x (n, dim) -> out (n, dim)
void rmsnorm(thread_pool& pool, const float* x, const float* weight, std::int64_t n, std::int64_t dim,
             float eps, float* out);
void add(const float* a, const float* b, std::int64_t count, float* out);
void swiglu(thread_pool& pool, const float* gate, const float* up, std::int64_t count, float* out);
void scale(float* x, std::int64_t count, float s);
// In place, per row of x (n, dim).
void softmax_rows(thread_pool& pool, float* x, std::int64_t n, std::int64_t dim);
// One row in place (also the softmax of attention scores).
void softmax_row(float* x, std::int64_t dim);

// x (n_tokens, n_heads, head_dim) in place. `trig` is scratch for n_tokens * n_rot floats (cos and
// sin of every rotated pair per token, computed once per token, reused across heads).
void rope(thread_pool& pool, float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
          const std::int32_t* positions, const rope_params& p, float* trig);

}  // namespace holo::gpu::cpu
