#include "persistence/sync_pump.hpp"

#include <algorithm>
#include <charconv>

namespace holo::persist {

sync_pump::sync_pump(store& local, store& central, std::size_t batch_rows)
    : local_(local), central_(central), batch_rows_(std::clamp<std::size_t>(batch_rows, 1, read_rows_max)) {}

namespace {

// The current local state of the row an entry names; nullopt when it is gone or the entry is not one
// we know how to ship (a newer build's kind): skipped rather than blocking the outbox forever.
result<std::optional<write_op>> current_row(store& local, const outbox_entry& e) {
  if (e.kind == "journal") {
    auto j = local.journal(e.row_key);
    if (!j) return j.error();
    if (!*j) return std::optional<write_op>{};
    return std::optional<write_op>(std::move(**j));
  }
  if (e.kind == "session") {  // row_key: session_id "\x1f" seq (codec::session_key)
    auto cut = e.row_key.rfind('\x1f');
    if (cut == std::string::npos) return std::optional<write_op>{};
    std::int64_t seq = 0;
    const char* b = e.row_key.data() + cut + 1;
    const char* end = e.row_key.data() + e.row_key.size();
    if (auto [p, ec] = std::from_chars(b, end, seq); ec != std::errc{} || p != end) return std::optional<write_op>{};
    auto m = local.session_message_at(e.row_key.substr(0, cut), seq);
    if (!m) return m.error();
    if (!*m) return std::optional<write_op>{};
    return std::optional<write_op>(std::move(**m));
  }
  if (e.kind == "event") {
    auto ev = local.event(e.row_key);
    if (!ev) return ev.error();
    if (!*ev) return std::optional<write_op>{};
    return std::optional<write_op>(std::move(**ev));
  }
  return std::optional<write_op>{};
}

}  // namespace

result<sync_step_result> sync_pump::step() {
  auto entries = local_.outbox(cursor_, batch_rows_);
  if (!entries) return entries.error().with_context("sync: read outbox");
  sync_step_result r;
  r.entries = entries->size();
  r.drained = entries->size() < batch_rows_;
  if (entries->empty()) return r;
  std::vector<write_op> rows;
  rows.reserve(entries->size());
  for (auto& e : *entries) {
    auto row = current_row(local_, e);
    if (!row) return row.error().with_context("sync: read " + e.kind + " row");
    if (*row) rows.push_back(std::move(**row));
    else r.missing++;
  }
  if (!rows.empty()) {
    if (auto st = central_.apply(rows); !st.ok()) return st.with_context("sync: apply to central");
  }
  r.shipped = rows.size();
  cursor_ = entries->back().seq;
  return r;
}

}  // namespace holo::persist
