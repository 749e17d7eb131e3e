// The forward pass (gpu/arch/transformer.hpp) on tiny seeded models of both architectures:
// (a) the fast CPU backend against the reference backend -- identical greedy tokens on F32 models,
//     logits within a normalized error bound on quantized ones;
// (b) a prompt prefilled in one batch, in small batches, or token by token gives the same logits,
//     and so does a batch run through each layer in several passes;
// and a model split into two pipeline shards (forward_layers) gives the whole model's logits.
#define BOOST_TEST_MODULE forward
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "gpu/cpu/test_util.hpp"
#include "gpu/engine_test_util.hpp"

using namespace holo::gpu;
using holo::gpu::test::norm_error;

namespace {

test::temp_dir& dir() {
  static test::temp_dir d("forward_test");
  return d;
}

const std::vector<std::int32_t> prompt = {1, 300, 517, 42, 999, 18, 260, 731, 5, 77, 402, 613, 128, 64, 900, 333};

std::vector<float> copy(std::span<const float> s) { return {s.begin(), s.end()}; }

// Logits after prefill(prompt) then `steps` greedy decodes, per step.
std::vector<std::vector<float>> trace(session& s, int steps) {
  std::vector<std::vector<float>> out;
  auto l = s.prefill(prompt);
  BOOST_REQUIRE(l.ok());
  out.push_back(copy(*l));
  for (int i = 0; i < steps; ++i) {
    l = s.decode(test::argmax(out.back()));
    BOOST_REQUIRE(l.ok());
    out.push_back(copy(*l));
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(fast_equals_reference_greedy_on_f32) {
  for (model_arch arch : {model_arch::llama, model_arch::qwen2}) {
    const auto path = test::build_tiny(dir(), test::tiny_spec(arch, weight_mix::f32));
    auto ref = test::session_or_fail(test::load_or_fail(path, "cpu-ref"));
    auto fast = test::session_or_fail(test::load_or_fail(path, "cpu", 2));
    const auto a = test::greedy(*ref, prompt, 24);
    const auto b = test::greedy(*fast, prompt, 24);
    BOOST_TEST(a == b, to_string(arch));
    // And the logits themselves agree to f32 rounding.
    BOOST_TEST(norm_error(fast->forward().cache().ctx_size() > 0 ? copy(fast->decode(b.back()).value())
                                                                  : std::vector<float>{},
                          copy(ref->decode(a.back()).value())) < 1e-4);
  }
}

BOOST_AUTO_TEST_CASE(fast_close_to_reference_on_quantized) {
  // The fast backend rounds activations to Q8 before quantized dot products (as llama.cpp does); the
  // reference does not. Through 2 layers that stays ~1% of the logits' norm.
  for (model_arch arch : {model_arch::llama, model_arch::qwen2}) {
    for (weight_mix mix : {weight_mix::f16, weight_mix::q8_0, weight_mix::q4_0, weight_mix::q4_k_m, weight_mix::q6_k}) {
      const auto path = test::build_tiny(dir(), test::tiny_spec(arch, mix));
      auto ref = test::session_or_fail(test::load_or_fail(path, "cpu-ref"));
      auto fast = test::session_or_fail(test::load_or_fail(path, "cpu", 2));
      const auto a = trace(*ref, 4);
      // Feed the fast session the reference's tokens, so both see the same sequence.
      auto l = fast->prefill(prompt);
      BOOST_REQUIRE(l.ok());
      double worst = norm_error(copy(*l), a[0]);
      for (std::size_t i = 1; i < a.size(); ++i) {
        l = fast->decode(test::argmax(a[i - 1]));
        BOOST_REQUIRE(l.ok());
        worst = std::max(worst, norm_error(copy(*l), a[i]));
      }
      const double bound = mix == weight_mix::f16 ? 1e-4 : 3e-2;
      BOOST_TEST(worst < bound, to_string(arch) << " " << to_string(mix) << ": " << worst);
    }
  }
}

BOOST_AUTO_TEST_CASE(prefill_batches_equal_token_by_token) {
  for (model_arch arch : {model_arch::llama, model_arch::qwen2}) {
    for (weight_mix mix : {weight_mix::f32, weight_mix::q8_0, weight_mix::q4_k_m}) {
      const auto path = test::build_tiny(dir(), test::tiny_spec(arch, mix));
      auto whole = test::session_or_fail(test::load_or_fail(path, "cpu", 2));
      auto small = test::session_or_fail(test::load_or_fail(path, "cpu", 2, 256, 5));  // batches 5,5,5,1
      auto one = test::session_or_fail(test::load_or_fail(path, "cpu", 2));
      const auto a = copy(whole->prefill(prompt).value());
      const auto b = copy(small->prefill(prompt).value());
      std::vector<float> c;
      for (auto id : prompt) c = copy(one->decode(id).value());
      BOOST_TEST(norm_error(b, a) < 1e-4, to_string(arch) << " " << to_string(mix));
      BOOST_TEST(norm_error(c, a) < 1e-4, to_string(arch) << " " << to_string(mix));
      BOOST_TEST(whole->position() == std::int64_t(prompt.size()));
      // Continuing after either path stays equal.
      const auto next = test::argmax(a);
      BOOST_TEST(norm_error(copy(one->decode(next).value()), copy(whole->decode(next).value())) < 1e-4);
    }
  }
}

// A batch longer than a layer pass (transformer_options::pass_rows) runs each layer in slices whose
// attention reads the keys the earlier slices stored: the same logits as one pass, and the same
// cache (a decode afterwards agrees too).
BOOST_AUTO_TEST_CASE(layer_passes_equal_one_pass) {
  for (model_arch arch : {model_arch::llama, model_arch::qwen2}) {
    for (weight_mix mix : {weight_mix::f32, weight_mix::q4_k_m}) {
      const auto path = test::build_tiny(dir(), test::tiny_spec(arch, mix));
      auto m = test::load_or_fail(path, "cpu", 2, 256, 64);
      const auto& c = m->config();
      BOOST_TEST(transformer::pass_rows_for(c, m->forward_options(), m->compute()) == 64);
      BOOST_TEST(transformer::pass_rows_for(c, {256, 512, 0}, m->compute()) == transformer::host_pass_rows);
      BOOST_TEST(transformer::pass_rows_for(c, {256, 16, 0}, m->compute()) == 16);
      // Larger models take larger passes, within pass_budget_percent of their weights: a tiny model's
      // weights allow only the minimum, a 1B file's (637 MiB, Q4_K_M) 256 tokens, 2 GiB the whole batch.
      BOOST_TEST(transformer::pass_rows_for(c, {256, 512, 0, 1u << 20}, m->compute()) ==
                 transformer::host_pass_rows);
      model_config big = c;
      big.n_embd = 2048, big.n_head = 32, big.n_head_kv = 4, big.head_dim = big.head_dim_v = 64, big.n_ff = 5632;
      BOOST_TEST(transformer::pass_rows_for(big, {256, 512, 0, 637ull << 20}, m->compute()) == 256);
      BOOST_TEST(transformer::pass_rows_for(big, {256, 512, 0, 2048ull << 20}, m->compute()) == 512);
      auto one = transformer::create(c, m->weights(), m->compute(), {256, 64, 64});
      auto sliced = transformer::create(c, m->weights(), m->compute(), {256, 64, 5});  // 5,5,5,1
      BOOST_REQUIRE(one.ok() && sliced.ok());
      BOOST_TEST(sliced->scratch_bytes() < one->scratch_bytes());
      BOOST_REQUIRE(one->eval(prompt.data(), std::int64_t(prompt.size()), 0).ok());
      BOOST_REQUIRE(sliced->eval(prompt.data(), std::int64_t(prompt.size()), 0).ok());
      const auto a = copy(one->logits()), b = copy(sliced->logits());
      BOOST_TEST(norm_error(b, a) < 1e-5, to_string(arch) << " " << to_string(mix));
      const std::int32_t next = test::argmax(a);
      const auto pos = std::int64_t(prompt.size());
      BOOST_REQUIRE(one->eval(&next, 1, pos).ok());
      BOOST_REQUIRE(sliced->eval(&next, 1, pos).ok());
      BOOST_TEST(norm_error(copy(sliced->logits()), copy(one->logits())) < 1e-5);
    }
  }
}

BOOST_AUTO_TEST_CASE(pipeline_shards_equal_whole_model) {
  const auto path = test::build_tiny(dir(), test::tiny_spec(model_arch::llama, weight_mix::q8_0));
  auto whole = test::session_or_fail(test::load_or_fail(path, "cpu", 2));
  const auto want = copy(whole->prefill(prompt).value());

  auto load_range = [&](std::int32_t first, std::int32_t last) {
    load_options o;
    o.threads = 2;
    o.ctx_size = 256;
    o.layers = {first, last};
    auto m = model::load(path, o);
    BOOST_REQUIRE_MESSAGE(m.ok(), (m.ok() ? std::string() : m.error().to_string()));
    return *m;
  };
  auto m0 = load_range(0, 1), m1 = load_range(1, 2);
  auto t0 = transformer::create(m0->config(), m0->weights(), m0->compute(), m0->forward_options());
  auto t1 = transformer::create(m1->config(), m1->weights(), m1->compute(), m1->forward_options());
  BOOST_REQUIRE(t0.ok() && t1.ok());
  BOOST_TEST(t0->cache().shape().n_layer == 1);
  const auto n = static_cast<std::int64_t>(prompt.size());
  std::vector<float> hidden(static_cast<std::size_t>(n * m0->config().n_embd));
  BOOST_REQUIRE(t0->embed(prompt.data(), n, hidden.data()).ok());
  BOOST_REQUIRE(t0->forward_layers(hidden.data(), 0, n, hidden.data()).ok());
  BOOST_REQUIRE(t1->forward_layers(hidden.data(), 0, n, hidden.data()).ok());
  std::vector<float> logits(static_cast<std::size_t>(m1->config().n_vocab));
  BOOST_REQUIRE(t1->output_logits(hidden.data() + (n - 1) * m1->config().n_embd, logits.data()).ok());
  BOOST_TEST(norm_error(logits, want) < 1e-5);
  // A shard without the output layer refuses to make logits; one without layer 0 to embed.
  BOOST_TEST(!t0->output_logits(hidden.data(), logits.data()).ok());
  BOOST_TEST(!t1->embed(prompt.data(), 1, hidden.data()).ok());
  BOOST_TEST(!t1->eval(prompt.data(), 1, 0).ok());
}

BOOST_AUTO_TEST_CASE(bad_inputs_are_errors) {
  const auto path = test::build_tiny(dir(), test::tiny_spec(model_arch::llama, weight_mix::f32));
  auto s = test::session_or_fail(test::load_or_fail(path, "cpu", 1, 32, 8));
  const std::vector<std::int32_t> bad = {1, 5000};
  auto r = s->prefill(bad);
  BOOST_TEST(!r.ok());
  BOOST_TEST((r.error().code() == holo::status_code::out_of_range));
  BOOST_TEST(s->position() == 0);
  std::vector<std::int32_t> many(33, 7);
  BOOST_TEST(!s->prefill(many).ok());  // beyond the 32-token context
  BOOST_TEST(s->prefill(std::vector<std::int32_t>(32, 7)).ok());
  BOOST_TEST(!s->decode(7).ok());
  BOOST_TEST(!s->prefill({}).ok());
}

// load_options::backend as a list: the layers split into an in-process pipeline, one stage per
// backend (here CPU backends; "cuda:0,cuda:1" on a machine with two GPUs). Same logits and greedy
// tokens as the whole model on one backend; more stages than layers is a clear error.
BOOST_AUTO_TEST_CASE(a_pipeline_of_backends_equals_one_backend) {
  auto spec = test::tiny_spec(model_arch::llama, weight_mix::q8_0, 4004);  // its own seed: its own file
  spec.n_layer = 4;
  const auto path = test::build_tiny(dir(), spec);
  auto one = test::session_or_fail(test::load_or_fail(path, "cpu", 1, 256, 8));
  for (const char* backends : {"cpu,cpu", "cpu,cpu,cpu"}) {  // 2+2 and 1+1+2 layers
    auto m = test::load_or_fail(path, backends, 1, 256, 8);  // batch 8: the 16-token prompt crosses twice
    const auto stages = static_cast<std::size_t>(std::count(backends, backends + std::strlen(backends), ',')) + 1;
    BOOST_TEST(m->stages().size() == stages);
    BOOST_TEST(m->stages().front().weights.first_layer == 0);
    BOOST_TEST(m->stages().back().weights.last_layer == 4);
    auto piped = test::session_or_fail(m);
    one->reset();
    const auto a = test::greedy(*one, prompt, 12);
    const auto b = test::greedy(*piped, prompt, 12);
    BOOST_TEST(a == b, backends);
    auto la = one->decode(a.back());
    auto lb = piped->decode(b.back());
    BOOST_REQUIRE(la.ok() && lb.ok());
    BOOST_TEST(norm_error(copy(*lb), copy(*la)) < 1e-4, backends);
  }
  load_options o;
  o.backend = "cpu,cpu,cpu,cpu,cpu";
  auto too_many = model::load(path, o);
  BOOST_REQUIRE(!too_many.ok());
  BOOST_TEST((too_many.error().code() == holo::status_code::invalid_argument), too_many.error().to_string());
}
