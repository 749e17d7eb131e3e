// Reference implementations of every backend op (gpu/backend.hpp): plain loops with shape comments,
// weights dequantized with gpu/quant.hpp, all arithmetic in f32 (sums in double where it keeps the
// reference clearly above the fast kernels' error). Obviously correct, not fast; the fast CPU and CUDA
// kernels are tested against these.
//
// Pure functions on caller-owned memory; arguments are assumed checked (gpu/backend.hpp check_*).
// matmul and get_rows allocate a row of scratch per call: this is the reference, not the hot path.
#pragma once

#include <cstdint>

#include "gpu/backend.hpp"

namespace holo::gpu::ref {

// ids (n,) -> out (n, table.cols)
void get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n, float* out);
// W (rows, cols) @ x (n, cols)^T (+ bias (rows,)) -> out (n, rows)
void matmul(const tensor_view& w, const float* x, std::int64_t n, const float* bias, float* out);
// x (n, dim) -> out (n, dim)
void rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim, float eps, float* out);
void add(const float* a, const float* b, std::int64_t count, float* out);
void swiglu(const float* gate, const float* up, std::int64_t count, float* out);
void scale(float* x, std::int64_t count, float s);
// x (n, dim) in place
void softmax(float* x, std::int64_t n, std::int64_t dim);
// x (n_tokens, n_heads, head_dim) in place
void rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
          const std::int32_t* positions, const rope_params& p);
// k, v (n_tokens, n_head_kv * head_dim) -> cache rows pos0 .. pos0+n_tokens-1
void kv_store(const kv_layer& cache, const attention_shape& s, std::int64_t pos0, std::int64_t n_tokens,
              const float* k, const float* v);
// q (n_tokens, n_head * head_dim) -> out (n_tokens, n_head * head_dim)
void attention(const float* q, const kv_layer& cache, const attention_shape& s, std::int64_t pos0,
               std::int64_t n_tokens, float* out);

// The rotation angle of pair i (0 <= i < n_rot/2) at `pos` (llama.cpp's convention).
double rope_theta(std::int32_t pos, std::int32_t i, const rope_params& p);

}  // namespace holo::gpu::ref
