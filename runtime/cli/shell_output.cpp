#include "runtime/cli/shell_output.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ostream>

#include "runtime/cli/json_text.hpp"

namespace holo::cli::shell {

void print_table(std::ostream& out, const proto::table& t) {
  const auto n = t.columns.size();
  std::vector<std::size_t> width(n);
  std::vector<std::vector<std::string>> text;
  for (std::size_t c = 0; c < n; ++c) {
    std::string h = t.columns[c];
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::toupper(ch); });
    width[c] = h.size();
  }
  for (auto& row : t.rows) {
    std::vector<std::string> cells;
    for (std::size_t c = 0; c < n && c < row.size(); ++c) {
      cells.push_back(proto::to_text(row[c]));
      width[c] = std::max(width[c], cells.back().size());
    }
    text.push_back(std::move(cells));
  }
  auto numeric = [&](std::size_t c) {
    return !t.rows.empty() && !std::holds_alternative<std::string>(t.rows.front()[c]);
  };
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string s;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const bool last = c + 1 == cells.size();
      std::string pad(width[c] - std::min(width[c], cells[c].size()), ' ');
      if (!header && numeric(c)) s += pad + cells[c];
      else s += cells[c] + (last ? "" : pad);
      if (!last) s += "  ";
    }
    out << s << "\n";
  };
  std::vector<std::string> header;
  for (auto& h : t.columns) {
    std::string u = h;
    std::transform(u.begin(), u.end(), u.begin(), [](unsigned char ch) { return std::toupper(ch); });
    header.push_back(u);
  }
  line(header, true);
  for (auto& cells : text) line(cells, false);
  if (t.rows.empty()) out << "(none)\n";
}

void print_json(std::ostream& out, const std::string& kind, const proto::table& t) {
  std::string s = "{\"kind\":" + json_string(kind) + ",\"node\":" + json_string(t.node) + ",\"rows\":[";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    s += r ? ",{" : "{";
    for (std::size_t c = 0; c < t.columns.size() && c < t.rows[r].size(); ++c) {
      s += (c ? "," : "") + json_string(t.columns[c]) + ":";
      auto& v = t.rows[r][c];
      if (auto* i = std::get_if<std::int64_t>(&v)) s += std::to_string(*i);
      else if (auto* d = std::get_if<double>(&v)) s += std::isfinite(*d) ? std::to_string(*d) : std::string("null");
      else s += json_string(std::get<std::string>(v));
    }
    s += "}";
  }
  out << s << "]}\n";
}

}  // namespace holo::cli::shell
