#include "gpu/model_config.hpp"

#include <cmath>
#include <string>

namespace holo::gpu {

std::string_view to_string(model_arch a) {
  switch (a) {
    case model_arch::llama: return "llama";
    case model_arch::qwen2: return "qwen2";
  }
  return "unknown";
}

result<model_arch> parse_model_arch(std::string_view name) {
  if (name == "llama") return model_arch::llama;
  if (name == "qwen2") return model_arch::qwen2;
  return status::unimplemented("architecture '" + std::string(name) +
                               "' is not supported (supported: llama, qwen2)");
}

std::string_view to_string(rope_kind r) { return r == rope_kind::neox ? "neox" : "normal"; }

namespace {

// A size key: an integer in [1, max]. `fallback` < 0 means the key is required.
result<std::int32_t> read_size(const gguf_file& f, const std::string& key, std::int64_t max,
                               std::int64_t fallback = -1) {
  if (!f.has(key)) {
    if (fallback < 0) return status::not_found("missing metadata key " + key);
    return static_cast<std::int32_t>(fallback);
  }
  auto v = f.get_u64(key);
  if (!v) return v.error();
  if (*v == 0 || *v > static_cast<std::uint64_t>(max))
    return status::invalid_argument(key + " = " + std::to_string(*v) + " is out of range [1, " +
                                    std::to_string(max) + "]");
  return static_cast<std::int32_t>(*v);
}

// Rope scaling: linear is a position multiplier; the others change the frequencies in ways our
// kernels do not (yet) implement, and an approximation would silently change the outputs.
status read_rope_scaling(const gguf_file& f, const std::string& a, model_config& c) {
  std::string type = "none";
  if (f.has(a + ".rope.scaling.type")) {
    auto t = f.get_string(a + ".rope.scaling.type");
    if (!t) return t.error();
    type = std::string(*t);
  }
  auto factor = f.get_f32_or(a + ".rope.scaling.factor", 0.0f);
  if (!factor) return factor.error();
  if (!f.has(a + ".rope.scaling.type") && f.has(a + ".rope.scale_linear")) {  // legacy key
    auto legacy = f.get_f32(a + ".rope.scale_linear");
    if (!legacy) return legacy.error();
    type = "linear";
    factor = *legacy;
  }
  if (type == "none") return ok_status();
  if (type != "linear")
    return status::unimplemented(a + ".rope.scaling.type = '" + type +
                                 "' is not supported (supported: none, linear)");
  if (*factor == 0.0f || *factor == 1.0f) return ok_status();  // llama.cpp: 0 means none
  if (!std::isfinite(*factor) || *factor < 0.0f)
    return status::invalid_argument(a + ".rope.scaling.factor = " + std::to_string(*factor) +
                                    " is not a positive number");
  c.rope_freq_scale = 1.0f / *factor;
  return ok_status();
}

status read_vocab_size(const gguf_file& f, const std::string& a, model_config& c) {
  std::uint64_t n = 0;
  std::string from;
  if (const auto* v = f.find("tokenizer.ggml.tokens"); v && v->type == gguf_value_type::array) {
    n = std::get<gguf_array>(v->data).count;
    from = "tokenizer.ggml.tokens";
  } else if (f.has(a + ".vocab_size")) {
    auto s = f.get_u64(a + ".vocab_size");
    if (!s) return s.error();
    n = *s;
    from = a + ".vocab_size";
  } else if (const auto* t = f.find_tensor("token_embd.weight"); t && t->n_dims >= 2) {
    n = static_cast<std::uint64_t>(t->dims[1]);
    from = "token_embd.weight ne1";
  } else {
    return status::not_found("cannot tell the vocabulary size: no tokenizer.ggml.tokens, " + a +
                             ".vocab_size or token_embd.weight");
  }
  if (n == 0 || n > static_cast<std::uint64_t>(model_limits::n_vocab_max))
    return status::invalid_argument("vocabulary size " + std::to_string(n) + " (from " + from +
                                    ") is out of range");
  c.n_vocab = static_cast<std::int32_t>(n);
  return ok_status();
}

// Stores the size at `key` in `out`; see read_size.
status read_size_into(const gguf_file& f, const std::string& key, std::int64_t max, std::int32_t& out,
                      std::int64_t fallback = -1) {
  auto v = read_size(f, key, max, fallback);
  if (!v) return v.error();
  out = *v;
  return ok_status();
}

status read_sizes(const gguf_file& f, const std::string& a, model_config& c) {
  HOLO_TRY(read_size_into(f, a + ".embedding_length", model_limits::n_embd_max, c.n_embd));
  HOLO_TRY(read_size_into(f, a + ".block_count", model_limits::n_layer_max, c.n_layer));
  HOLO_TRY(read_size_into(f, a + ".attention.head_count", model_limits::n_head_max, c.n_head));
  HOLO_TRY(read_size_into(f, a + ".feed_forward_length", model_limits::n_ff_max, c.n_ff));
  HOLO_TRY(read_size_into(f, a + ".context_length", model_limits::n_ctx_max, c.n_ctx_train));
  HOLO_TRY(read_size_into(f, a + ".attention.head_count_kv", model_limits::n_head_max, c.n_head_kv, c.n_head));
  if (!f.has(a + ".attention.key_length") && c.n_embd % c.n_head != 0)
    return status::invalid_argument(a + ".embedding_length (" + std::to_string(c.n_embd) +
                                    ") is not a multiple of " + a + ".attention.head_count (" +
                                    std::to_string(c.n_head) + ") and no " + a +
                                    ".attention.key_length says the head size");
  HOLO_TRY(read_size_into(f, a + ".attention.key_length", model_limits::head_dim_max, c.head_dim,
                          c.n_embd / c.n_head));
  HOLO_TRY(read_size_into(f, a + ".attention.value_length", model_limits::head_dim_max, c.head_dim_v,
                          c.head_dim));
  HOLO_TRY(read_size_into(f, a + ".rope.dimension_count", model_limits::head_dim_max, c.n_rot, c.head_dim));
  return ok_status();
}

}  // namespace

status validate_model_config(const model_config& c) {
  auto positive = [](std::int64_t v, std::int64_t max) { return v > 0 && v <= max; };
  auto bad = [](std::string what, std::int64_t v) {
    return status::invalid_argument(what + " = " + std::to_string(v) + " is out of range");
  };
  if (!positive(c.n_vocab, model_limits::n_vocab_max)) return bad("n_vocab", c.n_vocab);
  if (!positive(c.n_embd, model_limits::n_embd_max)) return bad("n_embd", c.n_embd);
  if (!positive(c.n_layer, model_limits::n_layer_max)) return bad("n_layer", c.n_layer);
  if (!positive(c.n_head, model_limits::n_head_max)) return bad("n_head", c.n_head);
  if (!positive(c.n_head_kv, model_limits::n_head_max)) return bad("n_head_kv", c.n_head_kv);
  if (!positive(c.head_dim, model_limits::head_dim_max)) return bad("head_dim", c.head_dim);
  if (!positive(c.head_dim_v, model_limits::head_dim_max)) return bad("head_dim_v", c.head_dim_v);
  if (!positive(c.n_ff, model_limits::n_ff_max)) return bad("n_ff", c.n_ff);
  if (!positive(c.n_ctx_train, model_limits::n_ctx_max)) return bad("n_ctx_train", c.n_ctx_train);
  if (c.n_head_kv > c.n_head || c.n_head % c.n_head_kv != 0)
    return status::invalid_argument("n_head (" + std::to_string(c.n_head) +
                                    ") is not a multiple of n_head_kv (" + std::to_string(c.n_head_kv) + ")");
  if (c.n_rot <= 0 || c.n_rot > c.head_dim || c.n_rot % 2 != 0)
    return status::invalid_argument("rope dimension count " + std::to_string(c.n_rot) +
                                    " must be even and in [2, head_dim = " + std::to_string(c.head_dim) + "]");
  if (!(c.rms_eps > 0.0f) || !std::isfinite(c.rms_eps) || c.rms_eps > 1.0f)
    return status::invalid_argument("rms norm epsilon " + std::to_string(c.rms_eps) + " is not in (0, 1]");
  if (!(c.rope_freq_base > 0.0f) || !std::isfinite(c.rope_freq_base))
    return status::invalid_argument("rope freq base " + std::to_string(c.rope_freq_base) + " is not positive");
  if (!(c.rope_freq_scale > 0.0f) || !std::isfinite(c.rope_freq_scale))
    return status::invalid_argument("rope freq scale " + std::to_string(c.rope_freq_scale) + " is not positive");
  return ok_status();
}

result<model_config> read_model_config(const gguf_file& f) {
  auto arch_name = f.get_string("general.architecture");
  if (!arch_name) return arch_name.error();
  auto arch = parse_model_arch(*arch_name);
  if (!arch) return arch.error();

  model_config c;
  c.arch = *arch;
  const std::string a(*arch_name);
  if (f.has("general.name")) {
    auto name = f.get_string("general.name");
    if (!name) return name.error();
    c.name = std::string(*name);
  }
  auto experts = f.get_u32_or(a + ".expert_count", 0);
  if (!experts) return experts.error();
  if (*experts > 0)
    return status::unimplemented(a + ".expert_count = " + std::to_string(*experts) +
                                 ": mixture-of-experts models are not supported");

  HOLO_TRY(read_sizes(f, a, c));
  HOLO_TRY(read_vocab_size(f, a, c));
  auto eps = f.get_f32(a + ".attention.layer_norm_rms_epsilon");
  if (!eps) return eps.error();
  c.rms_eps = *eps;
  auto base = f.get_f32_or(a + ".rope.freq_base", 10000.0f);
  if (!base) return base.error();
  c.rope_freq_base = *base;
  HOLO_TRY(read_rope_scaling(f, a, c));
  auto ftype = f.get_u32_or("general.file_type", 0);
  if (!ftype) return ftype.error();
  c.file_type = *ftype;

  c.rope = c.arch == model_arch::qwen2 ? rope_kind::neox : rope_kind::normal;
  c.rope_freq_factors = f.find_tensor("rope_freqs.weight") != nullptr;
  c.tied_output = f.find_tensor("output.weight") == nullptr;
  c.attn_bias = c.arch == model_arch::qwen2 || f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.attn_output_bias = f.find_tensor("blk.0.attn_output.bias") != nullptr;

  if (auto s = validate_model_config(c); !s.ok()) return s;
  return c;
}

}  // namespace holo::gpu
