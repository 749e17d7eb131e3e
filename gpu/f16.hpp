// Conversions between f32 and the 16-bit float formats GGUF stores: IEEE binary16 (F16) and
// bfloat16 (BF16). Scalar versions are the reference (round to nearest, ties to even; overflow gives
// infinity; subnormals kept; NaN stays NaN with its sign, quieted). The row versions do the same on
// whole arrays and use F16C when the build has it; tests hold them bit-equal to the scalar ones.
//
// Pure functions on caller-owned memory: safe from any thread, never fail.
#pragma once

#include <bit>
#include <cstdint>

#include "gpu/tensor_type.hpp"

namespace holo::gpu {

constexpr float f16_to_f32(f16_bits h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in f32.
    const float v = float(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exp == 31) {
    // Infinity, or NaN quieted the way x86 F16C does (bit 22 set), payload kept.
    const std::uint32_t nan_quiet = mant ? 0x00400000u : 0u;
    return std::bit_cast<float>(sign | 0x7f800000u | nan_quiet | (mant << 13));
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

constexpr f16_bits f32_to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) {  // NaN: quiet, keep the top payload bits
    return static_cast<f16_bits>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  }
  // 65520 is halfway between 65504 (largest half) and 65536; ties go to the even one, infinity.
  if (ax >= 0x477ff000u) return static_cast<f16_bits>(sign | 0x7c00u);
  if (ax < 0x38800000u) {  // below 2^-14: a half subnormal or zero
    const std::uint32_t exp = ax >> 23;
    if (exp < 102) return sign;  // below 2^-25 (f32 subnormals included): rounds to zero
    // value = mant * 2^(exp-150); in units of 2^-24 that is mant >> (126 - exp).
    const std::uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - exp;  // 14..24
    std::uint32_t q = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal: fine
    return static_cast<f16_bits>(sign | q);
  }
  // Normal: rebias the exponent (127 -> 15), then round the 13 dropped bits to nearest even. A carry
  // out of the mantissa correctly bumps the exponent; overflow was excluded above.
  const std::uint32_t rebased = ax - 0x38000000u;
  const std::uint32_t rounded = (rebased + 0x0fffu + ((rebased >> 13) & 1u)) >> 13;
  return static_cast<f16_bits>(sign | rounded);
}

constexpr float bf16_to_f32(bf16_bits b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

constexpr bf16_bits f32_to_bf16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    // Plain truncation could turn a NaN whose payload is all in the low half into infinity.
    return static_cast<bf16_bits>((x >> 16) | 0x0040u);
  }
  return static_cast<bf16_bits>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Rows: dst[i] = convert(src[i]) for i < n. src and dst must not overlap.
void f16_to_f32_row(const f16_bits* src, float* dst, std::int64_t n);
void f32_to_f16_row(const float* src, f16_bits* dst, std::int64_t n);
void bf16_to_f32_row(const bf16_bits* src, float* dst, std::int64_t n);
void f32_to_bf16_row(const float* src, bf16_bits* dst, std::int64_t n);

}  // namespace holo::gpu
