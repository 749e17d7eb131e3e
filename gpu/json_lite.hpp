// json_lite: a small, strict, bounded JSON (RFC 8259) reader for the few JSON documents the engine
// reads itself -- Ollama manifests (gpu/ollama_store.hpp) and test harness output. No JSON library
// is a dependency of the project; this is not a general-purpose one (no writer, no streaming).
//
// Strict: exactly one value with optional whitespace around it; no comments, trailing commas,
// single quotes, NaN/Infinity, leading zeros, control characters in strings, invalid UTF-8 or lone
// surrogates; duplicate object keys are an error. Bounded: input bytes, nesting depth, string
// bytes and element counts are limited (json_limits), so a hostile document cannot make it
// allocate or recurse without bound.
//
// Failure: invalid_argument with the byte offset; resource_exhausted when a limit is hit.
// Pure: safe from any thread. A json_value owns all its data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/status.hpp"

namespace holo::gpu {

struct json_limits {
  std::size_t document_bytes_max = 1 << 20;  // whole input
  int depth_max = 32;                        // nested arrays/objects
  std::size_t string_bytes_max = 1 << 16;    // one decoded string or key
  std::size_t elements_max = 1 << 16;        // values in the whole document
};

class json_value {
 public:
  enum class kind { null, boolean, number, string, array, object };

  kind type() const { return kind_; }
  bool is_null() const { return kind_ == kind::null; }
  bool is_bool() const { return kind_ == kind::boolean; }
  bool is_number() const { return kind_ == kind::number; }
  bool is_string() const { return kind_ == kind::string; }
  bool is_array() const { return kind_ == kind::array; }
  bool is_object() const { return kind_ == kind::object; }

  bool as_bool() const { return bool_; }
  double as_double() const { return number_; }
  // The number as an integer when it was written as one (no fraction or exponent) and fits.
  std::optional<std::int64_t> as_int64() const;
  const std::string& as_string() const { return text_; }  // decoded string; number text for numbers
  const std::vector<json_value>& items() const { return items_; }  // array elements
  const std::vector<std::pair<std::string, json_value>>& members() const { return members_; }  // in order

  // Object member by key; nullptr when absent or not an object.
  const json_value* find(std::string_view key) const;

 private:
  friend class json_parser;
  kind kind_ = kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string text_;
  std::vector<json_value> items_;
  std::vector<std::pair<std::string, json_value>> members_;
};

result<json_value> parse_json(std::string_view text, const json_limits& limits = {});

}  // namespace holo::gpu
