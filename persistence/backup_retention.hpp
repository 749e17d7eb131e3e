// The backup folder: archive names, making a backup of a SQLite database into it, listing, pruning.
//
// Names: `holo-backup-YYYYMMDDTHHMMSSZ.hbak` (UTC creation time), or `...Z-N.hbak` (N = 2..999) when
// that second already has one. Order is by (time, N) parsed from the name, never by the file's
// mtime, so copying a folder keeps its order. Files that do not match the pattern are never touched
// by prune and are not listed; hidden temp files (`.NAME.partial-XXXX`, `.holo-snapshot-XXXX`) are
// what an interrupted backup leaves and are ignored too.
//
// Contract: plain functions; any thread. Two processes backing up into one folder at the same second
// do not clobber each other (write_archive links without replacing; the loser takes the next N).
// Errors are values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "persistence/backup_archive.hpp"
#include "persistence/backup_key.hpp"
#include "runtime/status.hpp"

namespace holo::persistence {

inline constexpr std::string_view archive_name_prefix = "holo-backup-";
inline constexpr std::string_view archive_name_suffix = ".hbak";

// `holo-backup-20250101T120000Z.hbak` for seq 1, `...Z-2.hbak` for 2, ...
std::string archive_file_name(std::int64_t created_unix_seconds, unsigned seq = 1);

struct archive_name {
  std::int64_t created_unix_seconds = 0;
  unsigned seq = 1;
};
// The time and sequence in an archive file name; nullopt when `name` does not match the pattern.
std::optional<archive_name> parse_archive_file_name(const std::string& name);

// "2025-01-01T12:00:00Z"
std::string utc_text(std::int64_t unix_seconds);

struct archive_entry {
  std::string name;  // file name in the folder
  std::string path;  // folder + "/" + name
  archive_name when;
  std::uint64_t size_bytes = 0;
  status header_status;  // read_archive_header's verdict
  archive_info header;   // valid when header_status is ok
};

// The archives in `dir`, newest first. `not_found` when the folder does not exist.
result<std::vector<archive_entry>> list_archives(const std::string& dir);

// Removes all but the newest `keep` archives (keep >= 1: a keep of 0 would delete every backup and
// is refused). Returns the names removed, oldest last.
result<std::vector<std::string>> prune_archives(const std::string& dir, std::size_t keep);

struct backup_options {
  std::size_t keep = 0;  // 0: no pruning; otherwise prune to the newest `keep` after writing
  std::int64_t now_unix_seconds = 0;  // 0: the clock
  archive_options archive;            // created_unix_seconds is overridden by now_unix_seconds
};

struct backup_record {
  std::string archive_path;
  archive_info info;         // header fields, chunks and archive size of the new archive
  std::uint64_t snapshot_pages = 0;
  std::vector<std::string> pruned;  // names removed by retention
};

// One scheduled backup: a consistent snapshot of the SQLite database `db_path` into a hidden temp file
// in `dir` (created 0700 if missing; the temp file is 0600 and removed on every path), archived as the
// next `holo-backup-...hbak`, then retention. A failed prune is reported as an error although the new
// archive exists (its path is in the message).
result<backup_record> create_sqlite_backup(const std::string& db_path, const std::string& dir,
                                           const backup_key& key, const backup_options& options = {});

// The second half of every backup: archives the clear-text snapshot `snapshot_path` (of `kind`) as a
// new archive in `dir`, removes the snapshot whatever happens, then applies retention. Used by
// create_sqlite_backup and create_postgres_backup (persistence/postgres_dump.hpp).
result<backup_record> archive_snapshot(const std::string& snapshot_path, payload_kind kind, const std::string& dir,
                                       const backup_key& key, const backup_options& options);

}  // namespace holo::persistence
