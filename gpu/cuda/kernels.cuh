// Launchers of the CUDA kernels (gpu/cuda/kernels_*.cu), called by cuda_backend.cu on its stream.
// Arguments are checked by the backend before a launch (gpu/backend.cpp check_*); pointers are
// device pointers; shapes as in gpu/backend.hpp. Each launcher only queues work: errors surface
// through cudaGetLastError / the stream.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/backend.hpp"
#include "gpu/tensor_type.hpp"

namespace holo::gpu::cuda {

// The largest head size the attention kernel handles (each thread keeps head_dim/128 accumulators).
inline constexpr int attention_head_dim_max = 256;

// out (n, rows) = x (n, cols) @ W^T (+ bias): W (rows, cols) of `type`, rows `row_bytes` apart.
void matmul(tensor_type type, const void* w, std::size_t row_bytes, std::int64_t rows, std::int64_t cols,
            const float* x, std::int64_t n, const float* bias, float* out, cudaStream_t s);
// ids (n,) on the device -> out (n, cols): rows of a table of any supported type.
void get_rows(tensor_type type, const void* table, std::size_t row_bytes, std::int64_t cols,
              const std::int32_t* ids, std::int64_t n, float* out, cudaStream_t s);

void rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim, float eps, float* out,
             cudaStream_t s);
void add(const float* a, const float* b, std::int64_t count, float* out, cudaStream_t s);
void swiglu(const float* gate, const float* up, std::int64_t count, float* out, cudaStream_t s);
void scale(float* x, std::int64_t count, float factor, cudaStream_t s);
void softmax(float* x, std::int64_t n, std::int64_t dim, cudaStream_t s);
// positions (n_tokens,) on the device.
void rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
          const std::int32_t* positions, const rope_params& p, cudaStream_t s);
// pos0_dev: when not null, the kernels read pos0 from this device int instead (recorded decode
// steps, whose position changes from one replay to the next).
void kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0, const std::int32_t* pos0_dev,
              std::int64_t n_tokens, const float* k, const float* v, cudaStream_t s);
void attention(const float* q, const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
               const std::int32_t* pos0_dev, std::int64_t n_tokens, float* out, cudaStream_t s);

}  // namespace holo::gpu::cuda
