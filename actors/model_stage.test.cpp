// stage_layer_range: which layers each stage of a pipeline holds, from the configured counts or an
// even split, with the errors a wrong configuration gets; and the stage actor in-process: logits or
// a sampled token, clear errors for broken frames (and serving on after them), a spare's load.
#define BOOST_TEST_MODULE actors_model_stage
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <thread>
#include <variant>

#include <unistd.h>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/model_stage.hpp"
#include "actors/node_context.hpp"
#include "gpu/model_builder.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/errors.hpp"

using holo::shard_spec;
using holo::stage_layer_range;

namespace {
shard_spec stage(std::int32_t i, std::int32_t k, std::vector<std::int64_t> layers = {}) {
  shard_spec s;
  s.model = "m";
  s.stage_index = i;
  s.stage_count = k;
  s.stage_layers = layers.empty() ? std::vector<std::int64_t>(static_cast<std::size_t>(k), 0) : layers;
  return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(even_split_covers_every_layer_once) {
  for (std::int32_t k : {2, 3, 5})
    for (std::int32_t n : {5, 6, 22, 32}) {
      std::int32_t next = 0;
      for (std::int32_t i = 0; i < k; ++i) {
        auto r = stage_layer_range(stage(i, k), n);
        BOOST_REQUIRE(r.ok());
        BOOST_CHECK_EQUAL(r->first, next);
        BOOST_CHECK_GE(r->second - r->first, n / k);
        BOOST_CHECK_LE(r->second - r->first, n / k + 1);
        next = r->second;
      }
      BOOST_CHECK_EQUAL(next, n);
    }
}

BOOST_AUTO_TEST_CASE(configured_counts_are_used_and_checked) {
  auto r = stage_layer_range(stage(1, 3, {1, 3, 2}), 6);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(r->first, 1);
  BOOST_CHECK_EQUAL(r->second, 4);
  auto bad = stage_layer_range(stage(0, 2, {3, 4}), 6);
  BOOST_REQUIRE(!bad.ok());
  BOOST_CHECK_MESSAGE(bad.error().message().find("hold 7 layers; the model has 6") != std::string::npos,
                      bad.error().message());
  BOOST_CHECK(!stage_layer_range(stage(0, 3), 2).ok());     // more stages than layers
  BOOST_CHECK(!stage_layer_range(stage(2, 2), 6).ok());     // no such stage
  BOOST_CHECK(!stage_layer_range(stage(0, 0), 6).ok());     // not a pipeline
}

// ---- the stage actor itself, in-process: a last stage fed frames directly ----------------------

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The tiny preset (n_embd 256, vocab 1024), 4 layers; stage 1 of 2 holds layers 2..3 and the head.
struct last_stage {
  fs::path path = fs::temp_directory_path() / ("holo_model_stage_" + std::to_string(::getpid()) + ".gguf");
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> self;
  caf::actor stage;

  explicit last_stage(bool spare = false) {
    auto spec = holo::gpu::model_preset("tiny");
    BOOST_REQUIRE(spec.ok());
    spec->n_layer = 4;
    auto built = holo::gpu::build_model(*spec, path.string());
    BOOST_REQUIRE_MESSAGE(built.ok(), (built.ok() ? std::string() : built.error().to_string()));
    holo::register_error_category(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    self = std::make_unique<caf::scoped_actor>(*sys);
    auto ctx = std::make_shared<holo::node_context>();
    ctx->node.name = "b";
    holo::shard_spec s;
    s.model = "m";
    s.path = path.string();
    s.ctx_size = 64;
    s.batch_max = 16;
    s.threads = 1;
    s.backend = "cpu";
    s.stage_index = spare ? -1 : 1;
    s.stage_count = 2;
    s.stage_layers = {0, 0};
    s.stage_nodes = {{"a"}, {"b"}};
    stage = holo::spawn_model_stage(*sys, ctx, s);
  }
  ~last_stage() {
    (*self)->send_exit(stage, caf::exit_reason::user_shutdown);
    stage = caf::actor{};  // a handle kept past the system would keep its thread waiting forever
    self.reset();
    sys.reset();
    fs::remove(path);
  }

  holo::wire::stage_forward frame(std::int64_t pos0, std::int32_t n) {
    holo::wire::stage_forward f;
    f.model = "m";
    f.head_node = "a";
    f.pos0 = pos0;
    f.n_tokens = n;
    f.want_logits = true;
    f.route = {"b"};
    std::vector<float> rows(static_cast<std::size_t>(n) * 256, 0.25f);
    f.hidden.assign(reinterpret_cast<const char*>(rows.data()), rows.size() * sizeof(float));
    return f;
  }

  // The answer to `f`: the output, or the error's text.
  std::variant<holo::wire::stage_output, std::string> ask(holo::wire::stage_forward f) {
    std::variant<holo::wire::stage_output, std::string> out = std::string("no answer");
    (*self)->request(stage, 10s, std::move(f))
        .receive([&](holo::wire::stage_output& o) { out = std::move(o); },
                 [&](caf::error& e) { out = sys->render(e); });
    return out;
  }

  bool ready() {
    bool ok = false;
    for (int i = 0; i < 200 && !ok; ++i) {
      (*self)->request(stage, 1s, holo::status_atom::value)
          .receive([&](holo::actor_status& s) { ok = s.state == "ready"; }, [](caf::error&) {});
      if (!ok) std::this_thread::sleep_for(20ms);
    }
    return ok;
  }
};

std::string error_of(const std::variant<holo::wire::stage_output, std::string>& r) {
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_last_stage_answers_logits_or_a_sample_and_refuses_bad_frames_clearly) {
  last_stage t;
  BOOST_REQUIRE(t.ready());
  // Logits when asked for them; a sampled id instead when the frame carries a sample block.
  auto r = t.ask(t.frame(0, 3));
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<holo::wire::stage_output>(r), error_of(r));
  BOOST_CHECK_EQUAL(std::get<holo::wire::stage_output>(r).logits.size(), 1024u * 4);
  auto s = t.frame(3, 1);
  s.sample = true;
  s.sampling.temperature = 0;
  r = t.ask(s);
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<holo::wire::stage_output>(r), error_of(r));
  const auto& o = std::get<holo::wire::stage_output>(r);
  BOOST_CHECK(o.logits.empty());
  BOOST_CHECK(o.token >= 0 && o.token < 1024);
  BOOST_REQUIRE_EQUAL(o.hops.size(), 1u);
  BOOST_CHECK(o.hops[0].arrived_unix_ns > 0 && o.hops[0].left_unix_ns >= o.hops[0].arrived_unix_ns);

  // Hostile or broken frames: each a clear error, and the stage keeps serving.
  auto bad = t.frame(4, 1);
  bad.hidden.resize(bad.hidden.size() - 4);
  BOOST_CHECK_MESSAGE(error_of(t.ask(bad)).find("bytes for 1 rows") != std::string::npos, error_of(t.ask(bad)));
  bad = t.frame(4, 1);
  bad.model = "other";
  BOOST_CHECK_MESSAGE(error_of(t.ask(bad)).find("not other") != std::string::npos, error_of(t.ask(bad)));
  bad = t.frame(40, 1);  // positions 4..39 never seen
  BOOST_CHECK_MESSAGE(!error_of(t.ask(bad)).empty(), "a gap was accepted");
  bad = t.frame(4, 1);
  bad.route = {"b", "c"};
  BOOST_CHECK_MESSAGE(error_of(t.ask(bad)).find("route of 2") != std::string::npos, error_of(t.ask(bad)));
  bad = t.frame(4, 1);
  bad.route = {"x"};  // routed to another node
  BOOST_CHECK_MESSAGE(error_of(t.ask(bad)).find("the route gives it stage -1") != std::string::npos, error_of(t.ask(bad)));
  bad = t.frame(4, 1);
  bad.sample = true;
  bad.history.assign(65, 1);  // longer than the context
  BOOST_CHECK_MESSAGE(error_of(t.ask(bad)).find("history of 65") != std::string::npos, error_of(t.ask(bad)));
  bad = t.frame(4, 1);
  bad.sample = true;
  bad.sampling.top_p = 7;  // out of range
  BOOST_CHECK_MESSAGE(error_of(t.ask(bad)).find("top_p") != std::string::npos, error_of(t.ask(bad)));
  bad = t.frame(4, 1);
  bad.sample = true;
  bad.history = {-5, 1 << 30, 3};  // ids outside the vocabulary are ignored, as the head's sampler does
  bad.sampling.repeat_penalty = 1.5;
  r = t.ask(bad);
  BOOST_CHECK_MESSAGE(std::holds_alternative<holo::wire::stage_output>(r), error_of(r));
  // Still serving the sequence where it was.
  r = t.ask(t.frame(5, 2));
  BOOST_CHECK_MESSAGE(std::holds_alternative<holo::wire::stage_output>(r), error_of(r));
}

BOOST_AUTO_TEST_CASE(a_spare_loads_the_stage_the_route_gives_it_and_then_serves_it) {
  last_stage t(true);
  // Nothing loaded until a head routes a stage here; the first frame starts the load.
  auto first = t.ask(t.frame(0, 2));
  BOOST_CHECK_MESSAGE(error_of(first).find("loading stage 1") != std::string::npos, error_of(first));
  BOOST_REQUIRE(t.ready());
  auto r = t.ask(t.frame(0, 2));
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<holo::wire::stage_output>(r), error_of(r));
  BOOST_CHECK_EQUAL(std::get<holo::wire::stage_output>(r).logits.size(), 1024u * 4);
}
