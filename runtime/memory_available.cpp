#include "runtime/memory_available.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <string>

namespace holo {

namespace {

// The value of a "Key:   N kB" line, in bytes. Lines are short and the files small; no limits
// beyond the text itself are needed.
std::optional<std::uint64_t> kb_field(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    auto line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') continue;
    auto rest = line.substr(key.size() + 1);
    auto first = rest.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::nullopt;
    rest = rest.substr(first);
    std::uint64_t kb = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kb);
    if (ec != std::errc{} || end == rest.data()) return std::nullopt;
    std::string_view unit(end, static_cast<std::size_t>(rest.data() + rest.size() - end));
    if (unit != " kB") return std::nullopt;
    if (kb > (UINT64_MAX >> 10)) return std::nullopt;
    return kb << 10;
  }
  return std::nullopt;
}

std::optional<std::string> read_small_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s;
}

}  // namespace

std::optional<std::uint64_t> parse_meminfo_available(std::string_view meminfo) { return kb_field(meminfo, "MemAvailable"); }

std::optional<std::uint64_t> parse_status_rss_anon(std::string_view status) { return kb_field(status, "RssAnon"); }

std::optional<std::uint64_t> usable_memory_bytes(std::uint64_t total_bytes) {
  auto meminfo = read_small_file("/proc/meminfo");
  if (!meminfo) return std::nullopt;
  auto available = parse_meminfo_available(*meminfo);
  if (!available) return std::nullopt;
  std::uint64_t own = 0;
  if (auto status = read_small_file("/proc/self/status"))
    if (auto anon = parse_status_rss_anon(*status)) own = *anon;
  return std::min(total_bytes, *available + own);
}

bool memory_drift_worth_announcing(std::uint64_t announced, std::uint64_t measured) {
  const std::uint64_t diff = announced > measured ? announced - measured : measured - announced;
  return diff >= std::max<std::uint64_t>(announced / 8, std::uint64_t{256} << 20);
}

}  // namespace holo
