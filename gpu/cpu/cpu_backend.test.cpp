// The fast CPU backend held against the reference, op by op, for every weight type, several shapes
// and 1..4 threads, by normalized error ||fast - ref|| / ||ref||. Bounds:
// - float weights (F32/F16/BF16) and element-wise ops: both sides decode the same values, only the
//   f32 summation order (and the exp polynomial, rel. error ~2e-7) differ: 1e-5.
// - quantized weights: the fast path first rounds each activation to Q8 (step amax/127 per block of
//   32 or 256), a relative error of ~(1/127)/sqrt(12) * amax/rms ~ 0.5..0.8% for gaussian rows,
//   which carries over to the dot products: bound 2e-2. The kernels themselves are checked tightly
//   (1e-5) against a dot of the dequantized weight with the *dequantized Q8 activation*.
#define BOOST_TEST_MODULE cpu_backend
#include "gpu/cpu/cpu_backend.hpp"

#include <atomic>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <memory>
#include <new>

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/reference_backend.hpp"
#include "gpu/cpu/test_util.hpp"
#include "gpu/f16.hpp"

#include "gpu/test_allocation_counter.hpp"

namespace gpu = holo::gpu;
namespace bdata = boost::unit_test::data;
using gpu::tensor_type;
using gpu::test::make_weights;
using gpu::test::norm_error;
using gpu::test::random_floats;

namespace {

constexpr tensor_type all_types[] = {tensor_type::f32,  tensor_type::f16,  tensor_type::bf16,
                                     tensor_type::q8_0, tensor_type::q4_0, tensor_type::q4_k,
                                     tensor_type::q5_k, tensor_type::q6_k};

bool quantized(tensor_type t) { return gpu::cpu::activation_type(t) != tensor_type::f32; }
// Over fewer than 8 outputs the normalized error is a ratio of a few random terms (one dot product
// can nearly cancel), so small cases get 5x slack; from 7 outputs on it is concentrated.
double matmul_bound(tensor_type t, std::int64_t outputs = 8) {
  return (quantized(t) ? 2e-2 : 1e-5) * (outputs < 7 ? 5 : 1);
}

const gpu::backend_limits limits{32, 4096, 64, 16, 128};

struct backends {
  gpu::cpu_reference_backend ref;
  std::vector<std::unique_ptr<gpu::cpu_backend>> fast;  // 1..4 threads
  backends() {
    BOOST_REQUIRE(ref.reserve(limits).ok());
    for (int t = 1; t <= 4; ++t) {
      fast.push_back(std::make_unique<gpu::cpu_backend>(t));
      BOOST_REQUIRE(fast.back()->reserve(limits).ok());
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(dot_kernels_equal_dequantized_q8_dot) {
  const std::int64_t cols = 1024;
  for (tensor_type t : all_types) {
    if (!quantized(t)) continue;
    const auto w = make_weights(t, 3, cols, 100 + unsigned(t));
    std::vector<float> wd(cols), xd(cols);
    const auto x = random_floats(cols, 7);
    const tensor_type act = gpu::cpu::activation_type(t);
    std::vector<std::byte> xq(gpu::row_bytes(act, cols));
    gpu::cpu::quantize_activation(act, x.data(), xq.data(), cols);
    BOOST_REQUIRE(gpu::dequantize_row(act, xq.data(), xd.data(), cols).ok());
    for (std::int64_t r = 0; r < 3; ++r) {
      BOOST_REQUIRE(gpu::dequantize_row(t, w.view.row(r), wd.data(), cols).ok());
      double want = 0, mag = 0;
      for (std::int64_t i = 0; i < cols; ++i)
        want += double(wd[i]) * xd[i], mag += std::fabs(double(wd[i]) * xd[i]);
      const double got = gpu::cpu::vec_dot_for(t)(w.view.row(r), xq.data(), cols);
      BOOST_TEST(std::fabs(got - want) / mag < 1e-5,
                 gpu::traits(t).name << " row " << r << ": " << got << " vs " << want);
    }
  }
}

BOOST_AUTO_TEST_CASE(matmul_all_types_shapes_threads) {
  backends be;
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{1, 256}, {7, 512}, {33, 1024}, {96, 4096}};
  for (tensor_type t : all_types) {
    for (auto [rows, cols] : shapes) {
      const auto w = make_weights(t, rows, cols, unsigned(rows * 31 + cols + unsigned(t)));
      const auto bias = random_floats(rows, 9);
      for (std::int64_t n : {1, 7, 32}) {
        const auto x = random_floats(n * cols, unsigned(n));
        std::vector<float> want(n * rows), got(n * rows);
        const float* b = n == 7 ? bias.data() : nullptr;  // bias on one batch size
        BOOST_REQUIRE(be.ref.matmul(w.view, x.data(), n, b, want.data()).ok());
        for (auto& f : be.fast) {
          std::fill(got.begin(), got.end(), NAN);
          BOOST_REQUIRE(f->matmul(w.view, x.data(), n, b, got.data()).ok());
          const double err = norm_error(got, want);
          BOOST_TEST(err < matmul_bound(t, n * rows), gpu::traits(t).name
                                                          << " " << rows << "x" << cols << " n=" << n
                                                          << " threads=" << f->thread_count() << ": " << err);
        }
      }
    }
  }
}

// The 32-element block types on rows of an odd number of blocks (the decode dot of Q8_0 takes blocks
// two at a time and finishes the odd one apart), decode and prefill.
BOOST_AUTO_TEST_CASE(matmul_odd_block_counts) {
  backends be;
  for (tensor_type t : {tensor_type::q8_0, tensor_type::q4_0}) {
    for (std::int64_t cols : {32, 96, 2080}) {
      const std::int64_t rows = 19;
      const auto w = make_weights(t, rows, cols, unsigned(cols) + 3);
      for (std::int64_t n : {1, 5}) {
        const auto x = random_floats(n * cols, unsigned(n) + 11);
        std::vector<float> want(n * rows), got(n * rows);
        BOOST_REQUIRE(be.ref.matmul(w.view, x.data(), n, nullptr, want.data()).ok());
        for (auto& f : be.fast) {
          std::fill(got.begin(), got.end(), NAN);
          BOOST_REQUIRE(f->matmul(w.view, x.data(), n, nullptr, got.data()).ok());
          const double err = norm_error(got, want);
          BOOST_TEST(err < matmul_bound(t, n * rows),
                     gpu::traits(t).name << " cols=" << cols << " n=" << n << ": " << err);
        }
      }
    }
  }
}

// Sanity: the metric catches a layout bug. Decoding Q4_0 with the nibbles of byte i taken as elements
// 2i and 2i+1 (the wrong, interleaved order) must land far outside the Q4_0 bound.
// matmul_parts shares one preparation of the activations and one partition of all the parts' rows
// over the threads: each part must come out as its own matmul does (to f32 rounding: a part's rows
// may fall into other row groups of the kernels) and as the reference does. Parts of two types
// take one matmul each. n = 64 reaches the AMX-BF16 kernels where the CPU has them.
BOOST_AUTO_TEST_CASE(matmul_parts_equal_matmul_per_part) {
  gpu::backend_limits wide = limits;
  wide.tokens_max = 64;
  gpu::cpu_reference_backend ref;
  BOOST_REQUIRE(ref.reserve(wide).ok());
  const std::int64_t cols = 512, rows[] = {48, 16, 21};
  for (tensor_type t : {tensor_type::q8_0, tensor_type::q4_k, tensor_type::q6_k, tensor_type::f16}) {
    for (bool mixed : {false, true}) {
      std::vector<gpu::test::weight_matrix> ws;
      for (int i = 0; i < 3; ++i)
        ws.push_back(make_weights(mixed && i == 1 ? tensor_type::q8_0 : t, rows[i], cols, unsigned(7 * i) + unsigned(t)));
      const auto bias = random_floats(64, 5);
      for (int threads : {1, 3}) {
        gpu::cpu_backend f(threads);
        BOOST_REQUIRE(f.reserve(wide).ok());
        for (std::int64_t n : {1, 5, 64}) {
          const auto x = random_floats(static_cast<std::size_t>(n * cols), unsigned(n) + 1);
          std::vector<std::vector<float>> got(3), one(3), want(3);
          std::vector<gpu::backend::matmul_part> parts;
          for (int i = 0; i < 3; ++i) {
            got[i].assign(static_cast<std::size_t>(n * rows[i]), NAN);
            one[i] = want[i] = got[i];
            parts.push_back({&ws[i].view, i == 2 ? bias.data() : nullptr, got[i].data()});
          }
          BOOST_REQUIRE(f.matmul_parts(parts.data(), parts.size(), x.data(), n).ok());
          for (int i = 0; i < 3; ++i) {
            BOOST_REQUIRE(f.matmul(ws[i].view, x.data(), n, parts[i].bias, one[i].data()).ok());
            BOOST_REQUIRE(ref.matmul(ws[i].view, x.data(), n, parts[i].bias, want[i].data()).ok());
            const auto name = gpu::traits(ws[i].view.type).name;
            BOOST_TEST(norm_error(got[i], one[i]) < 1e-6, name << " part " << i << " n=" << n << " threads=" << threads);
            BOOST_TEST(norm_error(got[i], want[i]) < matmul_bound(ws[i].view.type, n * rows[i]),
                       name << " part " << i << " n=" << n << " threads=" << threads);
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(wrong_layout_is_detected) {
  const std::int64_t rows = 16, cols = 256;
  const auto w = make_weights(tensor_type::q4_0, rows, cols, 77);
  const auto x = random_floats(cols, 78);
  std::vector<float> wrong(rows), got(rows);
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto* blk = static_cast<const gpu::block_q4_0*>(w.view.row(r));
    double s = 0;
    for (std::int64_t b = 0; b < cols / 32; ++b) {
      const float d = gpu::f16_to_f32(blk[b].d);
      for (int i = 0; i < 16; ++i) {
        s += d * ((blk[b].qs[i] & 15) - 8) * x[b * 32 + 2 * i] +
             d * ((blk[b].qs[i] >> 4) - 8) * x[b * 32 + 2 * i + 1];
      }
    }
    wrong[r] = float(s);
  }
  gpu::cpu_backend fast(2);
  BOOST_REQUIRE(fast.reserve(limits).ok());
  BOOST_REQUIRE(fast.matmul(w.view, x.data(), 1, nullptr, got.data()).ok());
  BOOST_TEST(norm_error(got, wrong) > 10 * matmul_bound(tensor_type::q4_0));
}

BOOST_AUTO_TEST_CASE(get_rows_all_types) {
  backends be;
  for (tensor_type t : all_types) {
    const auto table = make_weights(t, 10, 512, 5);
    const std::int32_t ids[] = {9, 0, 3, 3};
    std::vector<float> want(4 * 512), got(4 * 512);
    BOOST_REQUIRE(be.ref.get_rows(table.view, ids, 4, want.data()).ok());
    BOOST_REQUIRE(be.fast[1]->get_rows(table.view, ids, 4, got.data()).ok());
    BOOST_TEST(norm_error(got, want) == 0.0);
  }
}

BOOST_AUTO_TEST_CASE(elementwise_ops) {
  backends be;
  for (std::int64_t n : {1, 7, 32}) {
    const std::int64_t dim = 4096;
    const auto x = random_floats(n * dim, 1, 3.0f), w = random_floats(dim, 2), y = random_floats(n * dim, 3);
    std::vector<float> want(n * dim), got(n * dim);
    for (auto& f : be.fast) {
      be.ref.rmsnorm(x.data(), w.data(), n, dim, 1e-5f, want.data());
      f->rmsnorm(x.data(), w.data(), n, dim, 1e-5f, got.data());
      BOOST_TEST(norm_error(got, want) < 1e-5, "rmsnorm n=" << n);
      be.ref.swiglu(x.data(), y.data(), n * dim, want.data());
      f->swiglu(x.data(), y.data(), n * dim, got.data());
      BOOST_TEST(norm_error(got, want) < 1e-5, "swiglu n=" << n);
      be.ref.add(x.data(), y.data(), n * dim, want.data());
      f->add(x.data(), y.data(), n * dim, got.data());
      BOOST_TEST(norm_error(got, want) == 0.0);
      want = x, got = x;
      be.ref.scale(want.data(), n * dim, 0.3f);
      f->scale(got.data(), n * dim, 0.3f);
      BOOST_TEST(norm_error(got, want) == 0.0);
      want = x, got = x;
      be.ref.softmax(want.data(), n, dim);
      f->softmax(got.data(), n, dim);
      BOOST_TEST(norm_error(got, want) < 1e-5, "softmax n=" << n);
    }
  }
}

BOOST_AUTO_TEST_CASE(rope_both_modes) {
  backends be;
  for (auto mode : {gpu::rope_mode::normal, gpu::rope_mode::neox}) {
    for (std::int64_t n : {1, 7, 32}) {
      const std::int32_t heads = 8, hd = 128;
      std::vector<std::int32_t> pos(n);
      for (std::int64_t t = 0; t < n; ++t) pos[t] = std::int32_t(t * 397 % 9000);  // up to large positions
      for (std::int32_t n_rot : {128, 64}) {
        const gpu::rope_params p{mode, n_rot, 1e6f, 0.25f};
        for (auto& f : be.fast) {
          auto want = random_floats(n * heads * hd, 4), got = want;
          BOOST_REQUIRE(be.ref.rope(want.data(), n, heads, hd, pos.data(), p).ok());
          BOOST_REQUIRE(f->rope(got.data(), n, heads, hd, pos.data(), p).ok());
          BOOST_TEST(norm_error(got, want) < 1e-6, "rope n=" << n << " n_rot=" << n_rot);
        }
      }
    }
  }
}

BOOST_DATA_TEST_CASE(kv_store_and_attention_gqa, bdata::make({64, 72, 128, 20}), head_dim) {
  // 64 and 128: whole 64-lane output chunks; 72: a chunk and a tail of 8; 20: not a multiple of 8.
  backends be;
  const gpu::attention_shape s{16, 4, head_dim};
  const std::int64_t ctx = 64, kv_row = s.n_head_kv * s.head_dim;
  std::vector<gpu::f16_bits> kr(ctx * kv_row), vr(ctx * kv_row), kf(ctx * kv_row), vf(ctx * kv_row);
  const gpu::kv_layer ref_cache{kr.data(), vr.data(), ctx}, fast_cache{kf.data(), vf.data(), ctx};
  const auto k = random_floats(ctx * kv_row, 11), v = random_floats(ctx * kv_row, 12);
  for (auto [pos0, n] : {std::pair<std::int64_t, std::int64_t>{0, 32}, {32, 1}, {33, 7}, {40, 24}}) {
    BOOST_REQUIRE(
        be.ref.kv_store(ref_cache, s, pos0, n, k.data() + pos0 * kv_row, v.data() + pos0 * kv_row).ok());
    BOOST_REQUIRE(be.fast[0]
                      ->kv_store(fast_cache, s, pos0, n, k.data() + pos0 * kv_row, v.data() + pos0 * kv_row)
                      .ok());
    BOOST_TEST((kr == kf && vr == vf));  // same f16 rounding, bit for bit
    const auto q = random_floats(n * s.n_head * s.head_dim, unsigned(pos0), 2.0f);
    std::vector<float> want(q.size()), got(q.size());
    BOOST_REQUIRE(be.ref.attention(q.data(), ref_cache, s, pos0, n, want.data()).ok());
    for (auto& f : be.fast) {
      BOOST_REQUIRE(f->attention(q.data(), fast_cache, s, pos0, n, got.data()).ok());
      BOOST_TEST(norm_error(got, want) < 1e-5,
                 "attention pos0=" << pos0 << " n=" << n << " threads=" << f->thread_count());
    }
  }
  const auto q = random_floats(s.n_head * s.head_dim, 1);
  std::vector<float> out(q.size());
  BOOST_TEST((be.fast[0]->attention(q.data(), fast_cache, s, 64, 1, out.data()).code() ==
              holo::status_code::out_of_range));
}

BOOST_AUTO_TEST_CASE(no_allocation_after_reserve) {
  gpu::cpu_backend f(2);
  gpu::backend_limits wide = limits;
  wide.tokens_max = 64;  // prefill of 64 tokens: the AMX-BF16 kernels where the CPU has them
  BOOST_REQUIRE(f.reserve(wide).ok());
  const void* scratch = f.scratch_id();
  std::vector<gpu::test::weight_matrix> ws;
  for (tensor_type t : all_types) ws.push_back(make_weights(t, 64, 1024, 3));
  const auto x = random_floats(64 * 4096, 1), w = random_floats(4096, 2);
  std::vector<float> out(64 * 4096), q(32 * 16 * 128);
  const gpu::attention_shape s{16, 4, 128};
  std::vector<gpu::f16_bits> kc(64 * 4 * 128), vc(64 * 4 * 128);
  const gpu::kv_layer cache{kc.data(), vc.data(), 64};
  std::vector<std::int32_t> pos(32, 5);
  const long before = holo::test::allocation_count();
  bool ok = true;
  for (const auto& m : ws) {
    ok &= f.matmul(m.view, x.data(), 1, nullptr, out.data()).ok();
    ok &= f.matmul(m.view, x.data(), 32, w.data(), out.data()).ok();
    ok &= f.matmul(m.view, x.data(), 64, w.data(), out.data()).ok();
    const gpu::backend::matmul_part parts[] = {{&m.view, nullptr, out.data()}, {&m.view, w.data(), out.data() + 64 * 64}};
    ok &= f.matmul_parts(parts, 2, x.data(), 1).ok();
    ok &= f.matmul_parts(parts, 2, x.data(), 64).ok();
  }
  f.rmsnorm(x.data(), w.data(), 32, 4096, 1e-5f, out.data());
  f.swiglu(x.data(), x.data(), 32 * 4096, out.data());
  f.softmax(out.data(), 32, 4096);
  ok &= f.rope(q.data(), 32, 16, 128, pos.data(), {gpu::rope_mode::neox, 128, 1e4f, 1}).ok();
  ok &= f.kv_store(cache, s, 0, 32, x.data(), x.data()).ok();
  ok &= f.attention(q.data(), cache, s, 0, 32, out.data()).ok();
  ok &= f.attention(q.data(), cache, s, 32, 1, out.data()).ok();
  const long after = holo::test::allocation_count();
  BOOST_TEST(ok);
  BOOST_TEST(after == before);
  BOOST_TEST(f.scratch_id() == scratch);
  // The counter works: an allocation is seen.
  auto probe = std::make_unique<int>(1);
  BOOST_TEST(holo::test::allocation_count() > after);
}
