// The store actor on a real scheduler: acknowledgements after commit, push-back when the buffer is
// full, degraded status while its database is unreachable (PostgreSQL on a port nothing listens on),
// and recovery onto SQLite is covered by test/store.test.cpp with real server restarts.
#define BOOST_TEST_MODULE actors_store
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/store.hpp"
#include "runtime/supervisor.hpp"

using namespace holo;
using namespace std::chrono_literals;

namespace {

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  std::filesystem::path dir;
  fixture() : sys(init(cfg)), self(sys) {
    dir = std::filesystem::temp_directory_path() / ("holo_store_actor_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
  }
  ~fixture() { std::filesystem::remove_all(dir); }
  static caf::actor_system_config& init(caf::actor_system_config& c) {
    c.set("scheduler.max-threads", 2);
    return c;
  }
  template <class T, class... Ts>
  T ask(const caf::actor& a, Ts&&... xs) {
    T out{};
    self->request(a, 10s, std::forward<Ts>(xs)...)
        .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { BOOST_FAIL("request failed: " << sys.render(e)); });
    return out;
  }
  void stop(const caf::actor& a) {
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->wait_for(a);
  }
};

persist::journal_entry row(const std::string& id) {
  persist::journal_entry j;
  j.request_id = id;
  j.prompt = "p";
  j.created_ms = j.updated_ms = 1;
  return j;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(acknowledges_after_commit_and_reads_back, fixture) {
  store_actor_options o;
  o.store.sqlite_path = (dir / "a.sqlite").string();
  o.store.sqlite_synchronous = "normal";
  auto s = spawn_store(sys, o, log::logger{});
  BOOST_CHECK(ask<actor_status>(s, status_atom::value).state == "running");
  auto ack = ask<store_ack>(s, store_write_atom::value, store_batch{{row("n/1"), row("n/2")}});
  BOOST_REQUIRE_MESSAGE(ack.result.ok(), ack.result.to_string());
  auto j = ask<store_journal_reply>(s, store_journal_atom::value, std::string("n/2"));
  BOOST_REQUIRE(j.result.ok());
  BOOST_REQUIRE(j.entry.has_value());
  BOOST_CHECK_EQUAL(*j.entry->prompt, "p");
  auto bad = row("n/3");
  bad.delivered_tokens = {1};
  BOOST_CHECK(ask<store_ack>(s, store_write_atom::value, store_batch{{bad}}).result.code() == status_code::invalid_argument);
  auto st = ask<store_stats>(s, store_stats_atom::value);
  BOOST_CHECK_EQUAL(st.committed_rows, 2);
  BOOST_CHECK(!st.degraded);
  stop(s);
}

BOOST_FIXTURE_TEST_CASE(unreachable_database_degrades_buffers_and_pushes_back, fixture) {
  store_actor_options o;
  o.store.backend = "postgres";
  o.store.postgres_dsn = "host=127.0.0.1 port=1 dbname=x user=y connect_timeout=1";
  o.buffer_rows = 3;
  o.reconnect_min_ms = 20;
  o.reconnect_max_ms = 50;
  auto s = spawn_store(sys, o, log::logger{});
  BOOST_CHECK(ask<actor_status>(s, status_atom::value).state == "degraded");
  // Two batches (3 rows) are buffered: no answer yet, because nothing committed.
  for (int i = 0; i < 2; ++i) self->send(s, store_write_atom::value, store_batch{{row("b/" + std::to_string(i))}});
  self->send(s, store_write_atom::value, store_batch{{row("b/2")}});
  auto full = ask<store_ack>(s, store_write_atom::value, store_batch{{row("b/3")}});
  BOOST_CHECK(full.result.code() == status_code::resource_exhausted);
  auto st = ask<store_stats>(s, store_stats_atom::value);
  BOOST_CHECK(st.degraded);
  BOOST_CHECK_EQUAL(st.buffered_rows, 3);
  BOOST_CHECK_EQUAL(st.rejected_rows, 1);
  BOOST_CHECK(!st.last_error.empty());
  BOOST_CHECK(ask<store_journal_reply>(s, store_journal_atom::value, std::string("b/0")).result.code() ==
              status_code::unavailable);
  // A stop tells the waiting writers their batches were not acknowledged.
  self->send_exit(s, caf::exit_reason::user_shutdown);
  int unacked = 0;
  for (int i = 0; i < 3; ++i)
    self->receive([&](store_ack& a) { unacked += a.result.code() == status_code::unavailable; },
                  [&](caf::error&) {}, caf::after(5s) >> [] {});
  BOOST_CHECK_EQUAL(unacked, 3);
  self->wait_for(s);
}
