#define BOOST_TEST_MODULE f16
#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gpu/f16.hpp"

#if defined(__F16C__)
#include <immintrin.h>
#endif

using namespace holo::gpu;

namespace {

std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }
float from_bits(std::uint32_t u) { return std::bit_cast<float>(u); }

// Independent reference for f32 -> f16: exact in double, nearest with ties to even by search over the
// two neighbouring halves. Slow but obviously right.
std::uint16_t f32_to_f16_slow(float f) {
  if (std::isnan(f)) return 0x7e00;
  const double v = std::fabs(double(f));
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (v >= 65520.0) return sign | 0x7c00;
  // Halves are monotonic in their bit pattern for non-negative values.
  std::uint16_t lo = 0;
  std::uint16_t hi = 0x7bff;
  while (lo < hi) {  // largest half <= v
    const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi + 1) / 2);
    if (double(f16_to_f32(mid)) <= v) lo = mid; else hi = static_cast<std::uint16_t>(mid - 1);
  }
  const double below = f16_to_f32(lo);
  const double above = lo == 0x7bff ? 65536.0 : double(f16_to_f32(static_cast<std::uint16_t>(lo + 1)));
  std::uint16_t pick = lo;
  if (v - below > above - v || (v - below == above - v && (lo & 1))) pick = static_cast<std::uint16_t>(lo + 1);
  return sign | pick;
}

}  // namespace

BOOST_AUTO_TEST_CASE(f16_known_values) {
  BOOST_TEST(f16_to_f32(0x3c00) == 1.0f);
  BOOST_TEST(f16_to_f32(0xc000) == -2.0f);
  BOOST_TEST(f16_to_f32(0x7bff) == 65504.0f);
  BOOST_TEST(f16_to_f32(0x0001) == 0x1p-24f);            // smallest subnormal
  BOOST_TEST(f16_to_f32(0x03ff) == 1023 * 0x1p-24f);     // largest subnormal
  BOOST_TEST(f16_to_f32(0x0400) == 0x1p-14f);            // smallest normal
  BOOST_TEST(bits(f16_to_f32(0x8000)) == 0x80000000u);   // -0 keeps its sign
  BOOST_TEST(std::isinf(f16_to_f32(0x7c00)));
  BOOST_TEST(f16_to_f32(0xfc00) < 0);
  BOOST_TEST(std::isnan(f16_to_f32(0x7e00)));
  BOOST_TEST(std::isnan(f16_to_f32(0x7c01)));            // signalling NaN stays NaN

  BOOST_TEST(f32_to_f16(1.0f) == 0x3c00);
  BOOST_TEST(f32_to_f16(65504.0f) == 0x7bff);
  BOOST_TEST(f32_to_f16(65519.996f) == 0x7bff);          // just under the tie: stays finite
  BOOST_TEST(f32_to_f16(65520.0f) == 0x7c00);            // the tie goes to even: infinity
  BOOST_TEST(f32_to_f16(1e10f) == 0x7c00);
  BOOST_TEST(f32_to_f16(-1e10f) == 0xfc00);
  BOOST_TEST(f32_to_f16(std::numeric_limits<float>::infinity()) == 0x7c00);
  BOOST_TEST(f32_to_f16(0x1p-24f) == 0x0001);
  BOOST_TEST(f32_to_f16(0x1p-25f) == 0x0000);            // tie between 0 and 2^-24: even is 0
  BOOST_TEST(f32_to_f16(0x1.8p-25f) == 0x0001);          // above the tie
  BOOST_TEST(f32_to_f16(0x1.8p-24f) == 0x0002);          // 1.5 units: tie, even is 2
  BOOST_TEST(f32_to_f16(0x1p-30f) == 0x0000);
  BOOST_TEST(f32_to_f16(1e-45f) == 0x0000);              // an f32 subnormal
  BOOST_TEST(f32_to_f16(-0x1p-30f) == 0x8000);           // underflow keeps the sign
  BOOST_TEST(f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);     // tie: even mantissa (1.0)
  BOOST_TEST(f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02); // tie: even mantissa (1+2^-9)
  BOOST_TEST(f32_to_f16(0x1.ffcp-15f) == 0x0400);        // subnormal rounding carries into normal
  const std::uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  BOOST_TEST((nan & 0x7c00) == 0x7c00);
  BOOST_TEST((nan & 0x03ff) != 0);
  BOOST_TEST(f32_to_f16(from_bits(0x7f800001u)) != 0x7c00);  // low-payload NaN is not infinity
}

BOOST_AUTO_TEST_CASE(f16_every_half_round_trips) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<f16_bits>(h));
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
      BOOST_TEST_REQUIRE(std::isnan(f));
      continue;
    }
    BOOST_TEST_REQUIRE(f32_to_f16(f) == h, "half " << h);
  }
}

BOOST_AUTO_TEST_CASE(f16_rounding_matches_slow_reference) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> any;
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {
    // Exponents concentrated on the half range (subnormal to overflow) so every path is hit.
    std::uint32_t u = any(rng);
    u = (u & 0x807fffffu) | ((95u + (u >> 23) % 50u) << 23);
    const float f = from_bits(u);
    BOOST_TEST_REQUIRE(f32_to_f16(f) == f32_to_f16_slow(f), "f32 bits " << u);
    ++checked;
  }
  BOOST_TEST(checked == 200000);
}

#if defined(__F16C__)
BOOST_AUTO_TEST_CASE(f16_scalar_matches_f16c_hardware) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::uint32_t> any;
  for (int i = 0; i < 200000; ++i) {
    const float f = from_bits(any(rng));
    const auto hw = static_cast<std::uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
    BOOST_TEST_REQUIRE(f32_to_f16(f) == hw, "f32 bits " << bits(f));
  }
}
#endif

BOOST_AUTO_TEST_CASE(f16_rows_match_scalar) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 100.0f);
  std::vector<float> src(1003);  // not a multiple of 8: the tail path runs too
  for (auto& v : src) v = normal(rng);
  src[5] = std::numeric_limits<float>::infinity();
  src[9] = 1e6f;
  src[17] = 0x1p-20f;
  std::vector<f16_bits> h(src.size());
  f32_to_f16_row(src.data(), h.data(), std::int64_t(src.size()));
  std::vector<float> back(src.size());
  f16_to_f32_row(h.data(), back.data(), std::int64_t(src.size()));
  for (std::size_t i = 0; i < src.size(); ++i) {
    BOOST_TEST_REQUIRE(h[i] == f32_to_f16(src[i]), "index " << i);
    BOOST_TEST_REQUIRE(bits(back[i]) == bits(f16_to_f32(h[i])), "index " << i);
  }
}

BOOST_AUTO_TEST_CASE(bf16_conversions) {
  BOOST_TEST(f32_to_bf16(1.0f) == 0x3f80);
  BOOST_TEST(bf16_to_f32(0x3f80) == 1.0f);
  BOOST_TEST(bf16_to_f32(0xc040) == -3.0f);
  BOOST_TEST(f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);      // tie: even
  BOOST_TEST(f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);  // tie: even
  BOOST_TEST(f32_to_bf16(1.0f + 0x1.2p-8f) == 0x3f81);    // above the tie
  BOOST_TEST(f32_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);  // rounds up to infinity
  BOOST_TEST(f32_to_bf16(-std::numeric_limits<float>::infinity()) == 0xff80);
  BOOST_TEST(f32_to_bf16(from_bits(0x00010000u)) == 0x0001);  // subnormals survive
  BOOST_TEST(f32_to_bf16(from_bits(0x80000000u)) == 0x8000);
  const bf16_bits nan = f32_to_bf16(from_bits(0x7f800001u));  // payload only in the dropped half
  BOOST_TEST(std::isnan(bf16_to_f32(nan)));
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const float f = bf16_to_f32(static_cast<bf16_bits>(b));
    if (std::isnan(f)) continue;
    BOOST_TEST_REQUIRE(f32_to_bf16(f) == b);
  }
  std::vector<float> src = {1.5f, -2.25f, 3.0e38f, 1e-30f, 0.1f};
  std::vector<bf16_bits> out(src.size());
  f32_to_bf16_row(src.data(), out.data(), std::int64_t(src.size()));
  std::vector<float> back(src.size());
  bf16_to_f32_row(out.data(), back.data(), std::int64_t(src.size()));
  for (std::size_t i = 0; i < src.size(); ++i) {
    BOOST_TEST(out[i] == f32_to_bf16(src[i]));
    BOOST_TEST(std::fabs(back[i] - src[i]) <= std::fabs(src[i]) * 0x1p-8f);
  }
}
