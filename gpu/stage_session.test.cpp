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
    head->set_tail([this, n_embd](const float* hidden, std::int64_t pos0, std::int64_t n, float* logits) -> holo::status {
      std::vector<float> frame(hidden, hidden + n * n_embd);
      for (auto& st : stages) {
        HOLO_TRY(st->forward(frame.data(), pos0, n));
        ++hops;
      }
      if (!logits) return {};
      auto l = stages.back()->logits(frame.data() + (n - 1) * n_embd);
      if (!l) return l.error();
      std::memcpy(logits, l->data(), l->size() * sizeof(float));
      return {};
    });
  }
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
