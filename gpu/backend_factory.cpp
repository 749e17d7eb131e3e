// create_backend: backend names to implementations. The CUDA backend exists only in builds with
// nvcc (HOLO_HAVE_CUDA); elsewhere "cuda:N" is a clear unimplemented error, never a crash.
#include <new>
#include <string>

#include "gpu/backend.hpp"
#include "gpu/cpu/cpu_backend.hpp"
#include "gpu/cpu/reference_backend.hpp"
#include "gpu/cuda/cuda_backend.hpp"

namespace holo::gpu {

result<std::unique_ptr<backend>> create_backend(std::string_view name, int threads) {
  try {
    if (name == "cpu") return std::unique_ptr<backend>(std::make_unique<cpu_backend>(threads));
    if (name == "cpu-ref" || name == "cpu-reference")
      return std::unique_ptr<backend>(std::make_unique<cpu_reference_backend>());
  } catch (const std::bad_alloc&) {
    return status::resource_exhausted("backend");
  }
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int device = 0;
    if (name.size() > 5) {
      const std::string digits(name.substr(5));
      if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos)
        return status::invalid_argument("backend \"" + std::string(name) + "\": expected cuda:N");
      device = std::stoi(digits);
    }
    return make_cuda_backend(device);
  }
  return status::invalid_argument("unknown backend \"" + std::string(name) + "\" (known: cpu, cpu-ref, cuda:N)");
}

}  // namespace holo::gpu
