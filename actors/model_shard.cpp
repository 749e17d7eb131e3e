#include "actors/model_shard.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <variant>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/health.hpp"
#include "actors/model_stage.hpp"
#include "actors/transport.hpp"
#include "gpu/chat_template.hpp"
#include "gpu/engine.hpp"
#include "gpu/generation.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/metrics.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using changed_atom = caf::atom_constant<caf::atom("changed")>;

constexpr auto tick_interval = std::chrono::milliseconds(250);
constexpr int report_every_ticks = 2;  // 500 ms
using clock_type = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// ---- the engine worker ----------------------------------------------------------------------------
// The engine runs on a thread of its own, so the actor stays responsive (status, new requests,
// cancels) however long a step takes, and can tell a step that never ends: the actor then fails
// and its supervisor starts a fresh shard; the stuck thread is abandoned (it holds what it uses).

struct hang_command {
  std::int64_t ms = 0;
};
using command = std::variant<wire::gen_start, wire::gen_cancel, hang_command>;

enum class phase : int { loading, ready, failed };

// Shared by the actor and its worker.
struct worker_box {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<command> inbox;             // under mu
  bool stop = false;                     // under mu: the actor is gone; send nothing more
  std::atomic<int> state{static_cast<int>(phase::loading)};
  std::atomic<std::int64_t> active{0};
  std::atomic<std::int64_t> queued{0};   // waiting in the worker + inbox
  std::atomic<std::uint64_t> tokens{0};  // sampled since the start
  std::atomic<std::int64_t> step_started_ns{0};  // 0 while not inside an engine call
  std::atomic<std::int64_t> ctx_size{0};
  std::atomic<bool> exited{false};       // the worker thread has returned
  std::set<std::string> down;            // under mu: peers health calls down or left (a pipeline
                                         // head routes its batches around them)
  std::set<std::pair<std::string, std::uint32_t>> known;  // under mu: (request, attempt) queued or running

  void forget(const wire::gen_start& r) {
    std::lock_guard<std::mutex> lk(mu);
    known.erase({r.request_id, r.attempt});
  }

  bool stopped() {
    std::lock_guard<std::mutex> lk(mu);
    return stop;
  }
};

struct running {
  wire::gen_start req;
  std::unique_ptr<gpu::generation> gen;
  std::size_t session = 0;
  bool has_token = false;  // its first token is out: later steps count as decode time
  double prefill_ms = 0;   // engine time of the steps up to the first token (done timings)
  double decode_ms = 0;    // engine time of the steps after the first token
};

class worker {
 public:
  worker(std::shared_ptr<worker_box> box, shard_spec spec, std::string node, caf::actor_system& sys, log::logger log,
         caf::actor_addr owner)
      : box_(std::move(box)),
        spec_(std::move(spec)),
        node_(std::move(node)),
        sys_(sys),
        log_(std::move(log)),
        owner_(std::move(owner)) {}

  void run() {
    struct on_exit {
      worker_box& b;
      ~on_exit() { b.exited = true; }
    } guard{*box_};
    if (!load()) return;
    while (true) {
      std::deque<command> cmds;
      {
        std::unique_lock<std::mutex> lk(box_->mu);
        box_->cv.wait(lk, [&] { return box_->stop || !box_->inbox.empty() || !active_.empty(); });
        if (box_->stop) return;
        cmds.swap(box_->inbox);
      }
      for (auto& c : cmds) std::visit([&](auto& x) { on(x); }, c);
      admit();
      step_all();
      admit();  // into the slots that generations just freed (else the wait above would sleep on them)
      publish();
    }
  }

 private:
  // Loads the model, retrying with backoff; false when the actor went away meanwhile.
  bool load() {
    for (int attempt = 1;; ++attempt) {
      gpu::load_options o;
      set_load_options(spec_, o);  // a pipeline's head: the first layers here, the rest further on
      auto m = gpu::model::load(spec_.path, o);
      if (m) {
        model_ = std::move(*m);
        if (auto t = gpu::chat_template::detect(model_->vocab().chat_template()); t.ok()) chat_ = *t;
        box_->ctx_size = model_->ctx_size();
        box_->state = static_cast<int>(phase::ready);
        log_.info("ready", {{"model", spec_.model},
                            {"ctx_size", static_cast<std::int64_t>(model_->ctx_size())},
                            {"backend", model_->backend_choice().empty() ? std::string(model_->compute().name())
                                                                         : model_->backend_choice()}});
        return !box_->stopped();
      }
      box_->state = static_cast<int>(phase::failed);
      const auto delay = std::chrono::seconds(std::min(60, 1 << std::min(attempt, 6)));
      log_.error("cannot load the model; will retry",
                 {{"error", m.error().to_string()}, {"retry_in_s", static_cast<std::int64_t>(delay.count())}});
      // Requests that arrived meanwhile go elsewhere.
      std::deque<command> pending;
      {
        std::lock_guard<std::mutex> lk(box_->mu);
        pending.swap(box_->inbox);
      }
      for (auto& c : pending)
        if (auto* s = std::get_if<wire::gen_start>(&c))
          fail(*s, status_code::unavailable, "model " + spec_.model + " failed to load on " + node_, true);
      std::unique_lock<std::mutex> lk(box_->mu);
      if (box_->cv.wait_for(lk, delay, [&] { return box_->stop; })) return false;
      box_->state = static_cast<int>(phase::loading);
    }
  }

  template <class T>
  void to_router(const std::string& router_node, T msg) {
    if (box_->stopped()) return;  // abandoned: the new shard speaks for this model now
    if (auto t = transport_door(sys_))
      caf::anon_send(t, remote_send_atom::value, router_node, std::string(names::router),
                     caf::make_message(std::move(msg)));
  }

  void fail(const wire::gen_start& r, status_code code, std::string message, bool retry) {
    box_->forget(r);
    to_router(r.router_node, wire::gen_failed{r.request_id, r.attempt, static_cast<std::uint8_t>(code),
                                              std::move(message), retry});
  }

  void on(wire::gen_start& req) {
    for (auto& r : active_)
      if (r.req.request_id == req.request_id && r.req.attempt == req.attempt) return;  // a re-sent start
    // A moved generation (attempt > 1: its client has waited already) goes first.
    if (req.attempt <= 1) waiting_.push_back(std::move(req));
    else waiting_.push_front(std::move(req));
  }

  // A cancel stops the attempt it names and older ones, never a newer attempt of the same request:
  // a router that moved a generation back to this shard (its only replica, say) cancels the old
  // attempt, and that cancel may arrive after the new start.
  void on(wire::gen_cancel& c) {
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
      if (it->request_id == c.request_id && it->attempt <= c.attempt) {
        box_->forget(*it);
        to_router(it->router_node, wire::gen_end{it->request_id, it->attempt, "cancelled", "", 0,
                                                 static_cast<std::int64_t>(it->delivered.size()), node_});
        waiting_.erase(it);
        return;
      }
    for (auto& r : active_)
      if (r.req.request_id == c.request_id && r.req.attempt <= c.attempt) r.gen->cancel();  // ends at its next step
  }

  void on(hang_command& h) {
    // Fault injection: an engine call that does not return (for as long as asked).
    box_->step_started_ns = now_ns();
    log_.warn("hang injected", {{"ms", h.ms}});
    std::this_thread::sleep_for(std::chrono::milliseconds(h.ms));
    box_->step_started_ns = 0;
  }

  // The prompt as token ids: raw text with BOS as the model says, or chat messages through the
  // model's template.
  result<std::vector<std::int32_t>> tokenize(const wire::gen_start& r) {
    const auto& vocab = model_->vocab();
    if (r.roles.empty()) return vocab.encode(r.prompt, true, false);
    if (!chat_) return status::failed_precondition("model " + spec_.model + " has no chat template we can render");
    std::vector<gpu::chat_message> msgs;
    for (std::size_t i = 0; i < r.roles.size() && i < r.contents.size(); ++i) msgs.push_back({r.roles[i], r.contents[i]});
    return vocab.encode(chat_->render(msgs, true), true, true);
  }

  static gpu::generation_options options_of(const wire::gen_start& req) {
    gpu::generation_options o;
    o.sampling = sampling_of(req.sampling);
    o.stop_at_eog = !req.sampling.ignore_eos;
    o.request_key = req.request_key;
    return o;
  }

  // Moves waiting generations into free sessions. A moved one may exceed `parallel` up to twice it:
  // its client is waiting now (often mid-stream), a new one has not waited yet.
  void admit() {
    auto limit = [&](const wire::gen_start& r) {
      return static_cast<std::size_t>(r.attempt <= 1 ? spec_.parallel : 2 * spec_.parallel);
    };
    while (!waiting_.empty() && active_.size() < limit(waiting_.front())) {
      auto req = std::move(waiting_.front());
      waiting_.pop_front();
      std::size_t si = 0;
      while (si < sessions_.size() && busy_[si]) ++si;
      if (si == sessions_.size()) {
        auto s = gpu::session::create(model_);
        if (!s) {
          fail(req, s.error().code(), "cannot create a session: " + s.error().message(), true);
          continue;
        }
        if ((*s)->needs_tail()) (*s)->set_tail(stage_tail(static_cast<std::uint32_t>(si)));
        sessions_.push_back(std::move(*s));
        busy_.push_back(false);
      }
      auto& sess = *sessions_[si];
      sess.reset();
      auto ids = tokenize(req);
      if (!ids) {
        fail(req, ids.error().code(), ids.error().message(), false);
        continue;
      }
      if (req.max_prompt_tokens > 0 && static_cast<std::int64_t>(ids->size()) > req.max_prompt_tokens) {
        fail(req, status_code::out_of_range,
             "prompt of " + std::to_string(ids->size()) + " tokens exceeds the limit of " +
                 std::to_string(req.max_prompt_tokens),
             false);
        continue;
      }
      auto g = gpu::generation::create(sess, std::move(*ids), options_of(req), req.delivered);
      if (!g) {
        fail(req, g.error().code(), g.error().message(), false);
        continue;
      }
      busy_[si] = true;
      active_.push_back(running{std::move(req), std::move(*g), si});
    }
  }

  // A pipeline head's session tail: the batch's hidden states go to the next stage as one request
  // (it runs its layers and hands the request on; the last stage answers with the logits). The
  // worker thread waits for the answer: that is the step's engine time, watched by step_timeout_ms
  // like any other (the request itself gives up at half of it, so the step fails first).
  gpu::session::remote_tail stage_tail(std::uint32_t slot) {
    return [this, slot](const gpu::session::tail_batch& b) -> status {
      const auto& cfg = model_->config();
      wire::stage_forward f;
      f.model = spec_.model;
      f.head_node = node_;
      f.slot = slot;
      f.pos0 = b.pos0;
      f.n_tokens = static_cast<std::int32_t>(b.n);
      f.want_logits = b.logits != nullptr;
      f.hidden.assign(reinterpret_cast<const char*>(b.hidden),
                      static_cast<std::size_t>(b.n) * static_cast<std::size_t>(cfg.n_embd) * sizeof(float));
      if (b.sample) {
        // The last stage draws the token: 4 bytes come back instead of n_vocab floats.
        f.sample = true;
        f.sampling = sampling_to_wire(*b.sample->params);
        f.sampling.stop.clear();
        f.request_key = b.sample->request_key;
        f.token_index = b.sample->token_index;
        f.history.assign(b.sample->history.begin(), b.sample->history.end());
      }
      {
        // Each later stage's first node that is not down (its primary while all are): a standby
        // takes over a dead stage, the sequence then restarting there from position 0.
        std::lock_guard<std::mutex> lk(box_->mu);
        // A stage none of whose nodes is up goes to the first spare that is up and not on the
        // route already: it loads the layers on demand (the first batches fail meanwhile).
        for (std::size_t k = 1; k < spec_.stage_nodes.size(); ++k) {
          const auto& cands = spec_.stage_nodes[k];
          auto up = [&](const std::string& n) { return !box_->down.count(n); };
          auto pick = std::find_if(cands.begin(), cands.end(), up);
          if (pick != cands.end()) {
            f.route.push_back(*pick);
            continue;
          }
          auto spare = std::find_if(spec_.stage_spares.begin(), spec_.stage_spares.end(), [&](const std::string& n) {
            return up(n) && n != node_ && std::find(f.route.begin(), f.route.end(), n) == f.route.end();
          });
          f.route.push_back(spare != spec_.stage_spares.end() ? *spare : cands.front());
        }
      }
      if (f.route.empty()) return status::failed_precondition("pipeline head without later stages");
      const std::string next = f.route.front();
      auto door = transport_door(sys_);
      if (!door) return status::unavailable("transport is restarting");
      // Hidden: a node stopping while the head waits for a stage must not wait for this actor too.
      if (!asker_) asker_ = std::make_unique<caf::scoped_actor>(sys_, true);
      const std::int64_t timeout_ms = std::max<std::int64_t>(1000, spec_.step_timeout_ms / 2);
      status out = status::unavailable("no answer from the stage on " + next);
      const auto sent = clock_type::now();
      const std::int64_t sent_unix = unix_now_ns();
      (*asker_)
          ->request(door, std::chrono::milliseconds(timeout_ms + 1000), remote_request_atom::value, next,
                    shard_actor_name(spec_.model_index), timeout_ms, caf::make_message(std::move(f)))
          .receive(
              [&](wire::stage_output& o) {
                const std::size_t want =
                    b.logits && !b.sample ? static_cast<std::size_t>(cfg.n_vocab) * sizeof(float) : 0;
                if (o.logits.size() != want) {
                  out = status::data_loss("the last stage sent " + std::to_string(o.logits.size()) +
                                          " bytes of logits, expected " + std::to_string(want));
                  return;
                }
                if (want) std::memcpy(b.logits, o.logits.data(), want);
                if (b.sample) *b.token = o.token;  // range-checked by the session
                out = {};
                // Per-link figures: each stage's share as it reported it, the logits' way back.
                // A link's transit: the receiver's arrival less the sender's departure, on their
                // two wall clocks (negative only when they disagree by more than the transit).
                auto transit = [](std::int64_t left, std::int64_t arrived) {
                  return left > 0 && arrived > 0 ? std::max<double>(0, double(arrived - left) / 1e9) : -1.0;
                };
                std::vector<metrics::pipeline_hop> links;
                std::string from = node_;
                std::int64_t left = sent_unix;
                for (auto& h : o.hops) {
                  links.push_back({from, h.node, h.compute_ms / 1000.0, h.bytes_in, transit(left, h.arrived_unix_ns)});
                  from = h.node;
                  left = h.left_unix_ns;
                }
                links.push_back({from, node_, 0, static_cast<std::uint64_t>(b.sample ? sizeof(std::int32_t) : o.logits.size()),
                                 transit(left, unix_now_ns())});
                metrics::observe_pipeline_batch(spec_.model,
                                                std::chrono::duration<double>(clock_type::now() - sent).count(), links);
              },
              [&](caf::error& e) { out = status::unavailable("pipeline stage after " + node_ + ": " + sys_.render(e)); });
      return out;
    };
  }

  void finish(std::size_t i) {
    box_->forget(active_[i].req);
    busy_[active_[i].session] = false;
    active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  // One bounded step of every active generation, in turn.
  void step_all() {
    for (std::size_t i = 0; i < active_.size();) {
      auto& run = active_[i];
      const auto started = now_ns();
      box_->step_started_ns = started;
      auto ev = run.gen->step();
      box_->step_started_ns = 0;
      (run.has_token ? run.decode_ms : run.prefill_ms) += double(now_ns() - started) / 1e6;
      if (!ev) {
        // An engine error (context full mid-replay, bad id): let the router decide where it goes on.
        fail(run.req, ev.error().code(), "engine: " + ev.error().message(), true);
        finish(i);
        continue;
      }
      if (ev->has_token) {
        run.has_token = true;
        ++box_->tokens;
        to_router(run.req.router_node,
                  wire::gen_token{run.req.request_id, run.req.attempt, ev->index, ev->id, std::move(ev->text)});
      }
      if (ev->finished) {
        to_router(run.req.router_node,
                  wire::gen_end{run.req.request_id, run.req.attempt, std::string(gpu::to_string(run.gen->reason())),
                                std::move(ev->tail), run.gen->prompt_tokens(), run.gen->next_index(), node_,
                                run.prefill_ms, run.decode_ms});
        finish(i);
        continue;
      }
      ++i;
    }
  }

  // Publishes the load; when it changed, the actor tells the routers soon (rate-limited), so
  // placement does not run on a half-second-old picture.
  void publish() {
    std::int64_t active = static_cast<std::int64_t>(active_.size()), queued = 0;
    {
      std::lock_guard<std::mutex> lk(box_->mu);
      queued = static_cast<std::int64_t>(waiting_.size() + box_->inbox.size());
      box_->active = active;
      box_->queued = queued;
    }
    if (active == last_active_ && queued == last_queued_) return;
    last_active_ = active;
    last_queued_ = queued;
    if (auto owner = caf::actor_cast<caf::actor>(owner_)) caf::anon_send(owner, changed_atom::value);
  }

  std::shared_ptr<worker_box> box_;
  shard_spec spec_;
  std::string node_;
  caf::actor_system& sys_;
  log::logger log_;
  caf::actor_addr owner_;
  std::int64_t last_active_ = 0, last_queued_ = 0;
  std::shared_ptr<gpu::model> model_;
  std::unique_ptr<caf::scoped_actor> asker_;  // a pipeline head's: waits for the stages' answers
  std::optional<gpu::chat_template> chat_;
  std::vector<std::unique_ptr<gpu::session>> sessions_;
  std::vector<bool> busy_;
  std::vector<running> active_;
  std::deque<wire::gen_start> waiting_;
};

// ---- the actor ------------------------------------------------------------------------------------

struct shard_state {
  shard_spec spec;
  std::string node;
  std::vector<std::string> router_nodes;
  std::uint64_t incarnation = 0;
  std::shared_ptr<worker_box> box = std::make_shared<worker_box>();
  std::uint64_t tokens_at_report = 0;
  clock_type::time_point last_report = clock_type::now();
  int ticks = 0;
  bool abandon_worker = false;  // it is stuck in the engine: do not wait for it
  bool report_pending = false;  // a rate-limited report is scheduled
  bool draining = false;        // the shell's `drain`: no new generations, reported as "draining"
  static inline const char* name = "model_shard";

  ~shard_state() {
    // The actor is gone (stopped, crashed or given up on): its worker must stop, or at least stay
    // silent if it is stuck inside the engine.
    {
      std::lock_guard<std::mutex> lk(box->mu);
      box->stop = true;
    }
    box->cv.notify_all();
    // Let a working worker finish its step (bounded), so no engine code runs after the node stops.
    for (int i = 0; i < 2000 && !abandon_worker && !box->exited; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
};

using shard_actor = caf::stateful_actor<shard_state>;

const char* phase_name(int p) {
  switch (static_cast<phase>(p)) {
    case phase::loading: return "loading";
    case phase::ready: return "ready";
    case phase::failed: return "failed";
  }
  return "failed";
}

wire::shard_load load_of(shard_actor* self) {
  auto& st = self->state;
  wire::shard_load l;
  l.node = st.node;
  l.model = st.spec.model;
  l.state = phase_name(st.box->state);
  if (st.draining && l.state == std::string("ready")) l.state = "draining";  // routers skip it
  l.active = st.box->active;
  l.queued = st.box->queued;
  l.slots = st.spec.parallel;
  auto secs = std::chrono::duration<double>(clock_type::now() - st.last_report).count();
  l.tokens_per_second = secs > 0 ? static_cast<double>(st.box->tokens - st.tokens_at_report) / secs : 0;
  l.incarnation = st.incarnation;
  return l;
}

void report(shard_actor* self) {
  auto l = load_of(self);
  self->state.tokens_at_report = self->state.box->tokens;
  self->state.last_report = clock_type::now();
  auto t = transport_door(self->system());
  if (!t) return;
  for (auto& n : self->state.router_nodes)
    self->send(t, remote_send_atom::value, n, std::string(names::router),
               caf::make_message(l));
}

void post(shard_actor* self, command c) {
  auto& box = *self->state.box;
  {
    std::lock_guard<std::mutex> lk(box.mu);
    if (auto* s = std::get_if<wire::gen_start>(&c)) box.known.insert({s->request_id, s->attempt});
    box.inbox.push_back(std::move(c));
    ++box.queued;
  }
  box.cv.notify_one();
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
  std::thread([w = std::make_shared<worker>(st.box, st.spec, st.node, self->system(), log, self->address())] {
    w->run();
  }).detach();
  self->send(self, tick_atom::value);
  if (st.spec.stage_count > 0)  // a pipeline head routes around stages whose nodes are down
    if (auto h = self->system().registry().get(caf::atom_from_string(names::health)))
      self->send(caf::actor_cast<caf::actor>(h), subscribe_atom::value);
  const auto step_timeout = std::chrono::milliseconds(st.spec.step_timeout_ms);
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) {
        // "stuck": an engine step has run past half its timeout. /health and the systemd watchdog
        // report it while the shard is still alive (at the full timeout it restarts).
        const auto started = self->state.box->step_started_ns.load();
        if (started != 0 && now_ns() - started > std::chrono::nanoseconds(step_timeout).count() / 2)
          return actor_status{shard_actor_name(self->state.spec.model_index), "stuck"};
        return actor_status{shard_actor_name(self->state.spec.model_index),
                            self->state.draining ? "draining" : phase_name(self->state.box->state)};
      },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](shard_drain_atom, bool on) {
        if (self->state.draining != on) log.info(on ? "draining" : "drain off");
        self->state.draining = on;
        report(self);  // at once: routers stop placing here before the next periodic report
        return caf::ok_atom::value;
      },
      [=](shard_info_atom) { return load_of(self); },
      [=](member_changed_atom, std::string& node, std::string& state) {
        auto& box = *self->state.box;
        std::lock_guard<std::mutex> lk(box.mu);
        if (state == "down" || state == "left")
          box.down.insert(node);
        else if (state == "up")
          box.down.erase(node);
      },
      [=](changed_atom) {
        auto& st = self->state;
        constexpr auto min_gap = std::chrono::milliseconds(50);
        auto since = clock_type::now() - st.last_report;
        if (since >= min_gap) {
          report(self);
          st.report_pending = false;
        } else if (!st.report_pending) {
          st.report_pending = true;
          self->delayed_send(self, min_gap - since, changed_atom::value);
        }
      },
      [=](tick_atom) {
        auto& st = self->state;
        // A step that does not end: fail, so the supervisor starts a fresh shard and the routers
        // (seeing its new incarnation) move this one's generations.
        const auto started = st.box->step_started_ns.load();
        if (started != 0 && now_ns() - started > std::chrono::nanoseconds(step_timeout).count()) {
          log.error("engine step stuck: restarting the shard",
                    {{"step_ms", (now_ns() - started) / 1000000}, {"limit_ms", st.spec.step_timeout_ms}});
          st.abandon_worker = true;
          self->quit(caf::make_error(caf::sec::runtime_error, "engine step stuck"));
          return;
        }
        if (++st.ticks % report_every_ticks == 0) report(self);
        self->delayed_send(self, tick_interval, tick_atom::value);
      },
      [=](wire::gen_start& req) {
        auto& st = self->state;
        if (st.draining || st.box->state == static_cast<int>(phase::failed) || st.box->queued >= st.spec.queue) {
          auto t = transport_door(self->system());
          bool failed = st.draining || st.box->state == static_cast<int>(phase::failed);
          if (t)
            self->send(t, remote_send_atom::value, req.router_node,
                       std::string(names::router),
                       caf::make_message(wire::gen_failed{
                           req.request_id, req.attempt,
                           static_cast<std::uint8_t>(failed ? status_code::unavailable : status_code::resource_exhausted),
                           st.draining ? "shard of " + st.spec.model + " on " + st.node + " is draining"
                           : failed    ? "model " + st.spec.model + " failed to load on " + st.node
                                  : "shard queue full on " + st.node,
                           true}));
          return;
        }
        post(self, std::move(req));
      },
      [=](wire::gen_cancel& c) { post(self, std::move(c)); },
      [=](wire::gen_probe& p) {
        auto& box = *self->state.box;
        std::lock_guard<std::mutex> lk(box.mu);
        return wire::gen_probe_reply{p.request_id, box.known.count({p.request_id, p.attempt}) > 0};
      },
      [=](shard_crash_atom) {
        log.warn("crash injected");
        self->quit(caf::make_error(caf::sec::runtime_error, "crash injected"));
      },
      [=](shard_hang_atom, std::int64_t ms) { post(self, hang_command{ms}); },
  };
}

}  // namespace

std::string shard_actor_name(std::size_t model_index) { return "s:" + std::to_string(model_index); }

caf::actor spawn_model_shard(caf::actor_system& sys, node_context_ptr ctx, shard_spec spec) {
  return sys.spawn(model_shard, std::move(ctx), std::move(spec));
}

}  // namespace holo
