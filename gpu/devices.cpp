#include "gpu/devices.hpp"

namespace holo::gpu {

#ifdef HOLO_HAVE_CUDA
// Defined in gpu/cuda/devices.cu.
std::vector<cuda_device> cuda_list_devices_impl(std::string* why_none);
bool cuda_compiled() { return true; }
std::vector<cuda_device> list_cuda_devices(std::string* why_none) {
  return cuda_list_devices_impl(why_none);
}
#else
bool cuda_compiled() { return false; }
std::vector<cuda_device> list_cuda_devices(std::string* why_none) {
  if (why_none) *why_none = "built without CUDA (HOLO_CUDA=OFF or no nvcc)";
  return {};
}
#endif

}  // namespace holo::gpu
