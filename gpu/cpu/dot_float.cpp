// Float weight rows (F32, F16, BF16) dotted with f32 activations, and the f32/f16 row helpers of
// attention. Two accumulators hide FMA latency; these loops are memory-bound anyway.
// GCC 12's AVX-512 headers: a false -W(maybe-)uninitialized after inlining (see gemm.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/simd.hpp"
#include "gpu/f16.hpp"

namespace holo::gpu::cpu {
namespace {

#ifdef HOLO_CPU_AVX2
inline __m256 load_bf16(const bf16_bits* p) {  // bf16 is the top half of an f32
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
#endif

// sum_i load(w, i) * x[i]: the shared loop of the three float kernels.
template <class T, class Load, class Scalar>
float dot_rows(const T* w, const float* x, std::int64_t n, [[maybe_unused]] Load load, Scalar scalar) {
  std::int64_t i = 0;
  float sum = 0.0f;
#ifdef HOLO_CPU_AVX2
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    prefetch_weights(w + i);
    a0 = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), a0);
  sum = hsum(_mm256_add_ps(a0, a1));
#endif
  for (; i < n; ++i) sum += scalar(w[i]) * x[i];
  return sum;
}

}  // namespace

float vec_dot_f32(const void* w, const void* x, std::int64_t n) {
  return dot_f32(static_cast<const float*>(w), static_cast<const float*>(x), n);
}

float vec_dot_f16(const void* w, const void* x, std::int64_t n) {
  return dot_f32_f16(static_cast<const float*>(x), static_cast<const f16_bits*>(w), n);
}

float vec_dot_bf16(const void* w, const void* x, std::int64_t n) {
#ifdef HOLO_CPU_AVX2
  auto load = [](const bf16_bits* p) { return load_bf16(p); };
#else
  auto load = [](const bf16_bits*) { return 0; };
#endif
  return dot_rows(static_cast<const bf16_bits*>(w), static_cast<const float*>(x), n, load,
                  [](bf16_bits b) { return bf16_to_f32(b); });
}

float dot_f32(const float* a, const float* b, std::int64_t n) {
#ifdef HOLO_CPU_AVX2
  auto load = [](const float* p) { return _mm256_loadu_ps(p); };
#else
  auto load = [](const float*) { return 0; };
#endif
  return dot_rows(a, b, n, load, [](float v) { return v; });
}

float dot_f32_f16(const float* a, const f16_bits* b, std::int64_t n) {
  float head = 0.0f;
#if defined(HOLO_CPU_AVX2) && defined(__AVX512F__)
  // F16 decode is the widest stream of weights: 64 per iteration in four 512-bit accumulators (the
  // 8-wide loop below is bound by its two FMA chains, not by memory). Both cache lines of the
  // iteration are prefetched one page (4 KiB) ahead: the hardware prefetcher stops at page
  // boundaries and restarts only after misses, and a 2048-wide F16 row is exactly a page. Measured
  // on the 1B F16 file at 1 thread: 4.6 -> 6.2 tokens/s (2 KiB ahead was in the noise of 4 KiB,
  // 12 KiB no better; docs/benchmarks.md).
  std::int64_t i = 0;
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  for (; i + 64 <= n; i += 64) {
    const auto* w = reinterpret_cast<const __m256i*>(b + i);
    prefetch_page_ahead<2>(w);
    a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(w)), _mm512_loadu_ps(a + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(w + 1)), _mm512_loadu_ps(a + i + 16), a1);
    a2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(w + 2)), _mm512_loadu_ps(a + i + 32), a2);
    a3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(w + 3)), _mm512_loadu_ps(a + i + 48), a3);
  }
  if (i > 0) head = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  a += i, b += i, n -= i;
#endif
#ifdef HOLO_CPU_AVX2
  auto load = [](const f16_bits* p) { return load_f16(p); };
#else
  auto load = [](const f16_bits*) { return 0; };
#endif
  return head + dot_rows(b, a, n, load, [](f16_bits h) { return f16_to_f32(h); });
}

void axpy_f16(float s, const f16_bits* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
#ifdef HOLO_CPU_AVX2
  const __m256 vs = _mm256_set1_ps(s);
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(vs, load_f16(x + i), _mm256_loadu_ps(y + i)));
#endif
  for (; i < n; ++i) y[i] += s * f16_to_f32(x[i]);
}

}  // namespace holo::gpu::cpu
