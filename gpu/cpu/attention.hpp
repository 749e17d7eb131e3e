// The fast attention of cpu_backend over the F16 KV cache of gpu/backend.hpp (kv_layer): threads
// over (token, head) pairs, each computing its scores with F16C dot products into a per-thread row
// of scratch, a vectorised softmax, and the weighted sum of V rows with FMA. A prefill takes the
// tokens of a head four at a time, so each K and V row is loaded and converted once per four
// queries instead of once per query.
#pragma once

#include <cstdint>

#include "gpu/backend.hpp"

namespace holo::gpu::cpu {

class thread_pool;

// k, v (n_tokens, n_head_kv * head_dim) -> cache positions pos0 .. pos0+n_tokens-1 (F16).
void kv_store(const kv_layer& cache, const attention_shape& s, std::int64_t pos0, std::int64_t n_tokens,
              const float* k, const float* v);

// Queries a thread scores together in a prefill (their K and V rows are read once for all of them).
inline constexpr int attention_query_block = 4;

// Floats of one thread's `keys` scratch for attention (a KV head's keys, transposed).
std::size_t attention_keys_floats(std::int64_t ctx_max, std::int64_t head_dim_max);

// q (n_tokens, n_head * head_dim) -> out (same shape). `scores` holds pool.size() *
// attention_query_block rows of `scores_stride` >= pos0 + n_tokens floats; `keys` pool.size() rows
// of keys_stride >= attention_keys_floats(pos0 + n_tokens, head_dim) floats, 64-byte aligned (null:
// prefill without the transposed keys).
void attention(thread_pool& pool, const float* q, const kv_layer& cache, const attention_shape& s,
               std::int64_t pos0, std::int64_t n_tokens, float* out, float* scores, std::int64_t scores_stride,
               float* keys, std::int64_t keys_stride);

}  // namespace holo::gpu::cpu
