#define BOOST_TEST_MODULE pretokenizer
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "gpu/pretokenizer.hpp"
#include "gpu/unicode.hpp"

using namespace holo::gpu;

namespace {

std::vector<std::string> split(pretokenizer_kind k, std::string_view text) {
  std::vector<std::string_view> words;
  pretokenize(k, text, words);
  return {words.begin(), words.end()};
}

using words = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_CASE(unicode_classes) {
  BOOST_TEST(unicode::is_letter(U'a'));
  BOOST_TEST(unicode::is_letter(U'\u00E9'));   // é
  BOOST_TEST(unicode::is_letter(U'\u03A9'));   // Greek Omega
  BOOST_TEST(unicode::is_letter(U'\u0416'));   // Cyrillic Zhe
  BOOST_TEST(unicode::is_letter(U'\u05D0'));   // Hebrew Alef
  BOOST_TEST(unicode::is_letter(U'\u0628'));   // Arabic Beh
  BOOST_TEST(unicode::is_letter(U'\u0915'));   // Devanagari Ka
  BOOST_TEST(!unicode::is_letter(U'\u093F'));  // Devanagari vowel sign I is a mark, not a letter
  BOOST_TEST(unicode::is_letter(U'\u4E2D'));   // CJK 中
  BOOST_TEST(unicode::is_letter(U'\u3042'));   // Hiragana a
  BOOST_TEST(unicode::is_letter(U'\uAC00'));   // Hangul Ga
  BOOST_TEST(unicode::is_letter(U'\U00020000'));  // CJK extension B
  BOOST_TEST(!unicode::is_letter(U'1'));
  BOOST_TEST(!unicode::is_letter(U'\u00D7'));  // ×
  BOOST_TEST(!unicode::is_letter(U'\U0001F600'));  // emoji

  BOOST_TEST(unicode::is_number(U'7'));
  BOOST_TEST(unicode::is_number(U'\u0663'));  // Arabic-Indic three
  BOOST_TEST(unicode::is_number(U'\u00B2'));  // superscript two
  BOOST_TEST(unicode::is_number(U'\u2167'));  // Roman numeral eight
  BOOST_TEST(!unicode::is_number(U'x'));

  BOOST_TEST(unicode::is_whitespace(U' '));
  BOOST_TEST(unicode::is_whitespace(U'\n'));
  BOOST_TEST(unicode::is_whitespace(U'\u3000'));
  BOOST_TEST(unicode::is_whitespace(U'\u00A0'));
  BOOST_TEST(!unicode::is_whitespace(U'\u200B'));  // zero width space is not White_Space
}

BOOST_AUTO_TEST_CASE(utf8_checks) {
  BOOST_TEST(unicode::is_valid_utf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  BOOST_TEST(!unicode::is_valid_utf8("\xC0\x80"));          // overlong
  BOOST_TEST(!unicode::is_valid_utf8("\xED\xA0\x80"));      // surrogate
  BOOST_TEST(!unicode::is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  BOOST_TEST(!unicode::is_valid_utf8("\xE2\x82"));          // truncated
  std::string out;
  // One U+FFFD per maximal invalid subpart; the trailing incomplete sequence is not consumed.
  const std::string in = "a\xE2\x82Z\x80\xF0\x9F";
  const std::size_t used = unicode::sanitize_utf8(in, out);
  BOOST_TEST(out == "a\xEF\xBF\xBDZ\xEF\xBF\xBD");
  BOOST_TEST(used == in.size() - 2);
}

BOOST_AUTO_TEST_CASE(llama3_pattern) {
  const auto k = pretokenizer_kind::llama3;
  BOOST_TEST(split(k, "Hello world") == (words{"Hello", " world"}));
  BOOST_TEST(split(k, "hello  world") == (words{"hello", " ", " world"}));
  BOOST_TEST(split(k, "hello  ") == (words{"hello", "  "}));
  BOOST_TEST(split(k, "it's IT'S we'LL") == (words{"it", "'s", " IT", "'S", " we", "'LL"}));
  BOOST_TEST(split(k, "12345 678") == (words{"123", "45", " ", "678"}));
  BOOST_TEST(split(k, "a\n\nb") == (words{"a", "\n\n", "b"}));
  BOOST_TEST(split(k, "a \n b") == (words{"a", " \n", " b"}));
  BOOST_TEST(split(k, "hi!!\n\nyo") == (words{"hi", "!!\n\n", "yo"}));
  BOOST_TEST(split(k, "x ...") == (words{"x", " ...", }));
  BOOST_TEST(split(k, "$hello") == (words{"$hello"}));
  BOOST_TEST(split(k, "\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80!") ==
             (words{"\xE4\xB8\xAD\xE6\x96\x87", " \xF0\x9F\x98\x80!"}));
  BOOST_TEST(split(k, "\tfoo") == (words{"\tfoo"}));
}

BOOST_AUTO_TEST_CASE(qwen2_pattern_single_digits) {
  const auto k = pretokenizer_kind::qwen2;
  BOOST_TEST(split(k, "12345 678") == (words{"1", "2", "3", "4", "5", " ", "6", "7", "8"}));
  BOOST_TEST(split(k, "it's") == (words{"it", "'s"}));
}

BOOST_AUTO_TEST_CASE(gpt2_pattern) {
  const auto k = pretokenizer_kind::gpt2;
  BOOST_TEST(split(k, "Hello world") == (words{"Hello", " world"}));
  BOOST_TEST(split(k, "it's IT'S") == (words{"it", "'s", " IT", "'", "S"}));
  BOOST_TEST(split(k, "12345 678") == (words{"12345", " 678"}));
  BOOST_TEST(split(k, "a\n\nb") == (words{"a", "\n", "\n", "b"}));
  BOOST_TEST(split(k, "$hello") == (words{"$", "hello"}));
  BOOST_TEST(split(k, "hello   world  ") == (words{"hello", "  ", " world", "  "}));
}

BOOST_AUTO_TEST_CASE(malformed_bytes_are_kept) {
  const std::string text = "ab\xFF\xE2\x82 c";
  for (auto k : {pretokenizer_kind::gpt2, pretokenizer_kind::llama3, pretokenizer_kind::qwen2}) {
    std::string joined;
    for (const auto& w : split(k, text)) joined += w;
    BOOST_TEST(joined == text);
  }
}
