#include "actors/model_shard.hpp"

#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/transport.hpp"
#include "gpu/chat_template.hpp"
#include "gpu/engine.hpp"
#include "gpu/generation.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

using step_atom = caf::atom_constant<caf::atom("step")>;
using report_atom = caf::atom_constant<caf::atom("report")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using reload_atom = caf::atom_constant<caf::atom("reload")>;

constexpr auto report_interval = std::chrono::milliseconds(500);
using clock_type = std::chrono::steady_clock;

// What the loading thread hands over. The thread may outlive the actor (a shard stopped while a big
// model loads), so it shares this slot instead of touching the actor's state.
struct load_slot {
  std::mutex mu;
  std::shared_ptr<gpu::model> model;
  status error;
  double fraction = 0;
};

struct running {
  wire::gen_start req;
  std::unique_ptr<gpu::generation> gen;
  std::size_t session = 0;  // index in sessions
};

struct shard_state {
  shard_spec spec;
  std::string node;
  std::vector<std::string> router_nodes;
  std::uint64_t incarnation = 0;
  std::string phase = "loading";  // loading, ready, failed
  std::shared_ptr<load_slot> slot = std::make_shared<load_slot>();
  std::shared_ptr<gpu::model> model;
  std::optional<gpu::chat_template> chat;
  std::vector<std::unique_ptr<gpu::session>> sessions;
  std::vector<bool> session_busy;
  std::vector<running> active;
  std::deque<wire::gen_start> waiting;
  bool stepping = false;  // a step message is in the mailbox
  std::uint64_t tokens_since_report = 0;
  clock_type::time_point last_report = clock_type::now();
  int load_attempts = 0;
  static inline const char* name = "model_shard";
};

using shard_actor = caf::stateful_actor<shard_state>;

caf::actor transport_of(shard_actor* self) {
  return caf::actor_cast<caf::actor>(self->system().registry().get(caf::atom_from_string(names::transport)));
}

template <class T>
void to_router(shard_actor* self, const std::string& router_node, T msg) {
  if (auto t = transport_of(self))
    self->send(t, remote_send_atom::value, router_node, std::string(names::router), caf::make_message(std::move(msg)));
}

wire::shard_load load_of(shard_actor* self) {
  auto& st = self->state;
  wire::shard_load l;
  l.node = st.node;
  l.model = st.spec.model;
  l.state = st.phase;
  l.active = static_cast<std::int64_t>(st.active.size());
  l.queued = static_cast<std::int64_t>(st.waiting.size());
  l.slots = st.spec.parallel;
  auto secs = std::chrono::duration<double>(clock_type::now() - st.last_report).count();
  l.tokens_per_second = secs > 0 ? static_cast<double>(st.tokens_since_report) / secs : 0;
  l.incarnation = st.incarnation;
  return l;
}

void report(shard_actor* self) {
  auto l = load_of(self);
  self->state.tokens_since_report = 0;
  self->state.last_report = clock_type::now();
  if (auto t = transport_of(self))
    for (auto& n : self->state.router_nodes)
      self->send(t, remote_send_atom::value, n, std::string(names::router), caf::make_message(l));
}

void fail_request(shard_actor* self, const wire::gen_start& r, status_code code, std::string message, bool retry) {
  to_router(self, r.router_node, wire::gen_failed{r.request_id, r.attempt, static_cast<std::uint8_t>(code),
                                                  std::move(message), retry});
}

void schedule_step(shard_actor* self) {
  if (self->state.stepping) return;
  self->state.stepping = true;
  self->send(self, step_atom::value);
}

// The prompt as token ids: raw text with BOS as the model says, or chat messages through the
// model's template.
result<std::vector<std::int32_t>> tokenize(shard_actor* self, const wire::gen_start& r) {
  auto& st = self->state;
  const auto& vocab = st.model->vocab();
  if (r.roles.empty()) return vocab.encode(r.prompt, true, false);
  if (!st.chat) return status::failed_precondition("model " + st.spec.model + " has no chat template we can render");
  std::vector<gpu::chat_message> msgs;
  for (std::size_t i = 0; i < r.roles.size() && i < r.contents.size(); ++i) msgs.push_back({r.roles[i], r.contents[i]});
  return vocab.encode(st.chat->render(msgs, true), true, true);
}

// Moves waiting requests into free sessions.
void admit(shard_actor* self) {
  auto& st = self->state;
  // A moved generation (a client mid-stream: gen_start::delivered) is first in line and may exceed
  // `parallel` up to twice it: its client is waiting now, a new one has not seen a token yet.
  auto limit = [&](const wire::gen_start& r) {
    return static_cast<std::size_t>(r.delivered.empty() ? st.spec.parallel : 2 * st.spec.parallel);
  };
  while (!st.waiting.empty() && st.active.size() < limit(st.waiting.front())) {
    auto req = std::move(st.waiting.front());
    st.waiting.pop_front();
    std::size_t si = 0;
    while (si < st.sessions.size() && st.session_busy[si]) ++si;
    if (si == st.sessions.size()) {
      auto s = gpu::session::create(st.model);
      if (!s) {
        fail_request(self, req, s.error().code(), "cannot create a session: " + s.error().message(), true);
        continue;
      }
      st.sessions.push_back(std::move(*s));
      st.session_busy.push_back(false);
    }
    auto& sess = *st.sessions[si];
    sess.reset();
    auto ids = tokenize(self, req);
    if (!ids) {
      fail_request(self, req, ids.error().code(), ids.error().message(), false);
      continue;
    }
    if (req.max_prompt_tokens > 0 && static_cast<std::int64_t>(ids->size()) > req.max_prompt_tokens) {
      fail_request(self, req, status_code::out_of_range,
                   "prompt of " + std::to_string(ids->size()) + " tokens exceeds the limit of " +
                       std::to_string(req.max_prompt_tokens),
                   false);
      continue;
    }
    gpu::generation_options o;
    auto& w = req.sampling;
    o.sampling.temperature = static_cast<float>(w.temperature);
    o.sampling.top_k = w.top_k;
    o.sampling.top_p = static_cast<float>(w.top_p);
    o.sampling.min_p = static_cast<float>(w.min_p);
    o.sampling.repeat_penalty = static_cast<float>(w.repeat_penalty);
    o.sampling.repeat_last_n = w.repeat_last_n;
    o.sampling.frequency_penalty = static_cast<float>(w.frequency_penalty);
    o.sampling.presence_penalty = static_cast<float>(w.presence_penalty);
    o.sampling.seed = w.seed;
    o.sampling.max_tokens = w.max_tokens;
    o.sampling.stop = w.stop;
    o.request_key = req.request_key;
    auto g = gpu::generation::create(sess, std::move(*ids), o, req.delivered);
    if (!g) {
      auto code = g.error().code();
      fail_request(self, req, code, g.error().message(), false);
      continue;
    }
    st.session_busy[si] = true;
    st.active.push_back(running{std::move(req), std::move(*g), si});
  }
  if (!st.active.empty()) schedule_step(self);
}

void finish(shard_actor* self, std::size_t i) {
  auto& st = self->state;
  st.session_busy[st.active[i].session] = false;
  st.active.erase(st.active.begin() + static_cast<std::ptrdiff_t>(i));
}

// One bounded step of every active generation, in turn.
void step(shard_actor* self) {
  auto& st = self->state;
  st.stepping = false;
  bool changed = false;
  for (std::size_t i = 0; i < st.active.size();) {
    auto& run = st.active[i];
    auto ev = run.gen->step();
    if (!ev) {
      // An engine error (context full mid-replay, bad id): another replica will not do better with
      // the same tokens, but a transient error should not kill the stream, so let the router decide.
      fail_request(self, run.req, ev.error().code(), "engine: " + ev.error().message(), true);
      finish(self, i);
      changed = true;
      continue;
    }
    if (ev->has_token) {
      ++st.tokens_since_report;
      to_router(self, run.req.router_node,
                wire::gen_token{run.req.request_id, run.req.attempt, ev->index, ev->id, std::move(ev->text)});
    }
    if (ev->finished) {
      to_router(self, run.req.router_node,
                wire::gen_end{run.req.request_id, run.req.attempt, std::string(gpu::to_string(run.gen->reason())),
                              std::move(ev->tail), run.gen->prompt_tokens(), run.gen->next_index(), st.node});
      finish(self, i);
      changed = true;
      continue;
    }
    ++i;
  }
  if (changed) {
    admit(self);
    report(self);
  }
  if (!st.active.empty()) schedule_step(self);
}

void start_load(shard_actor* self) {
  auto& st = self->state;
  st.phase = "loading";
  ++st.load_attempts;
  auto slot = st.slot;
  auto spec = st.spec;
  auto me = caf::actor_cast<caf::actor>(self);
  std::thread([slot, spec, me] {
    gpu::load_options o;
    o.threads = spec.threads;
    o.ctx_size = spec.ctx_size;
    o.batch_max = spec.batch_max;
    o.progress = [slot](const gpu::load_progress& p) {
      std::lock_guard<std::mutex> lk(slot->mu);
      slot->fraction = p.fraction;
    };
    auto m = gpu::model::load(spec.path, o);
    {
      std::lock_guard<std::mutex> lk(slot->mu);
      if (m) slot->model = std::move(*m);
      else slot->error = m.error();
    }
    caf::anon_send(me, loaded_atom::value);
  }).detach();
}

caf::behavior model_shard(shard_actor* self, node_context_ptr ctx, shard_spec spec) {
  auto log = ctx->log.child("shard").child(spec.model);
  auto& st = self->state;
  st.spec = std::move(spec);
  st.node = ctx->node.name;
  st.incarnation = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  for (auto& n : ctx->cluster.nodes)
    if (n.has_role("router")) st.router_nodes.push_back(n.name);
  log.info("loading", {{"model", st.spec.model}, {"path", st.spec.path}});
  start_load(self);
  self->send(self, report_atom::value);
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{shard_actor_name(self->state.spec.model_index), self->state.phase}; },
      [=](shard_info_atom) { return load_of(self); },
      [=](loaded_atom) {
        auto& st = self->state;
        std::lock_guard<std::mutex> lk(st.slot->mu);
        if (!st.slot->model) {
          st.phase = "failed";
          auto delay = std::chrono::seconds(std::min(60, 1 << std::min(st.load_attempts, 6)));
          log.error("cannot load the model; will retry",
                    {{"error", st.slot->error.to_string()}, {"retry_in_s", static_cast<std::int64_t>(delay.count())}});
          self->delayed_send(self, delay, reload_atom::value);
        } else {
          st.model = std::move(st.slot->model);
          st.phase = "ready";
          if (auto t = gpu::chat_template::detect(st.model->vocab().chat_template()); t.ok()) st.chat = *t;
          log.info("ready", {{"model", st.spec.model}, {"ctx_size", static_cast<std::int64_t>(st.model->ctx_size())}});
          admit(self);
        }
        report(self);
      },
      [=](reload_atom) { start_load(self); },
      [=](report_atom) {
        report(self);
        self->delayed_send(self, report_interval, report_atom::value);
      },
      [=](wire::gen_start& req) {
        auto& st = self->state;
        if (st.phase == "failed") {
          fail_request(self, req, status_code::unavailable, "model " + st.spec.model + " failed to load on " + st.node, true);
          return;
        }
        if (st.waiting.size() >= static_cast<std::size_t>(st.spec.queue)) {
          fail_request(self, req, status_code::resource_exhausted, "shard queue full on " + st.node, true);
          return;
        }
        // A re-sent start for a generation already here (the same attempt) is not started twice.
        for (auto& r : st.active)
          if (r.req.request_id == req.request_id && r.req.attempt == req.attempt) return;
        if (req.delivered.empty()) st.waiting.push_back(std::move(req));
        else st.waiting.push_front(std::move(req));
        if (st.phase == "ready") admit(self);
        report(self);
      },
      [=](wire::gen_cancel& c) {
        auto& st = self->state;
        for (auto it = st.waiting.begin(); it != st.waiting.end(); ++it)
          if (it->request_id == c.request_id) {
            to_router(self, it->router_node,
                      wire::gen_end{it->request_id, it->attempt, "cancelled", "", 0,
                                    static_cast<std::int64_t>(it->delivered.size()), st.node});
            st.waiting.erase(it);
            return;
          }
        for (auto& r : st.active)
          if (r.req.request_id == c.request_id) r.gen->cancel();  // ends at its next step
        schedule_step(self);
      },
      [=](step_atom) { step(self); },
      [=](shard_crash_atom) {
        log.warn("crash injected");
        self->quit(caf::make_error(caf::sec::runtime_error, "crash injected"));
      },
  };
}

}  // namespace

std::string shard_actor_name(std::size_t model_index) { return "s:" + std::to_string(model_index); }

caf::actor spawn_model_shard(caf::actor_system& sys, node_context_ptr ctx, shard_spec spec) {
  return sys.spawn<caf::detached>(model_shard, std::move(ctx), std::move(spec));
}

}  // namespace holo
