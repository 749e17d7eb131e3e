// Backups of a PostgreSQL store: PostgreSQL's own pg_dump makes the consistent snapshot (one
// repeatable-read transaction, so the dump is the database as of one moment while the nodes keep
// writing), in its custom format; that file is the archive's payload (payload_kind::postgres_dump,
// same compression and encryption as a SQLite archive: persistence/backup_archive.hpp). A restore
// decrypts and checks the whole archive into a temp file first, then replays it with pg_restore in
// ONE transaction (--single-transaction --exit-on-error --clean --if-exists): the database ends up
// either with the archive's tables and rows or exactly as it was. Objects the dump does not hold
// (a table created after the backup) are left alone.
//
// The tools: `pg_dump` / `pg_restore` from the PATH (Debian's postgresql-client wrappers), or from
// $HOLO_PG_BINDIR when set. They must be at least as new as the server (pg_dump refuses otherwise,
// and that refusal is the error returned). The DSN goes on their command line: keep passwords in
// ~/.pgpass or $PGPASSFILE rather than in the DSN on shared machines.
//
// Contract: plain functions; any thread. Errors are values: not_found (no tool), unavailable (the
// tool failed: its first lines of stderr are in the message), failed_precondition (wrong key, or
// an archive of another kind), data_loss (damaged or truncated archive; nothing was restored).
#pragma once

#include <string>

#include "persistence/backup_archive.hpp"
#include "persistence/backup_key.hpp"
#include "persistence/backup_retention.hpp"
#include "runtime/status.hpp"

namespace holo::persistence {

// pg_dump of `dsn` into the new file `out_path` (mode 0600). Returns its size in bytes.
result<std::uint64_t> dump_postgres(const std::string& dsn, const std::string& out_path);

// One backup of the database `dsn` into `dir` (created 0700 if missing): dump into a hidden temp
// file there, archive, remove the dump, prune to options.keep.
result<backup_record> create_postgres_backup(const std::string& dsn, const std::string& dir, const backup_key& key,
                                             const backup_options& options = {});

// Restores a postgres_dump archive into `dsn` as described above.
result<archive_info> restore_postgres(const std::string& archive_path, const backup_key& key, const std::string& dsn);

}  // namespace holo::persistence
