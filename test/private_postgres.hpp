// A private PostgreSQL server for one test (initdb into a temporary folder, pg_ctl start/stop), so
// that stopping or killing it disturbs no other test. As root it runs as the `postgres` user.
// Header-only: included by the multi-process tests that need it (test/store.test.cpp,
// test/metrics.test.cpp, test/sync.test.cpp) and by persistence/sync_pump.test.cpp, which links
// none of test/process.cpp.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <boost/test/unit_test.hpp>

#include "runtime/free_port.hpp"
#include "test/temp_dir.hpp"

namespace holo::test {

inline bool is_root() { return ::geteuid() == 0; }

inline int shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

class private_postgres {
 public:
  explicit private_postgres(const temp_dir& d, std::string dbname = "holo_store") : private_postgres(d.path(), std::move(dbname)) {}
  // `dir`: the server's folder (its data, socket and logs), created if missing.
  explicit private_postgres(const std::string& dir, std::string dbname) : dir_(dir), dbname_(std::move(dbname)) {
    const char* b = std::getenv("HOLO_TEST_POSTGRES_BIN");
    bin_ = b && *b ? b : "";
    if (bin_.empty()) {  // the newest installed server, as test/postgres.sh finds it
      FILE* p = ::popen("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1", "r");
      char buf[512] = {0};
      if (p && std::fgets(buf, sizeof buf, p)) bin_ = std::string(buf, std::strlen(buf) - 1);
      if (p) ::pclose(p);
    }
    auto port = free_loopback_port();
    BOOST_REQUIRE_MESSAGE(port, (port ? "" : port.error().message()));
    port_ = *port;
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (is_root()) shell("chown postgres:postgres '" + dir_ + "'");
    BOOST_REQUIRE_EQUAL(shell(as_pg("'" + bin_ + "/initdb' -D '" + dir_ + "/data' -U holo --auth=trust -E UTF8 >'" + dir_ +
                                    "/initdb.log' 2>&1")),
                        0);
    BOOST_REQUIRE_MESSAGE(start() == 0, "cannot start PostgreSQL: see " << dir_ << "/server.log");
    BOOST_REQUIRE_EQUAL(shell(as_pg("'" + bin_ + "/createdb' -h 127.0.0.1 -p " + std::to_string(port_) + " -U holo " + dbname_)), 0);
  }
  ~private_postgres() { stop("fast"); }
  std::string dsn() const { return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + dbname_ + " user=holo"; }
  // fsync stays on (the default): an acknowledged commit is on disk, as in production.
  int start() {
    return shell(as_pg("'" + bin_ + "/pg_ctl' -D '" + dir_ + "/data' -l '" + dir_ + "/server.log' -w -t 60 -o \"-p " +
                       std::to_string(port_) + " -k '" + dir_ + "' -c listen_addresses=127.0.0.1\" start >/dev/null"));
  }
  int stop(const char* mode) {
    return shell(as_pg("'" + bin_ + "/pg_ctl' -D '" + dir_ + "/data' -m " + mode + " -w -t 60 stop >/dev/null 2>&1"));
  }

 private:
  static std::string as_pg(const std::string& cmd) {
    return is_root() ? "runuser -u postgres -- sh -c \"" + escape(cmd) + "\"" : cmd;
  }
  static std::string escape(const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '"' || c == '\\' || c == '$') o += '\\';
      o += c;
    }
    return o;
  }
  std::string dir_, bin_, dbname_;
  int port_ = 0;
};

}  // namespace holo::test
