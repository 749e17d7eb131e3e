// Small SIMD helpers shared by the fast CPU kernels. HOLO_CPU_AVX2 is defined when the build targets
// a CPU with AVX2, FMA and F16C (-march=native on the x86 hosts); every user keeps a scalar path for
// the other builds.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define HOLO_CPU_AVX2 1
#endif

namespace holo::gpu::cpu {

#ifdef HOLO_CPU_AVX2
// Decode reads every weight once per token, row after row. The hardware prefetcher stops at each
// 4 KiB page boundary (page-cache pages), so the float row kernels also prefetch this far ahead of
// what they read; a prefetch never faults, past the end of the tensor it is just wasted. Measured
// on the 1B F16 file, 1 thread, A/B back to back: +10-40% tg. The quantized kernels do not use it:
// they are compute-bound at these speeds and the extra instruction cost them ~10% (Q8_0, Q4_K).
inline constexpr int weight_prefetch_bytes = 2048;
inline void prefetch_weights(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + weight_prefetch_bytes, _MM_HINT_T0);
}

// Decode reads each weight row once, as a stream through the page cache's 4 KiB pages; the
// hardware prefetcher does not cross a page boundary, so every page would start with misses.
// The quantized decode dots prefetch the lines of the block one page ahead (`Lines` lines from
// p + 4096): with it, 1B Q8_0 at 1 thread went from 6.3 to 11.2 tokens/s (docs/benchmarks.md).
inline constexpr int page_ahead_bytes = 4096;
template <int Lines>
inline void prefetch_page_ahead(const void* p) {
  const char* q = static_cast<const char*>(p) + page_ahead_bytes;
  for (int l = 0; l < Lines; ++l) _mm_prefetch(q + 64 * l, _MM_HINT_T0);
}

// 8 halves (IEEE binary16 bits) -> 8 floats (F16C).
inline __m256 load_f16(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Lane r of out[k] = 32-bit group k of in[r] (an 8 x 8 transpose of 32-bit elements).
__attribute__((always_inline)) inline void transpose8x8_epi32(const __m256i in[8], __m256i out[8]) {
  __m256i t[8], u[8];
  _Pragma("GCC unroll 8")
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(in[2 * i], in[2 * i + 1]);      // groups 0,1 | 4,5 of rows 2i, 2i+1
    t[2 * i + 1] = _mm256_unpackhi_epi32(in[2 * i], in[2 * i + 1]);  // groups 2,3 | 6,7
  }
  _Pragma("GCC unroll 8")
  for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
    u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h + 0], t[4 * h + 2]);  // group 0 | 4
    u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h + 0], t[4 * h + 2]);  // group 1 | 5
    u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);  // group 2 | 6
    u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);  // group 3 | 7
  }
  _Pragma("GCC unroll 8")
  for (int k = 0; k < 4; ++k) {
    out[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
    out[k + 4] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
  }
}

inline float hsum(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// exp(x) for 8 lanes, Cephes' expf polynomial: relative error ~2e-7 over [-88, 88] (inputs clamped
// there, so exp(-1000) gives ~6e-39 instead of 0: harmless for softmax and silu).
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.37626f)), _mm256_set1_ps(88.37626f));
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
#endif

}  // namespace holo::gpu::cpu
