// Unicode classification and UTF-8 helpers for the tokenizers (gpu/pretokenizer.cpp,
// gpu/tokenizer*.cpp). Pure functions over immutable tables: safe from any thread, never fail.
//
// Coverage: \p{L} and \p{N} are complete for Unicode 14.0 (see the table comment in unicode.cpp);
// \s is the Unicode White_Space set, as llama.cpp's regex engine uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace holo::gpu::unicode {

inline constexpr char32_t replacement = 0xFFFD;

bool is_letter(char32_t c);      // general category L*
bool is_number(char32_t c);      // general category N* (Nd, Nl, No)
bool is_whitespace(char32_t c);  // White_Space

// Byte length of the UTF-8 sequence a lead byte announces; 1 for ASCII, continuation and invalid
// bytes, so a malformed string still advances (the SentencePiece symbol split uses this).
std::size_t lead_length(unsigned char b);

// Strict check of the sequence starting at s[pos] (pos < s.size()): > 0 its length when valid;
// 0 when it is a valid prefix cut off by the end of `s`; -k when invalid, k being the length of the
// maximal invalid subpart (to be replaced by one U+FFFD). Rejects overlongs, surrogates, > U+10FFFF.
int check_utf8(std::string_view s, std::size_t pos);

struct decoded {
  char32_t cpt;      // U+FFFD when invalid
  std::uint8_t len;  // bytes consumed, >= 1
  bool valid;
};
// Decodes one code point at s[pos]; an invalid or truncated sequence consumes one byte.
decoded decode(std::string_view s, std::size_t pos);

void append_utf8(std::string& out, char32_t c);

// Appends to `out` the valid UTF-8 in `in`, each maximal invalid subpart replaced by U+FFFD, and
// returns how many bytes of `in` it consumed: all of them except a trailing valid-but-incomplete
// sequence (at most 3 bytes), which the caller keeps until more bytes arrive.
std::size_t sanitize_utf8(std::string_view in, std::string& out);

bool is_valid_utf8(std::string_view s);

}  // namespace holo::gpu::unicode
