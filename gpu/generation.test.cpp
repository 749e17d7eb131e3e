// The generation stepper (gpu/generation.hpp): a generation resumed elsewhere from the tokens the
// client already has continues bit for bit as the undisturbed run -- tokens and text -- which is
// what failover promises; steps are bounded; cancel and limits end it.
#define BOOST_TEST_MODULE generation
#include <boost/test/unit_test.hpp>

#include "gpu/engine_test_util.hpp"
#include "gpu/generation.hpp"

using namespace holo::gpu;

namespace {

test::temp_dir& dir() {
  static test::temp_dir d("generation_test");
  return d;
}

const std::vector<std::int32_t> prompt = {1, 300, 517, 42, 999, 18, 260, 731, 5, 77, 402, 613};

generation_options sampled(std::int32_t max_tokens) {
  generation_options g;
  g.sampling.temperature = 1.0f;
  g.sampling.top_k = 0;
  g.sampling.top_p = 1.0f;
  g.sampling.min_p = 0.0f;
  g.sampling.seed = 77;
  g.sampling.max_tokens = max_tokens;
  g.request_key = 5;
  g.stop_at_eog = false;
  return g;
}

struct run_result {
  std::vector<std::int32_t> ids;
  std::vector<std::string> texts;  // per token
  std::string tail;
  finish_reason reason = finish_reason::length;
  int steps = 0;
};

run_result run(session& s, const generation_options& o, std::vector<std::int32_t> delivered = {}) {
  auto g = generation::create(s, prompt, o, std::move(delivered));
  BOOST_REQUIRE(g.ok());
  run_result r;
  while (!(*g)->finished()) {
    auto ev = (*g)->step();
    BOOST_REQUIRE(ev.ok());
    ++r.steps;
    if (ev->has_token) {
      BOOST_TEST(ev->index == std::int64_t((*g)->next_index() - 1));
      r.ids.push_back(ev->id);
      r.texts.push_back(ev->text);
    }
    r.tail += ev->tail;
  }
  r.reason = (*g)->reason();
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(resume_from_delivered_tokens_is_bit_identical) {
  for (weight_mix mix : {weight_mix::f32, weight_mix::q8_0, weight_mix::q4_k_m}) {
    for (model_arch arch : {model_arch::llama, model_arch::qwen2}) {
      const auto path = test::build_tiny(dir(), test::tiny_spec(arch, mix));
      auto m = test::load_or_fail(path, "cpu", 2, 256, 5);  // prefill batches of 5: several steps
      auto s = test::session_or_fail(m);
      const auto full = run(*s, sampled(40));
      BOOST_REQUIRE(full.ids.size() == 40u);
      for (std::size_t k : {std::size_t(1), std::size_t(9), std::size_t(39)}) {
        auto fresh = test::session_or_fail(m);  // another replica's session
        const auto resumed = run(*fresh, sampled(40), std::vector<std::int32_t>(full.ids.begin(), full.ids.begin() + k));
        BOOST_TEST(resumed.ids == std::vector<std::int32_t>(full.ids.begin() + k, full.ids.end()),
                   to_string(arch) << " " << to_string(mix) << " k=" << k);
        BOOST_TEST(resumed.texts == std::vector<std::string>(full.texts.begin() + k, full.texts.end()));
        BOOST_TEST(resumed.tail == full.tail);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(steps_are_bounded_and_limits_end_it) {
  const auto path = test::build_tiny(dir(), test::tiny_spec(model_arch::llama, weight_mix::q8_0));
  auto m = test::load_or_fail(path, "cpu", 2, 256, 5);
  auto s = test::session_or_fail(m);
  const auto r = run(*s, sampled(6));
  // 12 prompt tokens in batches of 5 = 3 steps, then one step per token.
  BOOST_TEST(r.steps == 3 + 6);
  BOOST_TEST(r.ids.size() == 6u);
  BOOST_TEST((r.reason == finish_reason::length));
  // All delivered already: it ends without sampling anything.
  s->reset();
  const auto none = run(*s, sampled(6), r.ids);
  BOOST_TEST(none.ids.empty());
  BOOST_TEST((none.reason == finish_reason::length));
  // Cancel.
  s->reset();
  auto g = generation::create(*s, prompt, sampled(100));
  BOOST_REQUIRE(g.ok());
  for (int i = 0; i < 5; ++i) BOOST_REQUIRE((*g)->step().ok());
  (*g)->cancel();
  BOOST_TEST((*g)->finished());
  BOOST_TEST(((*g)->reason() == finish_reason::cancelled));
  auto after = (*g)->step();
  BOOST_REQUIRE(after.ok());
  BOOST_TEST(!after->has_token);
  // A prompt larger than the context is refused up front.
  s->reset();
  std::vector<std::int32_t> huge(static_cast<std::size_t>(s->ctx_size()) + 1, 5);
  auto too_long = generation::create(*s, huge, sampled(1));
  BOOST_TEST(!too_long.ok());
  BOOST_TEST((too_long.error().code() == holo::status_code::out_of_range));
}
