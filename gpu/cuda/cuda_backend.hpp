// The CUDA backend of gpu/backend.hpp: every op of the forward pass as CUDA kernels, on one device.
//
// Memory: allocate() is device memory (cudaMalloc), so the forward pass (gpu/arch/transformer.hpp)
// keeps its activations and KV cache on the device and moves only token ids, positions and the last
// token's logits across PCIe. Weights are uploaded once (upload_weight, called by model::load with
// progress) and found again by the host pointer of their tensor_view, so the ops keep taking
// tensor_views and norm/bias pointers of the mapping exactly as on the CPU.
//
// Kernels (gpu/cuda/kernels.cuh): a dequantizing matrix-vector product per weight type, one warp
// per output row, reading each weight once for up to 8 tokens (decode reads it once per token, no
// dequantized copy of the weights anywhere); attention with an online softmax over tiles of the F16
// cache (no scratch proportional to the context); RMSNorm, RoPE (normal and NeoX), SwiGLU, residual
// adds, softmax. Everything is queued on one stream; synchronize()/copy_out() wait.
//
// Errors: every CUDA failure becomes a status (unavailable, or resource_exhausted for memory), never
// an abort. Ops that return void record the first failure; the next status-returning call or
// copy_out/synchronize reports it, so one forward pass fails as a whole.
//
// This header is plain C++ (no CUDA headers): the engine includes it in every build. Without nvcc
// (HOLO_HAVE_CUDA unset) make_cuda_backend answers unimplemented.
#pragma once

#include <cstdint>
#include <memory>

#include "gpu/backend.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

// The backend on CUDA device `device`. unimplemented: built without CUDA; unavailable: no driver,
// no such device, or the device cannot be initialised.
result<std::unique_ptr<backend>> make_cuda_backend(int device);

// Free and total memory of a device, for choosing a backend ("auto": does the model fit?).
struct cuda_memory_info {
  std::uint64_t free_bytes = 0;
  std::uint64_t total_bytes = 0;
};
result<cuda_memory_info> cuda_memory(int device);

// Device memory bandwidth as a device-to-device copy of `bytes` achieves it, counting bytes read
// and written (bytes/s): the practical bound of a bandwidth-bound kernel, measured rather than taken
// from a datasheet. For `holo bench engine --backend cuda:N`.
result<double> cuda_copy_bandwidth(int device, std::size_t bytes = std::size_t(1) << 30);

}  // namespace holo::gpu
