// A model split by layers the way pipeline shards split it across processes: a head session over
// the first layers whose tail hands hidden states to stage_sessions over the rest (here in one
// process, through host memory exactly as the frames carry them). The logits must be the unsplit
// model's, bit for bit, through prefill (several batches) and decode, for float and quantized mixes
// and both architectures.
#define BOOST_TEST_MODULE gpu_stage_session
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <vector>

#include "gpu/engine.hpp"
#include "gpu/engine_test_util.hpp"
#include "gpu/generation.hpp"

using namespace holo::gpu;
using namespace holo::gpu::test;

namespace {

std::shared_ptr<model> load_range(const std::string& path, layer_range r, std::int32_t batch) {
  load_options o;
  o.backend = "cpu";
  o.threads = 2;
  o.ctx_size = 256;
  o.batch_max = batch;
  o.layers = r;
  auto m = model::load(path, o);
  BOOST_REQUIRE_MESSAGE(m.ok(), (m.ok() ? std::string() : m.error().to_string()));
  return *m;
}

// The head over [0, cuts[0]) and one stage per further cut; the tail copies the batch as a frame
// would (a fresh buffer) and runs it through every stage in order.
struct split_model {
  std::shared_ptr<model> head_model;
  std::unique_ptr<session> head;
  std::vector<std::unique_ptr<stage_session>> stages;
  std::int64_t hops = 0;

  split_model(const std::string& path, const std::vector<std::int32_t>& cuts, std::int32_t n_layer, std::int32_t batch) {
    head_model = load_range(path, {0, cuts.front()}, batch);
    auto h = session::create(head_model);
    BOOST_REQUIRE(h.ok());
    head = std::move(*h);
    for (std::size_t i = 0; i < cuts.size(); ++i) {
      auto last = i + 1 < cuts.size() ? cuts[i + 1] : n_layer;
      auto s = stage_session::create(load_range(path, {cuts[i], last}, batch));
      BOOST_REQUIRE(s.ok());
      stages.push_back(std::move(*s));
    }
    const std::int64_t n_embd = head_model->config().n_embd;
    head->set_tail([this, n_embd](const session::tail_batch& b) -> holo::status {
      std::vector<float> frame(b.hidden, b.hidden + b.n * n_embd);
      for (auto& st : stages) {
        HOLO_TRY(st->forward(frame.data(), b.pos0, b.n));
        ++hops;
      }
      if (!b.logits) return {};
      const float* row = frame.data() + (b.n - 1) * n_embd;
      if (b.sample) {
        // As the last stage does: a sampler made from the parameters the frame carries, and the
        // penalty window as the history.
        auto smp = sampler::create(*b.sample->params, head_model->config().n_vocab);
        if (!smp) return smp.error();
        windows.emplace_back(b.sample->history.begin(), b.sample->history.end());
        auto id = stages.back()->sample(row, *smp, windows.back(), b.sample->request_key, b.sample->token_index);
        if (!id) return id.error();
        *b.token = *id;
        ++samples;
        return {};
      }
      auto l = stages.back()->logits(row);
      if (!l) return l.error();
      std::memcpy(b.logits, l->data(), l->size() * sizeof(float));
      return {};
    });
  }
  std::int64_t samples = 0;
  std::vector<std::vector<std::int32_t>> windows;  // every remote sample's penalty window
};

void check_same(std::span<const float> a, std::span<const float> b, const std::string& what) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  BOOST_CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0, what << ": logits differ");
}

void split_equals_whole(model_arch arch, weight_mix mix, std::vector<std::int32_t> cuts) {
  temp_dir dir("stage_session");
  auto spec = tiny_spec(arch, mix);
  spec.n_layer = 6;
  auto path = build_tiny(dir, spec);
  const std::int32_t batch = 16;  // a 40-token prompt crosses in three batches
  auto whole_model = load_or_fail(path, "cpu", 2, 256, batch);
  auto whole = session::create(whole_model);
  BOOST_REQUIRE(whole.ok());
  split_model split(path, cuts, spec.n_layer, batch);
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(3 + (i * 37) % 900);
  auto a = (*whole)->prefill(prompt);
  auto b = split.head->prefill(prompt);
  BOOST_REQUIRE(a.ok());
  BOOST_REQUIRE_MESSAGE(b.ok(), (b.ok() ? std::string() : b.error().to_string()));
  check_same(*a, *b, "prefill");
  for (std::int32_t t : {5, 77, 300, 12, 999, 4}) {
    auto x = (*whole)->decode(t);
    auto y = split.head->decode(t);
    BOOST_REQUIRE(x.ok() && y.ok());
    check_same(*x, *y, "decode " + std::to_string(t));
  }
  BOOST_CHECK_EQUAL(split.stages.back()->filled(), 46);
  BOOST_CHECK_EQUAL(split.hops, static_cast<std::int64_t>(cuts.size()) * (3 + 6));
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_stages_f32_llama) { split_equals_whole(model_arch::llama, weight_mix::f32, {3}); }
BOOST_AUTO_TEST_CASE(three_stages_f32_qwen2_tied_head) { split_equals_whole(model_arch::qwen2, weight_mix::f32, {2, 4}); }
BOOST_AUTO_TEST_CASE(three_stages_q4_k_m_llama) { split_equals_whole(model_arch::llama, weight_mix::q4_k_m, {1, 5}); }
BOOST_AUTO_TEST_CASE(two_stages_q8_0_qwen2) { split_equals_whole(model_arch::qwen2, weight_mix::q8_0, {4}); }

namespace {

// A generation over a split head has the last stage sample: every token equals the whole model's
// generation with the same parameters (random draws, penalties over a window that spans prefill
// and decode), from the start and when resumed after delivered tokens; only ids come back.
void remote_sampling_equals_local(weight_mix mix, sampling_params p, std::size_t resume_after) {
  temp_dir dir("stage_session_sample");
  auto spec = tiny_spec(model_arch::llama, mix);
  spec.n_layer = 4;
  auto path = build_tiny(dir, spec);
  const std::int32_t batch = 16;
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 21; ++i) prompt.push_back(3 + (i * 53) % 700);
  generation_options o;
  o.sampling = p;
  o.sampling.max_tokens = 24;
  o.request_key = 0x5eed;
  o.stop_at_eog = false;
  o.text = false;
  auto whole_model = load_or_fail(path, "cpu", 2, 256, batch);
  auto whole = session::create(whole_model);
  BOOST_REQUIRE(whole.ok());
  auto local = generate(**whole, prompt, o);
  BOOST_REQUIRE(local.ok());
  BOOST_REQUIRE_EQUAL(local->tokens.size(), 24u);

  split_model split(path, {2}, spec.n_layer, batch);
  std::vector<std::int32_t> delivered(local->tokens.begin(), local->tokens.begin() + static_cast<std::ptrdiff_t>(resume_after));
  auto g = generation::create(*split.head, prompt, o, delivered);
  BOOST_REQUIRE(g.ok());
  std::vector<std::int32_t> got = delivered;
  while (!(*g)->finished()) {
    auto ev = (*g)->step();
    BOOST_REQUIRE_MESSAGE(ev.ok(), (ev.ok() ? std::string() : ev.error().to_string()));
    if (ev->has_token) got.push_back(ev->id);
  }
  BOOST_CHECK_EQUAL_COLLECTIONS(got.begin(), got.end(), local->tokens.begin(), local->tokens.end());
  // One remote sample per call: the prompt's batches, each replayed token, each decode.
  const std::int64_t prompt_calls = (21 + batch - 1) / batch;
  BOOST_CHECK_EQUAL(split.samples, prompt_calls + static_cast<std::int64_t>(resume_after) + (24 - static_cast<std::int64_t>(resume_after) - 1));
  const bool penalised = p.repeat_last_n != 0 && (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f);
  // The window of the last sample: the last repeat_last_n ids of prompt + every token but the last.
  std::vector<std::int32_t> history = prompt;
  history.insert(history.end(), local->tokens.begin(), local->tokens.end() - 1);
  std::vector<std::int32_t> want;
  if (penalised) {
    const std::size_t n = p.repeat_last_n < 0 ? history.size() : std::min<std::size_t>(history.size(), p.repeat_last_n);
    want.assign(history.end() - static_cast<std::ptrdiff_t>(n), history.end());
  }
  BOOST_REQUIRE(!split.windows.empty());
  BOOST_CHECK_EQUAL_COLLECTIONS(split.windows.back().begin(), split.windows.back().end(), want.begin(), want.end());
}

sampling_params random_penalised() {
  sampling_params p;
  p.temperature = 1.3f;
  p.top_k = 0;
  p.top_p = 0.98f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.3f;
  p.repeat_last_n = 16;  // shorter than prompt + generated: the window slides
  p.frequency_penalty = 0.2f;
  p.seed = 42;
  return p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(remote_sampling_random_with_penalties_f32) { remote_sampling_equals_local(weight_mix::f32, random_penalised(), 0); }
BOOST_AUTO_TEST_CASE(remote_sampling_resumed_after_delivered_q8_0) {
  remote_sampling_equals_local(weight_mix::q8_0, random_penalised(), 7);
}
BOOST_AUTO_TEST_CASE(remote_sampling_greedy_whole_history_window) {
  sampling_params p;
  p.temperature = 0;
  p.repeat_penalty = 1.5f;
  p.repeat_last_n = -1;  // all of it
  remote_sampling_equals_local(weight_mix::f32, p, 0);
}
BOOST_AUTO_TEST_CASE(remote_sampling_defaults_send_no_window) { remote_sampling_equals_local(weight_mix::f32, sampling_params{}, 3); }

BOOST_AUTO_TEST_CASE(a_head_without_its_tail_and_a_stage_after_a_gap_say_so) {
  temp_dir dir("stage_session_err");
  auto spec = tiny_spec(model_arch::llama, weight_mix::f32);
  spec.n_layer = 4;
  auto path = build_tiny(dir, spec);
  auto head = session::create(load_range(path, {0, 2}, 16));
  BOOST_REQUIRE(head.ok());
  BOOST_CHECK((*head)->needs_tail());
  std::vector<std::int32_t> prompt{1, 2, 3};
  auto r = (*head)->prefill(prompt);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.error().code() == holo::status_code::failed_precondition);
  BOOST_CHECK_MESSAGE(r.error().message().find("remote tail") != std::string::npos, r.error().message());

  auto st = stage_session::create(load_range(path, {2, 4}, 16));
  BOOST_REQUIRE(st.ok());
  std::vector<float> rows(2 * 256, 0.5f);
  auto gap = (*st)->forward(rows.data(), 3, 2);  // it never saw 0..2
  BOOST_REQUIRE(!gap.ok());
  BOOST_CHECK(gap.code() == holo::status_code::out_of_range);
  BOOST_CHECK((*st)->forward(rows.data(), 0, 2).ok());
  BOOST_CHECK_EQUAL((*st)->filled(), 2);
  BOOST_CHECK((*st)->logits(rows.data()).ok());
  // A middle stage makes no logits.
  auto mid = stage_session::create(load_range(path, {1, 3}, 16));
  BOOST_REQUIRE(mid.ok());
  BOOST_CHECK(!(*mid)->logits(rows.data()).ok());
}
