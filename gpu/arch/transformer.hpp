// transformer: the forward pass of a pre-norm decoder-only transformer (llama, qwen2) over the
// backend interface, for one sequence. It owns that sequence's KV cache and every activation buffer,
// all allocated by create(): evaluating tokens allocates nothing (the backend was reserved before,
// see backend_limits_for).
//
// Data flow of one batch of n tokens (shapes (rows, cols); see docs/engine.md for the full table):
//   x (n, n_embd)   = get_rows(token_embd, ids)                      [first shard only]
//   per layer, per pass of at most pass_rows tokens of x (in order):
//               xn  = rmsnorm(x, attn_norm);  q/k/v = xn @ Wq/Wk/Wv^T (+ bias)
//               rope(q), rope(k) at positions pos0..pos0+n-1;  kv_store(k, v)
//               att = attention(q, cache[0 .. pos0+n));  x += att @ Wo^T
//               xn  = rmsnorm(x, ffn_norm);  x += (silu(xn @ Wgate^T) * (xn @ Wup^T)) @ Wdown^T
//   logits (n_vocab,) = rmsnorm(x[last], output_norm) @ output^T    [last shard only]
// This follows llama.cpp's llm_build_llama / llm_build_qwen2 op for op, so greedy tokens match it
// on the same file (gpu/forward.test.cpp holds the two against each other).
//
// Pipeline shards: a transformer over a layer range [first, last) exposes forward_layers (hidden
// states in and out); embed() needs layer 0 in the range, output_logits() needs the last layer.
//
// Ownership and threads: holds references to the config, weights and backend, which must outlive
// it (the engine's model owns them). A transformer is driven by one thread at a time, and since the
// backend is shared, all transformers over one backend must be driven by one thread at a time.
// Failure: statuses from the backend (a bad token id: out_of_range) and out_of_range when positions
// pass the context; nothing is written to the cache beyond what was valid before on failure of
// the checks made up front (a backend failure mid-layer leaves positions >= pos0 undefined).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "gpu/arch/arch.hpp"
#include "gpu/backend.hpp"
#include "gpu/kv_cache.hpp"
#include "gpu/model_config.hpp"
#include "gpu/model_weights.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

struct transformer_options {
  std::int64_t ctx_size = 512;     // positions of the KV cache
  std::int32_t batch_max = 512;    // tokens per forward call (prefill batches are cut to this)
  // Tokens per layer pass: a batch goes through each layer in slices of at most this many tokens,
  // so every activation buffer but the residual stream holds pass_rows rows, not batch_max.
  // 0: the backend's choice (pass_rows_for).
  std::int32_t pass_rows = 0;
  // Bytes of the model's weight matrices (engine: model::decode_weight_bytes), which sets how large
  // a host backend's passes may be; 0: unknown (host_pass_rows).
  std::uint64_t weight_bytes = 0;
};

class transformer {
 public:
  // Checks the weights against the hooks (biases present, norm weights f32, no rope frequency
  // factors, head_dim_v == head_dim) and allocates cache and scratch.
  // Errors: invalid_argument / unimplemented (the model), resource_exhausted (memory).
  static result<transformer> create(const model_config& config, const model_weights& weights, backend& be,
                                    const transformer_options& options);

  // What the shared backend must have been reserved for (backend::reserve) before the first call.
  static backend_limits backend_limits_for(const model_config& config, const transformer_options& options,
                                           const backend& be);
  // Tokens per layer pass on `be`: options.pass_rows when set; on a device batch_max (a GPU wants
  // the whole batch); on a host backend (activations are resident memory there) the largest power
  // of two, at least host_pass_rows, whose activations stay within pass_budget_percent of
  // options.weight_bytes. Never more than batch_max.
  static std::int32_t pass_rows_for(const model_config& config, const transformer_options& options,
                                    const backend& be);
  // Host backends: at least enough tokens per pass that the prefill matmuls keep their register
  // tiles full and read each weight block for many tokens. More when the model is large: every pass
  // reads the layer's weights again from memory, which on a 1B file costs more than the activations
  // save (pp512 1B Q8_0, 2 threads: 98-103 tokens/s in 64-token passes, 110-126 in one); a small
  // model keeps small passes, or its activations would break the resident-memory bound of file +
  // KV cache + 10% (docs/benchmarks.md "Resident memory").
  static constexpr std::int32_t host_pass_rows = 64;
  static constexpr std::uint64_t pass_budget_percent = 3;

  transformer(transformer&&) noexcept = default;

  // Whole-model evaluation (needs every layer): stores tokens at positions pos0 .. pos0+n-1, in
  // batches of batch_max, and leaves the logits of the last one in logits(). n >= 1.
  status eval(const std::int32_t* tokens, std::int64_t n, std::int64_t pos0);
  std::span<float> logits() { return logits_; }

  // ---- pipeline pieces (inputs and outputs in host memory: they cross to another shard) ----
  // ids (n,) -> out (n, n_embd), n <= batch_max. Needs layer 0.
  status embed(const std::int32_t* ids, std::int64_t n, float* out);
  // Runs this transformer's layers on hidden states in (n, n_embd) at positions pos0 .. pos0+n-1,
  // n <= batch_max, writing out (n, n_embd); in == out is allowed.
  status forward_layers(const float* in, std::int64_t pos0, std::int64_t n, float* out);
  // hidden (1, n_embd), the last token's state after the last layer -> logits (n_vocab,).
  status output_logits(const float* hidden, float* logits);

  const kv_cache& cache() const { return cache_; }
  const transformer_options& options() const { return options_; }
  std::uint64_t scratch_bytes() const;  // activation buffers, KV cache excluded

 private:
  transformer(const model_config& c, const model_weights& w, backend& be, const arch_hooks& h,
              const transformer_options& o, kv_cache cache);
  status run_layers(std::int64_t pos0, std::int64_t n);  // on x_, in passes of pass_rows_
  status embed_into(const std::int32_t* ids, std::int64_t n, float* out);  // out: backend memory
  status logits_of(const float* hidden);  // hidden: backend memory -> logits_ (host)
  status decode_recorded(std::int32_t token, std::int64_t pos);  // one token through a step graph
  // Tokens per FFN step within a pass (the size of gate_ and up_ in rows): bounds the two widest
  // buffers where a pass is the whole batch (device backends).
  static constexpr std::int64_t ffn_rows_max = 128;
  // xn_ (normalized input) -> o_ (block output) for the n tokens of one pass at positions pos0..,
  // `t0` rows into the batch; run_layers does the norms and residual adds.
  status attention_block(std::int32_t il, std::int64_t pos0, std::int64_t t0, std::int64_t n);
  status ffn_block(std::int32_t il, std::int64_t n);

  const model_config* config_;
  const model_weights* weights_;
  backend* be_;
  arch_hooks hooks_;
  transformer_options options_;
  rope_params rope_;
  attention_shape shape_;
  kv_cache cache_;
  std::int64_t pass_rows_ = 1;  // P = pass_rows_for(config, options, backend)
  // Activations in backend memory (device memory on CUDA); B = batch_max, P = pass_rows_,
  // F = min(P, ffn_rows_max):
  backend_buffer x_;      // (B, n_embd) the residual stream: every token of the batch, between layers
  backend_buffer xn_;     // (P, n_embd) normed input of a block
  backend_buffer q_;      // (P, n_head * head_dim)
  backend_buffer k_;      // (P, n_head_kv * head_dim)
  backend_buffer v_;      // (P, n_head_kv * head_dim)
  backend_buffer att_;    // (P, n_head * head_dim) attention output
  backend_buffer o_;      // (P, n_embd) block output before the residual add
  backend_buffer gate_;   // (F, n_ff)
  backend_buffer up_;     // (F, n_ff)
  backend_buffer logits_dev_;  // (n_vocab,) on a device backend; empty on a host one
  std::vector<float> logits_;  // (n_vocab,) host: the last token's logits (empty without the output layer)
  std::vector<std::int32_t> positions_;  // (B,) host, as the backend takes them
  // The recorded decode step on a device backend (made at the first decode); record_steps_ turns
  // false for good when the backend cannot record, and decode runs op by op.
  std::unique_ptr<backend::step_graph> step_graph_;
  bool record_steps_ = true;
};

}  // namespace holo::gpu
