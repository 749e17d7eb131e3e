#include "gpu/cpu/cpu_backend.hpp"

#include <algorithm>
#include <cstdint>
#include <new>

#include "gpu/cpu/attention.hpp"
#include "gpu/cpu/matmul.hpp"
#include "gpu/cpu/ops_fast.hpp"
#include "gpu/quant.hpp"

namespace holo::gpu {

cpu_backend::cpu_backend(int threads) : pool_(threads) {}

status cpu_backend::reserve(const backend_limits& limits) {
  HOLO_TRY(check_limits(limits));
  try {
    // Attention's transposed keys share the matmul scratch (no op uses both; the larger decides, and
    // resident memory stays within the file + KV cache + 10% bound), 64 bytes of slack to align them.
    keys_stride_ = static_cast<std::int64_t>(cpu::attention_keys_floats(limits.ctx_max, limits.head_dim_max));
    const auto keys_bytes = static_cast<std::size_t>(pool_.size() * keys_stride_) * sizeof(float) + 64;
    act_scratch_.resize(std::max(cpu::matmul_scratch_bytes(limits.tokens_max, limits.cols_max), keys_bytes));
    scores_.resize(static_cast<std::size_t>(pool_.size() * cpu::attention_query_block * limits.ctx_max));
    trig_.resize(static_cast<std::size_t>(limits.tokens_max * limits.head_dim_max));
  } catch (const std::bad_alloc&) {
    return status::resource_exhausted("cpu backend scratch");
  }
  limits_ = limits;
  return {};
}

status cpu_backend::get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n, float* out) {
  HOLO_TRY(check_get_rows(table, ids, n));
  // One row per token: the reference dequantizers (F16C for halves) are fast enough here.
  for (std::int64_t t = 0; t < n; ++t) {
    HOLO_TRY(dequantize_row(table.type, table.row(ids[t]), out + t * table.cols, table.cols));
  }
  return {};
}

status cpu_backend::matmul(const tensor_view& w, const float* x, std::int64_t n, const float* bias,
                           float* out) {
  HOLO_TRY(check_matmul(w, n, limits_));
  cpu::matmul(pool_, w, x, n, bias, out, act_scratch_.data());
  return {};
}

status cpu_backend::matmul_parts(const matmul_part* parts, std::size_t count, const float* x, std::int64_t n) {
  for (std::size_t i = 0; i < count; ++i) HOLO_TRY(check_matmul(*parts[i].w, n, limits_));
  // The transformer passes three (q, k, v) or two (gate, up); more go in groups (no allocation
  // per token).
  constexpr std::size_t group = 4;
  for (std::size_t i0 = 0; i0 < count; i0 += group) {
    cpu::matmul_part cp[group];
    const std::size_t m = std::min(group, count - i0);
    for (std::size_t i = 0; i < m; ++i) cp[i] = {parts[i0 + i].w, parts[i0 + i].bias, parts[i0 + i].out};
    cpu::matmul_parts(pool_, cp, m, x, n, act_scratch_.data());
  }
  return {};
}

status cpu_backend::rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
                         const std::int32_t* positions, const rope_params& p) {
  HOLO_TRY(check_rope(n_tokens, n_heads, head_dim, p, limits_));
  cpu::rope(pool_, x, n_tokens, n_heads, head_dim, positions, p, trig_.data());
  return {};
}

status cpu_backend::kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                             std::int64_t n_tokens, const float* k, const float* v) {
  HOLO_TRY(check_kv_store(cache, shape, pos0, n_tokens));
  cpu::kv_store(cache, shape, pos0, n_tokens, k, v);
  return {};
}

status cpu_backend::attention(const float* q, const kv_layer& cache, const attention_shape& shape,
                              std::int64_t pos0, std::int64_t n_tokens, float* out) {
  HOLO_TRY(check_attention(cache, shape, pos0, n_tokens, limits_));
  // The transposed keys are read with aligned 512-bit loads: the rows start on a 64-byte boundary
  // (keys_stride_ is a multiple of 16 floats).
  const auto base = reinterpret_cast<std::uintptr_t>(act_scratch_.data());
  auto* keys = reinterpret_cast<float*>((base + 63) & ~std::uintptr_t(63));
  cpu::attention(pool_, q, cache, shape, pos0, n_tokens, out, scores_.data(), limits_.ctx_max, keys, keys_stride_);
  return {};
}

void cpu_backend::rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim, float eps,
                          float* out) {
  cpu::rmsnorm(pool_, x, weight, n, dim, eps, out);
}
void cpu_backend::add(const float* a, const float* b, std::int64_t count, float* out) {
  cpu::add(a, b, count, out);
}
void cpu_backend::swiglu(const float* gate, const float* up, std::int64_t count, float* out) {
  cpu::swiglu(pool_, gate, up, count, out);
}
void cpu_backend::scale(float* x, std::int64_t count, float s) { cpu::scale(x, count, s); }
void cpu_backend::softmax(float* x, std::int64_t n, std::int64_t dim) { cpu::softmax_rows(pool_, x, n, dim); }

}  // namespace holo::gpu
