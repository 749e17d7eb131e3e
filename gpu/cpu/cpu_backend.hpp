// cpu_backend: the fast CPU implementation of gpu/backend.hpp. AVX2/FMA/F16C kernels (scalar
// fallbacks on other CPUs), a persistent thread pool of `threads` compute threads (the caller's
// included), and scratch sized once by reserve(): after reserve(), no op allocates.
//
// Numerics against cpu_reference_backend: float-weight matmuls and the element-wise ops agree to
// f32 rounding; quantized matmuls quantize the activation row to Q8_0/Q8_K first (as llama.cpp does),
// adding a relative error of order 1e-3 (see gpu/cpu/cpu_backend.test.cpp for the bounds).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "gpu/backend.hpp"
#include "gpu/cpu/thread_pool.hpp"

namespace holo::gpu {

class cpu_backend final : public backend {
 public:
  // threads >= 1; the pool starts here and stops in the destructor.
  explicit cpu_backend(int threads);

  std::string_view name() const override { return "cpu"; }
  int thread_count() const override { return pool_.size(); }
  status reserve(const backend_limits& limits) override;

  status get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n, float* out) override;
  status matmul(const tensor_view& w, const float* x, std::int64_t n, const float* bias, float* out) override;
  status matmul_parts(const matmul_part* parts, std::size_t count, const float* x, std::int64_t n) override;
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

  // Scratch base addresses, for tests that check reserve() is the only allocation.
  const void* scratch_id() const { return act_scratch_.data(); }

 private:
  cpu::thread_pool pool_;
  backend_limits limits_;
  std::vector<std::byte> act_scratch_;  // quantized activations (matmul); transposed keys (attention)
  std::vector<float> scores_;           // threads x ctx_max attention scores
  std::int64_t keys_stride_ = 0;        // floats per thread of the transposed keys in act_scratch_
  std::vector<float> trig_;             // tokens_max x head_dim_max rope cos/sin
};

}  // namespace holo::gpu
