#include "gpu/kv_cache.hpp"

#include <cassert>
#include <new>
#include <string>

#include "gpu/model_config.hpp"

namespace holo::gpu {

std::uint64_t kv_cache::bytes_for(const kv_cache_shape& s) {
  return 2ull * std::uint64_t(s.n_layer) * std::uint64_t(s.ctx_size) * std::uint64_t(s.n_head_kv) *
         std::uint64_t(s.head_dim) * sizeof(f16_bits);
}

result<kv_cache> kv_cache::create(const kv_cache_shape& s, backend& be) {
  if (s.n_layer <= 0 || s.n_layer > model_limits::n_layer_max || s.n_head_kv <= 0 ||
      s.n_head_kv > model_limits::n_head_max || s.head_dim <= 0 || s.head_dim > model_limits::head_dim_max ||
      s.ctx_size <= 0 || s.ctx_size > model_limits::n_ctx_max) {
    return status::invalid_argument("kv cache shape: n_layer " + std::to_string(s.n_layer) + ", n_head_kv " +
                                    std::to_string(s.n_head_kv) + ", head_dim " + std::to_string(s.head_dim) +
                                    ", ctx " + std::to_string(s.ctx_size));
  }
  kv_cache c;
  c.shape_ = s;
  c.layer_halves_ = s.ctx_size * s.n_head_kv * s.head_dim;
  // Not zeroed: positions are written before they are read, and untouched pages of a large
  // context cost no RSS until used.
  c.data_ = backend_buffer(be, static_cast<std::size_t>(bytes_for(s)));
  if (!c.data_.ok()) {
    return status::resource_exhausted("kv cache of " + std::to_string(bytes_for(s) >> 20) + " MiB on " +
                                      std::string(be.name()));
  }
  return c;
}

kv_layer kv_cache::layer(std::int32_t i) const {
  assert(i >= 0 && i < shape_.n_layer);
  f16_bits* base = static_cast<f16_bits*>(data_.data()) + 2 * std::int64_t(i) * layer_halves_;
  return kv_layer{base, base + layer_halves_, shape_.ctx_size};
}

}  // namespace holo::gpu
