// Internal to the tokenizer (gpu/tokenizer*.cpp): the immutable tables a tokenizer shares between
// its copies, and the two encoding algorithms. Not for other callers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gpu/pretokenizer.hpp"
#include "gpu/tokenizer.hpp"
#include "gpu/vocab.hpp"

namespace holo::gpu::detail {

struct token_entry {
  std::string text;
  float score = 0.0f;
  token_type type = token_type::normal;
  std::string piece;  // decoded bytes with unparse_special (llama.cpp's token_to_piece cache)
};

// Lets the maps be searched with a string_view without building a std::string (C++20
// heterogeneous lookup): encoding looks up every candidate pair.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using id_map = std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>>;

struct tokenizer_state {
  tokenizer_kind kind = tokenizer_kind::spm;
  pretokenizer_kind pre = pretokenizer_kind::gpt2;
  std::vector<token_entry> tokens;
  id_map ids_by_text;
  // BPE: "left right" -> rank (index in the merges list; lower merges first).
  id_map merge_ranks;
  // Ids cut out of raw text before tokenization, longest text first.
  std::vector<std::int32_t> special_ids;
  // Byte value -> its token: <0xXX> for SentencePiece, the mapped code point for BPE; -1 if none.
  std::array<std::int32_t, 256> byte_ids{};
  std::vector<std::uint8_t> eog;  // per id: ends generation

  std::int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  bool ignore_merges = false;  // llama3: a word that is a whole token skips the merges
  std::string chat_template;

  std::int32_t find(std::string_view text) const {
    auto it = ids_by_text.find(text);
    return it == ids_by_text.end() ? -1 : it->second;
  }
};

// SentencePiece: `text` already has spaces escaped to U+2581. Appends ids to `out`.
void spm_encode(const tokenizer_state& s, std::string_view text, std::vector<std::int32_t>& out);

// Byte-level BPE over raw text (pre-tokenized inside). Appends ids to `out`.
void bpe_encode(const tokenizer_state& s, std::string_view text, std::vector<std::int32_t>& out);

// GPT-2's bytes_to_unicode: byte -> printable code point, and back (-1 for unmapped code points).
char32_t bpe_byte_to_cpt(std::uint8_t b);
int bpe_cpt_to_byte(char32_t c);
// The bytes a byte-level BPE token text stands for; code points outside the map pass through as
// their UTF-8 (llama.cpp prints a marker there instead).
std::string bpe_decode_text(std::string_view text);

}  // namespace holo::gpu::detail
