#include "gpu/vocab_loader.hpp"

#include <optional>
#include <string>

namespace holo::gpu {

namespace {

status read_optional_string(const gguf_file& f, std::string_view key, std::string& out) {
  if (!f.has(key)) return ok_status();
  auto v = f.get_string(key);
  if (!v) return v.error();
  out = std::string(*v);
  return ok_status();
}

status read_optional_id(const gguf_file& f, std::string_view key, std::optional<std::int32_t>& out) {
  if (!f.has(key)) return ok_status();
  auto v = f.get_i32(key);  // any integer type whose value fits int32
  if (!v) return v.error();
  if (*v < 0) return status::invalid_argument(std::string(key) + " = " + std::to_string(*v) + " is negative");
  out = *v;
  return ok_status();
}

status read_optional_bool(const gguf_file& f, std::string_view key, std::optional<bool>& out) {
  if (!f.has(key)) return ok_status();
  auto v = f.get_bool(key);
  if (!v) return v.error();
  out = *v;
  return ok_status();
}

// Scores are f32 in every file llama.cpp writes; some converters wrote integers.
status read_scores(const gguf_file& f, std::vector<float>& out) {
  constexpr std::string_view key = "tokenizer.ggml.scores";
  auto arr = f.get_array(key);
  if (!arr) return arr.error().code() == status_code::not_found ? ok_status() : arr.error();
  if ((*arr)->type == gguf_value_type::f32 || (*arr)->type == gguf_value_type::f64) {
    auto v = f.get_array_f32(key);
    if (!v) return v.error();
    out = std::move(*v);
    return ok_status();
  }
  auto v = f.get_array_i32(key);
  if (!v) return v.error();
  out.assign(v->begin(), v->end());
  return ok_status();
}

status read_arrays(const gguf_file& f, vocab_data& d) {
  auto tokens = f.get_array_strings("tokenizer.ggml.tokens");
  if (!tokens) return tokens.error();
  d.tokens.assign(tokens->begin(), tokens->end());
  HOLO_TRY(read_scores(f, d.scores));
  if (f.has("tokenizer.ggml.token_type")) {
    auto types = f.get_array_i32("tokenizer.ggml.token_type");
    if (!types) return types.error();
    d.token_types = std::move(*types);
  }
  if (f.has("tokenizer.ggml.merges")) {
    auto merges = f.get_array_strings("tokenizer.ggml.merges");
    if (!merges) return merges.error();
    d.merges.assign(merges->begin(), merges->end());
  }
  return ok_status();
}

}  // namespace

result<vocab_data> read_vocab(const gguf_file& f) {
  vocab_data d;
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model) return model.error();
  d.model = std::string(*model);
  HOLO_TRY(read_optional_string(f, "tokenizer.ggml.pre", d.pre));
  HOLO_TRY(read_arrays(f, d));
  HOLO_TRY(read_optional_id(f, "tokenizer.ggml.bos_token_id", d.bos_token_id));
  HOLO_TRY(read_optional_id(f, "tokenizer.ggml.eos_token_id", d.eos_token_id));
  HOLO_TRY(read_optional_id(f, "tokenizer.ggml.eot_token_id", d.eot_token_id));
  HOLO_TRY(read_optional_id(f, "tokenizer.ggml.eom_token_id", d.eom_token_id));
  HOLO_TRY(read_optional_id(f, "tokenizer.ggml.unknown_token_id", d.unknown_token_id));
  HOLO_TRY(read_optional_id(f, "tokenizer.ggml.padding_token_id", d.padding_token_id));
  HOLO_TRY(read_optional_bool(f, "tokenizer.ggml.add_bos_token", d.add_bos_token));
  HOLO_TRY(read_optional_bool(f, "tokenizer.ggml.add_eos_token", d.add_eos_token));
  HOLO_TRY(read_optional_bool(f, "tokenizer.ggml.add_space_prefix", d.add_space_prefix));
  HOLO_TRY(read_optional_string(f, "tokenizer.chat_template", d.chat_template));
  return d;
}

result<tokenizer> load_tokenizer(const gguf_file& f) {
  auto d = read_vocab(f);
  if (!d) return d.error();
  auto t = tokenizer::create(std::move(*d));
  if (!t) return t.error().with_context("tokenizer of the model");
  return t;
}

}  // namespace holo::gpu
