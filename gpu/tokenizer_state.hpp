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

// One token: its text (as the vocabulary spells it) and its piece (the bytes it prints with
// unparse_special: llama.cpp's token_to_piece cache), both ranges of tokenizer_state::chars. Two
// std::strings per token took 72 bytes each even when short (2.3 MB for a 32k vocabulary, resident
// for the model's life); 24 bytes plus the characters themselves now.
struct token_entry {
  std::uint32_t text_at = 0, text_bytes = 0;
  std::uint32_t piece_at = 0, piece_bytes = 0;
  float score = 0.0f;
  token_type type = token_type::normal;
};

// Lets merge_ranks be searched with a string_view without building a std::string (C++20
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
  std::string chars;  // every token's text, then every token's piece (token_entry offsets)
  // Text -> id for find(): open addressing over the ids (linear probing, -1 empty, a power of two
  // at least twice the vocabulary), keyed by tokens[id].text. A map of strings to ids held a second
  // copy of every text in its own heap node: 2 MiB for a 32k vocabulary against 256 KiB here.
  std::vector<std::int32_t> id_slots;
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

  // Token id's text and piece (id in range).
  std::string_view text(std::int32_t id) const {
    const token_entry& e = tokens[static_cast<std::size_t>(id)];
    return std::string_view(chars).substr(e.text_at, e.text_bytes);
  }
  std::string_view piece(std::int32_t id) const {
    const token_entry& e = tokens[static_cast<std::size_t>(id)];
    return std::string_view(chars).substr(e.piece_at, e.piece_bytes);
  }

  std::int32_t find(std::string_view t) const { return id_slots.empty() ? -1 : id_slots[slot_of(t)]; }
  // Adds id (its text set) to id_slots; the id already holding that text, or -1.
  std::int32_t index_token(std::int32_t id) {
    std::int32_t& slot = id_slots[slot_of(text(id))];
    if (slot >= 0) return slot;
    slot = id;
    return -1;
  }
  // The slot holding text t, or the empty slot where it would go (id_slots not empty).
  std::size_t slot_of(std::string_view t) const {
    const std::size_t mask = id_slots.size() - 1;
    std::size_t i = std::hash<std::string_view>{}(t) & mask;
    while (id_slots[i] >= 0 && text(id_slots[i]) != t) i = (i + 1) & mask;
    return i;
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
