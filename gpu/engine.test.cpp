// The engine API (gpu/engine.hpp) on tiny seeded models: resume after truncate (c), zero heap
// allocations per decoded token (d), sampled continuations reproducible after a resume (e), the
// generation helper's limits (max tokens, stop strings, callback), and load errors.
#define BOOST_TEST_MODULE engine
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <new>

#include "gpu/engine_test_util.hpp"

#include "gpu/test_allocation_counter.hpp"

using namespace holo::gpu;

namespace {

test::temp_dir& dir() {
  static test::temp_dir d("engine_test");
  return d;
}

const std::vector<std::int32_t> prompt = {1, 300, 517, 42, 999, 18, 260, 731, 5, 77, 402, 613};

generation_options sampled(std::uint64_t seed, std::int32_t max_tokens) {
  generation_options g;
  g.sampling.temperature = 1.0f;
  g.sampling.top_k = 0;
  g.sampling.top_p = 1.0f;
  g.sampling.min_p = 0.0f;
  g.sampling.seed = seed;
  g.sampling.max_tokens = max_tokens;
  g.request_key = 99;
  g.stop_at_eog = false;
  return g;
}

}  // namespace

BOOST_AUTO_TEST_CASE(truncate_and_reprefill_continue_identically) {
  for (model_arch arch : {model_arch::llama, model_arch::qwen2}) {
    const auto path = test::build_tiny(dir(), test::tiny_spec(arch, weight_mix::q8_0));
    auto m = test::load_or_fail(path, "cpu", 2);
    auto s = test::session_or_fail(m);
    const auto first = test::greedy(*s, prompt, 12);  // session holds prompt + 11 generated
    BOOST_REQUIRE(s->position() == std::int64_t(prompt.size() + 11));
    // Resume from the prompt plus the first 4 generated tokens: truncate keeps the prefix, then
    // the next generated token is prefilled and greedy decoding goes on.
    const std::int64_t keep = std::int64_t(prompt.size()) + 4;
    BOOST_REQUIRE(s->truncate(keep).ok());
    BOOST_TEST(s->position() == keep);
    const auto rest = test::greedy(*s, {first[4]}, 7);
    BOOST_TEST(std::vector<std::int32_t>(first.begin() + 5, first.end()) == rest, to_string(arch));
    // Same through a fresh session fed the whole prefix in one prefill.
    auto fresh = test::session_or_fail(m);
    std::vector<std::int32_t> prefix = prompt;
    prefix.insert(prefix.end(), first.begin(), first.begin() + 5);
    const auto rest2 = test::greedy(*fresh, prefix, 7);
    BOOST_TEST(rest2 == rest);
    BOOST_TEST(!s->truncate(s->position() + 1).ok());
    s->reset();
    BOOST_TEST(s->position() == 0);
    BOOST_TEST(test::greedy(*s, prompt, 12) == first);
  }
}

BOOST_AUTO_TEST_CASE(decode_allocates_nothing) {
  for (weight_mix mix : {weight_mix::f32, weight_mix::q4_k_m}) {
    for (model_arch arch : {model_arch::llama, model_arch::qwen2}) {
      const auto path = test::build_tiny(dir(), test::tiny_spec(arch, mix));
      auto s = test::session_or_fail(test::load_or_fail(path, "cpu", 2));
      auto l = s->prefill(prompt);
      BOOST_REQUIRE(l.ok());
      std::int32_t id = test::argmax(*l);
      const long before = holo::test::allocation_count();
      for (int i = 0; i < 32; ++i) {
        auto r = s->decode(id);
        if (!r.ok()) break;
        id = test::argmax(*r);
      }
      const long during = holo::test::allocation_count() - before;
      BOOST_TEST(during == 0, to_string(arch) << " " << to_string(mix) << ": " << during << " allocations in 32 decodes");
      BOOST_TEST(s->position() == std::int64_t(prompt.size() + 32));
      // A prefill batch allocates nothing either.
      s->reset();
      const long before_prefill = holo::test::allocation_count();
      BOOST_REQUIRE(s->prefill(prompt).ok());
      BOOST_TEST(holo::test::allocation_count() - before_prefill == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(sampling_resumes_identically) {
  const auto path = test::build_tiny(dir(), test::tiny_spec(model_arch::qwen2, weight_mix::q4_k_m));
  auto m = test::load_or_fail(path, "cpu", 2);
  auto s = test::session_or_fail(m);
  const auto full = generate(*s, prompt, sampled(1234, 16));
  BOOST_REQUIRE(full.ok());
  BOOST_REQUIRE(full->tokens.size() == 16u);
  // Another seed gives another continuation (temperature 1 over a near-flat distribution).
  auto other_s = test::session_or_fail(m);
  const auto other = generate(*other_s, prompt, sampled(4321, 16));
  BOOST_REQUIRE(other.ok());
  BOOST_TEST(other->tokens != full->tokens);

  // Resume after 6 tokens, on the same session (truncate) and on a fresh one (a failover node).
  const std::size_t k = 6;
  auto opts = sampled(1234, 10);
  opts.first_token_index = k;
  BOOST_REQUIRE(s->truncate(std::int64_t(prompt.size() + k - 1)).ok());
  const std::vector<std::int32_t> last = {full->tokens[k - 1]};
  const auto resumed = generate(*s, last, opts);
  BOOST_REQUIRE(resumed.ok());
  BOOST_TEST(resumed->tokens == std::vector<std::int32_t>(full->tokens.begin() + k, full->tokens.end()));

  auto fresh = test::session_or_fail(m);
  std::vector<std::int32_t> prefix = prompt;
  prefix.insert(prefix.end(), full->tokens.begin(), full->tokens.begin() + k);
  const auto resumed2 = generate(*fresh, prefix, opts);
  BOOST_REQUIRE(resumed2.ok());
  BOOST_TEST(resumed2->tokens == resumed->tokens);
}

BOOST_AUTO_TEST_CASE(generation_limits_and_text) {
  const auto path = test::build_tiny(dir(), test::tiny_spec(model_arch::llama, weight_mix::f32));
  auto m = test::load_or_fail(path, "cpu", 2);
  auto s = test::session_or_fail(m);
  generation_options g;
  g.sampling.temperature = 0;
  g.sampling.max_tokens = 20;
  g.stop_at_eog = false;
  std::string streamed;
  std::vector<std::int32_t> ids;
  auto r = generate(*s, prompt, g, [&](const generated_token& t) {
    streamed += t.piece;
    if (t.id >= 0) ids.push_back(t.id);
    return true;
  });
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->tokens.size() == 20u);
  BOOST_TEST((r->reason == finish_reason::length));
  BOOST_TEST(ids == r->tokens);
  BOOST_TEST(streamed == r->text);
  BOOST_TEST(r->text == m->vocab().decode(r->tokens, decode_options{true, false, false}));
  BOOST_TEST(r->timings.prompt_tokens == std::int64_t(prompt.size()));
  BOOST_TEST(r->timings.generated_tokens == 20);
  // The session holds the prompt and every generated token but the last.
  BOOST_TEST(s->position() == std::int64_t(prompt.size() + 19));

  // Greedy through generate() equals the hand-written loop.
  auto s2 = test::session_or_fail(m);
  BOOST_TEST(test::greedy(*s2, prompt, 20) == r->tokens);

  // A stop string cut from the middle of the text ends generation before it.
  if (r->text.size() > 8) {
    const std::string stop = r->text.substr(r->text.size() / 2, 3);
    auto s3 = test::session_or_fail(m);
    auto g3 = g;
    g3.sampling.stop = {stop};
    auto r3 = generate(*s3, prompt, g3);
    BOOST_REQUIRE(r3.ok());
    BOOST_TEST((r3->reason == finish_reason::stop));
    BOOST_TEST(r3->text == r->text.substr(0, r->text.find(stop)));
  }
  // The callback cancels.
  auto s4 = test::session_or_fail(m);
  int calls = 0;
  auto r4 = generate(*s4, prompt, g, [&](const generated_token&) { return ++calls < 3; });
  BOOST_REQUIRE(r4.ok());
  BOOST_TEST((r4->reason == finish_reason::cancelled));
  BOOST_TEST(r4->tokens.size() == 3u);
  // The context ends it.
  auto small = test::session_or_fail(test::load_or_fail(path, "cpu", 1, 16));
  auto g5 = g;
  g5.sampling.max_tokens = -1;
  auto r5 = generate(*small, prompt, g5);
  BOOST_REQUIRE(r5.ok());
  BOOST_TEST((r5->reason == finish_reason::context));
  BOOST_TEST(small->position() == 16);
}

BOOST_AUTO_TEST_CASE(load_errors_are_values) {
  auto missing = model::load(dir().file("nope.gguf"));
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST((missing.error().code() == holo::status_code::not_found));
  {
    std::ofstream(dir().file("broken.gguf")) << "GGUF this is not a model";
  }
  auto broken = model::load(dir().file("broken.gguf"));
  BOOST_TEST(!broken.ok());
  const auto path = test::build_tiny(dir(), test::tiny_spec(model_arch::llama, weight_mix::f32));
  load_options o;
  o.backend = "tpu";
  BOOST_TEST(!model::load(path, o).ok());
  // Progress goes from 0 to 1.
  std::vector<double> seen;
  load_options p;
  p.threads = 1;
  p.ctx_size = 64;
  p.progress = [&](const load_progress& lp) { seen.push_back(lp.fraction); };
  auto m = model::load(path, p);
  BOOST_REQUIRE(m.ok());
  BOOST_TEST(seen.front() == 0.0);
  BOOST_TEST(seen.back() == 1.0);
  BOOST_TEST((*m)->kv_cache_bytes() == 2ull * 2 * 64 * 2 * 64 * 2);  // K+V, 2 layers, 64 pos, 2 heads x 64, f16
  BOOST_TEST((*m)->decode_weight_bytes() > 0u);
}
