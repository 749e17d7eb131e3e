// cpu_reference_backend: the backend interface over gpu/cpu/ops_ref.hpp. Single-threaded, checks
// every argument like the fast backends do, allocates freely (it is the ground truth for tests and a
// debugging aid: swap it in to tell a kernel bug from a model bug).
#pragma once

#include "gpu/backend.hpp"

namespace holo::gpu {

class cpu_reference_backend final : public backend {
 public:
  std::string_view name() const override { return "cpu-reference"; }
  int thread_count() const override { return 1; }
  status reserve(const backend_limits& limits) override;

  status get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n, float* out) override;
  status matmul(const tensor_view& w, const float* x, std::int64_t n, const float* bias, float* out) override;
  status rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
              const std::int32_t* positions, const rope_params& p) override;
  status kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                  std::int64_t n_tokens, const float* k, const float* v) override;
  status attention(const float* q, const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                   std::int64_t n_tokens, float* out) override;

  void rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim, float eps,
               float* out) override;
  void add(const float* a, const float* b, std::int64_t count, float* out) override;
  void swiglu(const float* gate, const float* up, std::int64_t count, float* out) override;
  void scale(float* x, std::int64_t count, float s) override;
  void softmax(float* x, std::int64_t n, std::int64_t dim) override;

 private:
  backend_limits limits_;
};

}  // namespace holo::gpu
