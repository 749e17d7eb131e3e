// make_cuda_backend in builds without nvcc: a clear error, so "cuda:0" in a config or on the command
// line says what is wrong instead of failing to link or crashing.
#include "gpu/cuda/cuda_backend.hpp"

#ifndef HOLO_HAVE_CUDA
namespace holo::gpu {

result<std::unique_ptr<backend>> make_cuda_backend(int device) {
  (void)device;
  return status::unimplemented("this holo was built without CUDA (no nvcc at build time, or HOLO_CUDA=OFF)");
}

result<cuda_memory_info> cuda_memory(int device) {
  (void)device;
  return status::unimplemented("built without CUDA");
}

result<double> cuda_copy_bandwidth(int device, std::size_t bytes) {
  (void)device;
  (void)bytes;
  return status::unimplemented("built without CUDA");
}

}  // namespace holo::gpu
#endif
