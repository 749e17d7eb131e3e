// One store test suite, run against both backends: every STORE_CASE becomes NAME_sqlite (a file in a
// temporary folder) and NAME_postgres (a fresh schema in the server of HOLO_TEST_POSTGRES_DSN, which
// scripts/test starts; skipped, saying so, only when that variable is unset).
#define BOOST_TEST_MODULE persistence_store
#include <boost/test/unit_test.hpp>

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "persistence/checkpoint_blob.hpp"
#include "persistence/migrations.hpp"
#include "persistence/store.hpp"
#include "test/postgres_dsn.hpp"

namespace utf = boost::unit_test;
using namespace holo;
using namespace holo::persist;

namespace {

using holo::test::pg_dsn;
using holo::test::pg_precondition;

std::atomic<int> counter{0};

// Where one test case's store lives; open() may be called again to reopen the same database.
class harness {
 public:
  explicit harness(std::string backend) {
    o_.backend = std::move(backend);
    const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(counter++);
    if (o_.backend == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("holo_store_test_" + tag);
      std::filesystem::create_directories(dir_);
      o_.sqlite_path = (dir_ / "holo.sqlite").string();
      o_.sqlite_synchronous = "normal";  // tests need no power-loss safety
    } else {
      o_.postgres_dsn = pg_dsn();
      o_.postgres_schema = "holo_store_test_" + tag;
    }
    o_.outbox = true;
  }
  ~harness() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (!o_.postgres_schema.empty()) {  // leave the shared test database as we found it
      PGconn* c = PQconnectdb(o_.postgres_dsn.c_str());
      if (PQstatus(c) == CONNECTION_OK) PQclear(PQexec(c, ("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + o_.postgres_schema + " CASCADE").c_str()));
      PQfinish(c);
    }
  }
  std::unique_ptr<store> open() {
    auto s = open_store(o_);
    BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().to_string()));
    return std::move(*s);
  }
  store_options& options() { return o_; }

 private:
  store_options o_;
  std::filesystem::path dir_;
};

#define STORE_CASE(name)                                                                  \
  void name##_body(harness& h);                                                           \
  BOOST_AUTO_TEST_CASE(name##_sqlite) {                                                   \
    harness h("sqlite");                                                                  \
    name##_body(h);                                                                       \
  }                                                                                       \
  BOOST_AUTO_TEST_CASE(name##_postgres, *utf::precondition(pg_precondition{})) {          \
    harness h("postgres");                                                                \
    name##_body(h);                                                                       \
  }                                                                                       \
  void name##_body(harness& h)

void apply_ok(store& s, std::vector<write_op> w) {
  auto st = s.apply(w);
  BOOST_REQUIRE_MESSAGE(st.ok(), st.to_string());
}

journal_entry sample_journal(const std::string& id, std::int64_t revision = 1) {
  journal_entry j;
  j.request_id = id;
  j.owner = "anon";
  j.client_id = id.substr(id.find('/') + 1);
  j.router_node = "node-a";
  j.model = "demo";
  j.served_model = "demo-canary";
  j.session_id = "s1";
  j.messages = {{"system", "be brief"}, {"user", "héllo \xF0\x9F\x98\x80"}};
  j.sampling.temperature = 0.7;
  j.sampling.top_k = 40;
  j.sampling.min_p = 0.05;
  j.sampling.stop = {"\n\n", "</s>"};
  j.sampling.client_seed = true;  // the request flags ride in the sampling map
  j.sampling.stream = false;
  j.seed = 0x7fffffffffffffffull;
  j.max_tokens = 256;
  j.delivered_tokens = {1, -2, 2147483647, 0};
  j.delivered_texts = {"a", "", "\xe2\x82", std::string("\0x", 2)};  // texts may be any bytes
  j.status = journal_status::running;
  j.attempts = 2;
  j.revision = revision;
  j.created_ms = 1700000000000 + revision;
  j.updated_ms = 1700000000500 + revision;
  return j;
}

}  // namespace

STORE_CASE(migrations_apply_once_and_are_recorded) {
  auto s = h.open();
  auto v = s->schema_version();
  BOOST_REQUIRE(v.ok());
  const auto latest = h.options().backend == "sqlite" ? sqlite_migrations().back().version : postgres_migrations().back().version;
  BOOST_CHECK_EQUAL(*v, latest);
  s.reset();
  auto again = h.open();  // reopening applies nothing twice
  BOOST_CHECK_EQUAL(*again->schema_version(), latest);
  BOOST_CHECK(again->integrity_check().ok());
  auto c = again->counts();
  BOOST_REQUIRE(c.ok());
  BOOST_CHECK_EQUAL(c->journal, 0);
}

STORE_CASE(journal_round_trips_everything_a_resume_needs) {
  auto s = h.open();
  auto j = sample_journal("node-a/anon:r1");
  auto p = sample_journal("node-a/anon:r2");
  p.messages.clear();
  p.prompt = "Once upon a time";
  p.sampling = {};
  p.status = journal_status::accepted;
  p.delivered_tokens.clear();
  p.delivered_texts.clear();
  apply_ok(*s, {j, p});
  auto back = s->journal(j.request_id);
  BOOST_REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error().to_string()));
  BOOST_REQUIRE(back->has_value());
  BOOST_CHECK(**back == j);
  auto back2 = s->journal(p.request_id);
  BOOST_REQUIRE(back2.ok() && back2->has_value());
  BOOST_CHECK(**back2 == p);
  BOOST_CHECK(!s->journal("node-a/anon:nope")->has_value());
}

STORE_CASE(journal_upsert_is_idempotent_and_never_goes_back) {
  auto s = h.open();
  auto v1 = sample_journal("n/r", 1);
  auto v2 = sample_journal("n/r", 2);
  v2.delivered_tokens.push_back(7);
  v2.delivered_texts.push_back("seven");
  v2.status = journal_status::done;
  v2.finish_reason = "length";
  apply_ok(*s, {v1});
  apply_ok(*s, {v1});  // a retried commit
  apply_ok(*s, {v2});
  apply_ok(*s, {v1});  // a stale write arriving late
  apply_ok(*s, {v2});
  // An equal revision is a retry of a row already there: it changes nothing, so a row the sync pump
  // ships again after a crash keeps its place in the central commit order (test_sync checks that).
  auto v2_again = v2;
  v2_again.finish_reason = "retry-must-not-land";
  apply_ok(*s, {v2_again});
  auto c = s->counts();
  BOOST_REQUIRE(c.ok());
  BOOST_CHECK_EQUAL(c->journal, 1);
  auto back = s->journal("n/r");
  BOOST_REQUIRE(back.ok() && back->has_value());
  auto want = v2;
  want.created_ms = v1.created_ms;  // the first write's creation time stays
  BOOST_CHECK(**back == want);
}

STORE_CASE(unfinished_journal_lists_open_requests_oldest_first) {
  auto s = h.open();
  std::vector<write_op> w;
  const char* statuses[] = {journal_status::done, journal_status::running, journal_status::accepted,
                            journal_status::failed, journal_status::cancelled, journal_status::running};
  for (int i = 0; i < 6; ++i) {
    auto j = sample_journal("n/r" + std::to_string(i));
    j.status = statuses[i];
    j.created_ms = 1000 - i;  // newer ids are older
    w.push_back(j);
  }
  apply_ok(*s, w);
  auto u = s->unfinished_journal(10);
  BOOST_REQUIRE(u.ok());
  BOOST_REQUIRE_EQUAL(u->size(), 3u);
  BOOST_CHECK_EQUAL((*u)[0].request_id, "n/r5");
  BOOST_CHECK_EQUAL((*u)[1].request_id, "n/r2");
  BOOST_CHECK_EQUAL((*u)[2].request_id, "n/r1");
  BOOST_CHECK_EQUAL(s->unfinished_journal(1)->size(), 1u);
}

STORE_CASE(a_batch_is_all_or_nothing) {
  auto s = h.open();
  auto bad = sample_journal("n/bad");
  bad.delivered_texts.pop_back();  // texts must match tokens
  std::vector<write_op> w{sample_journal("n/good"), session_message{"s", 0, "user", "hi", "", 1}, bad};
  auto st = s->apply(w);
  BOOST_CHECK(st.code() == status_code::invalid_argument);
  BOOST_CHECK_MESSAGE(st.message().find("delivered_texts") != std::string::npos, st.message());
  auto c = s->counts();
  BOOST_REQUIRE(c.ok());
  BOOST_CHECK_EQUAL(c->journal, 0);
  BOOST_CHECK_EQUAL(c->sessions, 0);
  journal_entry nul = sample_journal("n/nul");
  nul.prompt = std::string("a\0b", 3);
  BOOST_CHECK(s->apply(std::vector<write_op>{nul}).code() == status_code::invalid_argument);
  BOOST_CHECK(s->apply(std::vector<write_op>{journal_entry{}}).code() == status_code::invalid_argument);
  // The store still works after refused batches.
  apply_ok(*s, {sample_journal("n/good")});
  BOOST_CHECK_EQUAL(s->counts()->journal, 1);
}

STORE_CASE(sessions_keep_order_and_retries_do_not_duplicate) {
  auto s = h.open();
  std::vector<write_op> w;
  for (int i = 4; i >= 0; --i) w.push_back(session_message{"chat-1", i, i % 2 ? "assistant" : "user", "m" + std::to_string(i), "r", 10});
  w.push_back(session_message{"chat-2", 0, "user", "other", "", 11});
  apply_ok(*s, w);
  apply_ok(*s, w);
  auto m = s->session("chat-1", 100);
  BOOST_REQUIRE(m.ok());
  BOOST_REQUIRE_EQUAL(m->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    BOOST_CHECK_EQUAL((*m)[std::size_t(i)].seq, i);
    BOOST_CHECK_EQUAL((*m)[std::size_t(i)].content, "m" + std::to_string(i));
  }
  BOOST_CHECK_EQUAL(s->counts()->sessions, 6);
  BOOST_CHECK_EQUAL(s->session("chat-1", 2)->size(), 2u);
}

STORE_CASE(checkpoints_are_replaced_whole_and_only_by_newer) {
  auto s = h.open();
  checkpoint_blob b{"router.generation", 1, 5, 123, std::string("\x00\x01\xff payload", 11)};
  const auto bytes = encode_checkpoint(b);
  apply_ok(*s, {checkpoint_record{"router", "n/r1", 5, bytes, 1}});
  auto older = encode_checkpoint(checkpoint_blob{"router.generation", 1, 4, 100, "old"});
  apply_ok(*s, {checkpoint_record{"router", "n/r1", 4, older, 2}});
  auto c = s->checkpoint("router", "n/r1");
  BOOST_REQUIRE(c.ok() && c->has_value());
  BOOST_CHECK_EQUAL((*c)->sequence, 5);
  auto decoded = decode_checkpoint((*c)->blob);
  BOOST_REQUIRE(decoded.ok());
  BOOST_CHECK(*decoded == b);
  const std::string big(1 << 20, 'x');
  apply_ok(*s, {checkpoint_record{"router", "n/r1", 6, encode_checkpoint({"k", 1, 6, 0, big}), 3}});
  c = s->checkpoint("router", "n/r1");
  BOOST_REQUIRE(c.ok() && c->has_value());
  BOOST_CHECK_EQUAL(decode_checkpoint((*c)->blob)->payload.size(), big.size());
  BOOST_CHECK(!s->checkpoint("router", "other")->has_value());
  BOOST_CHECK_EQUAL(s->counts()->checkpoints, 1);
}

STORE_CASE(membership_events_and_backups) {
  auto s = h.open();
  membership_event e1{"a/b/1/1", "a", "b", "up", 1, 100};
  membership_event e2{"a/b/1/2", "a", "b", "down", 1, 200};
  apply_ok(*s, {e1, e2, e1});
  auto ev = s->events(150, 10);
  BOOST_REQUIRE(ev.ok());
  BOOST_REQUIRE_EQUAL(ev->size(), 1u);
  BOOST_CHECK((*ev)[0] == e2);
  BOOST_CHECK_EQUAL(s->events(0, 10)->size(), 2u);
  backup_entry b{"bk-1", "a", "/b/1.tar.zst", 42, "ab12", "writing", 5, 0, ""};
  apply_ok(*s, {b});
  b.status = "verified";
  b.verified_ms = 9;
  apply_ok(*s, {b});
  auto bs = s->backups(10);
  BOOST_REQUIRE(bs.ok());
  BOOST_REQUIRE_EQUAL(bs->size(), 1u);
  BOOST_CHECK((*bs)[0] == b);
}

STORE_CASE(outbox_lists_changed_rows_once_in_change_order) {
  auto s = h.open();
  apply_ok(*s, {sample_journal("n/a", 1), session_message{"c", 0, "user", "x", "", 1},
                membership_event{"e1", "a", "b", "up", 1, 1}});
  apply_ok(*s, {sample_journal("n/a", 2)});  // changed again: moves to the end
  apply_ok(*s, {checkpoint_record{"router", "k", 1, "b", 1}, backup_entry{"bk", "a", "p", 1, "h", "complete", 1, 0, ""}});
  auto o = s->outbox(0, 100);
  BOOST_REQUIRE(o.ok());
  BOOST_REQUIRE_EQUAL(o->size(), 3u);  // checkpoints and backups are not shipped
  BOOST_CHECK_EQUAL((*o)[0].kind, "session");
  BOOST_CHECK_EQUAL((*o)[1].kind, "event");
  BOOST_CHECK_EQUAL((*o)[2].kind, "journal");
  BOOST_CHECK_EQUAL((*o)[2].row_key, "n/a");
  BOOST_CHECK((*o)[0].seq < (*o)[1].seq && (*o)[1].seq < (*o)[2].seq);
  const auto last = (*o)[2].seq;
  BOOST_REQUIRE(s->ack_outbox((*o)[1].seq).ok());
  BOOST_CHECK_EQUAL(s->outbox(0, 100)->size(), 1u);
  BOOST_REQUIRE(s->ack_outbox(last).ok());
  BOOST_CHECK_EQUAL(s->outbox(0, 100)->size(), 0u);
  apply_ok(*s, {sample_journal("n/b", 1)});  // seq keeps growing after the outbox emptied
  auto o2 = s->outbox(last, 100);
  BOOST_REQUIRE(o2.ok());
  BOOST_REQUIRE_EQUAL(o2->size(), 1u);
  BOOST_CHECK((*o2)[0].seq > last);
}

STORE_CASE(outbox_off_records_nothing) {
  h.options().outbox = false;
  auto s = h.open();
  apply_ok(*s, {sample_journal("n/a", 1)});
  BOOST_CHECK_EQUAL(s->counts()->outbox, 0);
}

STORE_CASE(many_rows_in_one_batch_and_ids_listed) {
  auto s = h.open();
  std::vector<write_op> w;
  for (int i = 0; i < 500; ++i) w.push_back(sample_journal("n/" + std::to_string(1000 + i)));
  apply_ok(*s, w);
  auto ids = s->journal_ids("", 1000);
  BOOST_REQUIRE(ids.ok());
  BOOST_REQUIRE_EQUAL(ids->size(), 500u);
  BOOST_CHECK_EQUAL(ids->front(), "n/1000");
  BOOST_CHECK_EQUAL(ids->back(), "n/1499");
  // Pages: each starts after the last id of the one before, none repeated or skipped (holo store
  // check once read only the first page and reported the rest of a long journal missing).
  std::vector<std::string> paged;
  for (std::string after;;) {
    auto page = s->journal_ids(after, 64);
    BOOST_REQUIRE(page.ok());
    BOOST_REQUIRE_LE(page->size(), 64u);
    paged.insert(paged.end(), page->begin(), page->end());
    if (page->size() < 64) break;
    after = page->back();
  }
  BOOST_CHECK(paged == *ids);
}

BOOST_AUTO_TEST_CASE(bad_options_are_clear_errors) {
  store_options o;
  o.backend = "mysql";
  BOOST_CHECK(open_store(o).error().code() == status_code::invalid_argument);
  o.backend = "postgres";
  BOOST_CHECK(open_store(o).error().message().find("DSN") != std::string::npos);
  o.backend = "sqlite";
  o.sqlite_path = "/nonexistent-folder/x/holo.sqlite";
  auto r = open_store(o);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.error().code() == status_code::unavailable);
  BOOST_CHECK(open_store(o, true).ok());  // the store actor starts degraded and retries
}

BOOST_AUTO_TEST_CASE(postgres_down_is_unavailable_not_fatal) {
  store_options o;
  o.backend = "postgres";
  o.postgres_dsn = "host=127.0.0.1 port=1 dbname=x user=y password=secret";  // nothing listens on port 1
  auto r = open_store(o);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.error().code() == status_code::unavailable);
  BOOST_CHECK_MESSAGE(r.error().message().find("secret") == std::string::npos, r.error().message());
  auto s = open_store(o, true);
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK(!(*s)->connected());
  BOOST_CHECK((*s)->apply(std::vector<write_op>{sample_journal("n/x")}).code() == status_code::unavailable);
  BOOST_CHECK((*s)->journal("n/x").error().code() == status_code::unavailable);
}

BOOST_AUTO_TEST_CASE(checkpoint_cadence_fires_on_tokens_or_time) {
  checkpoint_cadence c{16, 1000};
  BOOST_CHECK(!c.due(0, 5000));  // nothing new: nothing to save
  BOOST_CHECK(!c.due(15, 999));
  BOOST_CHECK(c.due(16, 0));
  BOOST_CHECK(c.due(1, 1000));
  checkpoint_cadence tokens_only{8, 0};
  BOOST_CHECK(!tokens_only.due(7, 1 << 30));
}
