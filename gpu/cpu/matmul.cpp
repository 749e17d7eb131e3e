#include "gpu/cpu/matmul.hpp"

#include <algorithm>

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/thread_pool.hpp"

namespace holo::gpu::cpu {
namespace {

// Rows per unit of the static partition: keeps each thread's output range a few cache lines wide.
constexpr std::int64_t rows_grain = 16;

}  // namespace

std::size_t matmul_scratch_bytes(std::int64_t tokens_max, std::int64_t cols_max) {
  // Q8_K is the widest activation format (292 bytes per 256); Q8_0 needs 272 per 256, twice that
  // where the prefill kernel also reads an offset copy (gemm_wants_offset): 544 < 2 * 292.
  const auto blocks = static_cast<std::size_t>((cols_max + qk_k - 1) / qk_k);
  // The bf16 rows of gemm_bf16_for's kernels: 2 bytes a column, tokens padded to a multiple of 16.
  const auto bf16_rows = static_cast<std::size_t>((tokens_max + 15) / 16 * 16) * static_cast<std::size_t>(cols_max) * 2;
  return std::max(2 * static_cast<std::size_t>(tokens_max) * blocks * sizeof(block_q8_k), bf16_rows);
}

void matmul(thread_pool& pool, const tensor_view& w, const float* x, std::int64_t n, const float* bias,
            float* out, std::byte* scratch) {
  const auto* wb = static_cast<const std::byte*>(w.data);
  const std::size_t ws = w.row_size();
  if (const gemm_bf16_fn g = n >= gemm_bf16_tokens_min ? gemm_bf16_for(w.type) : nullptr; g != nullptr) {
    auto* xb = reinterpret_cast<std::uint16_t*>(scratch);
    pool.parallel_for((n + 15) / 16 * 16, 16, [&](std::int64_t t0, std::int64_t t1, int) {
      pack_bf16_rows(x, t0, t1, n, w.cols, xb);
    });
    // Thread ranges of 32 rows: the kernel's weight panels.
    pool.parallel_for(w.rows, 32, [&](std::int64_t r0, std::int64_t r1, int) {
      g(wb + static_cast<std::size_t>(r0) * ws, ws, r1 - r0, xb, n, w.cols, out + r0, w.rows);
      if (bias == nullptr) return;
      for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t r = r0; r < r1; ++r) out[t * w.rows + r] += bias[r];
    });
    return;
  }
  const tensor_type act = activation_type(w.type);
  // Decode with Q8_0 weights: the activation scales as floats after the blocks (dot.hpp).
  const bool q8_0_decode = n == 1 && w.type == tensor_type::q8_0;
  const vec_dot_fn dot = q8_0_decode ? vec_dot_q8_0_q8_0_decode : vec_dot_for(w.type);
  // x (n, cols) f32 -> act (n, cols) in scratch, one row per thread range; float weights read x.
  const void* xa = x;
  std::size_t xa_row = static_cast<std::size_t>(w.cols) * sizeof(float);
  if (act != tensor_type::f32) {
    xa_row = row_bytes(act, static_cast<std::size_t>(w.cols));
    if (n == 1) {
      quantize_activation(act, x, scratch, w.cols);
      if (q8_0_decode) append_scales_q8_0(scratch, w.cols);
    } else {
      pool.parallel_for(n, 1, [&](std::int64_t t0, std::int64_t t1, int) {
        for (std::int64_t t = t0; t < t1; ++t)
          quantize_activation(act, x + t * w.cols, scratch + t * xa_row, w.cols);
      });
    }
    xa = scratch;
  }
  const auto* xb = static_cast<const std::byte*>(xa);
  const gemm_fn gemm = n > 1 ? gemm_for(w.type) : nullptr;
  if (gemm != nullptr) {
    // The offset copy some kernels read goes right after the activations (act is Q8_0 then).
    const std::byte* xo = nullptr;
    if (gemm_wants_offset(w.type)) {
      std::byte* o = scratch + static_cast<std::size_t>(n) * xa_row;
      const std::int64_t blocks_per_row = w.cols / qk8_0;
      pool.parallel_for(n, 8, [&](std::int64_t t0, std::int64_t t1, int) {
        offset_q8_0(xb + t0 * xa_row, o + t0 * xa_row, (t1 - t0) * blocks_per_row);
      });
      xo = o;
    }
    // W (rows, cols) @ xa (n, cols)^T -> out (n, rows): thread ranges over rows, each range a
    // sequence of register tiles (several weight rows x several tokens, gemm.cpp).
    pool.parallel_for(w.rows, rows_grain, [&](std::int64_t r0, std::int64_t r1, int) {
      gemm(wb + static_cast<std::size_t>(r0) * ws, ws, r1 - r0, xb, xo, xa_row, n, w.cols, out + r0, w.rows);
      if (bias == nullptr) return;
      for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t r = r0; r < r1; ++r) out[t * w.rows + r] += bias[r];
    });
    return;
  }
  // W (rows, cols) @ xa (n, cols)^T -> out (n, rows): thread ranges over rows; for each weight row,
  // every activation row (the row stays in L1 across the n dots).
  pool.parallel_for(w.rows, rows_grain, [&](std::int64_t r0, std::int64_t r1, int) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const void* wr = w.row(r);
      const float b = bias != nullptr ? bias[r] : 0.0f;
      for (std::int64_t t = 0; t < n; ++t) out[t * w.rows + r] = dot(wr, xb + t * xa_row, w.cols) + b;
    }
  });
}

}  // namespace holo::gpu::cpu
