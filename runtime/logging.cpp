#include "runtime/logging.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>

namespace holo::log {

field::field(std::string_view k, double v) : key(k), quoted(false) {
  if (!std::isfinite(v)) {
    value = "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  value = buf;
}

std::optional<level> parse_level(std::string_view s) {
  if (s == "trace") return level::trace;
  if (s == "debug") return level::debug;
  if (s == "info") return level::info;
  if (s == "warn" || s == "warning") return level::warn;
  if (s == "error") return level::error;
  if (s == "off") return level::off;
  return std::nullopt;
}

std::optional<format> parse_format(std::string_view s) {
  if (s == "text") return format::text;
  if (s == "json") return format::json;
  return std::nullopt;
}

std::string_view to_string(level l) {
  switch (l) {
    case level::trace: return "trace";
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    case level::off: return "off";
  }
  return "?";
}

namespace {

// RFC 3339 UTC with milliseconds: 2026-11-25T17:55:01.123Z
void append_timestamp(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  out += buf;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Text values are quoted only when they would be ambiguous (spaces, quotes, '=' or empty).
void append_text_value(std::string& out, std::string_view v) {
  bool plain = !v.empty() && v.find_first_of(" \t\n\"=") == std::string_view::npos;
  if (plain)
    out += v;
  else
    append_json_string(out, v);
}

}  // namespace

std::string sink::format_line(level l, std::string_view component, std::string_view msg, fields fs) const {
  std::string line;
  line.reserve(128);
  if (fmt_ == format::json) {
    line += "{\"ts\":\"";
    append_timestamp(line);
    line += "\",\"level\":\"";
    line += to_string(l);
    line += "\",\"component\":";
    append_json_string(line, component);
    line += ",\"msg\":";
    append_json_string(line, msg);
    for (auto& f : fs) {
      line += ',';
      append_json_string(line, f.key);
      line += ':';
      if (f.quoted)
        append_json_string(line, f.value);
      else
        line += f.value;
    }
    line += "}\n";
  } else {
    append_timestamp(line);
    line += ' ';
    auto lv = to_string(l);
    line += lv;
    line.append(6 - lv.size(), ' ');
    line += component;
    line += ": ";
    line += msg;
    for (auto& f : fs) {
      line += ' ';
      line += f.key;
      line += '=';
      append_text_value(line, f.value);
    }
    line += '\n';
  }
  return line;
}

void sink::write(level l, std::string_view component, std::string_view msg, fields fs) const {
  auto line = format_line(l, component, msg, fs);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace holo::log
