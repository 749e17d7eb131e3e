// CUDA device discovery. cudart is linked statically, so a machine without the driver reaches
// cudaGetDeviceCount's error path rather than failing to start the process.
#include <cuda_runtime.h>

#include "gpu/devices.hpp"

namespace holo::gpu {

std::vector<cuda_device> cuda_list_devices_impl(std::string* why_none) {
  std::vector<cuda_device> out;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why_none) *why_none = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return out;
  }
  if (count == 0 && why_none) *why_none = "CUDA driver present but no device";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, i) != cudaSuccess) bus[0] = 0;
    out.push_back({i, prop.name, static_cast<std::uint64_t>(prop.totalGlobalMem), prop.major,
                   prop.minor, bus});
  }
  return out;
}

}  // namespace holo::gpu
