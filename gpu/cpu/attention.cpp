#include "gpu/cpu/attention.hpp"

#include <cmath>

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/ops_fast.hpp"
#include "gpu/cpu/thread_pool.hpp"
#include "gpu/f16.hpp"

namespace holo::gpu::cpu {

void kv_store(const kv_layer& cache, const attention_shape& s, std::int64_t pos0, std::int64_t n_tokens,
              const float* k, const float* v) {
  // Position-major layout: the n_tokens new rows are one contiguous run in the cache.
  const std::int64_t row = std::int64_t(s.n_head_kv) * s.head_dim;
  f32_to_f16_row(k, cache.k + pos0 * row, n_tokens * row);
  f32_to_f16_row(v, cache.v + pos0 * row, n_tokens * row);
}

void attention(thread_pool& pool, const float* q, const kv_layer& cache, const attention_shape& s,
               std::int64_t pos0, std::int64_t n_tokens, float* out, float* scores,
               std::int64_t scores_stride) {
  const std::int64_t d = s.head_dim;
  const std::int64_t kv_row = std::int64_t(s.n_head_kv) * d;
  const std::int32_t group = s.n_head / s.n_head_kv;
  const float inv_sqrt_d = 1.0f / std::sqrt(float(d));
  // item = t * n_head + h; consecutive items share a KV head (GQA), so a thread's range re-reads the
  // same K/V rows while they are still in cache.
  pool.parallel_for(n_tokens * s.n_head, 1, [&](std::int64_t i0, std::int64_t i1, int tid) {
    float* score = scores + tid * scores_stride;
    for (std::int64_t item = i0; item < i1; ++item) {
      const std::int64_t t = item / s.n_head;
      const std::int64_t h = item % s.n_head;
      const std::int64_t n_keys = pos0 + t + 1;  // causal: positions 0 .. pos0+t
      const float* qh = q + item * d;
      const f16_bits* k = cache.k + (h / group) * d;
      const f16_bits* v = cache.v + (h / group) * d;
      for (std::int64_t p = 0; p < n_keys; ++p) score[p] = dot_f32_f16(qh, k + p * kv_row, d) * inv_sqrt_d;
      softmax_row(score, n_keys);
      float* oh = out + item * d;
      for (std::int64_t i = 0; i < d; ++i) oh[i] = 0.0f;
      for (std::int64_t p = 0; p < n_keys; ++p) axpy_f16(score[p], v + p * kv_row, oh, d);
    }
  });
}

}  // namespace holo::gpu::cpu
