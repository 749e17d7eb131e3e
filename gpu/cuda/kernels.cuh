// Launchers of the CUDA kernels (gpu/cuda/kernels_*.cu), called by cuda_backend.cu on its stream.
// Arguments are checked by the backend before a launch (gpu/backend.cpp check_*); pointers are
// device pointers; shapes as in gpu/backend.hpp. Each launcher only queues work: errors surface
// through cudaGetLastError / the stream.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "gpu/backend.hpp"
#include "gpu/tensor_type.hpp"

namespace holo::gpu::cuda {

// The largest head size the attention kernel handles (each thread keeps head_dim/128 accumulators).
inline constexpr int attention_head_dim_max = 256;

// ---- launches ----
// Every kernel is queued through launch_kernel on a stream_ref. With programmatic dependent launch
// on (stream_ref::programmatic: compute capability 9.0 and later), a kernel's blocks may be
// scheduled while the kernel before it on the stream is still finishing, which hides most of the
// launch gap between the ~300 small kernels of a decode step. Correctness rests on every kernel
// calling grid_dependency_wait() before it touches global memory: it returns once the kernel
// before has completed and its writes are visible; then it lets the next kernel be scheduled.
// The backend's setting: on unless HOLO_CUDA_PDL=0 or the device is older than Hopper.
struct stream_ref {
  cudaStream_t stream = nullptr;
  bool programmatic = false;
};

template <class... Params, class... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, stream_ref s,
                          Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s.stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = s.programmatic ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

#ifdef __CUDACC__
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
#endif

// out (n, rows) = x (n, cols) @ W^T (+ bias): W (rows, cols) of `type`, rows `row_bytes` apart.
void matmul(tensor_type type, const void* w, std::size_t row_bytes, std::int64_t rows, std::int64_t cols,
            const float* x, std::int64_t n, const float* bias, float* out, stream_ref s);
// ids (n,) on the device -> out (n, cols): rows of a table of any supported type.
void get_rows(tensor_type type, const void* table, std::size_t row_bytes, std::int64_t cols,
              const std::int32_t* ids, std::int64_t n, float* out, stream_ref s);

// Activations rounded to 8 bits for the integer (dp4a) matrix-vector products of the quantized types:
// per block of 32 consecutive values of a row, q = round(x / d) with d = max|x| / 127, and
// {d, d * sum(q)} (the block sum, which the K-quants' minimums multiply). Rows must hold a multiple
// of 32 values; q has one byte per value, d one float2 per block.
struct q8_activations {
  std::int8_t* q = nullptr;
  float2* d = nullptr;
};
inline constexpr int q8_block = 32;
// The widest batch the integer products serve (decode and small batches; prefill takes the tiled
// f32 product).
inline constexpr std::int64_t q8_tokens_max = 8;

// x (count values, count % 32 == 0) -> q8.
void quantize_q8(const float* x, std::int64_t count, q8_activations q8, stream_ref s);
// Whether matmul_q8 serves `type` (the quantized types whose blocks hold 32 or 256 values).
bool matmul_q8_supported(tensor_type type);
// How matmul_q8 spreads a matrix over the device: threads per output row (32, 64 or 128; 0: the
// measured best per type) and, when blocks_per_sm > 0, at most that many blocks per multiprocessor
// (sms of them), looping over rows.
struct q8_launch {
  int threads_per_row = 0;
  int blocks_per_sm = 0;
  int sms = 0;
};
// out (n, rows) = x (n, cols) @ W^T (+ bias), x given by its q8 rounding (n <= q8_tokens_max).
void matmul_q8(tensor_type type, const void* w, std::size_t row_bytes, std::int64_t rows, std::int64_t cols,
               q8_activations x, std::int64_t n, const float* bias, float* out, const q8_launch& cfg,
               stream_ref s);

// Up to mv_parts_max matrices of one type and width on one input, in one launch (a layer's q, k, v;
// gate and up): part i writes out_i (n, rows_i) = x @ W_i^T (+ bias_i). A decode step then launches
// three kernels fewer per layer; each row is computed exactly as by the one-matrix launch.
struct mv_part {
  const void* w = nullptr;
  std::size_t row_bytes = 0;
  std::int64_t rows = 0;
  const float* bias = nullptr;
  float* out = nullptr;
};
inline constexpr int mv_parts_max = 3;
struct mv_parts {
  mv_part p[mv_parts_max];
  int count = 0;
};
// Integer products (n <= q8_tokens_max, matmul_q8_supported(type)).
void matmul_q8_parts(tensor_type type, const mv_parts& parts, std::int64_t cols, q8_activations x, std::int64_t n,
                     const q8_launch& cfg, stream_ref s);
// f32 products on dequantized weights, decode and small batches only (n <= 8).
void matvec_parts(tensor_type type, const mv_parts& parts, std::int64_t cols, const float* x, std::int64_t n,
                  stream_ref s);

// q8 (optional, when q8.q is not null and dim % 32 == 0): also writes out's q8 rounding (fused:
// the next matmul reads it instead of quantizing out again).
void rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim, float eps, float* out,
             q8_activations q8, stream_ref s);
void add(const float* a, const float* b, std::int64_t count, float* out, stream_ref s);
// x (n, dim) += o; out = rmsnorm(x) * weight (and its q8 rounding, as rmsnorm).
void add_rmsnorm(float* x, const float* o, const float* weight, std::int64_t n, std::int64_t dim, float eps,
                 float* out, q8_activations q8, stream_ref s);
void swiglu(const float* gate, const float* up, std::int64_t count, float* out, q8_activations q8, stream_ref s);
void scale(float* x, std::int64_t count, float factor, stream_ref s);
void softmax(float* x, std::int64_t n, std::int64_t dim, stream_ref s);
// positions (n_tokens,) on the device.
// x2 (n_tokens, n_heads2, head_dim) too when not null (one launch for q and k).
void rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
          const std::int32_t* positions, const rope_params& p, stream_ref s, float* x2 = nullptr,
          std::int32_t n_heads2 = 0);
// pos0_dev: when not null, the kernels read pos0 from this device int instead (recorded decode
// steps, whose position changes from one replay to the next).
void kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0, const std::int32_t* pos0_dev,
              std::int64_t n_tokens, const float* k, const float* v, stream_ref s);
// rope on q (n_tokens, n_head, head_dim) in place, and k roped and v stored as positions pos0.. of
// the cache (k itself unchanged): rope + kv_store in one launch.
void rope_store(float* q, const float* k, const float* v, std::int64_t n_tokens, const std::int32_t* positions,
                const rope_params& p, const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                const std::int32_t* pos0_dev, stream_ref s);
// q8 (optional, as rmsnorm): also writes out's q8 rounding, for the output projection.
void attention(const float* q, const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
               const std::int32_t* pos0_dev, std::int64_t n_tokens, float* out, q8_activations q8, stream_ref s);

}  // namespace holo::gpu::cuda
