// JSON helpers shared by the OpenAI and Ollama translations of the HTTP gateway (no CAF, no I/O):
// a small JSON writer, typed readers of request fields that name the field in their errors, and the
// gateway's error value. Pure: safe from any thread.
//
// Reading uses gpu/json_lite (strict, bounded); http_json_limits() are the limits every request
// body is parsed with.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/json_lite.hpp"
#include "runtime/status.hpp"

namespace holo::http {

using gpu::json_value;

// The largest request body the gateway reads (httplib refuses bigger ones with 413 before we see
// them). A prompt is at most 512 KiB (proto::prompt_bytes_max); JSON escaping can double it.
inline constexpr std::size_t body_bytes_max = 2 << 20;

gpu::json_limits http_json_limits();

// Builds one JSON text. Commas are placed automatically; keys only inside objects. Strings with
// invalid UTF-8 get U+FFFD (a token may end mid-character), so the output is always valid JSON.
class json_out {
 public:
  json_out& begin_object();
  json_out& end_object();
  json_out& begin_array();
  json_out& end_array();
  json_out& key(std::string_view k);
  json_out& str(std::string_view v);
  json_out& num(std::int64_t v);
  json_out& num(double v);  // non-finite numbers are written as null
  json_out& boolean(bool v);
  json_out& null();
  json_out& raw(std::string_view json);  // a complete JSON value, as is
  // Shorthands: key then value.
  json_out& field(std::string_view k, std::string_view v) { return key(k).str(v); }
  json_out& field(std::string_view k, const char* v) { return key(k).str(v); }
  json_out& field(std::string_view k, std::int64_t v) { return key(k).num(v); }
  json_out& field(std::string_view k, int v) { return key(k).num(static_cast<std::int64_t>(v)); }
  json_out& field(std::string_view k, bool v) { return key(k).boolean(v); }
  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

std::string json_quote(std::string_view s);

// What went wrong with a request, in HTTP terms: the status, a message, and for OpenAI the
// error `type`, the offending `param` and a `code`.
struct http_error {
  int status = 500;
  std::string message;
  std::string type = "server_error";
  std::string param;
  std::string code;
};

http_error bad_request(std::string message, std::string param = "");
http_error model_not_found(const std::string& model);
// The HTTP view of a node-side error code (docs/protocol.md "Errors of a generation").
http_error from_status(status_code code, std::string message);
http_error from_code_name(std::string_view code, std::string message);

// Typed field readers: absent (or JSON null) -> nullopt; present with the wrong type or out of
// range -> an http_error naming the field. `where` prefixes the name ("options.").
result<std::optional<std::string>> opt_string(const json_value& obj, std::string_view name, std::size_t bytes_max);
result<std::optional<double>> opt_number(const json_value& obj, std::string_view name);
result<std::optional<std::int64_t>> opt_int(const json_value& obj, std::string_view name);
result<std::optional<bool>> opt_bool(const json_value& obj, std::string_view name);
// A string or an array of strings (OpenAI/Ollama `stop`).
result<std::vector<std::string>> string_or_list(const json_value& obj, std::string_view name);

// The start of every request both APIs parse: the body as a JSON object (within
// http_json_limits) and its required, non-empty "model" string.
struct model_request_body {
  json_value body;
  std::string model;
};
result<model_request_body> parse_model_request(std::string_view body_text);

// result<> carries a holo::status; these convert both ways so parsers can return field errors as
// invalid_argument statuses whose message is the one to show.
inline status field_error(std::string_view name, std::string_view what) {
  return status::invalid_argument("'" + std::string(name) + "' " + std::string(what));
}

// Seconds since the Unix epoch (OpenAI `created`) and RFC 3339 UTC with nanoseconds (Ollama
// `created_at`), from the system clock.
std::int64_t unix_seconds_now();
std::string rfc3339_now();

}  // namespace holo::http
