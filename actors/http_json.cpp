#include "actors/http_json.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "runtime/cli/json_text.hpp"
#include "runtime/serving_protocol.hpp"

namespace holo::http {

gpu::json_limits http_json_limits() {
  gpu::json_limits l;
  l.document_bytes_max = body_bytes_max;
  l.depth_max = 16;
  // One chat message's content can be the whole prompt.
  l.string_bytes_max = 1 << 20;
  l.elements_max = 1 << 14;
  return l;
}

void json_out::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

json_out& json_out::begin_object() {
  before_value();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

json_out& json_out::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}

json_out& json_out::begin_array() {
  before_value();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

json_out& json_out::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}

json_out& json_out::key(std::string_view k) {
  before_value();
  cli::append_json_string(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

json_out& json_out::str(std::string_view v) {
  before_value();
  cli::append_json_string(out_, v);
  return *this;
}

json_out& json_out::num(std::int64_t v) {
  before_value();
  out_ += std::to_string(v);
  return *this;
}

json_out& json_out::num(double v) {
  before_value();
  if (!std::isfinite(v)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out_ += buf;
  return *this;
}

json_out& json_out::boolean(bool v) {
  before_value();
  out_ += v ? "true" : "false";
  return *this;
}

json_out& json_out::null() {
  before_value();
  out_ += "null";
  return *this;
}

json_out& json_out::raw(std::string_view json) {
  before_value();
  out_ += json;
  return *this;
}

std::string json_quote(std::string_view s) { return cli::json_string(s); }

http_error bad_request(std::string message, std::string param) {
  return {400, std::move(message), "invalid_request_error", std::move(param), ""};
}

http_error model_not_found(const std::string& model) {
  return {404, "model '" + model + "' not found", "invalid_request_error", "model", "model_not_found"};
}

http_error from_status(status_code code, std::string message) {
  switch (code) {
    case status_code::invalid_argument:
    case status_code::out_of_range:
    case status_code::failed_precondition:
      return {400, std::move(message), "invalid_request_error", "", std::string(to_string(code))};
    case status_code::not_found:
      return {404, std::move(message), "invalid_request_error", "", "not_found"};
    case status_code::resource_exhausted:
      return {429, std::move(message), "rate_limit_error", "", "resource_exhausted"};
    case status_code::unavailable:
    case status_code::deadline_exceeded:
      return {503, std::move(message), "server_error", "", std::string(to_string(code))};
    case status_code::unimplemented:
      return {501, std::move(message), "invalid_request_error", "", "unimplemented"};
    default:
      return {500, std::move(message), "server_error", "", std::string(to_string(code))};
  }
}

http_error from_code_name(std::string_view code, std::string message) {
  static constexpr status_code all[] = {status_code::invalid_argument,    status_code::not_found,
                                        status_code::already_exists,      status_code::failed_precondition,
                                        status_code::out_of_range,        status_code::resource_exhausted,
                                        status_code::unavailable,         status_code::deadline_exceeded,
                                        status_code::data_loss,           status_code::unimplemented,
                                        status_code::internal};
  for (auto c : all)
    if (to_string(c) == code) return from_status(c, std::move(message));
  return from_status(status_code::internal, std::move(message));
}

namespace {

// JSON null counts as absent: clients (the OpenAI SDK among them) send `"stop": null`.
const json_value* present(const json_value& obj, std::string_view name) {
  auto* v = obj.find(name);
  return v && !v->is_null() ? v : nullptr;
}

}  // namespace

result<std::optional<std::string>> opt_string(const json_value& obj, std::string_view name, std::size_t bytes_max) {
  auto* v = present(obj, name);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return field_error(name, "must be a string");
  if (v->as_string().size() > bytes_max)
    return field_error(name, "is longer than " + std::to_string(bytes_max) + " bytes");
  return std::optional<std::string>{v->as_string()};
}

result<std::optional<double>> opt_number(const json_value& obj, std::string_view name) {
  auto* v = present(obj, name);
  if (!v) return std::optional<double>{};
  if (!v->is_number()) return field_error(name, "must be a number");
  return std::optional<double>{v->as_double()};
}

result<std::optional<std::int64_t>> opt_int(const json_value& obj, std::string_view name) {
  auto* v = present(obj, name);
  if (!v) return std::optional<std::int64_t>{};
  auto i = v->is_number() ? v->as_int64() : std::nullopt;
  // 1.0 is an integer to JavaScript clients: accept integral doubles in range.
  if (!i && v->is_number() && std::floor(v->as_double()) == v->as_double() && std::fabs(v->as_double()) < 9e15)
    i = static_cast<std::int64_t>(v->as_double());
  if (!i) return field_error(name, "must be an integer");
  return std::optional<std::int64_t>{*i};
}

result<std::optional<bool>> opt_bool(const json_value& obj, std::string_view name) {
  auto* v = present(obj, name);
  if (!v) return std::optional<bool>{};
  if (!v->is_bool()) return field_error(name, "must be true or false");
  return std::optional<bool>{v->as_bool()};
}

result<std::vector<std::string>> string_or_list(const json_value& obj, std::string_view name) {
  std::vector<std::string> out;
  auto* v = present(obj, name);
  if (!v) return out;
  if (v->is_string()) {
    out.push_back(v->as_string());
    return out;
  }
  if (!v->is_array()) return field_error(name, "must be a string or an array of strings");
  for (auto& e : v->items()) {
    if (!e.is_string()) return field_error(name, "must be a string or an array of strings");
    out.push_back(e.as_string());
  }
  return out;
}

std::int64_t unix_seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string rfc3339_now() {
  auto now = std::chrono::system_clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1000000000));
  return buf;
}

result<model_request_body> parse_model_request(std::string_view body_text) {
  auto parsed = gpu::parse_json(body_text, http_json_limits());
  if (!parsed) return status::invalid_argument("the body is not valid JSON: " + parsed.error().message());
  if (!parsed->is_object()) return status::invalid_argument("the body must be a JSON object");
  auto model = opt_string(*parsed, "model", proto::model_name_bytes_max);
  if (!model) return model.error();
  if (!*model || (*model)->empty()) return field_error("model", "is required");
  return model_request_body{std::move(*parsed), std::move(**model)};
}

}  // namespace holo::http
