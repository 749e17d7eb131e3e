#include "runtime/cli/shell_output.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

namespace {

// The cell of column `name` in `row` as text ("" when the table has no such column).
std::string cell_of(const proto::table& t, const std::vector<proto::cell>& row, const std::string& name) {
  for (std::size_t c = 0; c < t.columns.size() && c < row.size(); ++c)
    if (t.columns[c] == name) return proto::to_text(row[c]);
  return "";
}

}  // namespace

void print_plan(std::ostream& out, const proto::table& t, const std::string& indent) {
  if (t.rows.empty()) {
    out << indent << "plan of " << t.node << ": no models configured\n";
    return;
  }
  const auto& first = t.rows.front();
  char age[32] = "?";
  const auto age_ms = cell_of(t, first, "age_ms");
  if (!age_ms.empty()) std::snprintf(age, sizeof age, "%.1f", static_cast<double>(std::atoll(age_ms.c_str())) / 1000);
  out << indent << "plan of " << t.node << ": revision " << cell_of(t, first, "revision") << ", computed " << age
      << " s ago after " << cell_of(t, first, "trigger") << "\n";
  std::size_t model_w = 5, kind_w = 8;
  for (auto& row : t.rows) model_w = std::max(model_w, cell_of(t, row, "model").size());
  for (auto& row : t.rows) {
    auto model = cell_of(t, row, "model"), kind = cell_of(t, row, "kind");
    out << indent << "  " << model << std::string(model_w + 2 - model.size(), ' ') << kind
        << std::string(kind_w + 2 - std::min(kind_w, kind.size()), ' ') << cell_of(t, row, "placement") << "\n"
        << indent << "  " << std::string(model_w + 2, ' ') << "why: " << cell_of(t, row, "why") << "\n";
  }
}

std::string plan_json(const proto::table& t) {
  std::string s = "{\"node\":" + json_string(t.node);
  if (!t.rows.empty()) {
    const auto& first = t.rows.front();
    s += ",\"revision\":" + cell_of(t, first, "revision") + ",\"age_ms\":" + cell_of(t, first, "age_ms") +
         ",\"trigger\":" + json_string(cell_of(t, first, "trigger"));
  }
  s += ",\"models\":[";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    s += std::string(r ? "," : "") + "{\"model\":" + json_string(cell_of(t, row, "model")) +
         ",\"kind\":" + json_string(cell_of(t, row, "kind")) +
         ",\"placement\":" + json_string(cell_of(t, row, "placement")) +
         ",\"why\":" + json_string(cell_of(t, row, "why")) + "}";
  }
  return s + "]}";
}

}  // namespace holo::cli::shell
