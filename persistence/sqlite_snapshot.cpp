#include "persistence/sqlite_snapshot.hpp"

#include <cerrno>
#include <chrono>
#include <memory>
#include <thread>

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persistence/backup_io.hpp"

namespace holo::persistence {

namespace {

struct db_close {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_close>;

std::string db_error(sqlite3* db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

result<db_ptr> open_db(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  db_ptr db(raw);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_CANTOPEN && ::access(path.c_str(), F_OK) != 0)
      return status::not_found("database " + path + " does not exist");
    return status::unavailable("cannot open database " + path + ": " + db_error(raw));
  }
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

bool path_exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

// A URI for `path` that SQLite parses back to the same file ('%', '?' and '#' are special in URIs).
std::string file_uri(const std::string& path) {
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
      static const char hex[] = "0123456789ABCDEF";
      uri += '%';
      uri += hex[c >> 4];
      uri += hex[c & 15];
    } else {
      uri += static_cast<char>(c);
    }
  }
  return uri;
}

// Holds the target database locked (see step 3 in the header) until destroyed.
class target_lock {
 public:
  // ok: locked, WAL removed. failed_precondition: in use, or not a database (without force).
  static result<std::unique_ptr<target_lock>> acquire(const std::string& path, bool force) {
    auto l = std::make_unique<target_lock>();
    auto db = open_db(path, SQLITE_OPEN_READWRITE);
    if (!db) return db.error();
    l->db_ = std::move(*db);
    sqlite3* d = l->db_.get();
    sqlite3_busy_timeout(d, 0);  // a running node holds it indefinitely: waiting would not help
    int rc = sqlite3_exec(d, "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;", nullptr, nullptr, nullptr);
    const int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
      return status::failed_precondition("database " + path +
                                         " is in use by another process (a running node?): stop it before restoring");
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
      if (!force)
        return status::failed_precondition("existing " + path + " is not a readable SQLite database (" +
                                           db_error(d) + "): it cannot be locked against a running node; "
                                           "make sure none uses it and pass --force to replace it");
      l->db_.reset();
      return l;
    }
    if (rc != SQLITE_OK) return status::unavailable("cannot lock database " + path + ": " + db_error(d));
    // Out of WAL mode while we hold the exclusive lock: checkpoints the WAL into the old file and
    // deletes it, so it can never be replayed into the database we put at this path.
    rc = sqlite3_exec(d, "PRAGMA journal_mode=DELETE;", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return status::unavailable("cannot checkpoint database " + path + ": " + db_error(d));
    if (::unlink((path + "-shm").c_str()) != 0 && errno != ENOENT)
      return status::unavailable("cannot remove " + path + "-shm: " + errno_text(errno));
    return l;
  }

 private:
  db_ptr db_;
};

}  // namespace

result<snapshot_info> snapshot_sqlite(const std::string& db_path, const std::string& out_path, int busy_timeout_ms) {
  // READWRITE without CREATE: a missing database is an error, never an empty new file; a WAL-mode
  // reader may need to write the -shm, which a read-only open would not allow.
  auto src = open_db(db_path, SQLITE_OPEN_READWRITE);
  if (!src) return src.error();
  sqlite3_busy_timeout(src->get(), busy_timeout_ms);
  {
    // Made here, not by SQLite, so it is 0600 from the start: it holds the database in clear.
    auto f = create_exclusive(out_path, 0600);
    if (!f) return f.error();
  }
  auto fail = [&](const status& s) -> result<snapshot_info> {
    (void)::unlink(out_path.c_str());
    (void)::unlink((out_path + "-journal").c_str());
    return s;
  };
  snapshot_info info;
  {
    auto dst = open_db(out_path, SQLITE_OPEN_READWRITE);
    if (!dst) return fail(dst.error());
    sqlite3_backup* b = sqlite3_backup_init(dst->get(), "main", src->get(), "main");
    if (!b) return fail(status::unavailable("cannot start the backup of " + db_path + ": " + db_error(dst->get())));
    // step(-1): every page in one read transaction, hence one consistent snapshot. BUSY/LOCKED only
    // come from a rollback-journal writer; retry a bounded number of times.
    int rc = SQLITE_OK;
    for (int attempt = 0; attempt < 100; ++attempt) {
      rc = sqlite3_backup_step(b, -1);
      if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    info.pages = static_cast<std::uint64_t>(sqlite3_backup_pagecount(b));
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
      return fail(status::unavailable("backup of " + db_path + " failed: " + sqlite3_errstr(rc)));
  }
  auto f = open_read(out_path);
  if (!f) return fail(f.error());
  if (auto s = fsync_fd(f->get(), out_path); !s.ok()) return fail(s);
  struct stat st {};
  if (::fstat(f->get(), &st) != 0) return fail(status::unavailable("cannot stat " + out_path));
  info.bytes = static_cast<std::uint64_t>(st.st_size);
  return info;
}

status check_sqlite_integrity(const std::string& db_path) {
  // immutable=1: no locks, no -wal/-shm files created beside a file that is not in use yet.
  auto db = open_db(file_uri(db_path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  if (!db) return db.error();
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db->get(), "PRAGMA integrity_check", -1, &raw, nullptr) != SQLITE_OK)
    return status::data_loss("integrity check of " + db_path + " failed: " + db_error(db->get()));
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  std::string answer;
  int rc;
  int rows = 0;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW && rows++ < 10) {
    if (!answer.empty()) answer += "; ";
    answer += reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return status::data_loss("integrity check of " + db_path + " failed: " + db_error(db->get()));
  if (answer != "ok") return status::data_loss("integrity check of " + db_path + " failed: " + answer);
  return ok_status();
}

result<restore_info> restore_sqlite(const std::string& archive_path, const backup_key& key,
                                    const std::string& target, const restore_options& options) {
  auto header = read_archive_header(archive_path);
  if (!header) return header.error();
  if (header->kind != payload_kind::sqlite_database)
    return status::invalid_argument(archive_path + " holds a " + to_string(header->kind) + ", not a SQLite database");
  struct stat old {};
  const bool exists = ::stat(target.c_str(), &old) == 0;
  if (exists && !S_ISREG(old.st_mode)) return status::invalid_argument(target + " is not a regular file");

  const std::string tmp = temp_sibling(target, "restore");
  auto fail = [&](const status& s) -> result<restore_info> {
    (void)::unlink(tmp.c_str());
    return s;
  };
  restore_info out;
  auto info = extract_archive(archive_path, key, tmp);  // removes tmp itself on failure
  if (!info) return info.error();
  out.archive = *info;
  if (auto s = check_sqlite_integrity(tmp); !s.ok()) return fail(s);
  if (exists && ::chmod(tmp.c_str(), old.st_mode & 07777) != 0)
    return fail(status::unavailable("cannot set the mode of " + tmp + ": " + errno_text(errno)));

  std::unique_ptr<target_lock> lock;
  if (exists) {
    auto l = target_lock::acquire(target, options.force);
    if (!l) return fail(l.error());
    lock = std::move(*l);
  } else if (path_exists(target + "-wal")) {
    if (!options.force)
      return fail(status::failed_precondition(target + "-wal exists without its database: remove it, or pass --force"));
    if (::unlink((target + "-wal").c_str()) != 0 || (::unlink((target + "-shm").c_str()) != 0 && errno != ENOENT))
      return fail(status::unavailable("cannot remove stale " + target + "-wal/-shm: " + errno_text(errno)));
  }
  if (auto s = rename_durable(tmp, target); !s.ok()) return fail(s);
  out.replaced_existing = exists;
  return out;
}

}  // namespace holo::persistence
