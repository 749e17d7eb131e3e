// Byte-level BPE pre-tokenization: splits text into the words that BPE merges never cross, as the
// Hugging Face regexes of each model family do. The regexes are implemented by hand over code
// points (std::regex has no Unicode classes), one function per family, alternatives in regex order.
//
// Pure functions: safe from any thread, never fail. Malformed UTF-8 bytes count as one "other"
// (neither letter, number nor space) character each, so every input byte lands in exactly one word
// and byte-level BPE round-trips arbitrary bytes.
#pragma once

#include <string_view>
#include <vector>

namespace holo::gpu {

enum class pretokenizer_kind {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  gpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  // \s*[\r\n]+|\s+(?!\S)|\s+
  llama3,
  // as llama3 but \p{N} one digit at a time
  qwen2,
};

// Appends to `words` the consecutive pieces of `text` (views into it; concatenated they are `text`).
void pretokenize(pretokenizer_kind kind, std::string_view text, std::vector<std::string_view>& words);

}  // namespace holo::gpu
