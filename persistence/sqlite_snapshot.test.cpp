// SQLite snapshot and restore through backup archives, and the backup folder's retention: identical
// contents after a round trip, damaged or wrongly-keyed archives leave the target untouched (all of
// 1,000 single-bit flips), a database in use is not replaced, newest N kept.
#define BOOST_TEST_MODULE sqlite_snapshot
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "persistence/backup_retention.hpp"
#include "persistence/sqlite_snapshot.hpp"
#include "test/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace holo::persistence;
using holo::test::temp_dir;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(f), {});
}
void write_file(const std::string& p, const bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

backup_key fixed_key(std::uint8_t seed) {
  std::array<std::uint8_t, backup_key_bytes> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed * 17 + i);
  return backup_key(k);
}

class db {
 public:
  explicit db(const std::string& path) {
    BOOST_REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
  }
  ~db() { sqlite3_close_v2(db_); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << (err ? err : "?"));
  }
  // Every row of every table, in a fixed order: what "identical contents" means here.
  std::string contents() {
    std::string out;
    std::vector<std::string> tables;
    query("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name", [&](sqlite3_stmt* s) {
      tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    });
    query("SELECT type, name, sql FROM sqlite_schema ORDER BY name", [&](sqlite3_stmt* s) {
      for (int i = 0; i < 3; ++i) out += std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, i) ? sqlite3_column_text(s, i) : (const unsigned char*)"")) + "|";
      out += "\n";
    });
    for (const auto& t : tables)
      query("SELECT * FROM \"" + t + "\" ORDER BY rowid", [&](sqlite3_stmt* s) {
        for (int i = 0; i < sqlite3_column_count(s); ++i) {
          const void* blob = sqlite3_column_blob(s, i);
          out += std::string(static_cast<const char*>(blob ? blob : ""), static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
          out += '\x1f';
        }
        out += '\n';
      });
    return out;
  }
  template <class F>
  void query(const std::string& sql, F&& row) {
    sqlite3_stmt* s = nullptr;
    BOOST_REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) row(s);
    sqlite3_finalize(s);
  }

 private:
  sqlite3* db_ = nullptr;
};

const std::string canary = "CANARY-9d2e-holobionte-journal";

void fill(db& d, int rows) {
  d.exec("PRAGMA journal_mode=WAL");
  d.exec("CREATE TABLE IF NOT EXISTS journal(id INTEGER PRIMARY KEY, request TEXT, prefix BLOB)");
  d.exec("CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, history TEXT)");
  d.exec("CREATE INDEX IF NOT EXISTS journal_req ON journal(request)");
  d.exec("BEGIN");
  for (int i = 0; i < rows; ++i) {
    d.exec("INSERT INTO journal(request, prefix) VALUES('req-" + std::to_string(i) + "-" + canary +
           "', randomblob(" + std::to_string(50 + i % 200) + "))");
    d.exec("INSERT OR REPLACE INTO sessions VALUES('s" + std::to_string(i % 50) + "', 'turn " + std::to_string(i) +
           " " + canary + "')");
  }
  d.exec("COMMIT");
}

bool contains(const bytes& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

std::size_t files_in(const std::string& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

BOOST_AUTO_TEST_CASE(backup_and_restore_round_trip_gives_identical_contents) {
  temp_dir t;
  const auto key = fixed_key(1);
  db live(t.file("live.sqlite"));
  fill(live, 2000);
  // The live connection stays open (as the node's store would) while the backup is made.
  auto rec = create_sqlite_backup(t.file("live.sqlite"), t.file("backups"), key);
  BOOST_REQUIRE_MESSAGE(rec.ok(), (rec ? "" : rec.error().to_string()));
  BOOST_TEST(fs::exists(rec->archive_path));
  BOOST_TEST(files_in(t.file("backups")) == 1u);  // the clear-text snapshot is gone
  BOOST_TEST(!contains(read_file(rec->archive_path), canary));
  BOOST_TEST(rec->info.plaintext_bytes > 100000u);

  auto r = restore_sqlite(rec->archive_path, key, t.file("restored.sqlite"));
  BOOST_REQUIRE_MESSAGE(r.ok(), (r ? "" : r.error().to_string()));
  BOOST_TEST(!r->replaced_existing);
  BOOST_TEST(check_sqlite_integrity(t.file("restored.sqlite")).ok());
  db restored(t.file("restored.sqlite"));
  const std::string want = live.contents();
  BOOST_TEST(want.size() > 100000u);
  BOOST_TEST((restored.contents() == want));

  // Writes after the snapshot are not in it; restoring over an existing (closed) database replaces it.
  live.exec("INSERT INTO journal(request) VALUES('after')");
  auto rec2 = create_sqlite_backup(t.file("live.sqlite"), t.file("backups"), key);
  BOOST_REQUIRE(rec2.ok());
  {
    db other(t.file("other.sqlite"));
    fill(other, 10);
  }
  auto r2 = restore_sqlite(rec2->archive_path, key, t.file("other.sqlite"));
  BOOST_REQUIRE_MESSAGE(r2.ok(), (r2 ? "" : r2.error().to_string()));
  BOOST_TEST(r2->replaced_existing);
  BOOST_TEST(!fs::exists(t.file("other.sqlite-wal")));
  db other(t.file("other.sqlite"));
  BOOST_TEST((other.contents() == live.contents()));
}

BOOST_AUTO_TEST_CASE(damaged_or_wrongly_keyed_archives_leave_the_target_untouched) {
  temp_dir t;
  const auto key = fixed_key(2);
  {
    db live(t.file("live.sqlite"));
    fill(live, 300);
  }
  backup_options o;
  o.archive.chunk_bytes = 4096;
  auto rec = create_sqlite_backup(t.file("live.sqlite"), t.file("backups"), key, o);
  BOOST_REQUIRE(rec.ok());
  {
    db target(t.file("target.sqlite"));
    target.exec("CREATE TABLE keep_me(x)");
    target.exec("INSERT INTO keep_me VALUES('original')");
  }
  const bytes target_before = read_file(t.file("target.sqlite"));
  const std::size_t files_before = files_in(t.path());
  const bytes good = read_file(rec->archive_path);
  BOOST_TEST_MESSAGE("archive of " << good.size() << " bytes, " << rec->info.chunks << " chunks");

  std::mt19937_64 rng(777);
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    std::size_t pos = i < 120 ? static_cast<std::size_t>(i) : i < 170 ? good.size() - 1 - rng() % 30 : rng() % good.size();
    bytes bad = good;
    bad[pos] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    write_file(t.file("flipped.hbak"), bad);
    auto r = restore_sqlite(t.file("flipped.hbak"), key, t.file("target.sqlite"));
    if (r.ok()) BOOST_ERROR("flip at byte " << pos << " restored");
    else ++refused;
  }
  BOOST_TEST(refused == 1000);
  BOOST_TEST((read_file(t.file("target.sqlite")) == target_before));
  BOOST_TEST(files_in(t.path()) == files_before + 1);  // + flipped.hbak: no temp file left

  auto wrong = restore_sqlite(rec->archive_path, fixed_key(3), t.file("target.sqlite"));
  BOOST_REQUIRE(!wrong.ok());
  BOOST_TEST(wrong.error().message().rfind("wrong key", 0) == 0);
  BOOST_TEST((read_file(t.file("target.sqlite")) == target_before));

  // Truncated: refused, target untouched.
  write_file(t.file("cut.hbak"), bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2)));
  auto cut = restore_sqlite(t.file("cut.hbak"), key, t.file("target.sqlite"));
  BOOST_REQUIRE(!cut.ok());
  BOOST_TEST(cut.error().message().find("truncated") != std::string::npos, cut.error().message());
  BOOST_TEST((read_file(t.file("target.sqlite")) == target_before));
}

BOOST_AUTO_TEST_CASE(a_database_in_use_is_not_replaced) {
  temp_dir t;
  const auto key = fixed_key(4);
  db live(t.file("live.sqlite"));
  fill(live, 20);
  auto rec = create_sqlite_backup(t.file("live.sqlite"), t.file("backups"), key);
  BOOST_REQUIRE(rec.ok());
  // `live` stays open, as a running node's store keeps it.
  auto r = restore_sqlite(rec->archive_path, key, t.file("live.sqlite"));
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().message().find("in use") != std::string::npos, r.error().message());
  BOOST_TEST(live.contents().size() > 0u);

  // A target that is not a database needs --force.
  write_file(t.file("junk.sqlite"), bytes(5000, 0x5a));
  auto junk = restore_sqlite(rec->archive_path, key, t.file("junk.sqlite"));
  BOOST_REQUIRE(!junk.ok());
  BOOST_TEST(junk.error().message().find("--force") != std::string::npos, junk.error().message());
  restore_options force;
  force.force = true;
  BOOST_TEST(restore_sqlite(rec->archive_path, key, t.file("junk.sqlite"), force).ok());
  BOOST_TEST(check_sqlite_integrity(t.file("junk.sqlite")).ok());
}

BOOST_AUTO_TEST_CASE(names_sort_by_time_and_retention_keeps_the_newest) {
  BOOST_TEST(archive_file_name(0) == "holo-backup-19700101T000000Z.hbak");
  BOOST_TEST(archive_file_name(1700000000, 3) == "holo-backup-20231114T221320Z-3.hbak");
  auto p = parse_archive_file_name("holo-backup-20231114T221320Z-3.hbak");
  BOOST_REQUIRE(p.has_value());
  BOOST_TEST(p->created_unix_seconds == 1700000000);
  BOOST_TEST(p->seq == 3u);
  for (const char* bad : {"holo-backup-20231314T221320Z.hbak", "holo-backup-20231114T221320Z-1.hbak",
                          "holo-backup-20231114T221320Z.hbak.partial", "x.hbak", "holo-backup-2023.hbak"})
    BOOST_TEST(!parse_archive_file_name(bad).has_value(), bad);

  temp_dir t;
  const auto key = fixed_key(5);
  {
    db live(t.file("live.sqlite"));
    fill(live, 5);
  }
  const std::int64_t day = 86400, t0 = 1700000000;
  std::vector<std::string> made;
  for (int i = 0; i < 6; ++i) {
    backup_options o;
    o.now_unix_seconds = t0 + i * day;
    auto rec = create_sqlite_backup(t.file("live.sqlite"), t.file("b"), key, o);
    BOOST_REQUIRE(rec.ok());
    made.push_back(fs::path(rec->archive_path).filename().string());
  }
  // Two in the same second get distinct names.
  backup_options same;
  same.now_unix_seconds = t0 + 5 * day;
  same.keep = 3;
  std::ofstream(t.file("b/notes.txt")) << "not an archive";
  auto rec = create_sqlite_backup(t.file("live.sqlite"), t.file("b"), key, same);
  BOOST_REQUIRE(rec.ok());
  BOOST_TEST(fs::path(rec->archive_path).filename().string() == archive_file_name(t0 + 5 * day, 2));
  BOOST_TEST(rec->pruned.size() == 4u);
  auto all = list_archives(t.file("b"));
  BOOST_REQUIRE(all.ok());
  BOOST_REQUIRE(all->size() == 3u);
  BOOST_TEST((*all)[0].name == archive_file_name(t0 + 5 * day, 2));
  BOOST_TEST((*all)[1].name == made[5]);
  BOOST_TEST((*all)[2].name == made[4]);
  for (const auto& e : *all) {
    BOOST_TEST(e.header_status.ok());
    BOOST_TEST(e.size_bytes == e.header.archive_bytes);
    BOOST_TEST(verify_archive(e.path, key).ok());
  }
  BOOST_TEST(fs::exists(t.file("b/notes.txt")));  // never touched
  BOOST_TEST(!prune_archives(t.file("b"), 0).ok());
  BOOST_TEST((list_archives(t.file("missing")).error().code() == holo::status_code::not_found));
}
