// nvml: GPU utilisation and memory per device through NVIDIA's management library, opened at run
// time (dlopen "libnvidia-ml.so.1", shipped with the driver). A machine without the driver, or with
// no device, gets nothing back from open(): the GPU metrics then simply do not exist. Nothing links
// against NVML, so one binary runs on GPU and CPU machines alike.
//
// Not thread-safe: one owner (the metrics actor) calls sample().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/metrics.hpp"

namespace holo::nvml {

class library {
 public:
  // nullptr, with `why` set, when the library or a device is missing or NVML fails to initialise.
  static std::unique_ptr<library> open(std::string* why = nullptr);
  ~library();
  library(const library&) = delete;
  library& operator=(const library&) = delete;
  // One sample per device; a device whose query fails is left out of this sample.
  std::vector<metrics::gpu_sample> sample();
  unsigned device_count() const { return count_; }
  // Free memory of the device at this PCI bus id ("0000:01:00.0", as CUDA names it: NVML's and
  // CUDA's device orders may differ, the bus id does not); nullopt when NVML cannot say.
  std::optional<std::uint64_t> free_bytes(const std::string& pci_bus_id);

 private:
  struct api;
  library() = default;
  std::unique_ptr<api> api_;
  void* handle_ = nullptr;
  unsigned count_ = 0;
};

}  // namespace holo::nvml
