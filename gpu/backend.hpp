// The compute backend of the engine: every op a llama/qwen2 forward pass needs, behind one narrow
// interface (in the spirit of ggml's ggml_backend_i). Implementations: gpu/cpu/reference_backend.hpp
// (plain loops, the ground truth), gpu/cpu/cpu_backend.hpp (AVX2/FMA + a thread pool),
// gpu/cuda/cuda_backend.hpp (CUDA kernels, activations and KV cache in device memory).
//
// Contract for every implementation:
// - Memory: activations, outputs and KV caches are "backend memory": buffers the caller obtains
//   from allocate() once, before the first token (host memory for the CPU backends, device memory
//   for CUDA), and fills or reads with copy_in()/copy_out(). Weights are tensor_views of the host
//   mapping of the model file (norm weights and biases included: pass their view's data pointer);
//   a device backend makes them resident once with upload_weight() and finds its copy by that
//   pointer. Token ids and positions are host arrays. A backend keeps its own scratch, sized by
//   reserve(); after reserve() the fast backends allocate nothing per call. A call that needs more
//   scratch than reserved fails (failed_precondition) instead of allocating.
// - Asynchrony: a device backend may queue work and return before it ran; copy_out() and
//   synchronize() wait for it, and report a failure of queued work (which the void ops cannot).
// - Threads: a backend is driven by one thread at a time (the actor owning the model shard). It owns
//   its compute threads; callers never see them. Calls are synchronous: outputs are complete when a
//   call returns.
// - Layout: activations are f32, row-major, one row per token. Shapes in comments are (rows, cols);
//   cols is the fastest-moving index.
// - Errors: ops whose input comes from a file or a user (tensor types, token ids, positions) return
//   status and write nothing on failure; pure shape mistakes are our bugs and are asserted.
// - Aliasing: `out` may equal an input for the element-wise ops (add, swiglu, scale, rmsnorm);
//   matmul and attention outputs must not overlap their inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "gpu/tensor_type.hpp"
#include "gpu/tensor_view.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

// Upper bounds of the calls a backend will see; reserve() sizes scratch from them.
struct backend_limits {
  std::int64_t tokens_max = 1;    // rows per call (prefill batch size), >= 1
  std::int64_t cols_max = 0;      // widest matmul input row (elements)
  std::int64_t ctx_max = 0;       // KV cache positions per layer (n_ctx)
  std::int64_t heads_max = 0;     // query heads (n_head)
  std::int64_t head_dim_max = 0;  // elements per head
};

// How rope pairs dimensions (llama.cpp's LLAMA_ROPE_TYPE_NORM / _NEOX).
enum class rope_mode : std::uint8_t {
  normal,  // llama: pairs (2i, 2i+1)
  neox,    // qwen2, gpt-neox: pairs (i, i + n_rot/2)
};

struct rope_params {
  rope_mode mode = rope_mode::normal;
  std::int32_t n_rot = 0;      // dimensions rotated per head, even, <= head_dim; the rest pass through
  float freq_base = 10000.0f;  // theta_i = pos * freq_scale * freq_base^(-2i/n_rot), i < n_rot/2
  float freq_scale = 1.0f;     // linear position scaling (1 / rope scaling factor)
};

// Attention geometry of one layer. n_head must be a multiple of n_head_kv (GQA: query head h reads
// KV head h / (n_head / n_head_kv)).
struct attention_shape {
  std::int32_t n_head = 0;
  std::int32_t n_head_kv = 0;
  std::int32_t head_dim = 0;
};

// KV cache of ONE layer, owned by the caller (allocated once for the whole context):
//   k, v: F16, [ctx_size][n_head_kv][head_dim], i.e. position-major; the row of position p is
//   n_head_kv * head_dim contiguous halves, head by head. K is stored after rope.
// F16 as llama.cpp's default: half the memory of f32, and attention is bandwidth-bound on it.
struct kv_layer {
  f16_bits* k = nullptr;
  f16_bits* v = nullptr;
  std::int64_t ctx_size = 0;  // positions the buffers hold
};

class backend {
 public:
  virtual ~backend() = default;

  virtual std::string_view name() const = 0;
  // Compute threads this backend uses, the caller's included (1 for the reference).
  virtual int thread_count() const = 0;

  // ---- memory (the defaults are host memory, for the CPU backends) ----

  // True when allocate() hands out memory the host cannot dereference (a GPU's).
  virtual bool device_memory() const { return false; }
  // `bytes` of backend memory, 64-byte aligned, uninitialised; nullptr when it cannot be had.
  virtual void* allocate(std::size_t bytes);
  virtual void deallocate(void* p) noexcept;
  // host -> backend memory and backend memory -> host (copy_out waits for queued work first and
  // reports its failure). The ranges may overlap only when they are the same buffer (then no-op).
  virtual status copy_in(void* dst, const void* host_src, std::size_t bytes);
  virtual status copy_out(void* host_dst, const void* src, std::size_t bytes);
  // Makes one weight tensor usable by the ops (a device backend copies it once; later uploads of the
  // same data pointer are no-ops). Host backends read the mapping directly: nothing to do.
  // Fails: resource_exhausted when it does not fit, unavailable on a device error.
  virtual status upload_weight(const tensor_view& t) {
    (void)t;
    return {};
  }
  // Waits for every queued op; the first failure since the last call, if any.
  virtual status synchronize() { return {}; }

  // ---- recorded decode steps (optional: where launching each op costs more than running it) ----
  // A one-token forward pass queues the same ops on the same buffers every step; only the token id
  // and its position change. Between begin_step_capture() and end_step_capture() a device backend
  // records the ops instead of running them, reading the token id (get_rows) and the position
  // (rope, kv_store, attention: n_tokens == 1) from device scalars that replay_step() sets before
  // each replay. The recording stays valid while the buffers it used live. Host backends answer
  // unimplemented and the caller runs the ops one by one.
  class step_graph {
   public:
    virtual ~step_graph() = default;
  };
  virtual status begin_step_capture() { return status::unimplemented("recorded steps"); }
  // Ends the recording (always, also after a failed op) and returns it, or the first failure.
  virtual result<std::unique_ptr<step_graph>> end_step_capture() {
    return status::unimplemented("recorded steps");
  }
  // Queues one replay for `token` at `pos`.
  virtual status replay_step(step_graph& g, std::int32_t token, std::int32_t pos) {
    (void)g, (void)token, (void)pos;
    return status::unimplemented("recorded steps");
  }

  // Sizes scratch for calls up to `limits`. May allocate; call before the first token and again only
  // when the limits grow. Fails (invalid_argument) on nonsensical limits, resource_exhausted on OOM.
  virtual status reserve(const backend_limits& limits) = 0;

  // ---- ops with inputs from the world: status ----

  // Embedding lookup: table (vocab, cols) any supported type; ids (n,) -> out (n, cols) f32.
  // Fails: unsupported type (invalid_argument), id outside [0, vocab) (out_of_range).
  virtual status get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n, float* out) = 0;

  // out (n, rows) = x (n, cols) @ W^T + bias, W = (rows, cols) any supported type, bias (rows,) f32
  // or null. n = 1 is the decode matvec, n > 1 prefill. Quantized types may quantize x to Q8 first
  // (llama.cpp's scheme), so results differ from the f32 reference by that rounding.
  // Fails: unsupported type (invalid_argument), n or cols beyond reserve() (failed_precondition).
  virtual status matmul(const tensor_view& w, const float* x, std::int64_t n, const float* bias,
                        float* out) = 0;

  // Several matrices on one input (a layer's q, k and v; gate and up): for each part, out (n,
  // w.rows) = x @ w^T + bias, exactly as matmul would compute it. The default calls matmul per part;
  // a device backend runs parts of one type in one launch. Fails as matmul.
  struct matmul_part {
    const tensor_view* w = nullptr;
    const float* bias = nullptr;
    float* out = nullptr;
  };
  virtual status matmul_parts(const matmul_part* parts, std::size_t count, const float* x, std::int64_t n);

  // In place on x (n_tokens, n_heads, head_dim): rotates each head of token t by positions[t].
  // Fails: n_rot odd, zero or > head_dim (invalid_argument); n_tokens beyond reserve().
  virtual status rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
                      const std::int32_t* positions, const rope_params& p) = 0;

  // rope on q (n_tokens, n_head_q, head_dim) and on k (n_tokens, n_head_k, head_dim) with the same
  // positions: one launch on a device backend. The default calls rope twice.
  virtual status rope_qk(float* q, std::int32_t n_head_q, float* k, std::int32_t n_head_k, std::int64_t n_tokens,
                         std::int32_t head_dim, const std::int32_t* positions, const rope_params& p);

  // A layer's rope_qk and kv_store in one call: q (n_tokens, shape.n_head, head_dim) roped in place,
  // k (n_tokens, shape.n_head_kv, head_dim) roped and stored with v as positions pos0 .. of the
  // cache. One launch on a device backend (k itself may then stay unroped: callers read keys from
  // the cache only). The default calls rope_qk and kv_store.
  virtual status rope_qk_store(float* q, float* k, const float* v, std::int64_t n_tokens,
                               const std::int32_t* positions, const rope_params& p, const kv_layer& cache,
                               const attention_shape& shape, std::int64_t pos0);

  // Stores k, v (n_tokens, n_head_kv * head_dim) f32 as positions pos0 .. pos0+n_tokens-1 of the
  // cache (converted to F16). Fails (out_of_range): positions outside [0, cache.ctx_size).
  virtual status kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                          std::int64_t n_tokens, const float* k, const float* v) = 0;

  // Causal multi-head attention with GQA for queries q (n_tokens, n_head * head_dim) at positions
  // pos0 .. pos0+n_tokens-1, over cache positions 0 .. pos0+n_tokens-1 (already stored: call
  // kv_store first). Query t sees positions <= pos0 + t. Scores scaled by 1/sqrt(head_dim), softmax
  // in f32. out (n_tokens, n_head * head_dim).
  // Fails: positions beyond the cache (out_of_range), bad shape or beyond reserve()
  // (invalid_argument / failed_precondition).
  virtual status attention(const float* q, const kv_layer& cache, const attention_shape& shape,
                           std::int64_t pos0, std::int64_t n_tokens, float* out) = 0;

  // ---- element-wise ops on caller buffers: preconditions asserted ----

  // out (n, dim) = x * rsqrt(mean(x^2) + eps) * weight (dim,), per row.
  virtual void rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim, float eps,
                       float* out) = 0;
  // out[i] = a[i] + b[i], i < count (the residual add).
  virtual void add(const float* a, const float* b, std::int64_t count, float* out) = 0;
  // The residual add and the next RMSNorm: x (n, dim) += o, then out = rmsnorm(x) * weight. One
  // kernel on a device backend; the default calls add and rmsnorm.
  virtual void add_rmsnorm(float* x, const float* o, const float* weight, std::int64_t n, std::int64_t dim, float eps,
                           float* out);
  // out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + exp(-x)).
  virtual void swiglu(const float* gate, const float* up, std::int64_t count, float* out) = 0;
  // x[i] *= s.
  virtual void scale(float* x, std::int64_t count, float s) = 0;
  // In place softmax over each row of x (n, dim) (logits -> probabilities), max-subtracted.
  virtual void softmax(float* x, std::int64_t n, std::int64_t dim) = 0;
};

// Backend memory owned RAII-style: allocated from one backend, returned to it on destruction.
// The backend must outlive the buffer. Move-only.
class backend_buffer {
 public:
  backend_buffer() = default;
  // Allocates `bytes` (0 gives an empty buffer); ok() is false when the backend could not.
  backend_buffer(backend& be, std::size_t bytes);
  backend_buffer(backend_buffer&& o) noexcept { *this = std::move(o); }
  backend_buffer& operator=(backend_buffer&& o) noexcept;
  ~backend_buffer() { reset(); }
  backend_buffer(const backend_buffer&) = delete;
  backend_buffer& operator=(const backend_buffer&) = delete;

  bool ok() const { return bytes_ == 0 || data_ != nullptr; }
  void* data() const { return data_; }
  float* f32() const { return static_cast<float*>(data_); }
  std::size_t bytes() const { return bytes_; }
  void reset() noexcept;

 private:
  backend* be_ = nullptr;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// The backend named `name`: "cpu" (threads compute threads), "cpu-ref", "cuda" / "cuda:N" (device
// N; unimplemented when built without CUDA, unavailable when there is no such device).
// gpu/engine.cpp resolves "auto" before calling this.
result<std::unique_ptr<backend>> create_backend(std::string_view name, int threads);

// ---- argument checks shared by implementations (gpu/backend.cpp) ----

// True when matmul/get_rows can read this type.
bool backend_type_supported(tensor_type type);
status check_limits(const backend_limits& limits);
status check_matmul(const tensor_view& w, std::int64_t n, const backend_limits& reserved);
status check_get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n);
status check_rope(std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim, const rope_params& p,
                  const backend_limits& reserved);
status check_attention(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                       std::int64_t n_tokens, const backend_limits& reserved);
status check_kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                      std::int64_t n_tokens);

}  // namespace holo::gpu
