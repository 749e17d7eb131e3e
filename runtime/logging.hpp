// Structured logging: one line per event, as text (for people) or JSON lines (for log shippers).
// A `logger` is a cheap value (a shared sink plus a component name) handed to each actor at spawn;
// there is no global logger. Safe from any thread: each line is written by one fwrite on a stdio
// stream, which POSIX locks, so lines from different threads never interleave.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace holo::log {

enum class level : std::uint8_t { trace, debug, info, warn, error, off };
enum class format : std::uint8_t { text, json };

std::optional<level> parse_level(std::string_view s);    // trace|debug|info|warn|error|off
std::optional<format> parse_format(std::string_view s);  // text|json
std::string_view to_string(level l);

// A key=value pair attached to an event. Numbers and booleans stay unquoted in JSON.
struct field {
  field(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  field(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  field(std::string_view k, const char* v) : key(k), value(v ? v : ""), quoted(true) {}
  field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}
  field(std::string_view k, std::int64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  field(std::string_view k, std::uint64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  field(std::string_view k, int v) : key(k), value(std::to_string(v)), quoted(false) {}
  field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)), quoted(false) {}
  field(std::string_view k, double v);
  std::string_view key;
  std::string value;
  bool quoted;
};

using fields = std::initializer_list<field>;

// Where lines go. Created once per process (by the CLI) and shared by every logger.
class sink {
 public:
  sink(level min_level, format fmt, std::FILE* out = stderr) : min_(min_level), fmt_(fmt), out_(out) {}
  bool enabled(level l) const { return l >= min_ && l != level::off; }
  void write(level l, std::string_view component, std::string_view msg, fields fs) const;
  // Formats without writing (tests, and the shell's log view later).
  std::string format_line(level l, std::string_view component, std::string_view msg, fields fs) const;

 private:
  level min_;
  format fmt_;
  std::FILE* out_;
};

class logger {
 public:
  logger() = default;  // discards everything
  logger(std::shared_ptr<const sink> s, std::string component)
      : sink_(std::move(s)), component_(std::move(component)) {}

  logger child(std::string_view component) const { return {sink_, std::string(component)}; }
  bool enabled(level l) const { return sink_ && sink_->enabled(l); }
  void log(level l, std::string_view msg, fields fs = {}) const {
    if (enabled(l)) sink_->write(l, component_, msg, fs);
  }
  void trace(std::string_view m, fields fs = {}) const { log(level::trace, m, fs); }
  void debug(std::string_view m, fields fs = {}) const { log(level::debug, m, fs); }
  void info(std::string_view m, fields fs = {}) const { log(level::info, m, fs); }
  void warn(std::string_view m, fields fs = {}) const { log(level::warn, m, fs); }
  void error(std::string_view m, fields fs = {}) const { log(level::error, m, fs); }
  const std::string& component() const { return component_; }

 private:
  std::shared_ptr<const sink> sink_;
  std::string component_;
};

}  // namespace holo::log
