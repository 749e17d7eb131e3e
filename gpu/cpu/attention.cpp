// GCC 12's AVX-512 headers: a false -W(maybe-)uninitialized after inlining (see gemm.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "gpu/cpu/attention.hpp"

#include <algorithm>
#include <cmath>

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/ops_fast.hpp"
#include "gpu/cpu/simd.hpp"
#include "gpu/cpu/thread_pool.hpp"
#include "gpu/f16.hpp"

namespace holo::gpu::cpu {

#ifdef HOLO_CPU_AVX2
namespace {

// score[0..7] = scale * q . k_j for the 8 keys k + j * stride (d a multiple of 8). The 8 dot products
// run side by side and are reduced together (three rounds of pairwise adds), instead of a
// horizontal sum per key.
void scores8(const float* q, const f16_bits* k, std::int64_t stride, std::int64_t d, float scale, float* score) {
  __m256 acc[8];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (std::int64_t i = 0; i < d; i += 8) {
    const __m256 qv = _mm256_loadu_ps(q + i);
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(qv, load_f16(k + j * stride + i), acc[j]);
  }
  // hadd: per 128-bit half (a0+a1, a2+a3, b0+b1, b2+b3); twice gives each half's 4 partial sums of
  // 4 keys; the two halves then add.
  const __m256 t0 = _mm256_hadd_ps(acc[0], acc[1]), t1 = _mm256_hadd_ps(acc[2], acc[3]);
  const __m256 t2 = _mm256_hadd_ps(acc[4], acc[5]), t3 = _mm256_hadd_ps(acc[6], acc[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  const __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
  _mm256_storeu_ps(score, _mm256_mul_ps(sum, _mm256_set1_ps(scale)));
}

// out[0..d) = sum_p score[p] * v_p over n keys (d a multiple of 8), 64 output lanes at a time kept in
// registers across all keys instead of loaded and stored once per key.
void weighted_sum(const float* score, const f16_bits* v, std::int64_t stride, std::int64_t n, std::int64_t d,
                  float* out) {
  for (std::int64_t i0 = 0; i0 < d; i0 += 64) {
    const int nv = static_cast<int>(std::min<std::int64_t>(64, d - i0) / 8);
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    if (nv == 8) {  // the usual case, with a constant trip count the inner loop unrolls into registers
      for (std::int64_t p = 0; p < n; ++p) {
        const __m256 s = _mm256_set1_ps(score[p]);
        const f16_bits* vp = v + p * stride + i0;
        for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(s, load_f16(vp + 8 * j), acc[j]);
      }
    } else {
      for (std::int64_t p = 0; p < n; ++p) {
        const __m256 s = _mm256_set1_ps(score[p]);
        const f16_bits* vp = v + p * stride + i0;
        for (int j = 0; j < nv; ++j) acc[j] = _mm256_fmadd_ps(s, load_f16(vp + 8 * j), acc[j]);
      }
    }
    for (int j = 0; j < nv; ++j) _mm256_storeu_ps(out + i0 + 8 * j, acc[j]);
  }
}

// Scores of four queries (q + j * q_stride) against two keys (k0, k1), d a multiple of 8:
// s[2j + i] = scale * q_j . k_i, each K row loaded and converted once for the four. The lanes reduce
// as in scores8, so every score equals the one scores8 gives.
void scores4x2(const float* q, std::int64_t q_stride, const f16_bits* k0, const f16_bits* k1, std::int64_t d,
               float scale, float* s) {
  __m256 acc[8];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (std::int64_t i = 0; i < d; i += 8) {
    const __m256 a0 = load_f16(k0 + i), a1 = load_f16(k1 + i);
    for (int j = 0; j < 4; ++j) {
      const __m256 qv = _mm256_loadu_ps(q + j * q_stride + i);
      acc[2 * j] = _mm256_fmadd_ps(qv, a0, acc[2 * j]);
      acc[2 * j + 1] = _mm256_fmadd_ps(qv, a1, acc[2 * j + 1]);
    }
  }
  const __m256 t0 = _mm256_hadd_ps(acc[0], acc[1]), t1 = _mm256_hadd_ps(acc[2], acc[3]);
  const __m256 t2 = _mm256_hadd_ps(acc[4], acc[5]), t3 = _mm256_hadd_ps(acc[6], acc[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  const __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
  _mm256_storeu_ps(s, _mm256_mul_ps(sum, _mm256_set1_ps(scale)));
}

// weighted_sum for two queries at once (scores s0, s1 over n keys; d a multiple of 32): each V row
// is converted once for both. Per output element the same order of additions as weighted_sum.
void weighted_sum2(const float* s0, const float* s1, const f16_bits* v, std::int64_t stride, std::int64_t n,
                   std::int64_t d, float* o0, float* o1) {
  for (std::int64_t i0 = 0; i0 < d; i0 += 32) {
    __m256 a0[4], a1[4];
    for (int j = 0; j < 4; ++j) a0[j] = a1[j] = _mm256_setzero_ps();
    for (std::int64_t p = 0; p < n; ++p) {
      const __m256 b0 = _mm256_set1_ps(s0[p]), b1 = _mm256_set1_ps(s1[p]);
      const f16_bits* vp = v + p * stride + i0;
      for (int j = 0; j < 4; ++j) {
        const __m256 x = load_f16(vp + 8 * j);
        a0[j] = _mm256_fmadd_ps(b0, x, a0[j]);
        a1[j] = _mm256_fmadd_ps(b1, x, a1[j]);
      }
    }
    for (int j = 0; j < 4; ++j) {
      _mm256_storeu_ps(o0 + i0 + 8 * j, a0[j]);
      _mm256_storeu_ps(o1 + i0 + 8 * j, a1[j]);
    }
  }
}

#if defined(__AVX512F__)
// 16 halves -> 16 floats.
inline __m512 load_f16x16(const f16_bits* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// The two 256-bit halves of v added.
inline __m256 fold512(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// scores4x2 in 512-bit registers (d a multiple of 16): half the FMAs and conversions.
void scores4x2_512(const float* q, std::int64_t q_stride, const f16_bits* k0, const f16_bits* k1, std::int64_t d,
                   float scale, float* s) {
  __m512 acc[8];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (std::int64_t i = 0; i < d; i += 16) {
    const __m512 a0 = load_f16x16(k0 + i), a1 = load_f16x16(k1 + i);
    for (int j = 0; j < 4; ++j) {
      const __m512 qv = _mm512_loadu_ps(q + j * q_stride + i);
      acc[2 * j] = _mm512_fmadd_ps(qv, a0, acc[2 * j]);
      acc[2 * j + 1] = _mm512_fmadd_ps(qv, a1, acc[2 * j + 1]);
    }
  }
  const __m256 t0 = _mm256_hadd_ps(fold512(acc[0]), fold512(acc[1]));
  const __m256 t1 = _mm256_hadd_ps(fold512(acc[2]), fold512(acc[3]));
  const __m256 t2 = _mm256_hadd_ps(fold512(acc[4]), fold512(acc[5]));
  const __m256 t3 = _mm256_hadd_ps(fold512(acc[6]), fold512(acc[7]));
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  const __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
  _mm256_storeu_ps(s, _mm256_mul_ps(sum, _mm256_set1_ps(scale)));
}

// The weighted sums of four queries (scores rows s + j * stride over n keys, d a multiple of 64):
// each V row converted once for the four, 16 accumulators of 16 lanes.
void weighted_sum4_512(const float* s, std::int64_t stride, const f16_bits* v, std::int64_t vstride, std::int64_t n,
                       std::int64_t d, float* out, std::int64_t out_stride) {
  for (std::int64_t i0 = 0; i0 < d; i0 += 64) {
    __m512 acc[4][4];
    for (auto& a : acc)
      for (auto& x : a) x = _mm512_setzero_ps();
    for (std::int64_t p = 0; p < n; ++p) {
      const f16_bits* vp = v + p * vstride + i0;
      const __m512 x0 = load_f16x16(vp), x1 = load_f16x16(vp + 16), x2 = load_f16x16(vp + 32),
                   x3 = load_f16x16(vp + 48);
      for (int j = 0; j < 4; ++j) {
        const __m512 b = _mm512_set1_ps(s[j * stride + p]);
        acc[j][0] = _mm512_fmadd_ps(b, x0, acc[j][0]);
        acc[j][1] = _mm512_fmadd_ps(b, x1, acc[j][1]);
        acc[j][2] = _mm512_fmadd_ps(b, x2, acc[j][2]);
        acc[j][3] = _mm512_fmadd_ps(b, x3, acc[j][3]);
      }
    }
    for (int j = 0; j < 4; ++j)
      for (int c = 0; c < 4; ++c) _mm512_storeu_ps(out + j * out_stride + i0 + 16 * c, acc[j][c]);
  }
}

// Prefill scores with the keys in the lanes. The pair kernel above ends every 8 scores in a
// horizontal reduction that, at head_dim 64, costs about as much as their FMAs; here one KV head's
// keys are transposed once per attention call (per thread) into blocks of 16 keys, kt[i * 16 + p]
// = element i of key p0 + p, and four queries multiply a block with one broadcast element each:
// 16 scores per FMA chain and no reduction. Keys past n are zero.
void transpose_keys(const f16_bits* k, std::int64_t kv_row, std::int64_t n, std::int64_t d, float* kt) {
  for (std::int64_t p0 = 0; p0 < n; p0 += 16) {
    float* blk = kt + p0 * d;
    for (std::int64_t i0 = 0; i0 < d; i0 += 8) {
      for (int half = 0; half < 2; ++half) {
        __m256i in[8], t[8];
        for (int j = 0; j < 8; ++j) {
          const std::int64_t p = p0 + half * 8 + j;
          in[j] = _mm256_castps_si256(p < n ? load_f16(k + p * kv_row + i0) : _mm256_setzero_ps());
        }
        transpose8x8_epi32(in, t);
        for (int i = 0; i < 8; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(blk + (i0 + i) * 16 + half * 8), t[i]);
      }
    }
  }
}

// s[j * stride + p] = scale * q_j . k_(p0 + p) for four queries and the 16 keys of block kt (d a
// multiple of 16), p < m (the rest not written). Two chains per query, over each half of d.
void scores4x16(const float* q, std::int64_t q_stride, const float* kt, std::int64_t d, float scale, float* s,
                std::int64_t stride, int m) {
  __m512 a[4][2];
  for (auto& x : a) x[0] = x[1] = _mm512_setzero_ps();
  const std::int64_t h = d / 2;
  for (std::int64_t i = 0; i < h; ++i) {
    const __m512 k0 = _mm512_load_ps(kt + i * 16), k1 = _mm512_load_ps(kt + (i + h) * 16);
    for (int j = 0; j < 4; ++j) {
      a[j][0] = _mm512_fmadd_ps(_mm512_set1_ps(q[j * q_stride + i]), k0, a[j][0]);
      a[j][1] = _mm512_fmadd_ps(_mm512_set1_ps(q[j * q_stride + i + h]), k1, a[j][1]);
    }
  }
  const auto mask = static_cast<__mmask16>(m >= 16 ? 0xffffu : (1u << m) - 1u);
  const __m512 sc = _mm512_set1_ps(scale);
  for (int j = 0; j < 4; ++j) _mm512_mask_storeu_ps(s + j * stride, mask, _mm512_mul_ps(_mm512_add_ps(a[j][0], a[j][1]), sc));
}
#endif

// The four queries' scores (rows score + j * stride, first_keys + j keys each) -> softmax -> their
// weighted sums of V.
void finish4(const f16_bits* v, std::int64_t kv_row, std::int64_t d, std::int64_t first_keys, float* score,
             std::int64_t stride, float* out, std::int64_t out_stride) {
  const std::int64_t n = first_keys + 3;  // keys of the last token
  for (int j = 0; j < 4; ++j) {
    float* row = score + j * stride;
    softmax_row(row, first_keys + j);
    for (std::int64_t r = first_keys + j; r < n; ++r) row[r] = 0.0f;
  }
#if defined(__AVX512F__)
  if (d % 64 == 0) return weighted_sum4_512(score, stride, v, kv_row, n, d, out, out_stride);
#endif
  weighted_sum2(score, score + stride, v, kv_row, first_keys + 1, d, out, out + out_stride);
  weighted_sum2(score + 2 * stride, score + 3 * stride, v, kv_row, n, d, out + 2 * out_stride,
                out + 3 * out_stride);
}

// Four consecutive tokens t0.. of query head h (prefill): token t0 + j sees keys 0 .. pos0+t0+j.
// Scores go to rows score + j * stride; a query's row is zero past its last key, so the pairs'
// weighted sums can run to the longest row.
void attend4(const float* q, std::int64_t q_stride, const f16_bits* k, const f16_bits* v, std::int64_t kv_row,
             std::int64_t d, std::int64_t first_keys, float scale, float* score, std::int64_t stride, float* out,
             std::int64_t out_stride) {
  const std::int64_t n = first_keys + 3;  // keys of the last token
  float s[8];
  std::int64_t p = 0;
  for (; p + 2 <= n; p += 2) {
#if defined(__AVX512F__)
    if (d % 16 == 0) {
      scores4x2_512(q, q_stride, k + p * kv_row, k + (p + 1) * kv_row, d, scale, s);
    } else {
      scores4x2(q, q_stride, k + p * kv_row, k + (p + 1) * kv_row, d, scale, s);
    }
#else
    scores4x2(q, q_stride, k + p * kv_row, k + (p + 1) * kv_row, d, scale, s);
#endif
    for (int j = 0; j < 4; ++j) score[j * stride + p] = s[2 * j], score[j * stride + p + 1] = s[2 * j + 1];
  }
  for (; p < n; ++p)
    for (int j = 0; j < 4; ++j) score[j * stride + p] = dot_f32_f16(q + j * q_stride, k + p * kv_row, d) * scale;
  finish4(v, kv_row, d, first_keys, score, stride, out, out_stride);
}

}  // namespace
#endif

void kv_store(const kv_layer& cache, const attention_shape& s, std::int64_t pos0, std::int64_t n_tokens,
              const float* k, const float* v) {
  // Position-major layout: the n_tokens new rows are one contiguous run in the cache.
  const std::int64_t row = std::int64_t(s.n_head_kv) * s.head_dim;
  f32_to_f16_row(k, cache.k + pos0 * row, n_tokens * row);
  f32_to_f16_row(v, cache.v + pos0 * row, n_tokens * row);
}

std::size_t attention_keys_floats(std::int64_t ctx_max, std::int64_t head_dim_max) {
  return static_cast<std::size_t>((ctx_max + 15) / 16 * 16 * head_dim_max);
}

void attention(thread_pool& pool, const float* q, const kv_layer& cache, const attention_shape& s,
               std::int64_t pos0, std::int64_t n_tokens, float* out, float* scores, std::int64_t scores_stride,
               float* keys, std::int64_t keys_stride) {
  const std::int64_t d = s.head_dim;
  const std::int64_t kv_row = std::int64_t(s.n_head_kv) * d;
  const std::int32_t group = s.n_head / s.n_head_kv;
  const float inv_sqrt_d = 1.0f / std::sqrt(float(d));
#ifdef HOLO_CPU_AVX2
  // Prefill: item = (block of four tokens, head), the tokens' scores side by side; tokens past the
  // last whole block go one by one below.
  const std::int64_t blocks = d % 32 == 0 ? n_tokens / attention_query_block : 0;
#if defined(__AVX512F__)
  // With AVX-512: items head by head (a thread's range then spans few KV heads, whose keys it
  // transposes once each into its `keys` rows; see transpose_keys), the blocks of a head in the
  // order 0, last, 1, last-1, ... as below.
  if (blocks > 0 && keys != nullptr) {
    const std::int64_t q_stride = std::int64_t(s.n_head) * d;
    const std::int64_t n_keys = pos0 + blocks * attention_query_block;  // all the blocks see
    pool.parallel_for(blocks * s.n_head, 1, [&](std::int64_t i0, std::int64_t i1, int tid) {
      float* score = scores + std::int64_t(tid) * attention_query_block * scores_stride;
      float* kt = keys + std::int64_t(tid) * keys_stride;
      std::int64_t kt_head = -1;
      for (std::int64_t item = i0; item < i1; ++item) {
        const std::int64_t h = item / blocks, z = item % blocks;
        const std::int64_t t0 = (z % 2 == 0 ? z / 2 : blocks - 1 - z / 2) * attention_query_block;
        if (h / group != kt_head) {
          kt_head = h / group;
          transpose_keys(cache.k + kt_head * d, kv_row, n_keys, d, kt);
        }
        const float* qh = q + t0 * q_stride + h * d;
        const std::int64_t first_keys = pos0 + t0 + 1, n = first_keys + 3;
        for (std::int64_t p0 = 0; p0 < n; p0 += 16)
          scores4x16(qh, q_stride, kt + p0 * d, d, inv_sqrt_d, score + p0, scores_stride,
                     static_cast<int>(std::min<std::int64_t>(16, n - p0)));
        finish4(cache.v + kt_head * d, kv_row, d, first_keys, score, scores_stride, out + t0 * q_stride + h * d,
                q_stride);
      }
    });
  } else if (blocks > 0) {
#else
  if (blocks > 0) {
#endif
    const std::int64_t q_stride = std::int64_t(s.n_head) * d;
    pool.parallel_for(blocks * s.n_head, 1, [&](std::int64_t i0, std::int64_t i1, int tid) {
      float* score = scores + std::int64_t(tid) * attention_query_block * scores_stride;
      for (std::int64_t item = i0; item < i1; ++item) {
        // Blocks in the order 0, last, 1, last-1, ...: later tokens see more keys, and the threads'
        // contiguous ranges then get equal shares of the work (in token order, the second of two
        // threads had three quarters of it).
        const std::int64_t z = item / s.n_head, h = item % s.n_head;
        const std::int64_t t0 = (z % 2 == 0 ? z / 2 : blocks - 1 - z / 2) * attention_query_block;
        const float* qh = q + t0 * q_stride + h * d;
        attend4(qh, q_stride, cache.k + (h / group) * d, cache.v + (h / group) * d, kv_row, d, pos0 + t0 + 1,
                inv_sqrt_d, score, scores_stride, out + t0 * q_stride + h * d, q_stride);
      }
    });
  }
  const std::int64_t first_single = blocks * attention_query_block;
#else
  const std::int64_t first_single = 0;
#endif
  // item = t * n_head + h; consecutive items share a KV head (GQA), so a thread's range re-reads the
  // same K/V rows while they are still in cache.
  pool.parallel_for((n_tokens - first_single) * s.n_head, 1, [&](std::int64_t i0, std::int64_t i1, int tid) {
    float* score = scores + std::int64_t(tid) * attention_query_block * scores_stride;
    i0 += first_single * s.n_head;
    i1 += first_single * s.n_head;
    for (std::int64_t item = i0; item < i1; ++item) {
      const std::int64_t t = item / s.n_head;
      const std::int64_t h = item % s.n_head;
      const std::int64_t n_keys = pos0 + t + 1;  // causal: positions 0 .. pos0+t
      const float* qh = q + item * d;
      const f16_bits* k = cache.k + (h / group) * d;
      const f16_bits* v = cache.v + (h / group) * d;
      std::int64_t p = 0;
#ifdef HOLO_CPU_AVX2
      if (d % 8 == 0)
        for (; p + 8 <= n_keys; p += 8) scores8(qh, k + p * kv_row, kv_row, d, inv_sqrt_d, score + p);
#endif
      for (; p < n_keys; ++p) score[p] = dot_f32_f16(qh, k + p * kv_row, d) * inv_sqrt_d;
      softmax_row(score, n_keys);
      float* oh = out + item * d;
#ifdef HOLO_CPU_AVX2
      if (d % 8 == 0) {
        weighted_sum(score, v, kv_row, n_keys, d, oh);
        continue;
      }
#endif
      for (std::int64_t i = 0; i < d; ++i) oh[i] = 0.0f;
      for (std::int64_t k2 = 0; k2 < n_keys; ++k2) axpy_f16(score[k2], v + k2 * kv_row, oh, d);
    }
  });
}

}  // namespace holo::gpu::cpu
