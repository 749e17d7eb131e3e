// A model split by layers across node processes on loopback (placement `stages`): the same greedy
// (and seeded random) tokens as the whole model on one node, over 2 and over 3 stages, even and explicit layer counts,
// float and quantized weights; a stage that is down fails the step with a clear error instead of
// hanging, and the pipeline serves again once the stage is back.
#define BOOST_TEST_MODULE pipeline
#include <boost/test/unit_test.hpp>

#include <map>
#include <thread>

#include "runtime/client.hpp"
#include "runtime/client_protocol.hpp"
#include "test/cluster.hpp"
#include "test/streams.hpp"

using namespace std::chrono_literals;
using holo::test::cluster_fixture;
using holo::test::stream_set;
namespace proto = holo::proto;

namespace {

std::string model_of(const std::string& type) {
  static holo::test::temp_dir dir;
  static std::map<std::string, std::string> made;  // one file per type for the whole run
  if (auto it = made.find(type); it != made.end()) return it->second;
  return made[type] = holo::test::make_model(HOLO_BIN, dir, "pipe-" + type + ".gguf",
                                {"--preset", "tiny", "--layers", "6", "--embd", "256", "--heads", "4", "--kv-heads",
                                 "2", "--ff", "768", "--vocab-size", "2048", "--type", type, "-q"});
}

// Three models on one file: "whole" on n1, "split2" over n2 -> n3 (even split), "split3" over
// n1 -> n2 -> n3 (1, 3 and 2 layers).
std::string pipeline_toml(const std::string& path) {
  std::string out;
  for (auto name : {"whole", "split2", "split3"})
    out += "[[model]]\nname = \"" + std::string(name) + "\"\npath = \"" + path +
           "\"\ncontext_length = 512\nparallel = 4\nstep_timeout_ms = 20000\n\n";
  out += "[[placement]]\nmodel = \"whole\"\nnodes = [\"n1\"]\n\n";
  out += "[[placement]]\nmodel = \"split2\"\nstages = [{ node = \"n2\" }, { node = \"n3\" }]\n\n";
  out += "[[placement]]\nmodel = \"split3\"\nstages = [{ node = \"n1\", layers = 1 }, { node = \"n2\", layers = 3 }, "
         "{ node = \"n3\", layers = 2 }]\n\n";
  out += "[routing]\nmax_tokens = 200\nstall_timeout_ms = 8000\n";
  return out;
}

proto::generate_request greedy(const std::string& id, const std::string& model, const std::string& prompt,
                               std::int64_t max_tokens) {
  proto::generate_request r;
  r.id = id;
  r.model = model;
  r.prompt = prompt;
  r.options.temperature = 0.0;
  r.options.max_tokens = max_tokens;
  return r;
}

// Runs one request to the end through n1's router; its record.
holo::test::stream_record run_one(cluster_fixture& c, const proto::generate_request& r, std::chrono::seconds limit = 60s) {
  stream_set s;
  s.start(c.client_endpoint("n1"), r);
  BOOST_REQUIRE_MESSAGE(s.run(limit), r.id << " did not finish\n" << c.logs());
  return s[r.id];
}

// Every model's replica (for a pipeline: its head) ready, and one short generation through every
// pipeline working end to end (its later stages may still be loading after the head is ready).
void require_serving(cluster_fixture& c) {
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(30s, [&] {
                          holo::client cl(c.client_endpoint("n1"));
                          auto ms = cl.models(1s);
                          if (!ms || ms->size() != 3) return false;
                          for (auto& m : *ms)
                            if (m.replicas.empty() || m.replicas[0].state != "ready") return false;
                          return true;
                        }),
                        "replicas never ready\n" << c.logs());
  int probe = 0;
  for (auto model : {"split2", "split3"})
    BOOST_REQUIRE_MESSAGE(holo::test::eventually(30s, [&] {
                            auto r = run_one(c, greedy("probe-" + std::to_string(probe++), model, "hi", 2));
                            return r.done && r.error.empty();
                          }),
                          model << " never served\n" << c.logs());
}

void split_gives_whole_tokens(const std::string& type) {
  cluster_fixture c(3);
  c.serve(pipeline_toml(model_of(type)));
  for (auto& n : c.names()) c.start(n);
  require_serving(c);
  const char* prompts[] = {"Once upon a time", "The cluster of unlike machines splits a model",
                           "A stream that survives the death of a node"};
  int i = 0;
  for (auto* p : prompts) {
    auto whole = run_one(c, greedy(type + "-w" + std::to_string(i), "whole", p, 64));
    BOOST_REQUIRE_MESSAGE(whole.done && whole.error.empty(), whole.error);
    BOOST_REQUIRE(!whole.tokens.empty());
    for (auto model : {"split2", "split3"}) {
      auto split = run_one(c, greedy(type + "-" + model + std::to_string(i), model, p, 64));
      BOOST_REQUIRE_MESSAGE(split.done && split.error.empty(), model << ": " << split.error);
      BOOST_CHECK_MESSAGE(split.tokens == whole.tokens, model << " differs from the whole model on \"" << p << "\"");
      BOOST_CHECK_EQUAL(split.text, whole.text);
      BOOST_CHECK(split.violations.empty());
    }
    ++i;
  }
  // Random draws with penalties: the last stage samples (the head sends the parameters, the key
  // and the penalty window, one id comes back), and the draws are the whole model's.
  {
    auto sampled = [&](const std::string& id, const std::string& model) {
      auto r = greedy(type + "-" + id, model, prompts[1], 48);
      r.options.temperature = 0.9;
      r.options.seed = 11;
      r.options.top_k = 0;
      r.options.repeat_penalty = 1.2;
      r.options.repeat_last_n = 8;
      r.options.ignore_eos = true;
      return run_one(c, r);
    };
    auto whole = sampled("sw", "whole");
    BOOST_REQUIRE_MESSAGE(whole.done && whole.error.empty(), whole.error);
    BOOST_CHECK_EQUAL(whole.tokens.size(), 48u);
    for (auto model : {"split2", "split3"}) {
      auto split = sampled(std::string("s-") + model, model);
      BOOST_REQUIRE_MESSAGE(split.done && split.error.empty(), model << ": " << split.error);
      BOOST_CHECK_MESSAGE(split.tokens == whole.tokens, model << " sampled differently from the whole model");
    }
  }
  // Several streams through both pipelines at once: each its solo tokens (the stages keep one KV
  // cache per head session, so interleaved sequences do not mix).
  stream_set many;
  for (int k = 0; k < 6; ++k)
    many.start(c.client_endpoint("n" + std::to_string(1 + k % 3)),
               greedy("many" + std::to_string(k), k % 2 ? "split2" : "split3", prompts[k % 3], 48));
  BOOST_REQUIRE_MESSAGE(many.run(90s), "concurrent pipeline streams did not finish\n" << c.logs());
  for (int k = 0; k < 6; ++k) {
    auto solo = run_one(c, greedy("solo" + std::to_string(k), "whole", prompts[k % 3], 48));
    BOOST_CHECK_MESSAGE(many["many" + std::to_string(k)].tokens == solo.tokens, "stream " << k);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(split_over_two_and_three_nodes_gives_the_whole_models_tokens_f32) {
  split_gives_whole_tokens("F32");
}

BOOST_AUTO_TEST_CASE(split_over_two_and_three_nodes_gives_the_whole_models_tokens_q4_k_m) {
  split_gives_whole_tokens("Q4_K_M");
}

BOOST_AUTO_TEST_CASE(a_dead_stage_fails_fast_and_the_pipeline_serves_again_when_it_is_back) {
  cluster_fixture c(3);
  c.serve(pipeline_toml(model_of("Q8_0")));
  for (auto& n : c.names()) c.start(n);
  require_serving(c);
  auto before = run_one(c, greedy("before", "split2", "Once upon a time", 32));
  BOOST_REQUIRE(before.done && before.error.empty());
  c.kill9("n3");
  // n3 held split2's last stage: no hang, a clear error within the stall timeout.
  auto t0 = std::chrono::steady_clock::now();
  auto during = run_one(c, greedy("during", "split2", "Once upon a time", 32), 30s);
  BOOST_CHECK(!during.error.empty());
  BOOST_TEST_MESSAGE("with n3 dead: " << during.error);
  BOOST_CHECK_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
  c.start("n3");
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(40s, [&] {
                          auto r = run_one(c, greedy("back", "split2", "Once upon a time", 32));
                          return r.done && r.error.empty() && r.tokens == before.tokens;
                        }),
                        "split2 never served the same tokens again\n" << c.logs());
}

namespace {

// Starts `streams` generations of `model` (clients on alternate `entry` nodes), kill -9s `victim`
// once half of them have 10 tokens, and checks every stream completes with the whole model's
// tokens, no gap or duplicate. `toml` holds "whole" and `model` with parallel >= streams. When
// `absent_before_kill` is given, no node has logged it before the kill.
void kill_during_streams(cluster_fixture& c, const std::string& toml, const std::string& model, int streams,
                         const std::string& victim, const std::vector<std::string>& entry,
                         const std::string& absent_before_kill = {}) {
  c.serve(toml);
  for (auto& n : c.names()) c.start(n);
  BOOST_REQUIRE_MESSAGE(holo::test::eventually(40s, [&] {
                          auto r = run_one(c, greedy("warm", model, "hi", 2));
                          return r.done && r.error.empty();
                        }),
                        model << " never served\n" << c.logs());
  const char* prompts[] = {"Once upon a time", "The cluster of unlike machines splits a model",
                           "A stream that survives the death of a node", "In a hole in the ground", "Call me"};
  std::map<int, std::vector<std::int32_t>> expected;
  for (int k = 0; k < streams; ++k) {
    auto w = run_one(c, greedy("ref" + std::to_string(k), "whole", prompts[k % 5], 150));
    BOOST_REQUIRE(w.done && w.error.empty());
    expected[k] = w.tokens;
  }
  stream_set run;
  for (int k = 0; k < streams; ++k)
    run.start(c.client_endpoint(entry[static_cast<std::size_t>(k) % entry.size()]),
              greedy("s" + std::to_string(k), model, prompts[k % 5], 150));
  // Kill the stage once half the streams have 10 tokens: most are then mid-stream.
  BOOST_REQUIRE(run.pump_until(30s, [&] {
    int going = 0;
    for (auto& [id, r] : run.streams()) going += r.tokens.size() >= 10;
    return going >= streams / 2;
  }));
  int unfinished = 0;
  for (auto& [id, r] : run.streams()) unfinished += !r.done;
  if (!absent_before_kill.empty())
    BOOST_CHECK_MESSAGE(c.logs().find(absent_before_kill) == std::string::npos, "logged before the kill: " << absent_before_kill);
  c.kill9(victim);
  BOOST_REQUIRE_MESSAGE(run.run(120s), "streams did not finish after the kill\n" << c.logs());
  BOOST_TEST_MESSAGE(unfinished << " of " << streams << " streams were mid-stream when " << victim << " died");
  BOOST_CHECK_GE(unfinished, streams / 2);
  double worst = 0;
  for (int k = 0; k < streams; ++k) {
    auto& r = run["s" + std::to_string(k)];
    BOOST_CHECK_MESSAGE(r.done && r.error.empty(), r.id << ": " << r.error);
    BOOST_CHECK_MESSAGE(r.violations.empty(), r.id << ": " << (r.violations.empty() ? "" : r.violations.front()));
    BOOST_CHECK_MESSAGE(r.tokens == expected[k], r.id << ": tokens differ from the undisturbed run");
    worst = std::max(worst, r.worst_gap_ms());
  }
  BOOST_TEST_MESSAGE("worst gap: " << worst << " ms");
  // Later requests keep working with the victim still dead.
  auto after = run_one(c, greedy("after", model, prompts[0], 150));
  BOOST_CHECK_MESSAGE(after.done && after.error.empty(), after.error);
  BOOST_CHECK(after.tokens == expected[0]);
}

std::string two_models(const std::string& path, const std::string& split_name, int parallel) {
  std::string toml;
  for (auto name : {std::string("whole"), split_name})
    toml += "[[model]]\nname = \"" + name + "\"\npath = \"" + path + "\"\ncontext_length = 512\nparallel = " +
            std::to_string(parallel) + "\nstep_timeout_ms = 20000\n\n";
  return toml + "[[placement]]\nmodel = \"whole\"\nnodes = [\"n1\"]\n\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(kill9_of_a_middle_stage_during_10_streams_loses_no_token) {
  // split3: n1 (head) -> n2 (standby n4) -> n3; "whole" on n1 gives the undisturbed tokens.
  cluster_fixture c(4);
  auto toml = two_models(model_of("Q8_0"), "split3", 10);
  toml += "[[placement]]\nmodel = \"split3\"\nstages = [{ node = \"n1\" }, { node = \"n2\", standby = [\"n4\"] }, "
          "{ node = \"n3\" }]\n\n";
  toml += "[routing]\nmax_tokens = 400\nstall_timeout_ms = 15000\nmax_concurrent_per_client = 64\n";
  kill_during_streams(c, toml, "split3", 10, "n2", {"n3", "n1"});
}

BOOST_AUTO_TEST_CASE(kill9_of_a_stage_without_standby_moves_it_to_a_spare_and_loses_no_token) {
  // split2: n1 (head) -> n2, spare n3 (loads nothing until needed).
  cluster_fixture c(3);
  auto toml = two_models(model_of("Q8_0"), "split2", 6);
  toml += "[[placement]]\nmodel = \"split2\"\nstages = [{ node = \"n1\" }, { node = \"n2\" }]\nspares = [\"n3\"]\n\n";
  toml += "[routing]\nmax_tokens = 400\nstall_timeout_ms = 15000\nmax_concurrent_per_client = 64\n";
  kill_during_streams(c, toml, "split2", 6, "n2", {"n3", "n1"}, "loading its layers");  // the spare idles till then
  BOOST_CHECK_MESSAGE(c.logs().find("loading its layers") != std::string::npos, "the spare never loaded\n" << c.logs());
}
