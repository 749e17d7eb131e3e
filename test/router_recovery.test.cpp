// Router-restart recovery through the request journal (actors/router.hpp, docs/storage.md "Request
// journal") on real node processes sharing one PostgreSQL database: streams run through n1's router
// on a model served by n2's shard; n1 is killed (SIGKILL) mid-stream; the client resumes each
// stream on n2 with `resume` (from_index = tokens received) and gets the rest -- no gap, no
// duplicate, the very tokens and text of an uninterrupted run with the same seed -- and the journal
// rows end `done`, owned by n2. Then: a resume of an id nobody knows is not_found; a finished
// generation resumed on a router that never held it (n1, restarted) is replayed from its row, as
// docs/protocol.md says for finished generations. And after a whole-cluster restart (both nodes
// killed mid-stream, started again) the journaled streams resume the same way.
// Skipped, saying so, when HOLO_TEST_POSTGRES_DSN is unset (scripts/test sets it).
#define BOOST_TEST_MODULE router_recovery
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "runtime/client.hpp"
#include "runtime/client_protocol.hpp"
#include "test/cluster.hpp"
#include "test/streams.hpp"
#include "test/postgres_dsn.hpp"

namespace utf = boost::unit_test;
using namespace std::chrono_literals;
using holo::test::cluster_fixture;
using holo::test::stream_set;
namespace proto = holo::proto;

namespace {

using holo::test::read_file;

using holo::test::pg_precondition;

// Slow enough (a few hundred tokens/s on one core) that a stream of 400 tokens is still running
// when the kill comes, small enough to build in a second.
const std::string& model_path() {
  static holo::test::temp_dir dir;
  static std::string path = holo::test::make_model(HOLO_BIN, dir, "recovery.gguf",
                                                      {"--preset", "tiny", "--layers", "8", "--embd", "768",
                                                       "--heads", "12", "--kv-heads", "4", "--ff", "2048",
                                                       "--vocab-size", "4096", "--type", "Q8_0", "-q"});
  return path;
}


// One line of `psql -Atc` output (the journal as PostgreSQL holds it).
std::string psql(const std::string& sql) {
  std::string cmd = "psql \"" + std::string(std::getenv("HOLO_TEST_POSTGRES_DSN")) + "\" -Atc \"" + sql + "\" 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A cluster of n1 and n2, both router + shard + store on the shared PostgreSQL, the model on n2.
std::string recovery_config(cluster_fixture& c) {
  c.serve("[[model]]\nname = \"m\"\npath = \"" + model_path() +
          "\"\ncontext_length = 1024\nparallel = 8\n\n[[placement]]\nmodel = \"m\"\nnodes = [\"n2\"]\n\n"
          "[routing]\nmax_prompt_tokens = 512\nmax_tokens = 400\nresume_grace_ms = 30000\n\n"
          "[persistence]\nbackend = \"postgres\"\npostgres_dsn = \"" +
          std::string(std::getenv("HOLO_TEST_POSTGRES_DSN")) + "\"\n");
  auto text = read_file(c.config_path());
  const std::string from = "roles = [\"router\", \"shard\"]", to = "roles = [\"router\", \"shard\", \"store\"]";
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  c.dir().write("recovery.toml", text);
  return c.dir().file("recovery.toml");
}

bool model_ready_on(cluster_fixture& c, const std::string& router) {
  holo::client cl(c.client_endpoint(router));
  auto ms = cl.models(500ms);
  return ms && !ms->empty() && !(*ms)[0].replicas.empty() && (*ms)[0].replicas[0].state == "ready";
}

proto::generate_request request(const std::string& id, int i) {
  proto::generate_request r;
  r.id = id;
  r.model = "m";
  r.prompt = "A stream that outlives its router #" + std::to_string(i);
  r.options.seed = static_cast<std::uint64_t>(7000 + i);  // a client seed: the same tokens for any id
  r.options.max_tokens = 400;
  return r;
}

// Starts n2 (the model's shard) then n1 and waits until both routers see the model ready.
void start_both(cluster_fixture& c, const std::string& config) {
  c.start("n2", config);
  c.start("n1", config);
  for (auto* n : {"n1", "n2"})
    BOOST_REQUIRE_MESSAGE(holo::test::eventually(30s, [&] { return model_ready_on(c, n); }),
                          n << " never saw the model ready\n" << c.logs());
}

// Ids unique to this run: the database is shared with other tests and earlier runs.
std::string unique_tag() {
  return std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}() % 100000);
}

// Pumps `run` until every stream has at least `tokens` tokens (false after a minute).
bool every_stream_has(stream_set& run, std::size_t tokens) {
  return run.pump_until(60s, [&] {
    for (auto& [id, r] : run.streams())
      if (r.tokens.size() < tokens) return false;
    return true;
  });
}

void check_clean(const holo::test::stream_record& r) {
  BOOST_TEST(r.done, r.id << " did not finish");
  BOOST_TEST(r.error.empty(), r.id << ": " << r.error);
  BOOST_TEST(r.violations.empty(), r.id << ": " << (r.violations.empty() ? "" : r.violations.front()));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_stream_survives_the_death_of_its_router, *utf::precondition(pg_precondition{})) {
  cluster_fixture c(2);
  const auto config = recovery_config(c);
  start_both(c, config);
  const std::string run_tag = unique_tag();
  constexpr int streams = 4;
  auto id_of = [&](int i) { return "rr" + run_tag + "-" + std::to_string(i); };

  // The uninterrupted runs (through n2: another id, the same seed, so the same tokens).
  stream_set ref;
  for (int i = 0; i < streams; ++i) ref.start(c.client_endpoint("n2"), request("ref" + id_of(i), i));
  BOOST_REQUIRE_MESSAGE(ref.run(120s), "reference streams did not finish\n" << c.logs());
  for (auto& [id, r] : ref.streams()) check_clean(r);

  // The same requests through n1; n1 dies once every stream has 40 tokens or more.
  stream_set run;
  const auto n1 = c.client_endpoint("n1"), n2 = c.client_endpoint("n2");
  for (int i = 0; i < streams; ++i) run.start(n1, request(id_of(i), i));
  BOOST_REQUIRE_MESSAGE(every_stream_has(run, 40), "streams did not get going\n" << c.logs());
  c.kill9("n1");
  run.disconnect(n1);
  int unfinished = 0;
  for (auto& [id, r] : run.streams()) unfinished += !r.done;
  BOOST_REQUIRE_MESSAGE(unfinished > 0, "every stream finished before the kill: nothing to recover");
  // Resume on n2, each stream from the index after the last token it received.
  for (auto& [id, r] : run.streams())
    if (!r.done) run.send_raw(n2, proto::encode_resume(id, static_cast<std::int64_t>(r.tokens.size())));
  BOOST_REQUIRE_MESSAGE(run.run(120s), "resumed streams did not finish\n" << c.logs());
  for (int i = 0; i < streams; ++i) {
    auto& r = run[id_of(i)];
    auto& want = ref["ref" + id_of(i)];
    check_clean(r);
    BOOST_TEST(r.tokens == want.tokens, r.id << ": " << r.tokens.size() << " tokens, reference " << want.tokens.size());
    BOOST_TEST(r.text == want.text, r.id);
    BOOST_TEST(r.final.reason == want.final.reason, r.id);
    BOOST_TEST(r.final.attempts >= 2, r.id << " attempts " << r.final.attempts << " (the takeover is a dispatch)");
    // The row ends done, written by its new router, with every token.
    BOOST_TEST(psql("select status || ' ' || router_node || ' ' || delivered_count from journal where request_id = 'anon:" +
                    r.id + "'") == "done n2 " + std::to_string(want.tokens.size()),
               r.id);
  }
  BOOST_TEST(c.logs().find("resuming a journaled generation") != std::string::npos);

  // An id nobody knows: not_found, from the journal too.
  stream_set other;
  other.send_raw(n2, proto::encode_resume("never-" + run_tag, 0));
  BOOST_REQUIRE(other.pump_until(10s, [&] { return !other.other_frames().empty(); }));
  BOOST_TEST(other.other_frames().back().find("not_found") != std::string::npos, other.other_frames().back());

  // A finished generation resumed on a router that never held it (n1, restarted: empty memory): its
  // events from from_index on, then its done, replayed from the journal row.
  c.start("n1", config);
  BOOST_REQUIRE(holo::test::eventually(30s, [&] { return model_ready_on(c, "n1"); }));
  const auto id = id_of(0);
  auto& want = ref["ref" + id];
  stream_set again;
  again.streams()[id].id = id;  // a record to collect the replay into, from index 10
  again.streams()[id].tokens.assign(want.tokens.begin(), want.tokens.begin() + 10);
  again.send_raw(c.client_endpoint("n1"), proto::encode_resume(id, 10));
  BOOST_REQUIRE_MESSAGE(again.run(20s), "no replay\n" << c.logs());
  check_clean(again[id]);
  BOOST_TEST(again[id].tokens == want.tokens);
  BOOST_TEST(again[id].final.reason == want.final.reason);
  BOOST_TEST(again[id].final.generated_tokens == static_cast<std::int64_t>(want.tokens.size()));
}

// After a whole-cluster restart (every node killed mid-stream, then started again) the journaled
// unfinished generations resume the same way: the restarted routers hold nothing in memory, the rows
// in PostgreSQL are all there is.
BOOST_AUTO_TEST_CASE(journaled_streams_resume_after_a_whole_cluster_restart, *utf::precondition(pg_precondition{})) {
  cluster_fixture c(2);
  const auto config = recovery_config(c);
  start_both(c, config);
  const std::string run_tag = unique_tag();
  constexpr int streams = 3;
  auto id_of = [&](int i) { return "wc" + run_tag + "-" + std::to_string(i); };
  stream_set ref;
  for (int i = 0; i < streams; ++i) ref.start(c.client_endpoint("n2"), request("ref" + id_of(i), i));
  BOOST_REQUIRE_MESSAGE(ref.run(120s), "reference streams did not finish\n" << c.logs());

  stream_set run;
  const auto n1 = c.client_endpoint("n1");
  for (int i = 0; i < streams; ++i) run.start(n1, request(id_of(i), i));
  BOOST_REQUIRE_MESSAGE(every_stream_has(run, 40), "streams did not get going\n" << c.logs());
  c.kill9("n1");
  c.kill9("n2");
  run.disconnect(n1);
  int unfinished = 0;
  for (auto& [id, r] : run.streams()) unfinished += !r.done;
  BOOST_REQUIRE_MESSAGE(unfinished > 0, "every stream finished before the kill: nothing to recover");

  start_both(c, config);
  for (auto& [id, r] : run.streams())
    if (!r.done) run.send_raw(n1, proto::encode_resume(id, static_cast<std::int64_t>(r.tokens.size())));
  BOOST_REQUIRE_MESSAGE(run.run(120s), "resumed streams did not finish\n" << c.logs());
  for (int i = 0; i < streams; ++i) {
    auto& r = run[id_of(i)];
    auto& want = ref["ref" + id_of(i)];
    check_clean(r);
    BOOST_TEST(r.tokens == want.tokens, r.id << ": " << r.tokens.size() << " tokens, reference " << want.tokens.size());
    BOOST_TEST(r.text == want.text, r.id);
    BOOST_TEST(psql("select status || ' ' || delivered_count from journal where request_id = 'anon:" + r.id + "'") ==
                   "done " + std::to_string(want.tokens.size()),
               r.id);
  }
}
