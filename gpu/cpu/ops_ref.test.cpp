#define BOOST_TEST_MODULE cpu_ops_ref
#include "gpu/cpu/ops_ref.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <vector>

#include "gpu/cpu/reference_backend.hpp"
#include "gpu/cpu/test_util.hpp"
#include "gpu/f16.hpp"

namespace gpu = holo::gpu;
namespace ref = holo::gpu::ref;
using gpu::test::norm_error;
using gpu::test::random_floats;

BOOST_AUTO_TEST_CASE(rope_normal_matches_hand_computation) {
  // head_dim 6, n_rot 4: pairs (0,1) at theta = pos*fs and (2,3) at pos*fs*base^(-2/4); dims 4,5 kept.
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::int32_t pos = 3;
  gpu::rope_params p{gpu::rope_mode::normal, 4, 10000.0f, 0.5f};
  ref::rope(x.data(), 1, 1, 6, &pos, p);
  const double t0 = 1.5, t1 = 1.5 * 0.01;
  const double want[] = {std::cos(t0) - 2 * std::sin(t0),
                         std::sin(t0) + 2 * std::cos(t0),
                         3 * std::cos(t1) - 4 * std::sin(t1),
                         3 * std::sin(t1) + 4 * std::cos(t1),
                         5,
                         6};
  for (int i = 0; i < 6; ++i) BOOST_TEST(x[i] == want[i], boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(rope_neox_matches_hand_computation) {
  // neox pairs (i, i + n_rot/2): (0,2) at theta0, (1,3) at theta1.
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::int32_t pos = 3;
  gpu::rope_params p{gpu::rope_mode::neox, 4, 10000.0f, 0.5f};
  ref::rope(x.data(), 1, 1, 6, &pos, p);
  const double t0 = 1.5, t1 = 1.5 * 0.01;
  const double want[] = {std::cos(t0) - 3 * std::sin(t0),
                         2 * std::cos(t1) - 4 * std::sin(t1),
                         std::sin(t0) + 3 * std::cos(t0),
                         2 * std::sin(t1) + 4 * std::cos(t1),
                         5,
                         6};
  for (int i = 0; i < 6; ++i) BOOST_TEST(x[i] == want[i], boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(rope_at_position_zero_is_identity) {
  auto x = random_floats(2 * 3 * 8, 1);
  const auto before = x;
  const std::int32_t pos[] = {0, 0};
  ref::rope(x.data(), 2, 3, 8, pos, {gpu::rope_mode::neox, 8, 1e6f, 1.0f});
  BOOST_TEST(norm_error(x, before) == 0.0);
}

// Attention computed the textbook way: the full (n_tokens, ctx) score matrix with a -inf causal mask.
std::vector<float> naive_attention(const std::vector<float>& q, const std::vector<float>& k_all,
                                   const std::vector<float>& v_all, const gpu::attention_shape& s, int pos0,
                                   int n_tokens) {
  const int d = s.head_dim, kv_row = s.n_head_kv * d, ctx = pos0 + n_tokens;
  std::vector<float> out(static_cast<std::size_t>(n_tokens * s.n_head * d));
  for (int t = 0; t < n_tokens; ++t) {
    for (int h = 0; h < s.n_head; ++h) {
      const int kvh = h * s.n_head_kv / s.n_head;
      std::vector<double> w(static_cast<std::size_t>(ctx));
      double mx = -INFINITY, sum = 0;
      for (int p = 0; p < ctx; ++p) {
        double dot = 0;
        for (int i = 0; i < d; ++i) dot += q[(t * s.n_head + h) * d + i] * k_all[p * kv_row + kvh * d + i];
        w[p] = p <= pos0 + t ? dot / std::sqrt(double(d)) : -INFINITY;
        mx = std::max(mx, w[p]);
      }
      for (auto& e : w) sum += (e = std::exp(e - mx));
      for (int i = 0; i < d; ++i) {
        double acc = 0;
        for (int p = 0; p < ctx; ++p) acc += w[p] / sum * v_all[p * kv_row + kvh * d + i];
        out[(t * s.n_head + h) * d + i] = float(acc);
      }
    }
  }
  return out;
}

BOOST_AUTO_TEST_CASE(attention_gqa_causal_batch_matches_naive) {
  const gpu::attention_shape s{6, 2, 16};
  const int ctx = 20, kv_row = s.n_head_kv * s.head_dim;
  // K/V values rounded to f16 as the cache stores them.
  auto k_all = random_floats(ctx * kv_row, 2), v_all = random_floats(ctx * kv_row, 3);
  for (auto* a : {&k_all, &v_all})
    for (auto& x : *a) x = gpu::f16_to_f32(gpu::f32_to_f16(x));
  std::vector<gpu::f16_bits> kc(ctx * kv_row), vc(ctx * kv_row);
  gpu::kv_layer cache{kc.data(), vc.data(), ctx};
  gpu::cpu_reference_backend be;
  BOOST_REQUIRE(be.reserve({16, 64, ctx, s.n_head, s.head_dim}).ok());
  // Prefill 12 positions, then a batch of 5 at pos0 = 12, then one decode step at 17.
  for (auto [pos0, n] : {std::pair{0, 12}, {12, 5}, {17, 1}}) {
    BOOST_REQUIRE(
        be.kv_store(cache, s, pos0, n, k_all.data() + pos0 * kv_row, v_all.data() + pos0 * kv_row).ok());
    const auto q = random_floats(std::size_t(n) * s.n_head * s.head_dim, 10 + pos0, 2.0f);
    std::vector<float> out(q.size());
    BOOST_REQUIRE(be.attention(q.data(), cache, s, pos0, n, out.data()).ok());
    const auto want = naive_attention(q, k_all, v_all, s, pos0, n);
    BOOST_TEST(norm_error(out, want) < 1e-6, "pos0 " << pos0 << ": " << norm_error(out, want));
  }
  // Sanity: the check catches a missing causal mask (attend to all 17 positions for query 0).
  const auto q = random_floats(std::size_t(5) * s.n_head * s.head_dim, 22, 2.0f);
  std::vector<float> out(q.size());
  BOOST_REQUIRE(be.attention(q.data(), cache, s, 12, 5, out.data()).ok());
  const auto unmasked = naive_attention(q, k_all, v_all, s, 16, 1);  // query 0 seeing 0..16
  BOOST_TEST(norm_error(out.data(), unmasked.data(), unmasked.size()) > 1e-2);
}

BOOST_AUTO_TEST_CASE(matmul_and_norms_against_plain_formulas) {
  // W (3, 32) F32 with bias: out = W x + b, by hand.
  auto w = random_floats(3 * 32, 5), x = random_floats(2 * 32, 6);
  const float bias[] = {1, -2, 0.5f};
  std::vector<float> out(2 * 3);
  ref::matmul({gpu::tensor_type::f32, 32, 3, w.data()}, x.data(), 2, bias, out.data());
  for (int t = 0; t < 2; ++t) {
    for (int r = 0; r < 3; ++r) {
      double s = bias[r];
      for (int c = 0; c < 32; ++c) s += w[r * 32 + c] * x[t * 32 + c];
      BOOST_TEST(out[t * 3 + r] == s, boost::test_tools::tolerance(1e-5));
    }
  }
  std::vector<float> v = {3, 4}, one = {1, 1}, n(2);
  ref::rmsnorm(v.data(), one.data(), 1, 2, 0.0f, n.data());  // rms = sqrt(12.5)
  BOOST_TEST(n[0] == 3 / std::sqrt(12.5), boost::test_tools::tolerance(1e-6));
  std::vector<float> sm = {1, 2, 3};
  ref::softmax(sm.data(), 1, 3);
  BOOST_TEST(sm[2] == std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)),
             boost::test_tools::tolerance(1e-6));
  std::vector<float> g = {0, 1}, u = {2, 3}, o(2);
  ref::swiglu(g.data(), u.data(), 2, o.data());
  BOOST_TEST(o[0] == 0.0f);
  BOOST_TEST(o[1] == 3 / (1 + std::exp(-1.0)), boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(reference_backend_rejects_bad_inputs) {
  gpu::cpu_reference_backend be;
  BOOST_REQUIRE(be.reserve({4, 256, 8, 4, 8}).ok());
  std::vector<float> w(256 * 2), x(256), out(2);
  const gpu::tensor_view q41{gpu::tensor_type::q4_1, 256, 2, w.data()};
  BOOST_TEST(
      (be.matmul(q41, x.data(), 1, nullptr, out.data()).code() == holo::status_code::invalid_argument));
  const gpu::tensor_view f32{gpu::tensor_type::f32, 256, 2, w.data()};
  BOOST_TEST(
      (be.matmul(f32, x.data(), 5, nullptr, out.data()).code() == holo::status_code::failed_precondition));
  const std::int32_t bad_id = 2;
  BOOST_TEST((be.get_rows(f32, &bad_id, 1, x.data()).code() == holo::status_code::out_of_range));
  std::vector<gpu::f16_bits> kc(8 * 8), vc(8 * 8);
  const gpu::attention_shape s{4, 1, 8};
  BOOST_TEST((be.kv_store({kc.data(), vc.data(), 8}, s, 7, 2, x.data(), x.data()).code() ==
              holo::status_code::out_of_range));
  const std::int32_t pos = 0;
  BOOST_TEST((be.rope(x.data(), 1, 1, 8, &pos, {gpu::rope_mode::normal, 3, 1e4f, 1}).code() ==
              holo::status_code::invalid_argument));
}
