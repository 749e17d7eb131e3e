#include "gpu/pretokenizer.hpp"

#include <cstddef>

#include "gpu/unicode.hpp"

namespace holo::gpu {
namespace {

enum class char_class : unsigned char { letter, number, space, other, end };

// The text decoded once into code points, each with its class and byte offset, so the matchers
// below can look ahead freely.
struct cpt_text {
  std::vector<char32_t> cpts;
  std::vector<char_class> classes;
  std::vector<std::size_t> offsets;  // offsets[i] = byte offset of cpt i; offsets[n] = text size

  explicit cpt_text(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
      const unicode::decoded d = unicode::decode(text, pos);
      char_class c = char_class::other;
      if (d.valid) {
        if (unicode::is_letter(d.cpt)) c = char_class::letter;
        else if (unicode::is_number(d.cpt)) c = char_class::number;
        else if (unicode::is_whitespace(d.cpt)) c = char_class::space;
      }
      cpts.push_back(d.valid ? d.cpt : unicode::replacement);
      classes.push_back(c);
      offsets.push_back(pos);
      pos += d.len;
    }
    offsets.push_back(text.size());
  }
  std::size_t size() const { return cpts.size(); }
  char_class cls(std::size_t i) const { return i < size() ? classes[i] : char_class::end; }
  char32_t at(std::size_t i) const { return i < size() ? cpts[i] : 0; }
  // End of the run of class `c` starting at i (i itself if none).
  std::size_t run(std::size_t i, char_class c) const {
    while (i < size() && classes[i] == c) ++i;
    return i;
  }
};

char32_t ascii_lower(char32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Length of a contraction ('s 't 're 've 'm 'll 'd) at i, 0 if none.
std::size_t contraction(const cpt_text& t, std::size_t i, bool ignore_case) {
  if (t.at(i) != '\'') return 0;
  auto low = [&](std::size_t k) { return ignore_case ? ascii_lower(t.at(k)) : t.at(k); };
  const char32_t a = low(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  const char32_t b = low(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s+(?!\S)|\s+ at a whitespace position i: a run followed by a non-space gives back its last
// character so that it can prefix the next word (" world"), unless the run is one character.
std::size_t whitespace_tail(const cpt_text& t, std::size_t i) {
  const std::size_t j = t.run(i, char_class::space);
  if (j == t.size() || j - i < 2) return j;
  return j - 1;
}

bool is_newline(char32_t c) { return c == '\r' || c == '\n'; }

// One match of the GPT-2 pattern at i; returns its end (> i).
std::size_t match_gpt2(const cpt_text& t, std::size_t i) {
  if (std::size_t n = contraction(t, i, false)) return i + n;
  // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' in this order.
  for (char_class c : {char_class::letter, char_class::number, char_class::other}) {
    const std::size_t start = (t.at(i) == ' ' && t.cls(i + 1) == c) ? i + 1 : i;
    if (t.cls(start) == c) return t.run(start, c);
  }
  return whitespace_tail(t, i);  // only whitespace is left
}

// One match of the llama3 (digits_max 3) or qwen2 (digits_max 1) pattern at i.
std::size_t match_llama3(const cpt_text& t, std::size_t i, std::size_t digits_max) {
  if (std::size_t n = contraction(t, i, true)) return i + n;
  const char_class c = t.cls(i);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c == char_class::letter) return t.run(i, char_class::letter);
  if (c != char_class::number && !is_newline(t.at(i)) && t.cls(i + 1) == char_class::letter) {
    return t.run(i + 1, char_class::letter);
  }
  // \p{N}{1,digits_max}
  if (c == char_class::number) {
    std::size_t j = i;
    while (j - i < digits_max && t.cls(j) == char_class::number) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const std::size_t start = (t.at(i) == ' ' && t.cls(i + 1) == char_class::other) ? i + 1 : i;
  if (t.cls(start) == char_class::other) {
    std::size_t j = t.run(start, char_class::other);
    while (j < t.size() && is_newline(t.at(j))) ++j;
    return j;
  }
  // \s*[\r\n]+ : up to and including the last newline of the whitespace run.
  const std::size_t j = t.run(i, char_class::space);
  for (std::size_t k = j; k > i; --k) {
    if (is_newline(t.at(k - 1))) return k;
  }
  return whitespace_tail(t, i);
}

}  // namespace

void pretokenize(pretokenizer_kind kind, std::string_view text, std::vector<std::string_view>& words) {
  const cpt_text t(text);
  for (std::size_t i = 0; i < t.size();) {
    std::size_t j = 0;
    switch (kind) {
      case pretokenizer_kind::gpt2: j = match_gpt2(t, i); break;
      case pretokenizer_kind::llama3: j = match_llama3(t, i, 3); break;
      case pretokenizer_kind::qwen2: j = match_llama3(t, i, 1); break;
    }
    if (j <= i) j = i + 1;  // cannot happen (every class matches); keeps the loop finite anyway
    words.push_back(text.substr(t.offsets[i], t.offsets[j] - t.offsets[i]));
    i = j;
  }
}

}  // namespace holo::gpu
