// Text <-> token ids for the two GGUF tokenizer families, with llama.cpp's behaviour:
//   - "llama": SentencePiece. Spaces become U+2581, a space is prefixed to the text (and after
//     every special token) when add_space_prefix, pieces merge by highest score, characters with no
//     piece fall back to <0xXX> byte tokens.
//   - "gpt2": byte-level BPE. Text is split by the pre-tokenizer named in vocab_data::pre (see
//     gpu/pretokenizer.hpp), each byte mapped to a printable code point (GPT-2's bytes_to_unicode),
//     pairs merged by rank.
// Special tokens (control and unknown when parse_special; user-defined always) are cut out of the
// text before either algorithm runs, longest text first.
//
// Ownership and threads: a tokenizer is an immutable value built once from vocab_data; copies share
// the same tables (cheap to copy, no reference back to the vocab_data). Every const member may be
// called from any thread at once. A detokenizer is one stream's state: one owner, no sharing.
//
// Failure: only `create` fails (a status saying which field is wrong). Encoding accepts any bytes,
// including malformed UTF-8 (its bytes are encoded as bytes). Decoding an id out of range yields
// no text.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/vocab.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

namespace detail {
struct tokenizer_state;
}

enum class tokenizer_kind { spm, bpe };

struct decode_options {
  // Drop a leading BOS (and a trailing EOS when the vocab adds one), as llama_detokenize does.
  bool remove_special = true;
  // Print control/unknown tokens' text (e.g. "<|im_end|>"); otherwise they print nothing.
  bool unparse_special = false;
  // The first token decoded starts the sequence. Then llama.cpp's rule applies: with
  // add_space_prefix (SentencePiece) the first token's leading space is removed -- unless the
  // sequence starts with a BOS that remove_special drops, in which case llama.cpp keeps it.
  // Set false when decoding a continuation (generated tokens after a prompt).
  bool sequence_start = true;
};

class tokenizer {
 public:
  // Validates `data` (model and pre names known, array sizes equal, ids in range, merges of the
  // form "left right", byte tokens of the form <0xXX>, no duplicate texts) and builds the tables.
  // Errors: invalid_argument (bad data), unimplemented (an unsupported model or pre-tokenizer).
  static result<tokenizer> create(vocab_data data);

  // add_special: add BOS/EOS as the vocab's add_bos_token/add_eos_token say.
  // parse_special: recognise control-token texts such as "<|im_start|>" in `text`.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The vocabulary text of `id` as stored ("▁Hello", "Ġworld", "<0x0A>"); "" when out of range.
  std::string token_text(std::int32_t id) const;
  // The bytes `id` decodes to, possibly an incomplete UTF-8 sequence; control/unknown tokens give
  // their text only with unparse_special. "" when out of range.
  std::string token_piece(std::int32_t id, bool unparse_special = false) const;
  // All of `ids` as text, always valid UTF-8 (each invalid byte sequence becomes U+FFFD).
  // Equals the concatenation of a detokenizer's push()es and flush() with the same options.
  std::string decode(std::span<const std::int32_t> ids, decode_options opts = {}) const;

  // End of generation: EOS, EOT, EOM, and tokens such as <|eot_id|>, <|im_end|>, <|end|>,
  // <end_of_turn>, <|endoftext|> found by text (as llama.cpp does).
  bool is_eog(std::int32_t id) const;
  bool is_control(std::int32_t id) const;

  tokenizer_kind kind() const;
  std::int32_t n_vocab() const;
  std::int32_t bos_id() const;  // -1 when the vocab has none
  std::int32_t eos_id() const;  // -1 when the vocab has none
  bool add_bos() const;
  bool add_eos() const;
  const std::string& chat_template() const;

 private:
  friend class detokenizer;
  explicit tokenizer(std::shared_ptr<const detail::tokenizer_state> s) : s_(std::move(s)) {}
  std::shared_ptr<const detail::tokenizer_state> s_;
};

// Streaming decoder for one generation stream: push each sampled id, send what comes back. Only
// complete, valid UTF-8 is ever returned; a character split across tokens (byte tokens <0xE2>...,
// byte-level BPE fragments) is held back until complete (at most 3 bytes), and invalid sequences
// become U+FFFD. flush() returns what is held (as U+FFFD when incomplete) at the end of the stream.
class detokenizer {
 public:
  explicit detokenizer(const tokenizer& tok, decode_options opts = {});

  std::string push(std::int32_t id);
  std::string flush();

 private:
  void append_piece(std::int32_t id, std::string& bytes);

  std::shared_ptr<const detail::tokenizer_state> s_;
  decode_options opts_;
  std::string pending_;        // trailing bytes of an incomplete UTF-8 sequence, <= 3
  bool first_ = true;          // no token pushed yet
  bool strip_space_ = false;   // the next piece loses one leading space
  bool holding_eos_ = false;   // an EOS that is dropped if it turns out to be the last token
};

}  // namespace holo::gpu
