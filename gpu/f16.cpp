#include "gpu/f16.hpp"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#define HOLO_F16_HAVE_F16C 1
#endif

namespace holo::gpu {

void f16_to_f32_row(const f16_bits* src, float* dst, std::int64_t n) {
  std::int64_t i = 0;
#ifdef HOLO_F16_HAVE_F16C
  // Hardware conversion is exact for this direction; 8 lanes per step.
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void f32_to_f16_row(const float* src, f16_bits* dst, std::int64_t n) {
  std::int64_t i = 0;
#ifdef HOLO_F16_HAVE_F16C
  // Round-to-nearest-even immediate, independent of MXCSR; matches f32_to_f16 bit for bit.
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
#endif
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

void bf16_to_f32_row(const bf16_bits* src, float* dst, std::int64_t n) {
  // A shift per element; the compiler vectorizes this loop on its own.
  for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void f32_to_bf16_row(const float* src, bf16_bits* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

}  // namespace holo::gpu
