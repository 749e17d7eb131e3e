#include "actors/model_stage.hpp"

#include <chrono>
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/transport.hpp"
#include "gpu/engine.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/errors.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

using loaded_atom = caf::atom_constant<caf::atom("st_loaded")>;
using clock_type = std::chrono::steady_clock;

// Sequences one stage keeps (one KV cache each): heads * their parallel slots, bounded.
constexpr std::size_t sequences_max = 256;

// Between the loading thread and the actor.
struct load_box {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;                  // under mu: the actor is gone
  std::shared_ptr<gpu::model> model;  // under mu: set once loaded
  std::string error;                  // under mu: the last load error
};

struct stage_state {
  shard_spec spec;
  std::string node;
  std::shared_ptr<load_box> box = std::make_shared<load_box>();
  std::shared_ptr<gpu::model> model;
  std::string phase = "loading";
  struct sequence {
    std::unique_ptr<gpu::stage_session> session;
    std::optional<gpu::sampler> sampler;  // the last stage's, for remote samples
    gpu::sampling_params sampling;        // what `sampler` was made with
  };
  std::map<std::pair<std::string, std::uint32_t>, sequence> sequences;
  std::vector<float> rows;  // the batch being worked on, reused
  static inline const char* name = "model_stage";

  ~stage_state() {
    {
      std::lock_guard<std::mutex> lk(box->mu);
      box->stop = true;
    }
    box->cv.notify_all();
  }
};

using stage_actor = caf::stateful_actor<stage_state>;

// Loads on its own thread, retrying with backoff until it works or the actor is gone.
void load_in_background(std::shared_ptr<load_box> box, shard_spec spec, log::logger log, caf::actor_addr owner) {
  std::thread([box, spec, log, owner] {
    for (int attempt = 1;; ++attempt) {
      gpu::load_options o;
      set_load_options(spec, o);
      auto m = gpu::model::load(spec.path, o);
      std::unique_lock<std::mutex> lk(box->mu);
      if (box->stop) return;
      if (m) {
        box->model = std::move(*m);
        lk.unlock();
        if (auto a = caf::actor_cast<caf::actor>(owner)) caf::anon_send(a, loaded_atom::value);
        return;
      }
      box->error = m.error().to_string();
      const auto delay = std::chrono::seconds(std::min(60, 1 << std::min(attempt, 6)));
      log.error("cannot load the model's stage; will retry",
                {{"error", box->error}, {"retry_in_s", static_cast<std::int64_t>(delay.count())}});
      if (auto a = caf::actor_cast<caf::actor>(owner)) caf::anon_send(a, loaded_atom::value);
      if (box->cv.wait_for(lk, delay, [&] { return box->stop; })) return;
    }
  }).detach();
}

// Whether two parameter sets draw alike (a sampler made for one serves the other).
bool same_draw(const gpu::sampling_params& a, const gpu::sampling_params& b) {
  return a.temperature == b.temperature && a.top_k == b.top_k && a.top_p == b.top_p && a.min_p == b.min_p &&
         a.repeat_penalty == b.repeat_penalty && a.repeat_last_n == b.repeat_last_n &&
         a.frequency_penalty == b.frequency_penalty && a.presence_penalty == b.presence_penalty && a.seed == b.seed;
}

caf::error stage_error(status_code code, std::string text) { return status_to_error(status(code, std::move(text))); }

caf::behavior model_stage(stage_actor* self, node_context_ptr ctx, shard_spec spec) {
  auto log = ctx->log.child("stage").child(spec.model);
  auto& st = self->state;
  st.spec = std::move(spec);
  st.node = ctx->node.name;
  if (st.spec.stage_index < 0) {
    // A spare: loads nothing until a head routes a stage here (its own nodes are all down).
    st.phase = "spare";
    log.info("spare: loads a stage's layers when a head routes one here", {{"model", st.spec.model}});
  } else {
    log.info("loading", {{"model", st.spec.model},
                         {"stage", static_cast<std::int64_t>(st.spec.stage_index)},
                         {"of", static_cast<std::int64_t>(st.spec.stage_count)}});
    load_in_background(st.box, st.spec, log, self->address());
  }
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{shard_actor_name(self->state.spec.model_index), self->state.phase}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](shard_info_atom) {
        // For this node's metrics and `nodes`: a stage serves no generation of its own.
        wire::shard_load l;
        l.node = self->state.node;
        l.model = self->state.spec.model;
        l.state = self->state.phase;
        return l;
      },
      [=](loaded_atom) {
        auto& st = self->state;
        std::lock_guard<std::mutex> lk(st.box->mu);
        if (st.box->model) {
          st.model = st.box->model;
          st.phase = "ready";
          log.info("ready", {{"first_layer", static_cast<std::int64_t>(st.model->weights().first_layer)},
                             {"last_layer", static_cast<std::int64_t>(st.model->weights().last_layer - 1)},
                             {"last_stage", st.spec.stage_index + 1 == st.spec.stage_count}});
        } else {
          st.phase = "failed";
        }
      },
      [=](wire::stage_forward& f) -> caf::result<wire::stage_output> {
        auto& st = self->state;
        // Which stage the head's route gives this node (route[k] runs stage k + 1).
        auto at = std::find(f.route.begin(), f.route.end(), st.node);
        const std::int32_t routed = at == f.route.end() ? -1 : static_cast<std::int32_t>(at - f.route.begin()) + 1;
        if (st.spec.stage_index < 0) {
          if (routed < 1 || f.model != st.spec.model || f.route.size() + 1 != static_cast<std::size_t>(st.spec.stage_count))
            return stage_error(status_code::invalid_argument, "spare " + st.node + " of " + st.spec.model +
                                                                  ": the frame's route does not name it for a stage");
          // The stage's own nodes are down: become that stage. The head's step fails meanwhile
          // (unavailable), its router retries, and the replay finds the layers loaded.
          st.spec.stage_index = routed;
          st.phase = "loading";
          log.warn("a head routes a stage here: loading its layers", {{"stage", static_cast<std::int64_t>(routed)}});
          load_in_background(st.box, st.spec, log, self->address());
          return stage_error(status_code::unavailable, "spare " + st.node + " is loading stage " + std::to_string(routed) +
                                                           " of " + st.spec.model);
        }
        if (routed != st.spec.stage_index)
          return stage_error(status_code::failed_precondition,
                             st.node + " holds stage " + std::to_string(st.spec.stage_index) + " of " + st.spec.model +
                                 ", the route gives it stage " + std::to_string(routed));
        if (!st.model) {
          std::lock_guard<std::mutex> lk(st.box->mu);
          return stage_error(status_code::unavailable,
                             "stage " + std::to_string(st.spec.stage_index) + " of " + st.spec.model + " on " + st.node +
                                 (st.box->error.empty() ? " is still loading" : " failed to load: " + st.box->error));
        }
        if (f.model != st.spec.model)
          return stage_error(status_code::invalid_argument, "this stage holds " + st.spec.model + ", not " + f.model);
        if (f.route.size() + 1 != static_cast<std::size_t>(st.spec.stage_count))
          return stage_error(status_code::invalid_argument,
                             "a route of " + std::to_string(f.route.size()) + " nodes for " +
                                 std::to_string(st.spec.stage_count - 1) + " stages after the head");
        // The node after this one on the head's route ("" at the last stage).
        const auto next_at = static_cast<std::size_t>(st.spec.stage_index);
        const std::string next = next_at < f.route.size() ? f.route[next_at] : std::string();
        if (next == st.node)  // a route through this node twice would run the batch here forever
          return stage_error(status_code::invalid_argument, "the route names " + st.node + " twice");
        const auto& cfg = st.model->config();
        const std::int64_t n_embd = cfg.n_embd;
        if (f.n_tokens < 1 ||
            f.hidden.size() != static_cast<std::size_t>(f.n_tokens) * static_cast<std::size_t>(n_embd) * sizeof(float))
          return stage_error(status_code::invalid_argument,
                             "stage frame of " + std::to_string(f.hidden.size()) + " bytes for " +
                                 std::to_string(f.n_tokens) + " rows of " + std::to_string(n_embd));
        const auto t0 = clock_type::now();
        const std::int64_t arrived = unix_now_ns();
        auto key = std::make_pair(f.head_node, f.slot);
        auto it = st.sequences.find(key);
        if (it == st.sequences.end()) {
          if (st.sequences.size() >= sequences_max)
            return stage_error(status_code::resource_exhausted,
                               "stage holds " + std::to_string(sequences_max) + " sequences already");
          auto s = gpu::stage_session::create(st.model);
          if (!s) return status_to_error(s.error());
          it = st.sequences.emplace(key, stage_state::sequence{std::move(*s), std::nullopt, {}}).first;
        }
        auto& seq = it->second;
        st.rows.resize(f.hidden.size() / sizeof(float));
        std::memcpy(st.rows.data(), f.hidden.data(), f.hidden.size());
        if (auto s = seq.session->forward(st.rows.data(), f.pos0, f.n_tokens); !s.ok()) return status_to_error(s);
        wire::stage_hop hop{st.node, 0, static_cast<std::uint64_t>(f.hidden.size()), arrived, 0};
        if (!next.empty()) {
          std::memcpy(f.hidden.data(), st.rows.data(), f.hidden.size());
          hop.compute_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
          hop.left_unix_ns = unix_now_ns();
          f.hops.push_back(std::move(hop));
          auto door = transport_door(self->system());
          if (!door) return stage_error(status_code::unavailable, "transport is restarting on " + st.node);
          // The same request goes on: the last stage's answer reaches the head directly.
          self->delegate(door, remote_request_atom::value, next, shard_actor_name(st.spec.model_index),
                         st.spec.step_timeout_ms / 2, caf::make_message(std::move(f)));
          return caf::delegated<wire::stage_output>{};
        }
        wire::stage_output out;
        const float* last_row = st.rows.data() + (f.n_tokens - 1) * n_embd;
        if (f.want_logits && f.sample) {
          if (f.history.size() > static_cast<std::size_t>(st.model->ctx_size()))
            return stage_error(status_code::invalid_argument,
                               "a sample history of " + std::to_string(f.history.size()) + " tokens, context " +
                                   std::to_string(st.model->ctx_size()));
          auto params = sampling_of(f.sampling);
          params.stop.clear();  // the head matches stop strings
          if (!seq.sampler || !same_draw(seq.sampling, params)) {
            auto smp = gpu::sampler::create(params, cfg.n_vocab);
            if (!smp) return status_to_error(smp.error());
            seq.sampler.emplace(std::move(*smp));
            seq.sampling = params;
          }
          auto id = seq.session->sample(last_row, *seq.sampler, f.history, f.request_key, f.token_index);
          if (!id) return status_to_error(id.error());
          out.token = *id;
        } else if (f.want_logits) {
          auto l = seq.session->logits(last_row);
          if (!l) return status_to_error(l.error());
          out.logits.assign(reinterpret_cast<const char*>(l->data()), l->size() * sizeof(float));
        }
        hop.compute_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
        hop.left_unix_ns = unix_now_ns();
        out.hops = std::move(f.hops);
        out.hops.push_back(std::move(hop));
        return out;
      },
  };
}

}  // namespace

std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

gpu::sampling_params sampling_of(const wire::sampling_wire& w) {
  gpu::sampling_params p;
  p.temperature = static_cast<float>(w.temperature);
  p.top_k = w.top_k;
  p.top_p = static_cast<float>(w.top_p);
  p.min_p = static_cast<float>(w.min_p);
  p.repeat_penalty = static_cast<float>(w.repeat_penalty);
  p.repeat_last_n = w.repeat_last_n;
  p.frequency_penalty = static_cast<float>(w.frequency_penalty);
  p.presence_penalty = static_cast<float>(w.presence_penalty);
  p.seed = w.seed;
  p.max_tokens = w.max_tokens;
  p.stop = w.stop;
  return p;
}

wire::sampling_wire sampling_to_wire(const gpu::sampling_params& p) {
  wire::sampling_wire w;
  w.temperature = p.temperature;
  w.top_k = p.top_k;
  w.top_p = p.top_p;
  w.min_p = p.min_p;
  w.repeat_penalty = p.repeat_penalty;
  w.repeat_last_n = p.repeat_last_n;
  w.frequency_penalty = p.frequency_penalty;
  w.presence_penalty = p.presence_penalty;
  w.seed = p.seed;
  w.max_tokens = p.max_tokens;
  w.stop = p.stop;
  return w;
}

void set_load_options(const shard_spec& spec, gpu::load_options& o) {
  o.threads = spec.threads;
  o.backend = spec.backend;
  o.ctx_size = spec.ctx_size;
  o.batch_max = spec.batch_max;
  if (spec.stage_count == 0) return;  // the whole model
  o.choose_layers = [spec](const gpu::model_config& c) -> result<gpu::layer_range> {
    auto r = stage_layer_range(spec, c.n_layer);
    if (!r) return r.error();
    return gpu::layer_range{r->first, r->second};
  };
}

result<std::pair<std::int32_t, std::int32_t>> stage_layer_range(const shard_spec& spec, std::int32_t n_layer) {
  const std::int32_t k = spec.stage_count;
  const std::int32_t i = spec.stage_index;
  if (k < 2 || i < 0 || i >= k)
    return status::invalid_argument("stage " + std::to_string(i) + " of " + std::to_string(k) + " is no pipeline stage");
  bool counted = false;
  for (auto c : spec.stage_layers) counted = counted || c > 0;
  if (!counted) {
    if (n_layer < k)
      return status::invalid_argument("a pipeline of " + std::to_string(k) + " stages for a model of " +
                                      std::to_string(n_layer) + " layers");
    return std::make_pair(static_cast<std::int32_t>(std::int64_t{n_layer} * i / k),
                          static_cast<std::int32_t>(std::int64_t{n_layer} * (i + 1) / k));
  }
  if (spec.stage_layers.size() != static_cast<std::size_t>(k))
    return status::invalid_argument("layer counts for " + std::to_string(spec.stage_layers.size()) + " stages, " +
                                    std::to_string(k) + " stages");
  std::int64_t total = 0, first = 0;
  for (std::int32_t s = 0; s < k; ++s) {
    if (spec.stage_layers[static_cast<std::size_t>(s)] < 1)
      return status::invalid_argument("stage " + std::to_string(s) + " holds no layer");
    if (s < i) first += spec.stage_layers[static_cast<std::size_t>(s)];
    total += spec.stage_layers[static_cast<std::size_t>(s)];
  }
  if (total != n_layer)
    return status::invalid_argument("the stages of " + spec.model + " hold " + std::to_string(total) +
                                    " layers; the model has " + std::to_string(n_layer));
  return std::make_pair(static_cast<std::int32_t>(first),
                        static_cast<std::int32_t>(first + spec.stage_layers[static_cast<std::size_t>(i)]));
}

caf::actor spawn_model_stage(caf::actor_system& sys, node_context_ptr ctx, shard_spec spec) {
  return sys.spawn<caf::detached>(model_stage, std::move(ctx), std::move(spec));
}

}  // namespace holo
