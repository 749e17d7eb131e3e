#include "gpu/json_lite.hpp"

#include <charconv>
#include <cstdlib>

#include "gpu/unicode.hpp"

namespace holo::gpu {

std::optional<std::int64_t> json_value::as_int64() const {
  if (kind_ != kind::number || text_.find_first_of(".eE") != std::string::npos) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), v);
  if (ec != std::errc() || end != text_.data() + text_.size()) return std::nullopt;
  return v;
}

const json_value* json_value::find(std::string_view key) const {
  for (const auto& [k, v] : members_)
    if (k == key) return &v;
  return nullptr;
}

class json_parser {
 public:
  json_parser(std::string_view s, const json_limits& l) : s_(s), limits_(l) {}

  result<json_value> document() {
    if (s_.size() > limits_.document_bytes_max)
      return status::resource_exhausted("JSON document of " + std::to_string(s_.size()) + " bytes exceeds " +
                                        std::to_string(limits_.document_bytes_max));
    json_value v;
    HOLO_TRY(value(v, 0));
    skip_ws();
    if (pos_ != s_.size()) return fail("unexpected data after the value");
    return v;
  }

 private:
  status fail(std::string_view what) const {
    return status::invalid_argument("JSON: " + std::string(what) + " at byte " + std::to_string(pos_));
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  status value(json_value& v, int depth) {
    if (++elements_ > limits_.elements_max)
      return status::resource_exhausted("JSON: more than " + std::to_string(limits_.elements_max) + " values");
    skip_ws();
    if (pos_ >= s_.size()) return fail("unexpected end, expected a value");
    const char c = s_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= limits_.depth_max)
        return status::resource_exhausted("JSON: nesting deeper than " + std::to_string(limits_.depth_max));
      return c == '{' ? object(v, depth + 1) : array(v, depth + 1);
    }
    if (c == '"') {
      v.kind_ = json_value::kind::string;
      return string(v.text_);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(v);
    if (literal("true")) return v.kind_ = json_value::kind::boolean, v.bool_ = true, ok_status();
    if (literal("false")) return v.kind_ = json_value::kind::boolean, v.bool_ = false, ok_status();
    if (literal("null")) return v.kind_ = json_value::kind::null, ok_status();
    return fail("unexpected character, expected a value");
  }

  status object(json_value& v, int depth) {
    v.kind_ = json_value::kind::object;
    ++pos_;  // {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, ok_status();
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a string key");
      std::string key;
      HOLO_TRY(string(key));
      if (v.find(key)) return fail("duplicate key \"" + key + "\"");
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':'");
      ++pos_;
      json_value member;
      HOLO_TRY(value(member, depth));
      v.members_.emplace_back(std::move(key), std::move(member));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, ok_status();
      return fail("expected ',' or '}'");
    }
  }

  status array(json_value& v, int depth) {
    v.kind_ = json_value::kind::array;
    ++pos_;  // [
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, ok_status();
    while (true) {
      json_value item;
      HOLO_TRY(value(item, depth));
      v.items_.push_back(std::move(item));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, ok_status();
      return fail("expected ',' or ']'");
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  status number(json_value& v) {
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t b = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - b;
    };
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
      if (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') return fail("leading zero in a number");
    } else if (digits() == 0) {
      return fail("expected digits");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return fail("expected digits after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return fail("expected digits in the exponent");
    }
    v.kind_ = json_value::kind::number;
    v.text_ = std::string(s_.substr(start, pos_ - start));
    v.number_ = std::strtod(v.text_.c_str(), nullptr);
    return ok_status();
  }

  result<std::uint32_t> hex4() {
    if (pos_ + 4 > s_.size()) return fail("truncated \\u escape");
    std::uint32_t v = 0;
    auto [end, ec] = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, v, 16);
    if (ec != std::errc() || end != s_.data() + pos_ + 4) return fail("bad \\u escape");
    pos_ += 4;
    return v;
  }

  status escape(std::string& out) {
    if (pos_ >= s_.size()) return fail("truncated escape");
    const char e = s_[pos_++];
    switch (e) {
      case '"': out += '"'; return ok_status();
      case '\\': out += '\\'; return ok_status();
      case '/': out += '/'; return ok_status();
      case 'b': out += '\b'; return ok_status();
      case 'f': out += '\f'; return ok_status();
      case 'n': out += '\n'; return ok_status();
      case 'r': out += '\r'; return ok_status();
      case 't': out += '\t'; return ok_status();
      case 'u': break;
      default: return fail("bad escape");
    }
    auto hi = hex4();
    if (!hi) return hi.error();
    char32_t cp = *hi;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (s_.substr(pos_, 2) != "\\u") return fail("lone high surrogate");
      pos_ += 2;
      auto lo = hex4();
      if (!lo) return lo.error();
      if (*lo < 0xDC00 || *lo > 0xDFFF) return fail("bad low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (*lo - 0xDC00);
    }
    unicode::append_utf8(out, cp);
    return ok_status();
  }

  status string(std::string& out) {
    ++pos_;  // "
    while (true) {
      if (out.size() > limits_.string_bytes_max)
        return status::resource_exhausted("JSON: string longer than " + std::to_string(limits_.string_bytes_max) +
                                          " bytes");
      if (pos_ >= s_.size()) return fail("unterminated string");
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') return ++pos_, ok_status();
      if (c < 0x20) return fail("control character in a string");
      if (c == '\\') {
        ++pos_;
        HOLO_TRY(escape(out));
        continue;
      }
      const int n = unicode::check_utf8(s_, pos_);
      if (n <= 0) return fail("invalid UTF-8 in a string");
      out.append(s_.substr(pos_, static_cast<std::size_t>(n)));
      pos_ += static_cast<std::size_t>(n);
    }
  }

  std::string_view s_;
  json_limits limits_;
  std::size_t pos_ = 0;
  std::size_t elements_ = 0;
};

result<json_value> parse_json(std::string_view text, const json_limits& limits) {
  return json_parser(text, limits).document();
}

}  // namespace holo::gpu
