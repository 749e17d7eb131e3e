#include "gpu/cpu/ops_fast.hpp"

#include <algorithm>
#include <cmath>

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/simd.hpp"
#include "gpu/cpu/thread_pool.hpp"

namespace holo::gpu::cpu {
namespace {

// Below this many elements an op runs on the caller's thread: waking workers costs more.
constexpr std::int64_t parallel_elems_min = 1 << 15;

void rmsnorm_row(const float* x, const float* weight, std::int64_t dim, float eps, float* out) {
  const float inv = 1.0f / std::sqrt(dot_f32(x, x, dim) / float(dim) + eps);
  std::int64_t i = 0;
#ifdef HOLO_CPU_AVX2
  const __m256 vinv = _mm256_set1_ps(inv);
  for (; i + 8 <= dim; i += 8) {
    _mm256_storeu_ps(out + i,
                     _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), _mm256_loadu_ps(weight + i)));
  }
#endif
  for (; i < dim; ++i) out[i] = x[i] * inv * weight[i];
}

void swiglu_range(const float* gate, const float* up, std::int64_t begin, std::int64_t end, float* out) {
  std::int64_t i = begin;
#ifdef HOLO_CPU_AVX2
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= end; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
#endif
  for (; i < end; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace

void rmsnorm(thread_pool& pool, const float* x, const float* weight, std::int64_t n, std::int64_t dim,
             float eps, float* out) {
  if (n * dim < parallel_elems_min) {
    for (std::int64_t t = 0; t < n; ++t) rmsnorm_row(x + t * dim, weight, dim, eps, out + t * dim);
    return;
  }
  pool.parallel_for(n, 1, [&](std::int64_t t0, std::int64_t t1, int) {
    for (std::int64_t t = t0; t < t1; ++t) rmsnorm_row(x + t * dim, weight, dim, eps, out + t * dim);
  });
}

void add(const float* a, const float* b, std::int64_t count, float* out) {
  std::int64_t i = 0;
#ifdef HOLO_CPU_AVX2
  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
#endif
  for (; i < count; ++i) out[i] = a[i] + b[i];
}

void swiglu(thread_pool& pool, const float* gate, const float* up, std::int64_t count, float* out) {
  if (count < parallel_elems_min) {
    swiglu_range(gate, up, 0, count, out);
    return;
  }
  pool.parallel_for(count, 64,
                    [&](std::int64_t b, std::int64_t e, int) { swiglu_range(gate, up, b, e, out); });
}

void scale(float* x, std::int64_t count, float s) {
  std::int64_t i = 0;
#ifdef HOLO_CPU_AVX2
  const __m256 vs = _mm256_set1_ps(s);
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
#endif
  for (; i < count; ++i) x[i] *= s;
}

void softmax_row(float* x, std::int64_t dim) {
  float mx = x[0];
  std::int64_t j = 1;
#ifdef HOLO_CPU_AVX2
  // The maximum in four vector chains: one scalar chain waits the max latency per element (it
  // was a third of the softmax in prefill attention profiles).
  if (dim >= 32) {
    __m256 m[4];
    for (int c = 0; c < 4; ++c) m[c] = _mm256_loadu_ps(x + 8 * c);
    for (j = 32; j + 32 <= dim; j += 32)
      for (int c = 0; c < 4; ++c) m[c] = _mm256_max_ps(m[c], _mm256_loadu_ps(x + j + 8 * c));
    __m256 v = _mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3]));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    mx = _mm_cvtss_f32(h);
  }
#endif
  for (; j < dim; ++j) mx = std::max(mx, x[j]);
  std::int64_t i = 0;
  float sum = 0.0f;
#ifdef HOLO_CPU_AVX2
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  for (; i + 8 <= dim; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
    _mm256_storeu_ps(x + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  sum = hsum(vsum);
#endif
  for (; i < dim; ++i) sum += (x[i] = std::exp(x[i] - mx));
  scale(x, dim, 1.0f / sum);
}

void softmax_rows(thread_pool& pool, float* x, std::int64_t n, std::int64_t dim) {
  if (n * dim < parallel_elems_min || n == 1) {
    for (std::int64_t t = 0; t < n; ++t) softmax_row(x + t * dim, dim);
    return;
  }
  pool.parallel_for(n, 1, [&](std::int64_t t0, std::int64_t t1, int) {
    for (std::int64_t t = t0; t < t1; ++t) softmax_row(x + t * dim, dim);
  });
}

void rope(thread_pool& pool, float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
          const std::int32_t* positions, const rope_params& p, float* trig) {
  const std::int32_t half = p.n_rot / 2;
  // trig (n_tokens, half, 2): cos, sin of theta = pos * freq_scale * base^(-2i/n_rot). Computed in
  // double: at pos ~ 1e4 an f32 theta is already ~1e-3 rad off.
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    for (std::int32_t i = 0; i < half; ++i) {
      const double theta = double(positions[t]) * double(p.freq_scale) *
                           std::pow(double(p.freq_base), -2.0 * i / double(p.n_rot));
      trig[(t * half + i) * 2] = float(std::cos(theta));
      trig[(t * half + i) * 2 + 1] = float(std::sin(theta));
    }
  }
  auto rotate = [&](std::int64_t item) {  // item = t * n_heads + h
    float* v = x + item * head_dim;
    const float* cs = trig + (item / n_heads) * half * 2;
    // normal: pair (2i, 2i+1); neox: (i, i + half). Both loops vectorise (neox contiguously).
    if (p.mode == rope_mode::normal) {
      for (std::int32_t i = 0; i < half; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1], c = cs[2 * i], s = cs[2 * i + 1];
        v[2 * i] = x0 * c - x1 * s;
        v[2 * i + 1] = x0 * s + x1 * c;
      }
    } else {
      for (std::int32_t i = 0; i < half; ++i) {
        const float x0 = v[i], x1 = v[i + half], c = cs[2 * i], s = cs[2 * i + 1];
        v[i] = x0 * c - x1 * s;
        v[i + half] = x0 * s + x1 * c;
      }
    }
  };
  const std::int64_t items = n_tokens * n_heads;
  if (items * head_dim < parallel_elems_min) {
    for (std::int64_t it = 0; it < items; ++it) rotate(it);
    return;
  }
  pool.parallel_for(items, 1, [&](std::int64_t b, std::int64_t e, int) {
    for (std::int64_t it = b; it < e; ++it) rotate(it);
  });
}

}  // namespace holo::gpu::cpu
