// holo backup keygen|create|list|verify|restore: encrypted backups of a node's SQLite database (or
// of a PostgreSQL store's database, with --dsn: persistence/postgres_dump.hpp), by hand or from
// scripts. The scheduled backups of a running node use the same library
// (persistence/backup_retention.hpp, persistence/sqlite_snapshot.hpp). Every path is an option so a
// later `--config FILE` can fill the defaults from the node's [backup] and [persistence] sections.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "persistence/backup_archive.hpp"
#include "persistence/backup_key.hpp"
#include "persistence/backup_retention.hpp"
#include "persistence/postgres_dump.hpp"
#include "persistence/sqlite_snapshot.hpp"
#include "runtime/cli/commands.hpp"

namespace holo::cli {

namespace {

namespace hp = holo::persistence;

struct backup_args {
  std::string key_file;
  std::string db;
  std::string dsn;
  std::string dir;
  std::string archive;
  std::size_t keep = 0;
  int level = 3;
  bool force = false;
};

int fail(const std::string& what, const status& s) {
  std::cerr << "holo backup " << what << ": " << s.message() << "\n";
  return 1;
}

std::string bytes_text(std::uint64_t n) {
  char buf[32];
  if (n < 1024) return std::to_string(n) + " B";
  if (n < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  else if (n < 1024ull * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", n / 1048576.0);
  else std::snprintf(buf, sizeof buf, "%.2f GiB", n / 1073741824.0);
  return buf;
}

int run_keygen(const backup_args& a) {
  auto key = hp::generate_backup_key();
  if (!key) return fail("keygen", key.error());
  if (auto s = hp::write_backup_key_file(a.key_file, *key, a.force); !s.ok()) return fail("keygen", s);
  std::cout << "wrote " << a.key_file << " (backup key, mode 0600, key id " << hp::key_id_hex(key->key_id())
            << ")\nKeep a copy somewhere safe and away from the backups: without it no archive can be restored.\n";
  return 0;
}

int run_create(const backup_args& a) {
  auto key = hp::read_backup_key_file(a.key_file);
  if (!key) return fail("create", key.error());
  hp::backup_options o;
  o.keep = a.keep;
  o.archive.zstd_level = a.level;
  auto rec = a.dsn.empty() ? hp::create_sqlite_backup(a.db, a.dir, *key, o)
                            : hp::create_postgres_backup(a.dsn, a.dir, *key, o);
  if (!rec) return fail("create", rec.error());
  const auto& i = rec->info;
  std::cout << "wrote " << rec->archive_path << "\n"
            << "  " << (a.dsn.empty() ? "database " : "pg_dump ") << bytes_text(i.plaintext_bytes)
            << (a.dsn.empty() ? " (" + std::to_string(rec->snapshot_pages) + " pages)" : std::string()) << " -> archive "
            << bytes_text(i.archive_bytes) << " in " << i.chunks << " chunks\n"
            << "  created " << hp::utc_text(i.created_unix_seconds) << ", key id " << hp::key_id_hex(i.key_id)
            << ", digest " << hp::digest_hex(i.plaintext_digest) << "\n";
  for (const auto& n : rec->pruned) std::cout << "  removed old backup " << n << "\n";
  return 0;
}

int run_list(const backup_args& a) {
  std::unique_ptr<hp::backup_key> key;
  if (!a.key_file.empty()) {
    auto k = hp::read_backup_key_file(a.key_file);
    if (!k) return fail("list", k.error());
    key = std::make_unique<hp::backup_key>(*k);
  }
  auto all = hp::list_archives(a.dir);
  if (!all) return fail("list", all.error());
  int bad = 0;
  std::printf("%-40s %-21s %10s %-16s %s\n", "ARCHIVE", "CREATED (UTC)", "SIZE", "KEY ID", "STATUS");
  for (const auto& e : *all) {
    std::string state;
    std::string key_id = "-";
    if (!e.header_status.ok()) {
      state = e.header_status.message();
      ++bad;
    } else {
      key_id = hp::key_id_hex(e.header.key_id);
      if (key) {
        auto v = hp::verify_archive(e.path, *key);
        state = v ? "verified" : v.error().message();
        if (!v) ++bad;
      } else {
        state = "header ok (pass --key to verify)";
      }
    }
    std::printf("%-40s %-21s %10s %-16s %s\n", e.name.c_str(), hp::utc_text(e.when.created_unix_seconds).c_str(),
                bytes_text(e.size_bytes).c_str(), key_id.c_str(), state.c_str());
  }
  std::printf("%zu archive(s) in %s\n", all->size(), a.dir.c_str());
  return bad == 0 ? 0 : 1;
}

int run_verify(const backup_args& a) {
  auto key = hp::read_backup_key_file(a.key_file);
  if (!key) return fail("verify", key.error());
  auto v = hp::verify_archive(a.archive, *key);
  if (!v) return fail("verify", v.error());
  std::cout << a.archive << ": ok (" << hp::to_string(v->kind) << ", " << bytes_text(v->plaintext_bytes)
            << ", created " << hp::utc_text(v->created_unix_seconds) << ", " << v->chunks << " chunks, digest "
            << hp::digest_hex(v->plaintext_digest) << ")\n";
  return 0;
}

int run_restore(const backup_args& a) {
  auto key = hp::read_backup_key_file(a.key_file);
  if (!key) return fail("restore", key.error());
  if (!a.dsn.empty()) {
    auto r = hp::restore_postgres(a.archive, *key, a.dsn);
    if (!r) return fail("restore", r.error());
    std::cout << "restored " << a.archive << " (created " << hp::utc_text(r->created_unix_seconds) << ", "
              << bytes_text(r->plaintext_bytes) << " pg_dump) into the PostgreSQL database, in one transaction\n";
    return 0;
  }
  hp::restore_options o;
  o.force = a.force;
  auto r = hp::restore_sqlite(a.archive, *key, a.db, o);
  if (!r) return fail("restore", r.error());
  std::cout << "restored " << a.archive << " (created " << hp::utc_text(r->archive.created_unix_seconds) << ", "
            << bytes_text(r->archive.plaintext_bytes) << ") into " << a.db
            << (r->replaced_existing ? " (replacing the previous database)" : "") << "\n";
  return 0;
}

}  // namespace

void add_backup(CLI::App& app, command_registry& reg) {
  auto a = std::make_shared<backup_args>();
  auto* sub = app.add_subcommand("backup", "Encrypted backups of a node's store (SQLite file, or PostgreSQL with --dsn)");
  sub->require_subcommand(1);
  sub->footer(
      "Archives are zstd-compressed and encrypted + authenticated (libsodium secretstream) with a 32-byte\n"
      "key from a file that only its owner may read. A damaged, truncated or wrongly-keyed archive is\n"
      "refused. Format and guarantees: docs/storage.md, \"Backup archives\".\n"
      "Exit codes: 0 ok, 1 failure, 2 usage error.\n"
      "Example: holo backup keygen /etc/holobionte/backup.key\n"
      "         holo backup create --db var/nodo1/holo.sqlite --key /etc/holobionte/backup.key --dir /srv/backups --keep 7");

  auto* keygen = sub->add_subcommand("keygen", "Make a new backup key file (mode 0600)");
  keygen->add_option("FILE", a->key_file, "Key file to create")->required();
  keygen->add_flag("-f,--force", a->force, "Replace an existing key file (archives made with it become unreadable)");
  reg.add(keygen, [a] { return run_keygen(*a); });

  auto* create = sub->add_subcommand("create", "Snapshot a live database into a new archive in DIR");
  auto* create_db = create->add_option("--db", a->db, "SQLite database file (may be in use by a running node)");
  auto* create_dsn = create->add_option("--dsn", a->dsn, "PostgreSQL database (libpq DSN), dumped with pg_dump");
  create_db->excludes(create_dsn);
  create_dsn->excludes(create_db);
  create->add_option("--key", a->key_file, "Backup key file")->required();
  create->add_option("--dir", a->dir, "Backup folder (created 0700 if missing)")->required();
  create->add_option("--keep", a->keep, "Keep only the newest N archives (default: remove none)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  create->add_option("--level", a->level, "zstd level")->check(CLI::Range(1, 19))->capture_default_str();
  create->footer("Writes DIR/holo-backup-YYYYMMDDTHHMMSSZ.hbak; the database keeps serving meanwhile.\n"
                 "One of --db or --dsn is required.");
  reg.add(create, [a] {
    if (a->db.empty() == a->dsn.empty()) {
      std::cerr << "holo backup create: give one of --db (SQLite) or --dsn (PostgreSQL)\n";
      return 2;
    }
    return run_create(*a);
  });

  auto* list = sub->add_subcommand("list", "List the archives in DIR, newest first");
  list->add_option("--dir", a->dir, "Backup folder")->required();
  list->add_option("--key", a->key_file, "Also verify every archive with this key (exit 1 if any fails)");
  reg.add(list, [a] { return run_list(*a); });

  auto* verify = sub->add_subcommand("verify", "Check an archive completely: authentication, size, digest");
  verify->add_option("--key", a->key_file, "Backup key file")->required();
  verify->add_option("ARCHIVE", a->archive, "Archive file")->required();
  reg.add(verify, [a] { return run_verify(*a); });

  auto* restore = sub->add_subcommand("restore", "Replace a database by an archive's, atomically");
  restore->add_option("--key", a->key_file, "Backup key file")->required();
  restore->add_option("ARCHIVE", a->archive, "Archive file")->required();
  auto* restore_db = restore->add_option("--db", a->db, "SQLite database file to create or replace");
  auto* restore_dsn = restore->add_option("--dsn", a->dsn, "PostgreSQL database to restore a pg_dump archive into");
  restore_db->excludes(restore_dsn);
  restore_dsn->excludes(restore_db);
  restore->add_flag("-f,--force", a->force,
                    "Replace a target that is not a readable SQLite database (it cannot be checked for use)");
  restore->footer(
      "The archive is decrypted into a temp file beside --db and checked (authentication, digest,\n"
      "PRAGMA integrity_check) before it is renamed over --db: on any error --db is untouched.\n"
      "Refused while another process (a running node) has the database open: stop the node first.\n"
      "With --dsn (a postgres_dump archive): checked the same way into a temp file, then replayed by\n"
      "pg_restore in one transaction: the database is the archive's or, on any error, unchanged.");
  reg.add(restore, [a] {
    if (a->db.empty() == a->dsn.empty()) {
      std::cerr << "holo backup restore: give one of --db (SQLite) or --dsn (PostgreSQL)\n";
      return 2;
    }
    return run_restore(*a);
  });
}

}  // namespace holo::cli
