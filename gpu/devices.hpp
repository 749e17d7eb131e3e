// Which accelerators this process can use. Asked once at node start (hardware announce, backend
// choice); safe to call from any thread. A build without CUDA, or a machine without a driver or a
// device, answers an empty list and says why in `why_none` -- never an error: the CPU backend is the
// fallback everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace holo::gpu {

struct cuda_device {
  int index = 0;
  std::string name;
  std::uint64_t memory_bytes = 0;
  int compute_major = 0;
  int compute_minor = 0;
  std::string pci_bus_id;  // "0000:01:00.0" (domain:bus:device.function); empty when unknown
};

// True when this binary was built with the CUDA backend.
bool cuda_compiled();

// The CUDA devices visible now. When none, `why_none` (if given) says why, e.g. "built without CUDA"
// or "no CUDA driver".
std::vector<cuda_device> list_cuda_devices(std::string* why_none = nullptr);

}  // namespace holo::gpu
