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

backend_limits transformer::backend_limits_for(const model_config& c, const transformer_options& o) {
  backend_limits l;
  l.tokens_max = o.batch_max;
  l.cols_max = std::max({std::int64_t(c.n_embd), std::int64_t(c.n_ff), std::int64_t(c.n_embd_q())});
  l.ctx_max = o.ctx_size;
  l.heads_max = c.n_head;
  l.head_dim_max = c.head_dim;
  return l;
}

result<transformer> transformer::create(const model_config& c, const model_weights& w, backend& be,
                                        const transformer_options& o) {
  if (o.batch_max < 1 || o.ctx_size < 1 || o.ctx_size > model_limits::n_ctx_max) {
    return status::invalid_argument("transformer: batch_max " + std::to_string(o.batch_max) + ", ctx_size " +
                                    std::to_string(o.ctx_size));
  }
  auto hooks = arch_hooks_for(c);
  if (!hooks) return hooks.error();
  HOLO_TRY(check_weights(c, w, *hooks));
  auto cache = kv_cache::create({w.last_layer - w.first_layer, c.n_head_kv, c.head_dim, o.ctx_size});
  if (!cache) return cache.error();
  try {
    return transformer(c, w, be, *hooks, o, std::move(*cache));
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
  const auto rows = static_cast<std::size_t>(o.batch_max);
  x_.resize(rows * c.n_embd);
  xn_.resize(rows * c.n_embd);
  q_.resize(rows * c.n_embd_q());
  k_.resize(rows * c.n_embd_k());
  v_.resize(rows * c.n_embd_v());
  att_.resize(rows * c.n_embd_q());
  o_.resize(rows * c.n_embd);
  gate_.resize(rows * c.n_ff);
  up_.resize(rows * c.n_ff);
  if (w.last_layer == c.n_layer) logits_.resize(static_cast<std::size_t>(c.n_vocab));
  positions_.resize(rows);
}

std::uint64_t transformer::scratch_bytes() const {
  const std::size_t floats = x_.size() + xn_.size() + q_.size() + k_.size() + v_.size() + att_.size() +
                             o_.size() + gate_.size() + up_.size() + logits_.size();
  return floats * sizeof(float) + positions_.size() * sizeof(std::int32_t);
}

status transformer::embed(const std::int32_t* ids, std::int64_t n, float* out) {
  assert(n >= 1 && n <= options_.batch_max);
  if (weights_->first_layer != 0) return status::failed_precondition("embed: this shard has no layer 0");
  HOLO_TRY(be_->get_rows(weights_->token_embd, ids, n, out));
  if (hooks_.embd_scale != 1.0f) be_->scale(out, n * config_->n_embd, hooks_.embd_scale);
  return {};
}

status transformer::attention_block(std::int32_t il, std::int64_t pos0, std::int64_t n) {
  const layer_weights& l = weights_->layer(il);
  const model_config& c = *config_;
  be_->rmsnorm(x_.data(), f32_data(l.attn_norm), n, c.n_embd, c.rms_eps, xn_.data());
  // q (n, n_head*head_dim), k/v (n, n_head_kv*head_dim) = xn (n, n_embd) @ W^T (+ b)
  HOLO_TRY(be_->matmul(l.wq, xn_.data(), n, hooks_.qkv_bias ? f32_data(l.bq) : nullptr, q_.data()));
  HOLO_TRY(be_->matmul(l.wk, xn_.data(), n, hooks_.qkv_bias ? f32_data(l.bk) : nullptr, k_.data()));
  HOLO_TRY(be_->matmul(l.wv, xn_.data(), n, hooks_.qkv_bias ? f32_data(l.bv) : nullptr, v_.data()));
  HOLO_TRY(be_->rope(q_.data(), n, c.n_head, c.head_dim, positions_.data(), rope_));
  HOLO_TRY(be_->rope(k_.data(), n, c.n_head_kv, c.head_dim, positions_.data(), rope_));
  const kv_layer kv = cache_.layer(il - weights_->first_layer);
  HOLO_TRY(be_->kv_store(kv, shape_, pos0, n, k_.data(), v_.data()));
  HOLO_TRY(be_->attention(q_.data(), kv, shape_, pos0, n, att_.data()));
  // o (n, n_embd) = att (n, n_head*head_dim) @ Wo^T (+ bo); x += o
  HOLO_TRY(be_->matmul(l.wo, att_.data(), n, l.bo.empty() ? nullptr : f32_data(l.bo), o_.data()));
  be_->add(x_.data(), o_.data(), n * c.n_embd, x_.data());
  return {};
}

status transformer::ffn_block(std::int32_t il, std::int64_t n) {
  const layer_weights& l = weights_->layer(il);
  const model_config& c = *config_;
  be_->rmsnorm(x_.data(), f32_data(l.ffn_norm), n, c.n_embd, c.rms_eps, xn_.data());
  // gate, up (n, n_ff) = xn @ W^T; gate = silu(gate) * up; o (n, n_embd) = gate @ Wdown^T; x += o
  HOLO_TRY(be_->matmul(l.ffn_gate, xn_.data(), n, nullptr, gate_.data()));
  HOLO_TRY(be_->matmul(l.ffn_up, xn_.data(), n, nullptr, up_.data()));
  be_->swiglu(gate_.data(), up_.data(), n * c.n_ff, gate_.data());
  HOLO_TRY(be_->matmul(l.ffn_down, gate_.data(), n, nullptr, o_.data()));
  be_->add(x_.data(), o_.data(), n * c.n_embd, x_.data());
  return {};
}

status transformer::run_layers(std::int64_t pos0, std::int64_t n) {
  assert(n >= 1 && n <= options_.batch_max);
  if (pos0 < 0 || pos0 + n > cache_.ctx_size()) {
    return status::out_of_range("positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + n - 1) +
                                " beyond the context of " + std::to_string(cache_.ctx_size()) + " tokens");
  }
  for (std::int64_t t = 0; t < n; ++t) positions_[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(pos0 + t);
  for (std::int32_t il = weights_->first_layer; il < weights_->last_layer; ++il) {
    HOLO_TRY(attention_block(il, pos0, n));
    HOLO_TRY(ffn_block(il, n));
  }
  return {};
}

status transformer::forward_layers(const float* in, std::int64_t pos0, std::int64_t n, float* out) {
  const auto count = static_cast<std::size_t>(n * config_->n_embd);
  if (in != x_.data()) std::memmove(x_.data(), in, count * sizeof(float));
  HOLO_TRY(run_layers(pos0, n));
  if (out != x_.data()) std::memmove(out, x_.data(), count * sizeof(float));
  return {};
}

status transformer::output_logits(const float* hidden, float* logits) {
  if (weights_->last_layer != config_->n_layer) return status::failed_precondition("output: this shard has no last layer");
  // Only the last token's row: llama.cpp also drops the other rows before the LM head.
  be_->rmsnorm(hidden, f32_data(weights_->output_norm), 1, config_->n_embd, config_->rms_eps, xn_.data());
  return be_->matmul(weights_->output, xn_.data(), 1, nullptr, logits);
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
  for (std::int64_t done = 0; done < n;) {
    const std::int64_t b = std::min<std::int64_t>(options_.batch_max, n - done);
    HOLO_TRY(embed(tokens + done, b, x_.data()));
    HOLO_TRY(run_layers(pos0 + done, b));
    done += b;
    if (done == n) return output_logits(x_.data() + (b - 1) * config_->n_embd, logits_.data());
  }
  return {};
}

}  // namespace holo::gpu
