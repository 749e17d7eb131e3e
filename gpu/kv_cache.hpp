// kv_cache: the keys and values of one sequence for every layer of a model (or of a pipeline
// shard's layer range), sized once from the context length and never grown.
//
// Layout (gpu/backend.hpp's kv_layer): per layer two F16 buffers [ctx_size][n_head_kv][head_dim],
// position-major, K stored after rope. All layers live in one allocation of backend memory made by
// create() (host memory for the CPU backends, device memory for CUDA); layer(i) hands out views into
// it. F16 as llama.cpp's default (`-ctk f16 -ctv f16`): half the bytes of f32,
// and decode attention is bandwidth-bound on them.
//
// Contents: positions [0, n) are valid when the owner (a session) has stored n tokens; the rest is
// uninitialised memory (never read: attention only reads positions it was given). Dropping a suffix
// (truncate) is free: the owner just stores from an earlier position again.
//
// Ownership and threads: one cache per session, owned by it; move-only; no internal locking. The
// backend it was allocated from must outlive it.
// Failure: create() returns invalid_argument for nonsensical sizes, resource_exhausted when the
// allocation fails.
#pragma once

#include <cstdint>
#include <memory>

#include "gpu/backend.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

struct kv_cache_shape {
  std::int32_t n_layer = 0;    // layers held (a shard's range, or all)
  std::int32_t n_head_kv = 0;
  std::int32_t head_dim = 0;
  std::int64_t ctx_size = 0;   // positions per layer
};

class kv_cache {
 public:
  static result<kv_cache> create(const kv_cache_shape& shape, backend& be);

  // Bytes create() allocates for `shape`: 2 (K and V) x n_layer x ctx_size x n_head_kv x head_dim x 2.
  static std::uint64_t bytes_for(const kv_cache_shape& shape);

  kv_cache(kv_cache&&) noexcept = default;
  kv_cache& operator=(kv_cache&&) noexcept = default;

  // View of layer i (0-based within the cache, i.e. relative to the shard's first layer).
  kv_layer layer(std::int32_t i) const;

  const kv_cache_shape& shape() const { return shape_; }
  std::int64_t ctx_size() const { return shape_.ctx_size; }
  std::uint64_t bytes() const { return bytes_for(shape_); }

 private:
  kv_cache() = default;
  kv_cache_shape shape_;
  std::int64_t layer_halves_ = 0;       // halves of one K (or V) buffer of one layer
  backend_buffer data_;                 // n_layer x {K, V} x layer_halves_ halves
};

}  // namespace holo::gpu
