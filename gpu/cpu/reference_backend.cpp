#include "gpu/cpu/reference_backend.hpp"

#include "gpu/cpu/ops_ref.hpp"

namespace holo::gpu {

status cpu_reference_backend::reserve(const backend_limits& limits) {
  HOLO_TRY(check_limits(limits));
  limits_ = limits;
  return {};
}

status cpu_reference_backend::get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n,
                                       float* out) {
  HOLO_TRY(check_get_rows(table, ids, n));
  ref::get_rows(table, ids, n, out);
  return {};
}

status cpu_reference_backend::matmul(const tensor_view& w, const float* x, std::int64_t n, const float* bias,
                                     float* out) {
  HOLO_TRY(check_matmul(w, n, limits_));
  ref::matmul(w, x, n, bias, out);
  return {};
}

status cpu_reference_backend::rope(float* x, std::int64_t n_tokens, std::int32_t n_heads,
                                   std::int32_t head_dim, const std::int32_t* positions,
                                   const rope_params& p) {
  HOLO_TRY(check_rope(n_tokens, n_heads, head_dim, p, limits_));
  ref::rope(x, n_tokens, n_heads, head_dim, positions, p);
  return {};
}

status cpu_reference_backend::kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                                       std::int64_t n_tokens, const float* k, const float* v) {
  HOLO_TRY(check_kv_store(cache, shape, pos0, n_tokens));
  ref::kv_store(cache, shape, pos0, n_tokens, k, v);
  return {};
}

status cpu_reference_backend::attention(const float* q, const kv_layer& cache, const attention_shape& shape,
                                        std::int64_t pos0, std::int64_t n_tokens, float* out) {
  HOLO_TRY(check_attention(cache, shape, pos0, n_tokens, limits_));
  ref::attention(q, cache, shape, pos0, n_tokens, out);
  return {};
}

void cpu_reference_backend::rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim,
                                    float eps, float* out) {
  ref::rmsnorm(x, weight, n, dim, eps, out);
}
void cpu_reference_backend::add(const float* a, const float* b, std::int64_t count, float* out) {
  ref::add(a, b, count, out);
}
void cpu_reference_backend::swiglu(const float* gate, const float* up, std::int64_t count, float* out) {
  ref::swiglu(gate, up, count, out);
}
void cpu_reference_backend::scale(float* x, std::int64_t count, float s) { ref::scale(x, count, s); }
void cpu_reference_backend::softmax(float* x, std::int64_t n, std::int64_t dim) { ref::softmax(x, n, dim); }

}  // namespace holo::gpu
