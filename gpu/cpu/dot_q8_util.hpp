// Helpers shared by the quantized row dot products (dot_q8.cpp) and the tiled prefill kernels
// (gemm.cpp): half -> float, the signed 8-bit dot product, and the Q4_K/Q5_K scale unpacking.
#pragma once

#include <cstdint>
#include <cstring>

#include "gpu/cpu/simd.hpp"
#include "gpu/f16.hpp"

namespace holo::gpu::cpu {

inline float fp16(f16_bits h) {
#ifdef HOLO_CPU_AVX2
  return _cvtsh_ss(h);
#else
  return f16_to_f32(h);
#endif
}

#ifdef HOLO_CPU_AVX2
// Unsigned bytes u times signed bytes s, groups of 4 summed -> 8 i32 lanes (VNNI when the build
// has it; otherwise maddubs + madd, exact for these operands: |pair sum| <= 2 * 128 * 127 < 32767).
inline __m256i dot_u8_i8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#elif defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// 32 signed bytes times 32 signed bytes -> 8 float partial sums. maddubs wants one unsigned operand:
// take |a| and move a's sign onto b.
inline __m256 mul_sum_i8(__m256i a, __m256i b) {
  return _mm256_cvtepi32_ps(dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)));
}
#endif

// The 8 scales (bytes 0..7 of u) and 8 mins (bytes 8..15) of a Q4_K/Q5_K super-block (quant.hpp's
// unpack_scale_min_k4, all at once: llama.cpp's 32-bit mask trick; little-endian).
inline void unpack_k4_words(const std::uint8_t* scales, std::uint32_t* u) {
  constexpr std::uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  std::memcpy(u, scales, 12);
  u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
  const std::uint32_t mins_lo = u[1] & kmask1;
  u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
  u[2] = mins_lo;
  u[0] &= kmask1;
}

inline void unpack_k4(const std::uint8_t* scales, std::uint8_t* sc, std::uint8_t* m) {
  std::uint32_t u[4];
  unpack_k4_words(scales, u);
  std::memcpy(sc, &u[0], 8);
  std::memcpy(m, &u[2], 8);
}

}  // namespace holo::gpu::cpu
