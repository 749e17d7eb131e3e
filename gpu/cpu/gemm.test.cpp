// The tiled prefill kernels (gemm.cpp) held against the row dot products they replace, pair by pair,
// for every weight type and shapes that leave edge tiles in both directions (rows and tokens not a
// multiple of the tile) and cross a token chunk; then the backend's matmul against the reference
// for such a shape with 1..4 threads. Bounds: the tile sums the same block products as vec_dot in
// another order (f32 rounding only): 1e-5 of the pair's magnitude sum |w||x|; the backend check
// uses cpu_backend.test.cpp's bounds (Q8 activation rounding, 2e-2 for quantized types).
#define BOOST_TEST_MODULE gemm
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <memory>

#include "gpu/cpu/cpu_backend.hpp"
#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/reference_backend.hpp"
#include "gpu/cpu/test_util.hpp"
#include "gpu/f16.hpp"

namespace gpu = holo::gpu;
using gpu::tensor_type;
using gpu::test::make_weights;
using gpu::test::norm_error;
using gpu::test::random_floats;

namespace {

constexpr tensor_type all_types[] = {tensor_type::f32,  tensor_type::f16,  tensor_type::bf16,
                                     tensor_type::q8_0, tensor_type::q4_0, tensor_type::q4_k,
                                     tensor_type::q5_k, tensor_type::q6_k};

}  // namespace

BOOST_AUTO_TEST_CASE(gemm_equals_vec_dot_per_pair) {
  struct shape {
    std::int64_t rows, cols, n;
  };
  // 4096 columns x 190 tokens crosses the token chunks of every kernel (AMX: 176 tokens); row
  // counts leave every kernel level its edge (16-row, 8-row and register tiles).
  // {53, 768, 41}: enough tokens for the packed float kernel (a 32-row panel, a 16-row one with 5
  // rows, 3 walks of 12 tokens and one of 5, 3 column blocks).
  BOOST_TEST_MESSAGE("AMX kernels for Q8_0/Q4_0/Q4_K/Q5_K: " << (gpu::cpu::amx_ready() ? "on" : "off (no AMX, or HOLO_CPU_AMX=0)"));
  const shape shapes[] = {{1, 256, 2},      {5, 512, 13},  {7, 256, 5},  {33, 1024, 3},
                          {17, 4096, 190},  {10, 256, 7},  {24, 512, 19}, {53, 768, 41}};
  for (tensor_type t : all_types) {
    const gpu::cpu::gemm_fn gemm = gpu::cpu::gemm_for(t);
    if (gemm == nullptr) continue;  // scalar build: matmul uses vec_dot only
    const tensor_type act = gpu::cpu::activation_type(t);
    const gpu::cpu::vec_dot_fn dot = gpu::cpu::vec_dot_for(t);
    for (const shape& s : shapes) {
      const auto w = make_weights(t, s.rows, s.cols, unsigned(s.rows * 7 + s.cols + unsigned(t)));
      const auto x = random_floats(static_cast<std::size_t>(s.n * s.cols), unsigned(s.n + 3));
      const std::size_t xs = act == tensor_type::f32 ? s.cols * sizeof(float) : gpu::row_bytes(act, s.cols);
      std::vector<std::byte> xa(xs * s.n);
      for (std::int64_t i = 0; i < s.n; ++i) {
        if (act == tensor_type::f32) {
          std::memcpy(xa.data() + i * xs, x.data() + i * s.cols, xs);
        } else {
          gpu::cpu::quantize_activation(act, x.data() + i * s.cols, xa.data() + i * xs, s.cols);
        }
      }
      std::vector<std::byte> xo;  // the offset copy, for the kernels that read one
      if (gpu::cpu::gemm_wants_offset(t)) {
        BOOST_REQUIRE(act == tensor_type::q8_0);
        xo.resize(xa.size());
        gpu::cpu::offset_q8_0(xa.data(), xo.data(), s.n * (s.cols / gpu::qk8_0));
      }
      std::vector<float> got(s.n * s.rows, -1.0f);
      gemm(static_cast<const std::byte*>(w.view.data), w.view.row_size(), s.rows, xa.data(),
           xo.empty() ? nullptr : xo.data(), xs, s.n, s.cols, got.data(), s.rows);
      std::vector<float> wd(s.cols);
      for (std::int64_t r = 0; r < s.rows; ++r) {
        BOOST_REQUIRE(gpu::dequantize_row(t, w.view.row(r), wd.data(), s.cols).ok());
        for (std::int64_t i = 0; i < s.n; ++i) {
          double mag = 0.0;  // sum |w||x|: the scale of the rounding error
          for (std::int64_t k = 0; k < s.cols; ++k) mag += std::fabs(wd[k] * x[i * s.cols + k]);
          const double want = dot(w.view.row(r), xa.data() + i * xs, s.cols);
          BOOST_TEST(std::fabs(got[i * s.rows + r] - want) / mag < 1e-5,
                     gpu::traits(t).name << " " << s.rows << "x" << s.cols << " n=" << s.n << " r=" << r
                                         << " t=" << i);
        }
      }
    }
  }
}

// The AMX-BF16 kernels (gemm_bf16.cpp) against sums in double of exactly what they multiply: each
// dequantized weight and each activation rounded to bf16 (gpu/f16.hpp's round-to-nearest-even).
// What is left is f32 accumulation: 1e-5 of the pair's |w||x| sum. Shapes leave partial row groups
// (5, 33, 70 rows: 16 and 32), partial token groups (17, 45), several column panels (of at most
// 1024 columns), several token chunks (300 tokens); out is wider than the rows (ldo) and what lies
// beyond must stay untouched.
BOOST_AUTO_TEST_CASE(gemm_bf16_equals_bf16_rounded_sums) {
  const tensor_type types[] = {tensor_type::q8_0, tensor_type::q4_0, tensor_type::q4_k, tensor_type::q5_k,
                               tensor_type::q6_k};
  bool any = false;
  for (tensor_type t : types) {
    const gpu::cpu::gemm_bf16_fn gemm = gpu::cpu::gemm_bf16_for(t);
    if (gemm == nullptr) continue;
    any = true;
    struct shape {
      std::int64_t rows, cols, n;
    };
    const std::int64_t k = t == tensor_type::q8_0 || t == tensor_type::q4_0 ? 32 : 256;  // block
    // {20, 1280, 300}: more tokens than one chunk (256), each chunk's sums carried over 2 panels.
    const shape shapes[] = {{5, 8 * k, 16}, {33, 4128 / k * k + k, 17}, {70, 9216, 45}, {16, 2 * k, 64}, {1, k, 32},
                            {20, 1280, 300}};
    for (const shape& s : shapes) {
      const auto w = make_weights(t, s.rows, s.cols, unsigned(s.rows * 5 + s.cols + unsigned(t)));
      const auto x = random_floats(static_cast<std::size_t>(s.n * s.cols), unsigned(s.n + 1));
      const std::int64_t padded = (s.n + 15) / 16 * 16, ldo = s.rows + 3;
      std::vector<std::uint16_t> xb(static_cast<std::size_t>(padded * s.cols), 0xffff);
      gpu::cpu::pack_bf16_rows(x.data(), 0, padded, s.n, s.cols, xb.data());
      std::vector<float> got(static_cast<std::size_t>(s.n * ldo), -7.0f);
      gemm(static_cast<const std::byte*>(w.view.data), w.view.row_size(), s.rows, xb.data(), s.n, s.cols, got.data(), ldo);
      std::vector<float> wd(s.cols);
      for (std::int64_t r = 0; r < s.rows; ++r) {
        BOOST_REQUIRE(gpu::dequantize_row(t, w.view.row(r), wd.data(), s.cols).ok());
        for (float& v : wd) v = gpu::bf16_to_f32(gpu::f32_to_bf16(v));
        for (std::int64_t i = 0; i < s.n; ++i) {
          double want = 0.0, mag = 0.0;
          for (std::int64_t c = 0; c < s.cols; ++c) {
            const double xv = gpu::bf16_to_f32(gpu::f32_to_bf16(x[i * s.cols + c]));
            want += wd[c] * xv, mag += std::fabs(wd[c] * xv);
          }
          BOOST_TEST(std::fabs(got[i * ldo + r] - want) / mag < 1e-5,
                     gpu::traits(t).name << " " << s.rows << "x" << s.cols << " n=" << s.n << " r=" << r << " t=" << i);
        }
      }
      for (std::int64_t i = 0; i < s.n; ++i)
        for (std::int64_t r = s.rows; r < ldo; ++r) BOOST_TEST(got[i * ldo + r] == -7.0f);
    }
  }
  BOOST_TEST_MESSAGE("AMX-BF16 prefill kernels: " << (any ? "tested" : "none here (no AMX-BF16, or HOLO_CPU_AMX=0)"));
}

// Float weights take any column count: the packed kernel's last column block is partial and its
// columns not a multiple of its 8-column transposes (1000 = 3 x 256 + 232, 300 = 256 + 44, 37).
BOOST_AUTO_TEST_CASE(gemm_float_any_columns) {
  for (tensor_type t : {tensor_type::f32, tensor_type::f16, tensor_type::bf16}) {
    const gpu::cpu::gemm_fn gemm = gpu::cpu::gemm_for(t);
    if (gemm == nullptr) continue;  // scalar build
    for (std::int64_t cols : {1000, 300, 37}) {
      const std::int64_t rows = 40, n = 45;
      const auto w = make_weights(t, rows, cols, unsigned(cols) + unsigned(t));
      const auto x = random_floats(static_cast<std::size_t>(n * cols), 17);
      std::vector<float> got(n * rows, -1.0f), wd(cols);
      gemm(static_cast<const std::byte*>(w.view.data), w.view.row_size(), rows,
           reinterpret_cast<const std::byte*>(x.data()), nullptr, cols * sizeof(float), n, cols, got.data(), rows);
      for (std::int64_t r = 0; r < rows; ++r) {
        BOOST_REQUIRE(gpu::dequantize_row(t, w.view.row(r), wd.data(), cols).ok());
        for (std::int64_t i = 0; i < n; ++i) {
          double want = 0.0, mag = 0.0;
          for (std::int64_t k = 0; k < cols; ++k) {
            want += double(wd[k]) * x[i * cols + k];
            mag += std::fabs(double(wd[k]) * x[i * cols + k]);
          }
          BOOST_TEST(std::fabs(got[i * rows + r] - want) / mag < 1e-5,
                     gpu::traits(t).name << " cols=" << cols << " r=" << r << " t=" << i);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(matmul_odd_tiles_threads) {
  const gpu::backend_limits limits{32, 4096, 64, 16, 128};
  gpu::cpu_reference_backend ref;
  BOOST_REQUIRE(ref.reserve(limits).ok());
  const std::int64_t rows = 37, cols = 512, n = 13;
  for (tensor_type t : all_types) {
    const auto w = make_weights(t, rows, cols, 91 + unsigned(t));
    const auto bias = random_floats(rows, 5);
    const auto x = random_floats(n * cols, 13);
    std::vector<float> want(n * rows), got(n * rows);
    BOOST_REQUIRE(ref.matmul(w.view, x.data(), n, bias.data(), want.data()).ok());
    for (int threads = 1; threads <= 4; ++threads) {
      gpu::cpu_backend fast(threads);
      BOOST_REQUIRE(fast.reserve(limits).ok());
      BOOST_REQUIRE(fast.matmul(w.view, x.data(), n, bias.data(), got.data()).ok());
      const double bound = gpu::cpu::activation_type(t) != tensor_type::f32 ? 2e-2 : 1e-5;
      BOOST_TEST(norm_error(got, want) < bound, gpu::traits(t).name << " threads=" << threads);
    }
  }
}

BOOST_AUTO_TEST_CASE(quantize_activation_equals_reference) {
  const std::int64_t cols = 1024;
  auto x = random_floats(cols, 21, 3.0f);
  for (std::int64_t i = 0; i < 32; ++i) x[i] = 0.0f;  // an all-zero block: d = 0
  x[300] = 1e4f;                                     // an outlier block
  for (tensor_type act : {tensor_type::q8_0, tensor_type::q8_k}) {
    std::vector<std::byte> got(gpu::row_bytes(act, cols)), want(got.size());
    gpu::cpu::quantize_activation(act, x.data(), got.data(), cols);
    BOOST_REQUIRE(gpu::quantize_row(act, x.data(), want.data(), cols).ok());
    BOOST_TEST(std::memcmp(got.data(), want.data(), got.size()) == 0, gpu::traits(act).name);
  }
}
