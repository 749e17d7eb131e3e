// vocab_data: the contract between the GGUF loader and the tokenizers. A plain struct, filled once
// from a model's metadata and handed by value to `tokenizer::create`, which validates it (sizes,
// ids in range, merges well formed) -- the loader only copies what the file says.
//
// GGUF key -> field (absent keys stay empty / std::nullopt; the tokenizer then applies the same
// defaults llama.cpp does, so the loader must NOT invent values):
//   tokenizer.ggml.model             string          -> model            ("llama" = SentencePiece,
//                                                                          "gpt2" = byte-level BPE)
//   tokenizer.ggml.pre               string          -> pre              ("llama-bpe", "llama3",
//                                                                          "qwen2", "gpt-2", "default"...)
//   tokenizer.ggml.tokens            array[string]   -> tokens
//   tokenizer.ggml.scores            array[f32|i32]  -> scores           (convert i32 to float)
//   tokenizer.ggml.token_type        array[i32]      -> token_types      (values of token_type)
//   tokenizer.ggml.merges            array[string]   -> merges           ("left right", rank = index)
//   tokenizer.ggml.bos_token_id      u32             -> bos_token_id
//   tokenizer.ggml.eos_token_id      u32             -> eos_token_id
//   tokenizer.ggml.eot_token_id      u32             -> eot_token_id
//   tokenizer.ggml.eom_token_id      u32             -> eom_token_id
//   tokenizer.ggml.unknown_token_id  u32             -> unknown_token_id
//   tokenizer.ggml.padding_token_id  u32             -> padding_token_id
//   tokenizer.ggml.add_bos_token     bool            -> add_bos_token
//   tokenizer.ggml.add_eos_token     bool            -> add_eos_token
//   tokenizer.ggml.add_space_prefix  bool            -> add_space_prefix
//   tokenizer.chat_template          string          -> chat_template    (see gpu/chat_template.hpp)
// Ids wider than int32 are out of range by construction: the loader should reject them (or pass a
// value >= tokens.size(), which `tokenizer::create` rejects).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace holo::gpu {

// Values of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class token_type : std::int32_t {
  undefined = 0,  // treated as normal
  normal = 1,
  unknown = 2,
  control = 3,       // BOS, EOS, <|im_start|>...: never printed unless asked, parsed only on request
  user_defined = 4,  // added tokens: always split out of the text before pre-tokenization
  unused = 5,
  byte = 6,  // SentencePiece byte fallback <0xXX>
};

struct vocab_data {
  std::string model;  // "llama" or "gpt2"
  std::string pre;    // BPE pre-tokenizer name; ignored for "llama"
  std::vector<std::string> tokens;
  std::vector<float> scores;             // empty or tokens.size()
  std::vector<std::int32_t> token_types;  // empty (all normal) or tokens.size()
  std::vector<std::string> merges;       // BPE only: "left right", highest priority first

  std::optional<std::int32_t> bos_token_id;
  std::optional<std::int32_t> eos_token_id;
  std::optional<std::int32_t> eot_token_id;
  std::optional<std::int32_t> eom_token_id;
  std::optional<std::int32_t> unknown_token_id;
  std::optional<std::int32_t> padding_token_id;

  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::optional<bool> add_space_prefix;

  std::string chat_template;  // Jinja text, may be empty
};

}  // namespace holo::gpu
