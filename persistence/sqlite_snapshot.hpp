// A consistent copy of a live SQLite database, and the atomic restore of one from a backup archive.
//
// Snapshot: the sqlite3 online backup API copies every page of the source inside one read
// transaction (sqlite3_backup_step(-1)), so the copy is the database as of one commit even while
// other connections (the node's store) keep writing. In WAL mode, which the store uses, the copy does
// not block those writers.
//
// Restore, in this order; on any failure the target is left as it was and the temp file removed:
//   1. decrypt + decompress the archive into a temp file beside the target (`.NAME.restore-XXXX`,
//      mode 0600), fsync it; the archive's authentication, size and digest are checked on the way
//   2. `PRAGMA integrity_check` on the temp file (opened immutable, read-only): must answer "ok"
//   3. lock the target: open it, `PRAGMA locking_mode=EXCLUSIVE`, `BEGIN EXCLUSIVE`. A running node
//      keeps its WAL-mode database open, which makes this fail with SQLITE_BUSY: the restore is then
//      refused ("in use"). Holding the lock, switch the old file to journal_mode=DELETE, which
//      checkpoints and removes its `-wal`, and remove its `-shm`, so no stale WAL can be replayed
//      into the restored database
//   4. rename the temp file over the target, fsync the folder, release the lock
// A target that exists but is not a readable SQLite database (e.g. the corrupt file being replaced)
// cannot be locked this way: the restore is refused unless `force` is set. A missing target is
// simply created (a stray `-wal` beside it is refused unless `force`, then removed).
//
// Contract: plain functions, no shared state; any thread may call them, but never with the store's
// own connection's database in a restore (a node must be stopped first; step 3 enforces it for WAL
// databases). Errors are values: `not_found`, `failed_precondition` (in use, wrong key, not a
// database without force), `data_loss` (damaged or truncated archive, integrity check failed),
// `unavailable` (I/O, SQLite errors).
#pragma once

#include <cstdint>
#include <string>

#include "persistence/backup_archive.hpp"
#include "persistence/backup_key.hpp"
#include "runtime/status.hpp"

namespace holo::persistence {

struct snapshot_info {
  std::uint64_t bytes = 0;  // size of the snapshot file
  std::uint64_t pages = 0;
};

// Copies the database `db_path` (must exist; never created) into the new file `out_path` (created 0600,
// fsynced). Waits up to `busy_timeout_ms` for a writer holding the database (rollback-journal mode).
result<snapshot_info> snapshot_sqlite(const std::string& db_path, const std::string& out_path,
                                      int busy_timeout_ms = 10000);

// `PRAGMA integrity_check` on a database file nobody is writing; ok when it answers "ok".
status check_sqlite_integrity(const std::string& db_path);

struct restore_options {
  bool force = false;  // replace a target that is not a readable SQLite database, or a stray -wal
};

struct restore_info {
  archive_info archive;
  bool replaced_existing = false;
};

// Restores `archive_path` into `target_db_path` as described above.
result<restore_info> restore_sqlite(const std::string& archive_path, const backup_key& key,
                                    const std::string& target_db_path, const restore_options& options = {});

}  // namespace holo::persistence
