#include "persistence/backup_retention.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include <sys/stat.h>
#include <unistd.h>

#include "persistence/backup_io.hpp"
#include "persistence/sqlite_snapshot.hpp"

namespace holo::persistence {

namespace {

constexpr unsigned seq_max = 999;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

bool newer(const archive_name& a, const archive_name& b) {
  return a.created_unix_seconds != b.created_unix_seconds ? a.created_unix_seconds > b.created_unix_seconds
                                                          : a.seq > b.seq;
}

}  // namespace

std::string archive_file_name(std::int64_t t, unsigned seq) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  std::string name = std::string(archive_name_prefix) + buf;
  if (seq > 1) name += "-" + std::to_string(seq);
  return name + std::string(archive_name_suffix);
}

std::optional<archive_name> parse_archive_file_name(const std::string& name) {
  std::string_view s(name);
  if (s.substr(0, archive_name_prefix.size()) != archive_name_prefix) return std::nullopt;
  s.remove_prefix(archive_name_prefix.size());
  if (s.size() < archive_name_suffix.size() || s.substr(s.size() - archive_name_suffix.size()) != archive_name_suffix)
    return std::nullopt;
  s.remove_suffix(archive_name_suffix.size());
  // YYYYMMDDTHHMMSSZ[-N]
  if (s.size() < 16 || s[8] != 'T' || s[15] != 'Z' || !all_digits(s.substr(0, 8)) || !all_digits(s.substr(9, 6)))
    return std::nullopt;
  archive_name out;
  std::string_view rest = s.substr(16);
  if (!rest.empty()) {
    if (rest[0] != '-' || rest.size() > 4 || !all_digits(rest.substr(1))) return std::nullopt;
    int seq = to_int(rest.substr(1));
    if (seq < 2) return std::nullopt;
    out.seq = static_cast<unsigned>(seq);
  }
  std::tm tm{};
  tm.tm_year = to_int(s.substr(0, 4)) - 1900;
  tm.tm_mon = to_int(s.substr(4, 2)) - 1;
  tm.tm_mday = to_int(s.substr(6, 2));
  tm.tm_hour = to_int(s.substr(9, 2));
  tm.tm_min = to_int(s.substr(11, 2));
  tm.tm_sec = to_int(s.substr(13, 2));
  out.created_unix_seconds = static_cast<std::int64_t>(timegm(&tm));
  // Round trip: rejects 20251341T... and the like, which timegm would normalise silently.
  if (archive_file_name(out.created_unix_seconds, out.seq) != name) return std::nullopt;
  return out;
}

std::string utc_text(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

result<std::vector<archive_entry>> list_archives(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return status::not_found("backup folder " + dir + " does not exist");
    return status::unavailable("cannot list backup folder " + dir + ": " + ec.message());
  }
  std::vector<archive_entry> out;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return status::unavailable("cannot list backup folder " + dir + ": " + ec.message());
    const std::string name = it->path().filename().string();
    auto when = parse_archive_file_name(name);
    if (!when || !it->is_regular_file(ec)) continue;
    archive_entry e;
    e.name = name;
    e.path = dir + "/" + name;
    e.when = *when;
    e.size_bytes = it->file_size(ec);
    auto h = read_archive_header(e.path);
    if (h) {
      e.header = *h;
    } else {
      e.header_status = h.error();
    }
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const archive_entry& a, const archive_entry& b) { return newer(a.when, b.when); });
  return out;
}

result<std::vector<std::string>> prune_archives(const std::string& dir, std::size_t keep) {
  if (keep == 0) return status::invalid_argument("keep must be at least 1 (0 would delete every backup)");
  auto all = list_archives(dir);
  if (!all) return all.error();
  std::vector<std::string> removed;
  for (std::size_t i = keep; i < all->size(); ++i) {
    const auto& e = (*all)[i];
    if (::unlink(e.path.c_str()) != 0 && errno != ENOENT)
      return status::unavailable("cannot remove old backup " + e.path + ": " + errno_text(errno));
    removed.push_back(e.name);
  }
  if (!removed.empty()) HOLO_TRY(fsync_parent_dir(dir + "/x"));
  return removed;
}

result<backup_record> create_sqlite_backup(const std::string& db_path, const std::string& dir, const backup_key& key,
                                           const backup_options& options) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return status::unavailable("cannot create backup folder " + dir + ": " + errno_text(errno));
  const std::string snap = temp_sibling(dir + "/holo-snapshot", "db");
  auto snapped = snapshot_sqlite(db_path, snap);
  if (!snapped) return snapped.error();
  auto rec = archive_snapshot(snap, payload_kind::sqlite_database, dir, key, options);
  if (rec) rec->snapshot_pages = snapped->pages;
  return rec;
}

result<backup_record> archive_snapshot(const std::string& snapshot_path, payload_kind kind, const std::string& dir,
                                       const backup_key& key, const backup_options& options) {
  const std::int64_t now =
      options.now_unix_seconds != 0 ? options.now_unix_seconds : static_cast<std::int64_t>(std::time(nullptr));
  backup_record rec;
  archive_options ao = options.archive;
  ao.kind = kind;
  ao.created_unix_seconds = now;
  status last;
  for (unsigned seq = 1; seq <= seq_max; ++seq) {
    rec.archive_path = dir + "/" + archive_file_name(now, seq);
    auto written = write_archive(snapshot_path, rec.archive_path, key, ao);
    if (written) {
      rec.info = *written;
      last = ok_status();
      break;
    }
    last = written.error();
    if (last.code() != status_code::already_exists) break;
  }
  (void)::unlink(snapshot_path.c_str());  // the clear-text copy goes whatever happened
  if (!last.ok()) return last;
  if (options.keep > 0) {
    auto pruned = prune_archives(dir, options.keep);
    if (!pruned) return pruned.error().with_context("wrote " + rec.archive_path + " but retention failed");
    rec.pruned = std::move(*pruned);
  }
  return rec;
}

}  // namespace holo::persistence
