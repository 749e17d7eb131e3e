#include "gpu/arch/transformer.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

namespace holo::gpu {

result<arch_hooks> arch_hooks_for(const model_config& c) {
  switch (c.arch) {
    case model_arch::llama: return llama_arch_hooks(c);
    case model_arch::qwen2: return qwen2_arch_hooks(c);
  }
  return status::unimplemented("architecture " + std::string(to_string(c.arch)));
}

namespace {

const float* f32_data(const tensor_view& t) { return static_cast<const float*>(t.data); }

// A norm weight or bias must be a plain f32 vector of `n` elements (the only kind llama.cpp writes).
status check_vector(const tensor_view& t, std::int64_t n, const char* what, std::int32_t il) {
  if (t.empty()) return status::invalid_argument(std::string(what) + " of layer " + std::to_string(il) + " missing");
  if (t.type != tensor_type::f32 || t.cols * t.rows != n) {
    return status::unimplemented(std::string(what) + " of layer " + std::to_string(il) + " is " +
                                 std::string(traits(t.type).name) + " of " + std::to_string(t.cols * t.rows) +
                                 " elements; the engine reads f32 vectors of " + std::to_string(n));
  }
  return {};
}

status check_weights(const model_config& c, const model_weights& w, const arch_hooks& h) {
  if (c.rope_freq_factors) return status::unimplemented("rope frequency factors (rope_freqs.weight)");
  if (c.head_dim_v != c.head_dim) return status::unimplemented("value head size differs from key head size");
  for (std::int32_t il = w.first_layer; il < w.last_layer; ++il) {
    const layer_weights& l = w.layer(il);
    HOLO_TRY(check_vector(l.attn_norm, c.n_embd, "attn_norm", il));
    HOLO_TRY(check_vector(l.ffn_norm, c.n_embd, "ffn_norm", il));
    if (h.qkv_bias) {
      HOLO_TRY(check_vector(l.bq, c.n_embd_q(), "attn_q.bias", il));
      HOLO_TRY(check_vector(l.bk, c.n_embd_k(), "attn_k.bias", il));
      HOLO_TRY(check_vector(l.bv, c.n_embd_v(), "attn_v.bias", il));
    }
    if (!l.bo.empty()) HOLO_TRY(check_vector(l.bo, c.n_embd, "attn_output.bias", il));
  }
  if (w.last_layer == c.n_layer) HOLO_TRY(check_vector(w.output_norm, c.n_embd, "output_norm", c.n_layer));
  return {};
}

}  // namespace

std::int32_t transformer::pass_rows_for(const model_config& c, const transformer_options& o, const backend& be) {
  std::int32_t rows = o.pass_rows > 0 ? o.pass_rows : be.device_memory() ? o.batch_max : host_pass_rows;
  if (o.pass_rows <= 0 && !be.device_memory()) {
    // A token's activations in a pass: xn, q, k, v, att, o (f32) and about a byte per input column
    // of the widest matmul for its quantized copy.
    const std::uint64_t per_row = 4 * (2 * std::uint64_t(c.n_embd) + 2 * std::uint64_t(c.n_embd_q()) +
                                       std::uint64_t(c.n_embd_k()) + std::uint64_t(c.n_embd_v())) +
                                  std::uint64_t(std::max(c.n_embd, c.n_ff));
    const std::uint64_t budget = o.weight_bytes / 100 * pass_budget_percent;
    while (rows < o.batch_max && std::uint64_t(rows) * 2 * per_row <= budget) rows *= 2;
  }
  return std::max(1, std::min(rows, o.batch_max));
}

backend_limits transformer::backend_limits_for(const model_config& c, const transformer_options& o,
                                               const backend& be) {
  backend_limits l;
  l.tokens_max = pass_rows_for(c, o, be);  // the ops see one pass at a time
  l.cols_max = std::max({std::int64_t(c.n_embd), std::int64_t(c.n_ff), std::int64_t(c.n_embd_q())});
  l.ctx_max = o.ctx_size;
  l.heads_max = c.n_head;
  l.head_dim_max = c.head_dim;
  return l;
}

result<transformer> transformer::create(const model_config& c, const model_weights& w, backend& be,
                                        const transformer_options& o) {
  if (o.batch_max < 1 || o.ctx_size < 1 || o.ctx_size > model_limits::n_ctx_max || o.pass_rows < 0) {
    return status::invalid_argument("transformer: batch_max " + std::to_string(o.batch_max) + ", ctx_size " +
                                    std::to_string(o.ctx_size) + ", pass_rows " + std::to_string(o.pass_rows));
  }
  auto hooks = arch_hooks_for(c);
  if (!hooks) return hooks.error();
  HOLO_TRY(check_weights(c, w, *hooks));
  auto cache = kv_cache::create({w.last_layer - w.first_layer, c.n_head_kv, c.head_dim, o.ctx_size}, be);
  if (!cache) return cache.error();
  try {
    transformer t(c, w, be, *hooks, o, std::move(*cache));
    for (const backend_buffer* b : {&t.x_, &t.xn_, &t.q_, &t.k_, &t.v_, &t.att_, &t.o_, &t.gate_, &t.up_, &t.logits_dev_})
      if (!b->ok())
        return status::resource_exhausted("transformer activation buffers (" + std::to_string(t.scratch_bytes() >> 20) +
                                          " MiB) on " + std::string(be.name()));
    return t;
  } catch (const std::bad_alloc&) {
    return status::resource_exhausted("transformer activation buffers");
  }
}

transformer::transformer(const model_config& c, const model_weights& w, backend& be, const arch_hooks& h,
                         const transformer_options& o, kv_cache cache)
    : config_(&c), weights_(&w), be_(&be), hooks_(h), options_(o), cache_(std::move(cache)) {
  rope_.mode = h.rope;
  rope_.n_rot = c.n_rot;
  rope_.freq_base = c.rope_freq_base;
  rope_.freq_scale = c.rope_freq_scale;
  shape_ = attention_shape{c.n_head, c.n_head_kv, c.head_dim};
  pass_rows_ = pass_rows_for(c, o, be);
  const auto rows = static_cast<std::size_t>(o.batch_max);
  const auto pass = static_cast<std::size_t>(pass_rows_);
  auto floats = [&](std::size_t count) { return backend_buffer(be, count * sizeof(float)); };
  x_ = floats(rows * c.n_embd);
  // Everything a layer makes along the way holds one pass: on a host backend these buffers are
  // resident memory, and at batch_max rows they were most of what the process held beyond the
  // file and the KV cache (the 100m preset at 512 tokens: 11 MiB with the FFN's; in passes of 64:
  // 2.1 MiB).
  xn_ = floats(pass * c.n_embd);
  q_ = floats(pass * c.n_embd_q());
  k_ = floats(pass * c.n_embd_k());
  v_ = floats(pass * c.n_embd_v());
  att_ = floats(pass * c.n_embd_q());
  o_ = floats(pass * c.n_embd);
  // The FFN's two n_ff-wide buffers are the widest (a 1B model: 22 KiB a token each): where a pass
  // is the whole batch (a device), the FFN steps through it ffn_rows_max tokens at a time.
  const std::size_t ffn_rows = std::min<std::size_t>(pass, static_cast<std::size_t>(ffn_rows_max));
  gate_ = floats(ffn_rows * c.n_ff);
  up_ = floats(ffn_rows * c.n_ff);
  if (w.last_layer == c.n_layer) {
    logits_.resize(static_cast<std::size_t>(c.n_vocab));
    if (be.device_memory()) logits_dev_ = floats(static_cast<std::size_t>(c.n_vocab));
  }
  positions_.resize(rows);
}

std::uint64_t transformer::scratch_bytes() const {
  std::uint64_t bytes = logits_.size() * sizeof(float) + positions_.size() * sizeof(std::int32_t);
  for (const backend_buffer* b : {&x_, &xn_, &q_, &k_, &v_, &att_, &o_, &gate_, &up_, &logits_dev_}) bytes += b->bytes();
  return bytes;
}

status transformer::embed_into(const std::int32_t* ids, std::int64_t n, float* out) {
  assert(n >= 1 && n <= options_.batch_max);
  if (weights_->first_layer != 0) return status::failed_precondition("embed: this shard has no layer 0");
  HOLO_TRY(be_->get_rows(weights_->token_embd, ids, n, out));
  if (hooks_.embd_scale != 1.0f) be_->scale(out, n * config_->n_embd, hooks_.embd_scale);
  return {};
}

status transformer::embed(const std::int32_t* ids, std::int64_t n, float* out) {
  HOLO_TRY(embed_into(ids, n, x_.f32()));
  return be_->copy_out(out, x_.f32(), static_cast<std::size_t>(n * config_->n_embd) * sizeof(float));
}

// Each block starts from its normalized input in xn_ and leaves its output in o_; run_layers adds
// o_ to the residual x_, fused with the next block's RMSNorm where it can (backend::add_rmsnorm).
status transformer::attention_block(std::int32_t il, std::int64_t pos0, std::int64_t t0, std::int64_t n) {
  const layer_weights& l = weights_->layer(il);
  // q (n, n_head*head_dim), k/v (n, n_head_kv*head_dim) = xn (n, n_embd) @ W^T (+ b)
  const backend::matmul_part qkv[3] = {{&l.wq, hooks_.qkv_bias ? f32_data(l.bq) : nullptr, q_.f32()},
                                       {&l.wk, hooks_.qkv_bias ? f32_data(l.bk) : nullptr, k_.f32()},
                                       {&l.wv, hooks_.qkv_bias ? f32_data(l.bv) : nullptr, v_.f32()}};
  HOLO_TRY(be_->matmul_parts(qkv, 3, xn_.f32(), n));
  const std::int32_t* positions = positions_.data() + t0;
  const kv_layer kv = cache_.layer(il - weights_->first_layer);
  HOLO_TRY(be_->rope_qk_store(q_.f32(), k_.f32(), v_.f32(), n, positions, rope_, kv, shape_, pos0));
  HOLO_TRY(be_->attention(q_.f32(), kv, shape_, pos0, n, att_.f32()));
  // o (n, n_embd) = att (n, n_head*head_dim) @ Wo^T (+ bo)
  return be_->matmul(l.wo, att_.f32(), n, l.bo.empty() ? nullptr : f32_data(l.bo), o_.f32());
}

status transformer::ffn_block(std::int32_t il, std::int64_t n) {
  const layer_weights& l = weights_->layer(il);
  const model_config& c = *config_;
  // gate, up (n, n_ff) = xn @ W^T; gate = silu(gate) * up; o (n, n_embd) = gate @ Wdown^T
  for (std::int64_t t0 = 0; t0 < n; t0 += ffn_rows_max) {
    const std::int64_t m = std::min<std::int64_t>(ffn_rows_max, n - t0);
    const float* in = xn_.f32() + t0 * c.n_embd;
    const backend::matmul_part gate_up[2] = {{&l.ffn_gate, nullptr, gate_.f32()}, {&l.ffn_up, nullptr, up_.f32()}};
    HOLO_TRY(be_->matmul_parts(gate_up, 2, in, m));
    be_->swiglu(gate_.f32(), up_.f32(), m * c.n_ff, gate_.f32());
    HOLO_TRY(be_->matmul(l.ffn_down, gate_.f32(), m, nullptr, o_.f32() + t0 * c.n_embd));
  }
  return {};
}

status transformer::run_layers(std::int64_t pos0, std::int64_t n) {
  assert(n >= 1 && n <= options_.batch_max);
  if (pos0 < 0 || pos0 + n > cache_.ctx_size()) {
    return status::out_of_range("positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + n - 1) +
                                " beyond the context of " + std::to_string(cache_.ctx_size()) + " tokens");
  }
  for (std::int64_t t = 0; t < n; ++t) positions_[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(pos0 + t);
  if (weights_->first_layer == weights_->last_layer) return {};
  const model_config& c = *config_;
  // Layer by layer, each layer over the batch in passes of pass_rows_ tokens, in order: a pass's
  // attention reads the keys and values the earlier passes of the same layer stored. The layer's
  // weights are read once per pass (from the cache for the later passes of a small layer).
  const bool one_pass = n <= pass_rows_;
  for (std::int32_t il = weights_->first_layer; il < weights_->last_layer; ++il) {
    const layer_weights& l = weights_->layer(il);
    for (std::int64_t t0 = 0; t0 < n; t0 += pass_rows_) {
      const std::int64_t m = std::min(pass_rows_, n - t0);
      float* x = x_.f32() + t0 * c.n_embd;
      // xn = rmsnorm(x) for the attention; in a single pass the previous layer's residual add
      // below already made it.
      if (il == weights_->first_layer || !one_pass)
        be_->rmsnorm(x, f32_data(l.attn_norm), m, c.n_embd, c.rms_eps, xn_.f32());
      HOLO_TRY(attention_block(il, pos0 + t0, t0, m));
      // x += o; xn = rmsnorm(x) for the FFN
      be_->add_rmsnorm(x, o_.f32(), f32_data(l.ffn_norm), m, c.n_embd, c.rms_eps, xn_.f32());
      HOLO_TRY(ffn_block(il, m));
      if (one_pass && il + 1 < weights_->last_layer) {  // x += o; xn = rmsnorm(x) for the next layer
        const float* next_norm = f32_data(weights_->layer(il + 1).attn_norm);
        be_->add_rmsnorm(x, o_.f32(), next_norm, m, c.n_embd, c.rms_eps, xn_.f32());
      } else {
        be_->add(x, o_.f32(), m * c.n_embd, x);
      }
    }
  }
  return {};
}

status transformer::forward_layers(const float* in, std::int64_t pos0, std::int64_t n, float* out) {
  const auto bytes = static_cast<std::size_t>(n * config_->n_embd) * sizeof(float);
  HOLO_TRY(be_->copy_in(x_.f32(), in, bytes));
  HOLO_TRY(run_layers(pos0, n));
  return be_->copy_out(out, x_.f32(), bytes);
}

status transformer::logits_of(const float* hidden) {
  // Only the last token's row: llama.cpp also drops the other rows before the LM head.
  be_->rmsnorm(hidden, f32_data(weights_->output_norm), 1, config_->n_embd, config_->rms_eps, xn_.f32());
  if (!be_->device_memory()) return be_->matmul(weights_->output, xn_.f32(), 1, nullptr, logits_.data());
  HOLO_TRY(be_->matmul(weights_->output, xn_.f32(), 1, nullptr, logits_dev_.f32()));
  return be_->copy_out(logits_.data(), logits_dev_.f32(), logits_.size() * sizeof(float));
}

// A decode step on a device backend: recorded once (the ops of embed, every layer and the LM head,
// with the token id and position as device scalars), then replayed per token, so the step costs one
// launch instead of one per op. unimplemented: this backend cannot record; eval runs the ops.
status transformer::decode_recorded(std::int32_t token, std::int64_t pos) {
  if (!step_graph_) {
    if (auto s = be_->begin_step_capture(); !s.ok()) {
      record_steps_ = false;
      return status::unimplemented("recorded steps: " + s.message());
    }
    // Recorded, not run: the ops read the id and position the replay sets (token/pos here only
    // pass the up-front argument checks).
    status s = embed_into(&token, 1, x_.f32());
    if (s.ok()) s = run_layers(pos, 1);
    if (s.ok()) {
      be_->rmsnorm(x_.f32(), f32_data(weights_->output_norm), 1, config_->n_embd, config_->rms_eps, xn_.f32());
      s = be_->matmul(weights_->output, xn_.f32(), 1, nullptr, logits_dev_.f32());
    }
    auto g = be_->end_step_capture();
    if (!s.ok()) return s;
    if (!g) {
      record_steps_ = false;  // e.g. the driver cannot record: run the ops from now on
      return status::unimplemented("recorded steps: " + g.error().message());
    }
    step_graph_ = std::move(*g);
  }
  HOLO_TRY(be_->replay_step(*step_graph_, token, static_cast<std::int32_t>(pos)));
  return be_->copy_out(logits_.data(), logits_dev_.f32(), logits_.size() * sizeof(float));
}

status transformer::output_logits(const float* hidden, float* logits) {
  if (weights_->last_layer != config_->n_layer) return status::failed_precondition("output: this shard has no last layer");
  HOLO_TRY(be_->copy_in(o_.f32(), hidden, static_cast<std::size_t>(config_->n_embd) * sizeof(float)));
  HOLO_TRY(logits_of(o_.f32()));
  std::memcpy(logits, logits_.data(), logits_.size() * sizeof(float));
  return {};
}

status transformer::eval(const std::int32_t* tokens, std::int64_t n, std::int64_t pos0) {
  if (n < 1) return status::invalid_argument("eval: no tokens");
  if (weights_->first_layer != 0 || weights_->last_layer != config_->n_layer) {
    return status::failed_precondition("eval needs every layer; a shard uses embed/forward_layers/output_logits");
  }
  if (pos0 < 0 || pos0 + n > cache_.ctx_size()) {
    return status::out_of_range("positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + n - 1) +
                                " beyond the context of " + std::to_string(cache_.ctx_size()) + " tokens");
  }
  if (n == 1 && be_->device_memory() && record_steps_) {
    if (auto s = decode_recorded(tokens[0], pos0); s.code() != status_code::unimplemented) return s;
  }
  for (std::int64_t done = 0; done < n;) {
    const std::int64_t b = std::min<std::int64_t>(options_.batch_max, n - done);
    HOLO_TRY(embed_into(tokens + done, b, x_.f32()));
    HOLO_TRY(run_layers(pos0 + done, b));
    done += b;
    if (done == n) return logits_of(x_.f32() + (b - 1) * config_->n_embd);
  }
  return {};
}

}  // namespace holo::gpu
