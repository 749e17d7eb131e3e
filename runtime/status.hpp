// holo::status and holo::result<T>: errors as values at every boundary that has no CAF in it
// (gpu/, persistence/, config). Codes follow Abseil's split: `unavailable` and `deadline_exceeded`
// may succeed on retry; `invalid_argument`, `failed_precondition`, `not_found`, `out_of_range`,
// `resource_exhausted` need the caller (or the operator) to fix something first.
//
// Header-only and dependency-free on purpose: every library includes it.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace holo {

enum class status_code : unsigned char {
  ok = 0,
  invalid_argument,     // the input is wrong (bad frame, bad file, bad option)
  not_found,            // a named thing does not exist
  already_exists,       // a create found it there
  failed_precondition,  // the system is not in a state that allows this
  out_of_range,         // an index or size beyond a limit
  resource_exhausted,   // a queue, a budget or memory is full
  unavailable,          // try again later (a peer or database is down)
  deadline_exceeded,    // a timeout
  data_loss,            // corruption detected (checksum, truncated file)
  unimplemented,        // not supported by this build
  internal,             // our bug
  permission_denied,    // the caller lacks the right (an admin command without the admin key)
};

constexpr std::string_view to_string(status_code c) {
  switch (c) {
    case status_code::ok: return "ok";
    case status_code::invalid_argument: return "invalid_argument";
    case status_code::not_found: return "not_found";
    case status_code::already_exists: return "already_exists";
    case status_code::failed_precondition: return "failed_precondition";
    case status_code::out_of_range: return "out_of_range";
    case status_code::resource_exhausted: return "resource_exhausted";
    case status_code::unavailable: return "unavailable";
    case status_code::deadline_exceeded: return "deadline_exceeded";
    case status_code::data_loss: return "data_loss";
    case status_code::unimplemented: return "unimplemented";
    case status_code::internal: return "internal";
    case status_code::permission_denied: return "permission_denied";
  }
  return "unknown";
}

class [[nodiscard]] status {
 public:
  status() = default;
  status(status_code code, std::string message) : code_(code), message_(std::move(message)) {}

  static status invalid_argument(std::string m) { return {status_code::invalid_argument, std::move(m)}; }
  static status not_found(std::string m) { return {status_code::not_found, std::move(m)}; }
  static status already_exists(std::string m) { return {status_code::already_exists, std::move(m)}; }
  static status failed_precondition(std::string m) { return {status_code::failed_precondition, std::move(m)}; }
  static status out_of_range(std::string m) { return {status_code::out_of_range, std::move(m)}; }
  static status resource_exhausted(std::string m) { return {status_code::resource_exhausted, std::move(m)}; }
  static status unavailable(std::string m) { return {status_code::unavailable, std::move(m)}; }
  static status deadline_exceeded(std::string m) { return {status_code::deadline_exceeded, std::move(m)}; }
  static status data_loss(std::string m) { return {status_code::data_loss, std::move(m)}; }
  static status unimplemented(std::string m) { return {status_code::unimplemented, std::move(m)}; }
  static status internal(std::string m) { return {status_code::internal, std::move(m)}; }
  static status permission_denied(std::string m) { return {status_code::permission_denied, std::move(m)}; }

  bool ok() const { return code_ == status_code::ok; }
  explicit operator bool() const { return ok(); }
  status_code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool retryable() const {
    return code_ == status_code::unavailable || code_ == status_code::deadline_exceeded;
  }
  std::string to_string() const {
    if (ok()) return "ok";
    return std::string(holo::to_string(code_)) + ": " + message_;
  }
  // Prefixes context, keeping the code: `s.with_context("loading model.gguf")`.
  status with_context(std::string_view ctx) const {
    if (ok()) return *this;
    return {code_, std::string(ctx) + ": " + message_};
  }

 private:
  status_code code_ = status_code::ok;
  std::string message_;
};

inline status ok_status() { return {}; }

// A value or the status saying why there is none. Like std::expected (C++23), trimmed.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(status s) : v_(std::move(s)) { assert(!std::get<status>(v_).ok()); }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const status& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, status> v_;
};

}  // namespace holo

// Returns early from a function returning holo::status or holo::result<T> when `expr` fails.
#define HOLO_TRY(expr)                          \
  do {                                          \
    if (auto holo_try_s_ = (expr); !holo_try_s_.ok()) return holo_try_s_; \
  } while (0)
