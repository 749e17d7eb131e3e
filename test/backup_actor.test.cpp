// The backup actor in a real node (actors/backup.hpp): `backup now` through the shell writes an
// encrypted archive of the node's live SQLite store, `backup list` shows it, the store's catalogue
// records it, retention keeps the newest `keep`, and `holo backup verify`/`restore` accept it. A
// node whose backup key is unreadable refuses to start with a clear message. A node whose store is
// PostgreSQL archives a pg_dump of it (skipped, saying so, without HOLO_TEST_POSTGRES_DSN).
#define BOOST_TEST_MODULE backup_actor
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/cluster.hpp"

using namespace std::chrono_literals;
using holo::test::child_process;
using holo::test::cluster_fixture;

namespace {

using holo::test::read_file;


struct run_result {
  int rc = -1;
  std::string out;
};

run_result run(const cluster_fixture& c, std::vector<std::string> args) {
  static int n = 0;
  args.insert(args.begin(), HOLO_BIN);
  child_process p(args, c.dir().file("cmd" + std::to_string(++n) + ".log"));
  auto rc = p.wait_exit(60s);
  return {rc ? *rc : -1, p.log()};
}

std::size_t archives_in(const std::string& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir, ec))
    n += e.path().extension() == ".hbak";
  return n;
}

// One node with the store and backup roles, backups kept to 2.
struct backup_node {
  cluster_fixture c{1};
  std::string key, dir, db;

  // `persistence_toml`: a [persistence] section to use instead of the default SQLite store.
  explicit backup_node(bool make_key = true, const std::string& persistence_toml = "") {
    key = c.dir().file("backup.key");
    dir = c.dir().file("archives");
    db = c.dir().file("data-n1/holo.sqlite");
    if (make_key) {
      auto r = run(c, {"backup", "keygen", key});
      BOOST_REQUIRE_MESSAGE(r.rc == 0, r.out);
    }
    auto text = read_file(c.config_path());
    auto at = text.find("roles = [\"router\"]");
    BOOST_REQUIRE(at != std::string::npos);
    text.replace(at, std::string("roles = [\"router\"]").size(), "roles = [\"router\", \"store\", \"backup\"]");
    text += "\n[backup]\nenabled = true\nschedule = \"daily\"\nkeep = 2\ndir = \"" + dir + "\"\nkey_file = \"" + key + "\"\n";
    text += persistence_toml;
    c.dir().write("cluster.toml", text);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(backup_now_writes_lists_catalogues_and_prunes) {
  backup_node b;
  b.c.start("n1");
  auto admin = [&](const std::string& cmd) {
    return run(b.c, {"shell", b.c.client_endpoint("n1"), "--admin-key", b.c.admin_key_file(), "-c", cmd});
  };
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(20s, [&] { return admin("actors").out.find("backup") != std::string::npos; }),
                        b.c.logs());
  // Without the admin key: refused.
  auto refused = run(b.c, {"shell", b.c.client_endpoint("n1"), "-c", "backup now"});
  BOOST_CHECK_EQUAL(refused.rc, 3);
  BOOST_CHECK_EQUAL(archives_in(b.dir), 0u);

  for (int i = 0; i < 3; ++i) {
    auto r = admin("backup now");
    BOOST_REQUIRE_MESSAGE(r.rc == 0, r.out);
    BOOST_CHECK_MESSAGE(r.out.find("holo-backup-") != std::string::npos, r.out);
  }
  // keep = 2: the oldest of three is gone.
  BOOST_CHECK_EQUAL(archives_in(b.dir), 2u);
  auto list = admin("backup list");
  BOOST_CHECK_EQUAL(list.rc, 0);
  BOOST_CHECK_MESSAGE(list.out.find("holo-backup-") != std::string::npos, list.out);

  // The catalogue in the node's store: three complete, one of them later marked deleted.
  std::string catalogue;
  bool recorded = holo::test::eventually(10s, [&] {
    child_process q({"/usr/bin/sqlite3", b.db, "SELECT status, count(*) FROM backups GROUP BY status ORDER BY status;"},
                    b.c.dir().file("sqlite.log"));
    if (!q.wait_exit(20s).has_value()) return false;
    catalogue = q.log();
    return catalogue.find("complete|2") != std::string::npos && catalogue.find("deleted|1") != std::string::npos;
  });
  BOOST_CHECK_MESSAGE(recorded, "catalogue: " << catalogue);

  // The newest archive verifies with the key and restores to a valid database.
  std::string newest;
  for (auto& e : std::filesystem::directory_iterator(b.dir))
    if (e.path().extension() == ".hbak" && e.path().string() > newest) newest = e.path().string();
  auto v = run(b.c, {"backup", "verify", "--key", b.key, newest});
  BOOST_CHECK_MESSAGE(v.rc == 0, v.out);
  auto restored = b.c.dir().file("restored.sqlite");
  auto rs = run(b.c, {"backup", "restore", "--key", b.key, newest, "--db", restored});
  BOOST_CHECK_MESSAGE(rs.rc == 0, rs.out);
  BOOST_CHECK(std::filesystem::exists(restored));
}

BOOST_AUTO_TEST_CASE(a_node_with_an_unreadable_backup_key_refuses_to_start) {
  backup_node b(false);  // no key file written
  auto& p = b.c.start("n1");
  auto rc = p.wait_exit(20s);
  BOOST_REQUIRE_MESSAGE(rc.has_value(), "node started without its backup key:\n" << p.log());
  BOOST_CHECK_NE(*rc, 0);
  BOOST_CHECK_MESSAGE(p.log().find("backup") != std::string::npos && p.log().find(b.key) != std::string::npos, p.log());
}

BOOST_AUTO_TEST_CASE(a_postgres_store_is_backed_up_with_pg_dump) {
  const char* base = std::getenv("HOLO_TEST_POSTGRES_DSN");
  if (base == nullptr) {
    BOOST_TEST_MESSAGE("SKIP: HOLO_TEST_POSTGRES_DSN is unset (scripts/test starts PostgreSQL and sets it)");
    return;
  }
  // A database of its own: the other tests share the server's default one.
  const std::string db = "holo_backup_actor_" + std::to_string(::getpid());
  holo::test::temp_dir psql_logs("holo-backup-actor-psql");  // gone with the test (it used to stay in /tmp)
  auto psql = [&](const std::string& dsn, const std::string& sql) {
    child_process p({"/usr/bin/psql", dsn, "-qAtc", sql}, psql_logs.file("psql.log"));
    auto rc = p.wait_exit(30s);
    return rc && *rc == 0;
  };
  BOOST_REQUIRE(psql(base, "CREATE DATABASE " + db));
  const std::string dsn = std::string(base) + " dbname=" + db;
  {
    backup_node b(true, "\n[persistence]\nbackend = \"postgres\"\npostgres_dsn = \"" + dsn + "\"\n");
    b.c.start("n1");
    auto admin = [&](const std::string& cmd) {
      return run(b.c, {"shell", b.c.client_endpoint("n1"), "--admin-key", b.c.admin_key_file(), "-c", cmd});
    };
    BOOST_REQUIRE_MESSAGE(
        holo::test::eventually(20s, [&] { return admin("actors").out.find("backup") != std::string::npos; }), b.c.logs());
    auto r = admin("backup now");
    BOOST_REQUIRE_MESSAGE(r.rc == 0, r.out << b.c.logs());
    BOOST_CHECK_EQUAL(archives_in(b.dir), 1u);
    std::string archive;
    for (auto& e : std::filesystem::directory_iterator(b.dir))
      if (e.path().extension() == ".hbak") archive = e.path().string();
    auto v = run(b.c, {"backup", "verify", "--key", b.key, archive});
    BOOST_CHECK_MESSAGE(v.rc == 0 && v.out.find("postgres_dump") != std::string::npos, v.out);
    // The dump holds the store's schema: restored into a fresh database, the journal table is there.
    const std::string copy = db + "_copy";
    BOOST_REQUIRE(psql(base, "CREATE DATABASE " + copy));
    auto rs = run(b.c, {"backup", "restore", "--key", b.key, "--dsn", std::string(base) + " dbname=" + copy, archive});
    BOOST_CHECK_MESSAGE(rs.rc == 0, rs.out);
    BOOST_CHECK(psql(std::string(base) + " dbname=" + copy, "SELECT count(*) FROM journal"));
    b.c.process("n1")->signal(SIGTERM);  // it holds connections: DROP DATABASE would refuse
    b.c.process("n1")->wait_exit(20s);
    psql(base, "DROP DATABASE IF EXISTS " + copy);
  }
  psql(base, "DROP DATABASE IF EXISTS " + db);
}
