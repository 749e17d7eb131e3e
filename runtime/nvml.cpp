#include "runtime/nvml.hpp"

#include <dlfcn.h>

#include <type_traits>

namespace holo::nvml {

namespace {
// The few NVML types used, as NVML's public header declares them (nvml.h): an opaque device
// handle, and two plain structs.
using nvml_return = int;  // NVML_SUCCESS = 0
using nvml_device = struct nvml_device_st*;
struct nvml_utilization {
  unsigned int gpu;     // percent of the sample period a kernel ran
  unsigned int memory;  // percent of the period device memory was read or written
};
struct nvml_memory {
  unsigned long long total, free, used;  // bytes
};
}  // namespace

struct library::api {
  nvml_return (*init)() = nullptr;
  nvml_return (*shutdown)() = nullptr;
  nvml_return (*count)(unsigned int*) = nullptr;
  nvml_return (*by_index)(unsigned int, nvml_device*) = nullptr;
  nvml_return (*utilization)(nvml_device, nvml_utilization*) = nullptr;
  nvml_return (*memory)(nvml_device, nvml_memory*) = nullptr;
  nvml_return (*name)(nvml_device, char*, unsigned int) = nullptr;
  nvml_return (*by_pci_bus_id)(const char*, nvml_device*) = nullptr;  // optional
};

std::unique_ptr<library> library::open(std::string* why) {
  auto fail = [&](std::string w) -> std::unique_ptr<library> {
    if (why) *why = std::move(w);
    return nullptr;
  };
  void* h = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return fail("no NVIDIA driver (libnvidia-ml.so.1 not found)");
  std::unique_ptr<library> lib(new library());
  lib->handle_ = h;
  lib->api_ = std::make_unique<api>();
  auto& a = *lib->api_;
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
    return fn != nullptr;
  };
  if (!sym(a.init, "nvmlInit_v2") || !sym(a.shutdown, "nvmlShutdown") || !sym(a.count, "nvmlDeviceGetCount_v2") ||
      !sym(a.by_index, "nvmlDeviceGetHandleByIndex_v2") || !sym(a.utilization, "nvmlDeviceGetUtilizationRates") ||
      !sym(a.memory, "nvmlDeviceGetMemoryInfo") || !sym(a.name, "nvmlDeviceGetName"))
    return fail("libnvidia-ml.so.1 lacks an NVML function we use");
  sym(a.by_pci_bus_id, "nvmlDeviceGetHandleByPciBusId_v2");  // only free_bytes() needs it
  if (a.init() != 0) {
    a.init = nullptr;  // nothing to shut down
    return fail("nvmlInit failed (driver not loaded?)");
  }
  unsigned n = 0;
  if (a.count(&n) != 0 || n == 0) return fail("NVML sees no GPU");
  lib->count_ = n;
  return lib;
}

library::~library() {
  if (api_ && api_->init && api_->shutdown) api_->shutdown();
  if (handle_) ::dlclose(handle_);
}

std::vector<metrics::gpu_sample> library::sample() {
  std::vector<metrics::gpu_sample> out;
  for (unsigned i = 0; i < count_; ++i) {
    nvml_device d = nullptr;
    if (api_->by_index(i, &d) != 0) continue;
    metrics::gpu_sample s;
    s.device = std::to_string(i);
    char name[96] = {};
    if (api_->name(d, name, sizeof name) == 0) s.name = name;
    nvml_utilization u{};
    nvml_memory m{};
    if (api_->utilization(d, &u) != 0 || api_->memory(d, &m) != 0) continue;
    s.utilization_ratio = u.gpu / 100.0;
    s.memory_used_bytes = static_cast<double>(m.used);
    s.memory_total_bytes = static_cast<double>(m.total);
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::uint64_t> library::free_bytes(const std::string& pci_bus_id) {
  if (!api_->by_pci_bus_id || pci_bus_id.empty()) return std::nullopt;
  nvml_device d = nullptr;
  nvml_memory m{};
  if (api_->by_pci_bus_id(pci_bus_id.c_str(), &d) != 0 || api_->memory(d, &m) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(m.free);
}

}  // namespace holo::nvml
