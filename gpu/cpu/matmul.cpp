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
  // The bf16 rows of gemm_bf16_for's kernels (only for calls of gemm_bf16_tokens_min tokens or
  // more): 2 bytes a column, tokens padded to a multiple of 16.
  const std::size_t bf16_rows = tokens_max < gemm_bf16_tokens_min
                                    ? 0
                                    : static_cast<std::size_t>((tokens_max + 15) / 16 * 16) *
                                          static_cast<std::size_t>(cols_max) * 2;
  return std::max(2 * static_cast<std::size_t>(tokens_max) * blocks * sizeof(block_q8_k), bf16_rows);
}

namespace {

// One call's activations in the format its kernel reads, prepared once: shared by every weight
// matrix of the same type and width on the same input (matmul_parts).
struct prepared {
  gemm_bf16_fn bf16 = nullptr;  // AMX-BF16 prefill: xb is pack_bf16_rows' tiles
  gemm_fn gemm = nullptr;       // tiled prefill: xb (and xo) as gemm_fn reads them
  vec_dot_fn dot = nullptr;     // otherwise one dot per (row, token): xb rows xa_row apart
  const std::byte* xb = nullptr;
  const std::byte* xo = nullptr;
  std::size_t xa_row = 0;
  std::int64_t grain = rows_grain;
};

prepared prepare(thread_pool& pool, tensor_type type, std::int64_t cols, const float* x, std::int64_t n,
                 std::byte* scratch) {
  prepared p;
  if (n >= gemm_bf16_tokens_min) p.bf16 = gemm_bf16_for(type);
  if (p.bf16 != nullptr) {
    auto* xb = reinterpret_cast<std::uint16_t*>(scratch);
    pool.parallel_for((n + 15) / 16 * 16, 16, [&](std::int64_t t0, std::int64_t t1, int) {
      pack_bf16_rows(x, t0, t1, n, cols, xb);
    });
    p.xb = scratch;
    p.grain = 32;  // the kernel's weight panels
    return p;
  }
  const tensor_type act = activation_type(type);
  // Decode with Q8_0 weights: the activation scales as floats after the blocks (dot.hpp).
  const bool q8_0_decode = n == 1 && type == tensor_type::q8_0;
  p.dot = q8_0_decode ? vec_dot_q8_0_q8_0_decode : vec_dot_for(type);
  // x (n, cols) f32 -> act (n, cols) in scratch, one row per thread range; float weights read x.
  p.xb = reinterpret_cast<const std::byte*>(x);
  p.xa_row = static_cast<std::size_t>(cols) * sizeof(float);
  if (act != tensor_type::f32) {
    p.xa_row = row_bytes(act, static_cast<std::size_t>(cols));
    if (n == 1) {
      quantize_activation(act, x, scratch, cols);
      if (q8_0_decode) append_scales_q8_0(scratch, cols);
    } else {
      pool.parallel_for(n, 1, [&](std::int64_t t0, std::int64_t t1, int) {
        for (std::int64_t t = t0; t < t1; ++t) quantize_activation(act, x + t * cols, scratch + t * p.xa_row, cols);
      });
    }
    p.xb = scratch;
  }
  if (n > 1) p.gemm = gemm_for(type);
  if (p.gemm != nullptr && gemm_wants_offset(type)) {
    // The offset copy some kernels read goes right after the activations (act is Q8_0 then).
    std::byte* o = scratch + static_cast<std::size_t>(n) * p.xa_row;
    const std::int64_t blocks_per_row = cols / qk8_0;
    pool.parallel_for(n, 8, [&](std::int64_t t0, std::int64_t t1, int) {
      offset_q8_0(p.xb + t0 * p.xa_row, o + t0 * p.xa_row, (t1 - t0) * blocks_per_row);
    });
    p.xo = o;
  }
  return p;
}

// Rows r0 .. r1-1 of out (n, w.rows) = xa (n, cols) @ W^T + bias.
void rows(const prepared& p, const tensor_view& w, std::int64_t n, const float* bias, float* out, std::int64_t r0,
          std::int64_t r1) {
  const auto* wb = static_cast<const std::byte*>(w.data);
  const std::size_t ws = w.row_size();
  if (p.bf16 != nullptr || p.gemm != nullptr) {
    // A sequence of register or tile blocks (several weight rows x several tokens): gemm*.cpp.
    if (p.bf16 != nullptr) {
      p.bf16(wb + static_cast<std::size_t>(r0) * ws, ws, r1 - r0, reinterpret_cast<const std::uint16_t*>(p.xb), n,
             w.cols, out + r0, w.rows);
    } else {
      p.gemm(wb + static_cast<std::size_t>(r0) * ws, ws, r1 - r0, p.xb, p.xo, p.xa_row, n, w.cols, out + r0, w.rows);
    }
    if (bias == nullptr) return;
    for (std::int64_t t = 0; t < n; ++t)
      for (std::int64_t r = r0; r < r1; ++r) out[t * w.rows + r] += bias[r];
    return;
  }
  // For each weight row, every activation row (the row stays in L1 across the n dots).
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::byte* wr = wb + static_cast<std::size_t>(r) * ws;  // w.row(r) without its size check
    const float b = bias != nullptr ? bias[r] : 0.0f;
    for (std::int64_t t = 0; t < n; ++t) out[t * w.rows + r] = p.dot(wr, p.xb + t * p.xa_row, w.cols) + b;
  }
}

}  // namespace

void matmul(thread_pool& pool, const tensor_view& w, const float* x, std::int64_t n, const float* bias,
            float* out, std::byte* scratch) {
  const prepared p = prepare(pool, w.type, w.cols, x, n, scratch);
  pool.parallel_for(w.rows, p.grain, [&](std::int64_t r0, std::int64_t r1, int) { rows(p, w, n, bias, out, r0, r1); });
}

void matmul_parts(thread_pool& pool, const matmul_part* parts, std::size_t count, const float* x, std::int64_t n,
                  std::byte* scratch) {
  const bool shared = std::all_of(parts, parts + count, [&](const matmul_part& m) {
    return m.w->type == parts[0].w->type && m.w->cols == parts[0].w->cols;
  });
  if (count == 0 || !shared) {
    for (std::size_t i = 0; i < count; ++i) matmul(pool, *parts[i].w, x, n, parts[i].bias, parts[i].out, scratch);
    return;
  }
  // One preparation and one partition over the parts' rows end to end: a decode step's q, k and v
  // are one fork and join instead of three (each a wait for the slowest thread).
  const prepared p = prepare(pool, parts[0].w->type, parts[0].w->cols, x, n, scratch);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < count; ++i) total += parts[i].w->rows;
  pool.parallel_for(total, p.grain, [&](std::int64_t b, std::int64_t e, int) {
    std::int64_t off = 0;
    for (std::size_t i = 0; i < count && off < e; off += parts[i].w->rows, ++i) {
      const std::int64_t r0 = std::max(b, off) - off, r1 = std::min(e, off + parts[i].w->rows) - off;
      if (r0 < r1) rows(p, *parts[i].w, n, parts[i].bias, parts[i].out, r0, r1);
    }
  });
}

}  // namespace holo::gpu::cpu
