#include "gpu/backend.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

namespace holo::gpu {

bool backend_type_supported(tensor_type type) {
  switch (type) {
    case tensor_type::f32:
    case tensor_type::f16:
    case tensor_type::bf16:
    case tensor_type::q8_0:
    case tensor_type::q4_0:
    case tensor_type::q4_k:
    case tensor_type::q5_k:
    case tensor_type::q6_k:
      return true;
    default:
      return false;
  }
}

status check_limits(const backend_limits& l) {
  if (l.tokens_max < 1 || l.cols_max < 0 || l.ctx_max < 0 || l.heads_max < 0 || l.head_dim_max < 0) {
    return status::invalid_argument("backend limits must be non-negative with tokens_max >= 1");
  }
  return {};
}

namespace {

status check_weight(const tensor_view& w) {
  if (!backend_type_supported(w.type)) {
    return status::invalid_argument("tensor type " + std::string(traits(w.type).name) +
                                    " not supported by the backend");
  }
  const auto block = static_cast<std::int64_t>(traits(w.type).block_elems);
  if (w.cols <= 0 || w.rows <= 0 || w.cols % block != 0 || w.data == nullptr) {
    return status::invalid_argument("bad tensor shape: cols " + std::to_string(w.cols) + ", rows " +
                                    std::to_string(w.rows));
  }
  return {};
}

}  // namespace

status check_matmul(const tensor_view& w, std::int64_t n, const backend_limits& reserved) {
  HOLO_TRY(check_weight(w));
  if (n < 1) return status::invalid_argument("matmul needs n >= 1");
  if (n > reserved.tokens_max || w.cols > reserved.cols_max) {
    return status::failed_precondition("matmul (" + std::to_string(n) + " x " + std::to_string(w.cols) +
                                       ") beyond reserve()");
  }
  return {};
}

status check_get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n) {
  HOLO_TRY(check_weight(table));
  for (std::int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= table.rows) {
      return status::out_of_range("token id " + std::to_string(ids[i]) + " outside vocabulary of " +
                                  std::to_string(table.rows));
    }
  }
  return {};
}

status check_rope(std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim, const rope_params& p,
                  const backend_limits& reserved) {
  if (p.n_rot <= 0 || p.n_rot % 2 != 0 || p.n_rot > head_dim || n_heads <= 0) {
    return status::invalid_argument("rope: n_rot " + std::to_string(p.n_rot) + " invalid for head_dim " +
                                    std::to_string(head_dim));
  }
  if (n_tokens < 1 || n_tokens > reserved.tokens_max || head_dim > reserved.head_dim_max) {
    return status::failed_precondition("rope beyond reserve()");
  }
  return {};
}

status check_kv_store(const kv_layer& cache, const attention_shape& s, std::int64_t pos0,
                      std::int64_t n_tokens) {
  if (s.n_head_kv <= 0 || s.head_dim <= 0 || cache.k == nullptr || cache.v == nullptr) {
    return status::invalid_argument("kv_store: bad shape or cache");
  }
  if (pos0 < 0 || n_tokens < 1 || pos0 + n_tokens > cache.ctx_size) {
    return status::out_of_range("positions " + std::to_string(pos0) + "+" + std::to_string(n_tokens) +
                                " outside the KV cache of " + std::to_string(cache.ctx_size));
  }
  return {};
}

status check_attention(const kv_layer& cache, const attention_shape& s, std::int64_t pos0,
                       std::int64_t n_tokens, const backend_limits& reserved) {
  HOLO_TRY(check_kv_store(cache, s, pos0, n_tokens));
  if (s.n_head <= 0 || s.n_head % s.n_head_kv != 0) {
    return status::invalid_argument("attention: n_head must be a positive multiple of n_head_kv");
  }
  if (n_tokens > reserved.tokens_max || s.n_head > reserved.heads_max || s.head_dim > reserved.head_dim_max ||
      pos0 + n_tokens > reserved.ctx_max) {
    return status::failed_precondition("attention beyond reserve()");
  }
  return {};
}

// ---- default memory: host ----

void* backend::allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const std::size_t rounded = (bytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  return std::aligned_alloc(64, rounded);
}

void backend::deallocate(void* p) noexcept { std::free(p); }

status backend::copy_in(void* dst, const void* host_src, std::size_t bytes) {
  if (dst != host_src && bytes > 0) std::memmove(dst, host_src, bytes);
  return {};
}

status backend::copy_out(void* host_dst, const void* src, std::size_t bytes) {
  if (host_dst != src && bytes > 0) std::memmove(host_dst, src, bytes);
  return {};
}

status backend::matmul_parts(const matmul_part* parts, std::size_t count, const float* x, std::int64_t n) {
  for (std::size_t i = 0; i < count; ++i) HOLO_TRY(matmul(*parts[i].w, x, n, parts[i].bias, parts[i].out));
  return {};
}

status backend::rope_qk(float* q, std::int32_t n_head_q, float* k, std::int32_t n_head_k, std::int64_t n_tokens,
                        std::int32_t head_dim, const std::int32_t* positions, const rope_params& p) {
  HOLO_TRY(rope(q, n_tokens, n_head_q, head_dim, positions, p));
  return rope(k, n_tokens, n_head_k, head_dim, positions, p);
}

status backend::rope_qk_store(float* q, float* k, const float* v, std::int64_t n_tokens, const std::int32_t* positions,
                              const rope_params& p, const kv_layer& cache, const attention_shape& shape,
                              std::int64_t pos0) {
  HOLO_TRY(rope_qk(q, shape.n_head, k, shape.n_head_kv, n_tokens, shape.head_dim, positions, p));
  return kv_store(cache, shape, pos0, n_tokens, k, v);
}

void backend::add_rmsnorm(float* x, const float* o, const float* weight, std::int64_t n, std::int64_t dim, float eps,
                          float* out) {
  add(x, o, n * dim, x);
  rmsnorm(x, weight, n, dim, eps, out);
}

backend_buffer::backend_buffer(backend& be, std::size_t bytes) : be_(&be), bytes_(bytes) {
  if (bytes > 0) data_ = be.allocate(bytes);
}

backend_buffer& backend_buffer::operator=(backend_buffer&& o) noexcept {
  if (this != &o) {
    reset();
    be_ = o.be_;
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void backend_buffer::reset() noexcept {
  if (data_ != nullptr && be_ != nullptr) be_->deallocate(data_);
  data_ = nullptr;
  bytes_ = 0;
}

}  // namespace holo::gpu
