#define BOOST_TEST_MODULE quant
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gpu/f16.hpp"
#include "gpu/quant.hpp"

using namespace holo::gpu;

namespace {

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

// RMS of the error over RMS of the data.
double nrmse(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0.0, ref = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    err += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    ref += double(a[i]) * a[i];
  }
  return std::sqrt(err / ref);
}

double round_trip(tensor_type t, const std::vector<float>& x) {
  std::vector<std::byte> q(row_bytes(t, x.size()));
  std::vector<float> y(x.size());
  BOOST_TEST_REQUIRE(quantize_row(t, x.data(), q.data(), std::int64_t(x.size())).ok());
  BOOST_TEST_REQUIRE(dequantize_row(t, q.data(), y.data(), std::int64_t(x.size())).ok());
  return nrmse(x, y);
}

}  // namespace

struct error_bound {
  tensor_type type;
  double max;
};

void check_bounds(const std::vector<float>& x, const std::vector<error_bound>& bounds, const char* what) {
  for (const auto& b : bounds) {
    const double e = round_trip(b.type, x);
    BOOST_TEST_MESSAGE(what << " " << traits(b.type).name << " nrmse " << e);
    BOOST_TEST(e <= b.max, what << " " << traits(b.type).name << " nrmse " << e << " > " << b.max);
  }
}

// Bounds sit a little above what this quantizer measures (run with --log_level=message to see) and
// far below what a layout mistake gives (a swapped nibble or scale lands near 1.0). Q4_0's 16
// levels on Gaussian data measure about 0.08: that is the format, not the search.
BOOST_AUTO_TEST_CASE(round_trip_error_bounds_gaussian) {
  const std::vector<error_bound> bounds = {
      {tensor_type::f32, 0.0},    {tensor_type::f16, 0.0003}, {tensor_type::bf16, 0.002},
      {tensor_type::q8_0, 0.007}, {tensor_type::q6_k, 0.02},  {tensor_type::q5_k, 0.04},
      {tensor_type::q4_k, 0.076}, {tensor_type::q4_0, 0.085}, {tensor_type::q8_k, 0.01},
  };
  for (unsigned seed = 1; seed <= 3; ++seed) {
    check_bounds(gaussian(256 * 64, seed, 0.02f * float(seed)), bounds, "gaussian");
  }
}

// A few large outliers, as real weight rows have, cost the blocks they sit in some precision.
BOOST_AUTO_TEST_CASE(round_trip_error_bounds_outliers) {
  const std::vector<error_bound> bounds = {
      {tensor_type::q8_0, 0.008}, {tensor_type::q6_k, 0.022}, {tensor_type::q5_k, 0.042},
      {tensor_type::q4_k, 0.08},  {tensor_type::q4_0, 0.1},   {tensor_type::q8_k, 0.013},
  };
  auto x = gaussian(256 * 64, 4, 0.02f);
  x[7] = 0.5f;  // 25 sigma
  x[3000] = -0.4f;
  x[9001] = 0.3f;
  check_bounds(x, bounds, "outliers");
}

BOOST_AUTO_TEST_CASE(round_trip_uniform_and_shifted_data) {
  // Asymmetric data exercises the K-quant mins.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uni(-0.2f, 1.0f);
  std::vector<float> x(256 * 16);
  for (auto& v : x) v = uni(rng);
  BOOST_TEST(round_trip(tensor_type::q4_k, x) < 0.05);
  BOOST_TEST(round_trip(tensor_type::q5_k, x) < 0.025);
  BOOST_TEST(round_trip(tensor_type::q6_k, x) < 0.02);
  BOOST_TEST(round_trip(tensor_type::q4_0, x) < 0.08);
}

BOOST_AUTO_TEST_CASE(zero_and_constant_rows) {
  for (auto t : {tensor_type::q8_0, tensor_type::q4_0, tensor_type::q4_k, tensor_type::q5_k,
                 tensor_type::q6_k}) {
    std::vector<float> zeros(512, 0.0f);
    std::vector<std::byte> q(row_bytes(t, zeros.size()));
    std::vector<float> y(zeros.size(), 1.0f);
    BOOST_TEST_REQUIRE(quantize_row(t, zeros.data(), q.data(), 512).ok());
    BOOST_TEST_REQUIRE(dequantize_row(t, q.data(), y.data(), 512).ok());
    for (float v : y) BOOST_TEST_REQUIRE(v == 0.0f, traits(t).name);
    std::vector<float> neg(512, -0.75f);
    BOOST_TEST(round_trip(t, neg) < 0.01, traits(t).name);
  }
}

BOOST_AUTO_TEST_CASE(q4_0_known_block) {
  block_q4_0 b{};
  b.d = f32_to_f16(0.5f);
  for (auto& q : b.qs) q = 0x88;  // every element decodes to 0
  b.qs[0] = 0x3a;                 // element 0 = 0xa, element 16 = 0x3
  b.qs[15] = 0xf0;                // element 15 = 0x0, element 31 = 0xf
  float y[32];
  dequantize_row_q4_0(&b, y, 32);
  BOOST_TEST(y[0] == 1.0f);    // (10 - 8) * 0.5
  BOOST_TEST(y[16] == -2.5f);  // (3 - 8) * 0.5
  BOOST_TEST(y[15] == -4.0f);
  BOOST_TEST(y[31] == 3.5f);
  BOOST_TEST(y[1] == 0.0f);
}

BOOST_AUTO_TEST_CASE(q8_0_known_block) {
  block_q8_0 b{};
  b.d = f32_to_f16(2.0f);
  b.qs[5] = -3;
  b.qs[31] = 127;
  float y[32];
  dequantize_row_q8_0(&b, y, 32);
  BOOST_TEST(y[5] == -6.0f);
  BOOST_TEST(y[31] == 254.0f);
  BOOST_TEST(y[0] == 0.0f);
}

BOOST_AUTO_TEST_CASE(q4_k_known_block) {
  block_q4_k b{};
  b.d = f32_to_f16(1.0f);
  b.dmin = f32_to_f16(0.5f);
  // Sub-block 0: scale 3, min 5. Top bits of byte 0 (=1) and byte 4 (=2) belong to sub-block 4.
  b.scales[0] = (1 << 6) | 3;
  b.scales[4] = (2 << 6) | 5;
  // Sub-block 1: scale 7, min 1.
  b.scales[1] = 7;
  b.scales[5] = 1;
  // Sub-block 4: scale low nibble 2, min low nibble 7 in byte 8 -> scale 2|1<<4 = 18, min 7|2<<4 = 39.
  b.scales[8] = 0x72;
  b.qs[0] = 0x49;   // element 0 (sub-block 0) = 9, element 32 (sub-block 1) = 4
  b.qs[65] = 0x0b;  // element 129 (chunk 2 low nibbles = sub-block 4, l = 1) = 11
  float y[256];
  dequantize_row_q4_k(&b, y, 256);
  BOOST_TEST(y[0] == 3 * 9 - 0.5f * 5);
  BOOST_TEST(y[32] == 7 * 4 - 0.5f * 1);
  BOOST_TEST(y[129] == 18 * 11 - 0.5f * 39);
  BOOST_TEST(y[128] == -0.5f * 39);  // q = 0
  std::uint8_t sc, m;
  unpack_scale_min_k4(4, b.scales, &sc, &m);
  BOOST_TEST(sc == 18);
  BOOST_TEST(m == 39);
  // The packer writes exactly those bytes.
  std::uint8_t scales[8] = {3, 7, 0, 0, 18, 0, 0, 0};
  std::uint8_t mins[8] = {5, 1, 0, 0, 39, 0, 0, 0};
  std::uint8_t packed[12];
  pack_scale_min_k4(scales, mins, packed);
  BOOST_TEST(std::memcmp(packed, b.scales, 12) == 0);
}

BOOST_AUTO_TEST_CASE(pack_unpack_scale_min_all_values) {
  std::mt19937 rng(9);
  for (int round = 0; round < 1000; ++round) {
    std::uint8_t scales[8], mins[8], packed[12];
    for (int j = 0; j < 8; ++j) {
      scales[j] = static_cast<std::uint8_t>(rng() % 64);
      mins[j] = static_cast<std::uint8_t>(rng() % 64);
    }
    pack_scale_min_k4(scales, mins, packed);
    for (int j = 0; j < 8; ++j) {
      std::uint8_t sc, m;
      unpack_scale_min_k4(j, packed, &sc, &m);
      BOOST_TEST_REQUIRE(sc == scales[j]);
      BOOST_TEST_REQUIRE(m == mins[j]);
    }
  }
}

BOOST_AUTO_TEST_CASE(q5_k_known_block) {
  block_q5_k b{};
  b.d = f32_to_f16(0.25f);
  b.dmin = f32_to_f16(1.0f);
  b.scales[3] = 2;  // sub-block 3: scale 2
  b.scales[7] = 4;  //              min 4
  // Element 99 = chunk 1, upper half, l = 3: high nibble of qs[35], fifth bit = bit 3 of qh[3].
  b.qs[35] = 0x20;
  b.qh[3] = 0x08;
  // Element 2 = chunk 0, lower half, l = 2: low nibble of qs[2], fifth bit = bit 0 of qh[2].
  b.scales[0] = 1;
  b.qs[2] = 0x01;
  b.qh[2] = 0x01;
  float y[256];
  dequantize_row_q5_k(&b, y, 256);
  BOOST_TEST(y[99] == 0.25f * 2 * 18 - 4.0f);  // q = 2 | 16
  BOOST_TEST(y[2] == 0.25f * 1 * 17);          // q = 1 | 16, min 0
  BOOST_TEST(y[98] == -4.0f);
}

BOOST_AUTO_TEST_CASE(q6_k_known_block) {
  block_q6_k b{};
  b.d = f32_to_f16(0.5f);
  // Element 200: second half (128..255), offset 72 = 2*32 + 8: high nibble of ql[64+8], bits 4-5 of
  // qh[32+8]; sub-block 200/16 = 12.
  b.ql[72] = 0x50;
  b.qh[40] = 0x20;
  b.scales[12] = -3;
  // Element 33: first half, offset 32 + 1: low nibble of ql[32+1], bits 2-3 of qh[1]; sub-block 2.
  b.ql[33] = 0x0f;
  b.qh[1] = 0x04;
  b.scales[2] = 10;
  b.scales[0] = 1;
  float y[256];
  dequantize_row_q6_k(&b, y, 256);
  BOOST_TEST(y[200] == 0.5f * -3 * ((5 | (2 << 4)) - 32));
  BOOST_TEST(y[33] == 0.5f * 10 * ((15 | (1 << 4)) - 32));
  BOOST_TEST(y[0] == 0.5f * 1 * -32);  // all-zero bits decode to q = -32
}

BOOST_AUTO_TEST_CASE(quantizer_writes_the_pinned_layout) {
  // One element stands out in each position; after quantizing, its code must sit in the bits the
  // known-block tests above pinned, so quantizer and decoder cannot agree on a wrong layout.
  std::vector<float> x(256, 0.0f);
  x[200] = -1.0f;
  block_q6_k b6;
  quantize_row_q6_k(x.data(), &b6, 256);
  const int lo = b6.ql[72] >> 4;
  const int hi = (b6.qh[40] >> 4) & 3;
  const float v = f16_to_f32(b6.d) * b6.scales[12] * float((lo | (hi << 4)) - 32);
  BOOST_TEST(std::fabs(v + 1.0f) < 0.02f);

  x.assign(256, 0.0f);
  x[129] = 2.0f;
  block_q4_k b4;
  quantize_row_q4_k(x.data(), &b4, 256);
  std::uint8_t sc, m;
  unpack_scale_min_k4(4, b4.scales, &sc, &m);
  const float v4 = f16_to_f32(b4.d) * sc * float(b4.qs[65] & 0x0f) - f16_to_f32(b4.dmin) * m;
  BOOST_TEST(std::fabs(v4 - 2.0f) < 0.1f);

  x.assign(32, 0.0f);
  x[16] = -1.0f;
  block_q4_0 b0;
  quantize_row_q4_0(x.data(), &b0, 32);
  BOOST_TEST(std::fabs(f16_to_f32(b0.d) * float((b0.qs[0] >> 4) - 8) + 1.0f) < 0.01f);
}

BOOST_AUTO_TEST_CASE(q8_k_activations) {
  auto x = gaussian(512, 21, 3.0f);
  std::vector<block_q8_k> q(2);
  quantize_row_q8_k(x.data(), q.data(), 512);
  for (const auto& b : q) {
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += b.qs[16 * g + i];
      BOOST_TEST_REQUIRE(b.bsums[g] == sum);
    }
    int qmax = 0;
    for (auto v : b.qs) qmax = std::max(qmax, std::abs(int(v)));
    BOOST_TEST(qmax == 127);  // the largest element uses the full range
  }
  std::vector<float> y(512);
  dequantize_row_q8_k(q.data(), y.data(), 512);
  BOOST_TEST(nrmse(x, y) < 0.01);
}

BOOST_AUTO_TEST_CASE(dispatch_rejects_bad_rows) {
  float x[256] = {};
  std::byte out[1024];
  auto s = quantize_row(tensor_type::q2_k, x, out, 256);
  BOOST_TEST((s.code() == holo::status_code::invalid_argument));
  BOOST_TEST(s.message().find("Q2_K") != std::string::npos);
  s = dequantize_row(tensor_type::q4_k, out, x, 100);
  BOOST_TEST((s.code() == holo::status_code::invalid_argument));
  BOOST_TEST(s.message().find("256") != std::string::npos);
  BOOST_TEST(!dequantize_row(tensor_type::q8_0, out, x, -32).ok());
  BOOST_TEST(dequantize_row(tensor_type::q8_0, out, x, 0).ok());
  BOOST_TEST(!quantize_row(static_cast<tensor_type>(99), x, out, 32).ok());
}
