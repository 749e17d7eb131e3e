#include "actors/router.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/health.hpp"
#include "actors/model_shard.hpp"
#include "actors/planned_shard.hpp"
#include "actors/router_journal.hpp"
#include "actors/store.hpp"
#include "actors/transport.hpp"
#include "runtime/admin_protocol.hpp"
#include "runtime/client_protocol.hpp"
#include "runtime/metrics.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/serving_protocol.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using redispatch_atom = caf::atom_constant<caf::atom("redispatch")>;

using clock_type = std::chrono::steady_clock;
constexpr auto tick_interval = std::chrono::milliseconds(250);
constexpr auto load_report_stale = std::chrono::milliseconds(3000);
constexpr auto retry_delay = std::chrono::milliseconds(200);
// A dispatched generation silent for this long is probed: does its shard still have it?
constexpr auto probe_after = std::chrono::milliseconds(2000);
constexpr std::int64_t probe_timeout_ms = 2000;
// The request journal (docs/storage.md "Request journal"): a row write the store has not answered
// in this long counts as failed and is retried at the next tick; a `resume` waits this long for
// the row of a generation this router does not hold; at most this many such lookups at once.
constexpr auto journal_write_timeout = std::chrono::seconds(10);
constexpr auto journal_lookup_timeout = std::chrono::seconds(5);
constexpr std::size_t journal_lookups_max = 256;

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

struct replica {
  std::string node;
  wire::shard_load load;            // the shard's last report
  clock_type::time_point heard{};   // when it arrived (epoch: never)
  std::int64_t inflight = 0;        // generations this router has on it
  double ewma_ttft_ms = 0;          // measured by this router: time to first token
};

struct model_route {
  std::size_t index = 0;
  const config::model_config* cfg = nullptr;
  std::vector<replica> replicas;
};

// One hop of a request's life, for the shell's `trace`.
struct trace_event {
  double t_ms = 0;     // since the router received it
  std::string event;   // received, admitted, placed, waiting, first_token, moved, parked, resumed, done, failed
  std::string node;    // where it happened ("" = this router)
  std::string detail;
};
constexpr std::size_t trace_events_max = 64;   // per request; later ones replace the last
constexpr std::size_t trace_ring_max = 256;    // expired requests kept for `trace`

struct trace_record {
  std::string key, request_id, model;
  std::int64_t received_unix_ms = 0;
  std::vector<trace_event> events;
};

struct generation_state {
  std::string key;       // owner + ":" + client id: what clients name it by
  std::string request_id;  // cluster-wide: node + "/" + key
  std::string owner;
  std::string peer;      // the connection events go to; empty while the client is away
  proto::generate_request req;
  std::size_t model = 0;         // index into routes (the model serving it)
  std::string asked_model;
  wire::gen_start start;         // the dispatch, delivered tokens excluded
  std::vector<std::int32_t> tokens;
  std::vector<std::string> texts;
  std::size_t sent = 0;          // tokens already sent to the client
  bool done_sent = false;        // the done event too
  std::string node;              // where the current attempt runs ("" when none)
  std::uint64_t shard_incarnation = 0;
  std::uint32_t attempt = 0;
  std::uint32_t dispatches = 0;
  std::set<std::string> avoid;   // replicas that failed this request recently
  std::string last_failure;      // why it last moved (for the client when it finally gives up)
  bool finished = false;
  bool parked = false;           // the client left: nothing runs until it resumes
  bool retry_pending = false;
  proto::done_event done;
  clock_type::time_point accepted, dispatched, first_token, last_progress, finished_at, detached_at;
  clock_type::time_point last_heard;  // the last event of the current attempt (or its dispatch)
  bool probing = false;
  bool has_first_token = false;
  std::string decision;          // the routing decision, for logs and `requests`
  bool counted = false;          // its end is in holo_requests_total (counted once)
  clock_type::time_point last_token;  // for the inter-token latency
  std::vector<trace_event> trace;     // for the shell's `trace`
  std::int64_t received_unix_ms = 0;
  std::uint64_t serial = 0;      // this router's number for it: tells a re-created key apart
  std::string tail;              // the done event's held-back text (for the final journal row)
  std::string failure;           // the error code when it failed ("" otherwise)
  // Its request-journal row (actors/router_journal.hpp). At most one write is on its way at a time;
  // a change meanwhile (or a failed write) marks it dirty and the newest state is written next.
  bool journaled = false;        // it has a row: this node runs a store and the seed fits
  std::int64_t journal_revision = 0;   // of the last row sent
  std::int64_t journal_created_ms = 0;
  std::size_t journal_tokens = 0;      // tokens in the last row sent
  clock_type::time_point journal_at{};  // when the last row was sent
  bool journal_busy = false;
  bool journal_dirty = false;
  bool journal_final = false;    // the final row (done, failed, cancelled) is committed
};

struct router_state {
  std::vector<model_route> routes;
  std::unordered_map<std::string, generation_state> gens;  // by key
  std::unordered_map<std::string, std::string> by_request_id;  // request_id -> key
  std::map<std::string, std::string> members;  // node -> membership state
  std::set<std::string> congested;             // peers whose send queue is full
  // Peers served by another actor than client_api (the HTTP gateway's per-request actors): their
  // events go back to the actor that sent their frames. Dropped with client_gone.
  std::unordered_map<std::string, caf::actor> reply_to;
  caf::actor_addr health;                      // subscribed to
  std::uint64_t rotation = 0;
  std::mt19937_64 rng{std::random_device{}()};
  std::map<std::pair<std::string, std::string>, std::uint64_t> decisions;  // (model, node) -> count
  std::deque<trace_record> recent;  // traces of expired generations, newest last (trace_ring_max)
  std::uint64_t next_serial = 0;
  std::set<std::string> journal_lookups;  // keys a `resume` is looking up in the journal
  std::int64_t journal_failures = 0;      // failed row writes (logged on the first and every 100th)
  static inline const char* name = "router";
};

using router_actor = caf::stateful_actor<router_state>;

void trace(generation_state& g, std::string event, std::string node, std::string detail) {
  trace_event e{ms_between(g.accepted, clock_type::now()), std::move(event), std::move(node), std::move(detail)};
  if (g.trace.size() < trace_events_max) g.trace.push_back(std::move(e));
  else g.trace.back() = std::move(e);
}

caf::actor registered(router_actor* self, const std::string& name) {
  return caf::actor_cast<caf::actor>(self->system().registry().get(caf::atom_from_string(name)));
}

void to_client(router_actor* self, const std::string& peer, std::string frame) {
  if (peer.empty()) return;
  if (auto it = self->state.reply_to.find(peer); it != self->state.reply_to.end())
    return self->send(it->second, client_out_atom::value, peer, std::move(frame));
  if (auto api = registered(self, names::client_api)) self->send(api, client_out_atom::value, peer, std::move(frame));
}

void client_error(router_actor* self, const std::string& peer, const std::string& id, status_code code,
                  const std::string& message) {
  to_client(self, peer, proto::encode_error(id, code, message));
}

template <class T>
void to_shard(router_actor* self, const std::string& node, std::size_t model_index, T msg) {
  if (auto t = transport_door(self->system()))
    self->send(t, remote_send_atom::value, node, shard_actor_name(model_index), caf::make_message(std::move(msg)));
}

const std::string& member_state(router_actor* self, const std::string& node) {
  static const std::string unknown = "joining";
  auto it = self->state.members.find(node);
  return it == self->state.members.end() ? unknown : it->second;
}

bool replica_ready(router_actor* self, const replica& r, clock_type::time_point now) {
  if (member_state(self, r.node) != "up") return false;
  return r.load.state == "ready" && now - r.heard < load_report_stale;
}

// ---- placement --------------------------------------------------------------------------------------

// The model a request runs on: name or alias, then the canary split, then the fallback chain when no
// replica is ready. Returns the route index or an error for the client.
result<std::size_t> resolve_model(router_actor* self, node_context_ptr ctx, const generation_state& g) {
  auto& st = self->state;
  auto find = [&](const std::string& name) -> std::optional<std::size_t> {
    auto* m = ctx->cluster.find_model(name);
    if (!m) return std::nullopt;
    for (std::size_t i = 0; i < st.routes.size(); ++i)
      if (st.routes[i].cfg == m) return i;
    return std::nullopt;
  };
  auto idx = find(g.req.model);
  if (!idx) return status::not_found("unknown model '" + g.req.model + "'");
  auto now = clock_type::now();
  auto any_ready = [&](std::size_t i) {
    return std::any_of(st.routes[i].replicas.begin(), st.routes[i].replicas.end(),
                       [&](const replica& r) { return replica_ready(self, r, now); });
  };
  for (auto& c : ctx->cluster.routing.canaries) {
    if (ctx->cluster.find_model(c.model) != st.routes[*idx].cfg) continue;
    // The same request always lands on the same side of the split (a resumed one too).
    double draw = static_cast<double>(fnv1a(g.key, 0x9e3779b97f4a7c15ull) % 10000) / 100.0;
    if (draw < c.percent)
      if (auto t = find(c.target); t && any_ready(*t)) idx = t;
  }
  std::set<std::size_t> seen;
  std::size_t cur = *idx;
  while (!any_ready(cur)) {
    seen.insert(cur);
    auto& fb = st.routes[cur].cfg->fallback;
    auto next = fb.empty() ? std::nullopt : find(fb);
    if (!next || seen.count(*next)) return *idx;  // nothing better: place() reports unavailable
    cur = *next;
  }
  return cur;
}

// Picks a replica of route `mi` for `g` by the configured policy; nullptr when none is ready.
// `only_avoided` (when given) tells whether every ready replica had failed this request already.
replica* place(router_actor* self, node_context_ptr ctx, generation_state& g, std::size_t mi,
               bool* only_avoided = nullptr) {
  auto& st = self->state;
  auto now = clock_type::now();
  std::vector<replica*> ready, preferred;
  for (auto& r : st.routes[mi].replicas)
    if (replica_ready(self, r, now)) ready.push_back(&r);
  for (auto* r : ready)
    if (!g.avoid.count(r->node)) preferred.push_back(r);
  if (only_avoided) *only_avoided = preferred.empty() && !ready.empty();
  auto& cands = preferred.empty() ? ready : preferred;
  if (cands.empty()) return nullptr;
  std::string skipped;
  for (auto& r : st.routes[mi].replicas)
    if (std::find(ready.begin(), ready.end(), &r) == ready.end())
      skipped += " " + r.node + ":" + (member_state(self, r.node) != "up" ? member_state(self, r.node)
                                       : now - r.heard >= load_report_stale ? std::string("silent")
                                                                           : r.load.state);
  const auto& policy = ctx->cluster.routing.policy;
  replica* best = nullptr;
  if (policy == "affinity" && !g.req.session.empty()) {
    // Rendezvous hashing: a session stays on its replica while it is up, and only its own sessions
    // move when a replica comes or goes.
    std::uint64_t top = 0;
    for (auto* r : cands)
      if (auto h = fnv1a(r->node, fnv1a(g.req.session)); !best || h > top) best = r, top = h;
    g.decision = "affinity(" + g.req.session + ")";
  } else if (policy == "latency") {
    double top = 0;
    for (auto* r : cands)
      if (!best || r->ewma_ttft_ms < top) best = r, top = r->ewma_ttft_ms;  // unmeasured (0) is tried first
    g.decision = "latency(" + std::to_string(static_cast<std::int64_t>(top)) + " ms)";
  } else {
    // Least loaded: the shard's report, or what this router alone has put there since, whichever is
    // more; per slot, so a shard that decodes more at once takes more. Ties rotate.
    double top = 0;
    std::string seen;
    const std::size_t n = cands.size(), start = st.rotation++ % n;
    for (std::size_t k = 0; k < n; ++k) {
      auto* r = cands[(start + k) % n];
      double load = static_cast<double>(std::max(r->load.active + r->load.queued, r->inflight)) /
                    static_cast<double>(std::max<std::int64_t>(1, r->load.slots));
      seen += (seen.empty() ? "" : " ") + r->node + "=" + std::to_string(load).substr(0, 4);
      if (!best || load < top) best = r, top = load;
    }
    g.decision = "least_loaded(" + seen + ")";
  }
  if (!skipped.empty()) g.decision += " not ready:" + skipped;
  return best;
}

void finish(router_actor* self, node_context_ptr ctx, generation_state& g, std::string reason, std::string tail);

// Counts a generation's end, once: its outcome (the done reason or the error code) and latency.
void count_end(router_actor* self, generation_state& g, const std::string& outcome) {
  if (g.counted) return;
  g.counted = true;
  const auto& model = self->state.routes[g.model].cfg->name;
  metrics::count_request(model, outcome);
  metrics::observe_request_duration(model, seconds_between(g.accepted, clock_type::now()));
}

void release_replica(router_actor* self, generation_state& g) {
  if (g.node.empty()) return;
  for (auto& r : self->state.routes[g.model].replicas)
    if (r.node == g.node && r.inflight > 0) --r.inflight;
  g.node.clear();
}

// ---- the request journal (actors/router_journal.hpp, docs/storage.md "Request journal") -----------

// The row of `g` as it stands now, with the next revision. The revision is the writer's clock in
// microseconds (strictly rising per generation), so the row of a router that took a request over
// -- later, from the journal -- outranks whatever the old router still had on its way.
persist::journal_entry journal_row(router_actor* self, node_context_ptr ctx, generation_state& g) {
  auto j = router_journal::accepted_row(g.req, g.owner, ctx->node.name, g.start.sampling.seed,
                                        static_cast<std::int64_t>(g.start.sampling.max_tokens));
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count();
  g.journal_revision = std::max(g.journal_revision + 1, now_us);
  j.revision = g.journal_revision;
  if (g.journal_created_ms != 0) j.created_ms = g.journal_created_ms;
  g.journal_created_ms = j.created_ms;
  j.served_model = g.dispatches > 0 || !g.tokens.empty() ? self->state.routes[g.model].cfg->name : "";
  j.delivered_tokens = g.tokens;
  j.delivered_texts = g.texts;
  j.attempts = g.dispatches;
  if (!g.finished) {
    j.status = g.dispatches == 0 && g.tokens.empty() ? persist::journal_status::accepted : persist::journal_status::running;
  } else if (!g.failure.empty()) {
    j.status = persist::journal_status::failed;
    j.finish_reason = g.failure;
  } else {
    j.status = g.done.reason == "cancelled" ? persist::journal_status::cancelled : persist::journal_status::done;
    j.finish_reason = g.done.reason;
    // The text held back to the end rides on the last token's text, so a router replaying the
    // finished row gives the same concatenated text (docs/protocol.md `done`).
    if (!g.tail.empty() && !j.delivered_texts.empty()) j.delivered_texts.back() += g.tail;
  }
  g.journal_tokens = g.tokens.size();
  g.journal_at = clock_type::now();
  return j;
}

void journal_write(router_actor* self, node_context_ptr ctx, generation_state& g);

void on_journal_ack(router_actor* self, node_context_ptr ctx, const std::string& key, std::uint64_t serial,
                    bool final_row, const status& result) {
  auto it = self->state.gens.find(key);
  if (it == self->state.gens.end() || it->second.serial != serial) return;  // expired meanwhile
  auto& g = it->second;
  g.journal_busy = false;
  if (!result.ok()) {
    // Never a reason to stop serving: the row is written again at the next tick (or never, if the
    // store stays away -- the generation is then simply not resumable elsewhere).
    g.journal_dirty = true;
    if (self->state.journal_failures++ % 100 == 0)
      ctx->log.child(names::router)
          .warn("journal write failed (serving goes on; retried)",
                {{"request", g.key}, {"error", result.to_string()}, {"failures", self->state.journal_failures}});
    return;
  }
  if (final_row) g.journal_final = true;
  if (g.journal_dirty) journal_write(self, ctx, g);
}

// Sends the row of `g` to the store (group-committed there with the other rows of the moment).
void journal_write(router_actor* self, node_context_ptr ctx, generation_state& g) {
  if (!g.journaled || g.journal_final) return;
  if (g.journal_busy) {
    g.journal_dirty = true;
    return;
  }
  auto store = registered(self, names::store);
  if (!store) {  // the store is restarting: the tick retries
    g.journal_dirty = true;
    return;
  }
  g.journal_dirty = false;
  g.journal_busy = true;
  const bool final_row = g.finished;
  store_batch b;
  b.rows.emplace_back(journal_row(self, ctx, g));
  const std::string key = g.key;
  const std::uint64_t serial = g.serial;
  self->request(store, journal_write_timeout, store_write_atom::value, std::move(b))
      .then([=](store_ack& a) { on_journal_ack(self, ctx, key, serial, final_row, a.result); },
            [=](caf::error& e) {
              on_journal_ack(self, ctx, key, serial, final_row, status::unavailable(self->system().render(e)));
            });
}

// The checkpoint cadence ([persistence] checkpoint_every_tokens / checkpoint_every_ms).
bool journal_due(node_context_ptr ctx, const generation_state& g, clock_type::time_point now) {
  persist::checkpoint_cadence c{ctx->cluster.persistence.checkpoint_every_tokens,
                                ctx->cluster.persistence.checkpoint_every_ms};
  return c.due(static_cast<std::int64_t>(g.tokens.size() - std::min(g.tokens.size(), g.journal_tokens)),
               static_cast<std::int64_t>(ms_between(g.journal_at, now)));
}

// The shell's `checkpoint`: the row of every generation whose journal is not final, now, in one
// store batch (one transaction); the reply comes once the store committed it.
caf::result<std::string> journal_checkpoint_all(router_actor* self, node_context_ptr ctx, const std::string& id) {
  auto store = registered(self, names::store);
  if (!store)
    return proto::encode_error(id, status_code::unavailable,
                               "node " + ctx->node.name + " runs no store actor (role 'store'): no request journal");
  store_batch b;
  for (auto& [k, g] : self->state.gens)
    if (g.journaled && !g.journal_final) b.rows.emplace_back(journal_row(self, ctx, g));
  const auto n = b.rows.size();
  if (n == 0) return proto::encode_ok_detail(id, "checkpoint", "0 generations to checkpoint on " + ctx->node.name);
  auto rp = self->make_response_promise<std::string>();
  const auto started = clock_type::now();
  const std::string node = ctx->node.name;
  self->request(store, journal_write_timeout, store_write_atom::value, std::move(b))
      .then(
          [=](store_ack& a) mutable {
            if (!a.result.ok()) {
              rp.deliver(proto::encode_error(id, a.result.code(), "journal checkpoint: " + a.result.message()));
              return;
            }
            rp.deliver(proto::encode_ok_detail(
                id, "checkpoint",
                std::to_string(n) + " generation(s) checkpointed on " + node + ", committed by the store in " +
                    std::to_string(static_cast<std::int64_t>(ms_between(started, clock_type::now()))) + " ms"));
          },
          [=](caf::error& e) mutable {
            rp.deliver(proto::encode_error(id, status_code::unavailable, "journal checkpoint: " + self->system().render(e)));
          });
  return rp;
}

// Sends the generation (with the tokens delivered so far) to a replica. When none is ready it tries
// again shortly, until the stall timeout since the last progress; then the client gets `unavailable`.
void dispatch(router_actor* self, node_context_ptr ctx, generation_state& g) {
  auto& st = self->state;
  auto log = ctx->log.child(names::router);
  release_replica(self, g);
  auto mi = resolve_model(self, ctx, g);
  if (!mi) {
    trace(g, "failed", "", mi.error().message());
    client_error(self, g.peer, g.req.id, mi.error().code(), mi.error().message());
    count_end(self, g, std::string(to_string(mi.error().code())));
    g.finished = true;
    g.finished_at = clock_type::now();
    g.failure = std::string(to_string(mi.error().code()));
    journal_write(self, ctx, g);
    return;
  }
  if (g.tokens.empty()) g.model = *mi;  // a started generation never changes model mid-stream
  bool only_avoided = false;
  replica* r = place(self, ctx, g, g.model, &only_avoided);
  // Every ready replica failed this request already (a shard that answers every start with a
  // retryable failure, a pipeline whose later stage is down): try again, but at the retry pace and
  // only until the stall timeout, never in a tight loop.
  const bool too_soon = r && only_avoided && clock_type::now() - g.dispatched < retry_delay;
  if (!r || too_soon) {
    auto waited = ms_between(g.last_progress, clock_type::now());
    if (waited > static_cast<double>(ctx->cluster.routing.stall_timeout_ms)) {
      const std::string why = r ? "every replica of model '" + st.routes[g.model].cfg->name + "' failed it" +
                                      (g.last_failure.empty() ? "" : " (last: " + g.last_failure + ")")
                                : "no replica of model '" + st.routes[g.model].cfg->name + "' is up";
      log.warn("no replica: giving up", {{"request", g.key}, {"model", st.routes[g.model].cfg->name}, {"why", why}});
      trace(g, "failed", "", "unavailable: " + why);
      client_error(self, g.peer, g.req.id, status_code::unavailable, why);
      count_end(self, g, std::string(to_string(status_code::unavailable)));
      g.finished = true;
      g.finished_at = clock_type::now();
      g.failure = std::string(to_string(status_code::unavailable));
      journal_write(self, ctx, g);
      return;
    }
    if (!g.retry_pending) {
      if (g.trace.empty() || g.trace.back().event != "waiting")
        trace(g, "waiting", "", r ? "every ready replica failed it: retrying" : "no replica ready");
      g.retry_pending = true;
      self->delayed_send(self, retry_delay, redispatch_atom::value, g.key);
    }
    return;
  }
  ++g.attempt;
  ++g.dispatches;
  g.node = r->node;
  g.shard_incarnation = r->load.incarnation;
  ++r->inflight;
  g.dispatched = g.last_heard = clock_type::now();
  g.probing = false;
  if (g.dispatches == 1) {
    g.last_progress = g.dispatched;
    metrics::observe_queue_time(st.routes[g.model].cfg->name, seconds_between(g.accepted, g.dispatched));
  }
  trace(g, "placed", r->node,
        shard_actor_name(st.routes[g.model].index) + " attempt " + std::to_string(g.attempt) + " delivered " +
            std::to_string(g.tokens.size()) + " " + g.decision);
  ++st.decisions[{st.routes[g.model].cfg->name, r->node}];
  metrics::count_routing_decision(st.routes[g.model].cfg->name, r->node);
  wire::gen_start s = g.start;
  s.attempt = g.attempt;
  s.delivered = g.tokens;
  log.debug("dispatch", {{"request", g.key}, {"model", st.routes[g.model].cfg->name}, {"node", r->node},
                         {"attempt", static_cast<std::int64_t>(g.attempt)},
                         {"delivered", static_cast<std::int64_t>(g.tokens.size())}, {"decision", g.decision}});
  to_shard(self, r->node, st.routes[g.model].index, std::move(s));
}

// Moves a running generation elsewhere (its node died, its shard restarted or stalled).
void move(router_actor* self, node_context_ptr ctx, generation_state& g, const std::string& why) {
  if (g.finished || g.parked) return;
  ctx->log.child(names::router)
      .info("moving a generation", {{"request", g.key}, {"from", g.node}, {"why", why},
                                    {"delivered", static_cast<std::int64_t>(g.tokens.size())}});
  trace(g, "moved", g.node, why);
  g.last_failure = why;
  if (!g.node.empty()) {
    to_shard(self, g.node, self->state.routes[g.model].index, wire::gen_cancel{g.request_id, g.attempt});
    g.avoid.insert(g.node);
  }
  // Whatever the old attempt's shard still sends (its "cancelled" end) is stale from now on, also
  // while no replica is ready and the generation waits to be dispatched again.
  ++g.attempt;
  dispatch(self, ctx, g);
}

// Sends the client what it has not seen: one event for every token since the last one sent (one
// token normally, several after a congestion), and `done` when finished.
void flush_to_client(router_actor* self, generation_state& g) {
  if (g.peer.empty() || self->state.congested.count(g.peer)) return;
  // At most this many tokens per event keeps a coalesced event far below the 1 MiB frame limit.
  constexpr std::size_t tokens_per_event_max = 1024;
  while (g.req.stream && g.sent < g.tokens.size()) {
    proto::token_event ev;
    ev.id = g.req.id;
    ev.index = static_cast<std::int64_t>(g.sent);
    const auto end = std::min(g.tokens.size(), g.sent + tokens_per_event_max);
    for (auto i = g.sent; i < end; ++i) {
      ev.tokens.push_back(g.tokens[i]);
      ev.text += g.texts[i];
    }
    g.sent = end;
    to_client(self, g.peer, proto::encode_token_event(ev));
  }
  if (g.finished && !g.done.reason.empty() && !g.done_sent) {
    g.sent = g.tokens.size();
    g.done_sent = true;
    to_client(self, g.peer, proto::encode_done_event(g.done));
  }
}

void finish(router_actor* self, node_context_ptr ctx, generation_state& g, std::string reason, std::string tail) {
  auto now = clock_type::now();
  release_replica(self, g);
  g.finished = true;
  g.finished_at = now;
  auto& d = g.done;
  d.id = g.req.id;
  d.reason = std::move(reason);
  d.generated_tokens = static_cast<std::int64_t>(g.tokens.size());
  d.model = self->state.routes[g.model].cfg->name;
  d.attempts = g.dispatches;
  d.timings.queue_ms = ms_between(g.accepted, g.dispatched);
  d.timings.ttft_ms = g.has_first_token ? ms_between(g.accepted, g.first_token) : -1;
  d.timings.total_ms = ms_between(g.accepted, now);
  trace(g, "done", d.node, d.reason + ", " + std::to_string(d.generated_tokens) + " tokens, " +
                              std::to_string(d.attempts) + " attempt(s)");
  count_end(self, g, d.reason);
  if (d.prompt_tokens >= 0 && d.reason != "cancelled")
    metrics::count_prompt_tokens(d.model, static_cast<std::uint64_t>(d.prompt_tokens));
  g.tail = tail;
  if (g.req.stream) {
    d.text = std::move(tail);
  } else {
    for (auto& t : g.texts) d.text += t;
    d.text += tail;
    d.tokens = g.tokens;
  }
  ctx->log.child(names::router)
      .debug("finished", {{"request", g.key}, {"reason", d.reason}, {"tokens", d.generated_tokens},
                          {"attempts", d.attempts}, {"node", d.node}});
  journal_write(self, ctx, g);
  flush_to_client(self, g);
}

generation_state* by_request(router_actor* self, const std::string& request_id, std::uint32_t attempt) {
  auto it = self->state.by_request_id.find(request_id);
  if (it == self->state.by_request_id.end()) return nullptr;
  auto g = self->state.gens.find(it->second);
  if (g == self->state.gens.end() || g->second.finished || g->second.parked || g->second.attempt != attempt)
    return nullptr;  // an abandoned attempt, or a generation that ended: drop its events
  return &g->second;
}

// ---- client frames ------------------------------------------------------------------------------

std::int64_t unfinished_of(router_actor* self, const std::string& owner) {
  std::int64_t n = 0;
  for (auto& [k, g] : self->state.gens)
    if (!g.finished && (owner.empty() || g.owner == owner)) ++n;
  return n;
}

wire::sampling_wire to_sampling(const proto::generate_options& o, std::uint64_t seed, std::int64_t max_tokens) {
  wire::sampling_wire s;
  if (o.temperature) s.temperature = *o.temperature;
  if (o.top_k) s.top_k = static_cast<std::int32_t>(*o.top_k);
  if (o.top_p) s.top_p = *o.top_p;
  if (o.min_p) s.min_p = *o.min_p;
  if (o.repeat_penalty) s.repeat_penalty = *o.repeat_penalty;
  if (o.repeat_last_n) s.repeat_last_n = static_cast<std::int32_t>(*o.repeat_last_n);
  if (o.frequency_penalty) s.frequency_penalty = *o.frequency_penalty;
  if (o.presence_penalty) s.presence_penalty = *o.presence_penalty;
  s.seed = seed;
  s.max_tokens = static_cast<std::int32_t>(max_tokens);
  s.stop = o.stop;
  s.ignore_eos = o.ignore_eos;
  return s;
}

// Checks what the router can check without the model (the shard checks the rest: prompt tokens).
status validate_options(const proto::generate_options& o, const config::routing_config& rc) {
  auto in = [](const std::optional<double>& v, double lo, double hi) { return !v || (*v >= lo && *v <= hi); };
  if (!in(o.temperature, 0, 100)) return status::invalid_argument("options.temperature must be in [0, 100]");
  if (!in(o.top_p, 0, 1) || (o.top_p && *o.top_p == 0)) return status::invalid_argument("options.top_p must be in (0, 1]");
  if (!in(o.min_p, 0, 1)) return status::invalid_argument("options.min_p must be in [0, 1]");
  if (o.repeat_penalty && *o.repeat_penalty <= 0) return status::invalid_argument("options.repeat_penalty must be > 0");
  if (!in(o.frequency_penalty, -100, 100) || !in(o.presence_penalty, -100, 100))
    return status::invalid_argument("options.frequency_penalty and presence_penalty must be in [-100, 100]");
  if (o.top_k && (*o.top_k < 0 || *o.top_k > (1 << 24))) return status::invalid_argument("options.top_k out of range");
  if (o.repeat_last_n && (*o.repeat_last_n < -1 || *o.repeat_last_n > (1 << 24)))
    return status::invalid_argument("options.repeat_last_n must be -1 or more");
  if (o.max_tokens && (*o.max_tokens < 0 || *o.max_tokens > rc.max_tokens))
    return status::out_of_range("options.max_tokens must be 0 to " + std::to_string(rc.max_tokens));
  if (o.stop.size() > 16) return status::invalid_argument("at most 16 stop strings");
  for (auto& s : o.stop)
    if (s.empty() || s.size() > 256) return status::invalid_argument("stop strings must have 1 to 256 bytes");
  return {};
}

// Fills in a new generation (g.owner, g.peer and g.req set): its ids, the dispatch it sends, and
// whether it is journaled. Used for a `generate` and for a `resume` taken over from the journal.
void admit(router_actor* self, node_context_ptr ctx, generation_state& g, const std::string& key, std::uint64_t seed,
           clock_type::time_point received) {
  auto& st = self->state;
  auto& rc = ctx->cluster.routing;
  g.key = key;
  g.request_id = ctx->node.name + "/" + key;
  g.serial = ++st.next_serial;
  g.asked_model = g.req.model;
  g.accepted = g.last_progress = g.dispatched = received;
  g.received_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count() -
                       static_cast<std::int64_t>(ms_between(received, clock_type::now()));
  auto& s = g.start;
  s.request_id = g.request_id;
  s.router_node = ctx->node.name;
  if (g.req.prompt) s.prompt = *g.req.prompt;
  for (auto& m : g.req.messages) {
    s.roles.push_back(m.role);
    s.contents.push_back(m.content);
  }
  s.sampling = to_sampling(g.req.options, seed, g.req.options.max_tokens.value_or(rc.max_tokens));
  // The draws depend on (seed, request key, index) only: the same request gives the same text on any
  // router. With a client's seed the key is fixed, so the same seed, prompt and options give the
  // same tokens whatever the request id (docs/protocol.md; HTTP clients get a fresh id per request).
  // Without one, the id keeps two requests that drew the same seed apart.
  s.request_key = g.req.options.seed ? 0 : fnv1a(g.req.id);
  s.max_prompt_tokens = rc.max_prompt_tokens;
  // Journaled where this node runs a store (docs/storage.md "Request journal").
  g.journaled = ctx->node.has_role("store") && router_journal::journalable(seed);
  st.by_request_id[g.request_id] = key;
}

void on_generate(router_actor* self, node_context_ptr ctx, const std::string& peer, const std::string& owner,
                 const std::string& frame) {
  auto& st = self->state;
  auto& rc = ctx->cluster.routing;
  const auto received = clock_type::now();
  auto r = proto::decode_generate(frame);
  if (!r) {
    metrics::count_request(metrics::unknown_model, std::string(to_string(r.error().code())));
    auto hdr = proto::decode_request_header(frame);
    return client_error(self, peer, hdr ? hdr->id : "", r.error().code(), r.error().message());
  }
  const std::string key = owner + ":" + r->id;
  if (auto it = st.gens.find(key); it != st.gens.end()) {
    // The same id again: the client retried (its first try may have been lost); re-attach.
    auto& g = it->second;
    g.peer = peer;
    g.sent = 0;
    g.done_sent = false;
    if (g.parked) {
      g.parked = false;
      dispatch(self, ctx, g);
    }
    return flush_to_client(self, g);
  }
  // A refused generate counts as a request with the refusal's code as its outcome; the model label
  // is the configured name, never the client's string.
  auto refused = [&](status_code code, const std::string& message) {
    auto* m = ctx->cluster.find_model(r->model);
    metrics::count_request(m ? m->name : metrics::unknown_model, std::string(to_string(code)));
    client_error(self, peer, r->id, code, message);
  };
  if (auto s = validate_options(r->options, rc); !s.ok()) return refused(s.code(), s.message());
  std::size_t prompt_bytes = r->prompt ? r->prompt->size() : 0;
  for (auto& m : r->messages) prompt_bytes += m.content.size();
  // A token is at least one byte of text, usually several: this rejects the hopeless cases early,
  // the shard counts the tokens exactly.
  if (static_cast<std::int64_t>(prompt_bytes) > rc.max_prompt_tokens * 32)
    return refused(status_code::out_of_range, "prompt of " + std::to_string(prompt_bytes) +
                                                  " bytes exceeds the limit of " + std::to_string(rc.max_prompt_tokens) +
                                                  " tokens");
  if (unfinished_of(self, owner) >= rc.max_concurrent_per_client)
    return refused(status_code::resource_exhausted, "client has " + std::to_string(rc.max_concurrent_per_client) +
                                                        " generations running (the limit)");
  if (unfinished_of(self, "") >= rc.max_pending_requests)
    return refused(status_code::resource_exhausted, "node is at its limit of generations");
  if (!ctx->cluster.find_model(r->model))
    return refused(status_code::not_found, "unknown model '" + r->model + "'");

  generation_state g;
  g.owner = owner;
  g.peer = peer;
  g.req = std::move(*r);
  // Without a seed the router draws one now, so a moved generation samples the same tokens. 63
  // bits: the journal stores it as a signed 64-bit integer.
  const std::uint64_t seed = g.req.options.seed ? *g.req.options.seed : st.rng() >> 1;
  admit(self, ctx, g, key, seed, received);
  trace(g, "received", ctx->node.name, "from " + owner + ", model " + g.req.model);
  g.trace.back().t_ms = 0;
  trace(g, "admitted", ctx->node.name, "");
  auto [it, _] = st.gens.emplace(key, std::move(g));
  journal_write(self, ctx, it->second);  // the accepted row
  dispatch(self, ctx, it->second);
}

void on_cancel(router_actor* self, node_context_ptr ctx, const std::string& peer, const std::string& owner,
               const std::string& id) {
  auto it = self->state.gens.find(owner + ":" + id);
  if (it == self->state.gens.end()) return client_error(self, peer, id, status_code::not_found, "no generation '" + id + "'");
  auto& g = it->second;
  g.peer = peer;
  if (g.finished) {
    g.done_sent = false;  // a cancel of a finished generation answers with its done event again
    return flush_to_client(self, g);
  }
  if (!g.node.empty()) to_shard(self, g.node, self->state.routes[g.model].index, wire::gen_cancel{g.request_id, g.attempt});
  ++g.attempt;  // whatever the shard still sends is stale now
  g.parked = false;
  finish(self, ctx, g, "cancelled", "");
}

// Re-attaches `peer` to a generation this router holds, from token `from_index` on.
void resume_held(router_actor* self, node_context_ptr ctx, const std::string& peer, generation_state& g,
                 std::int64_t from_index) {
  if (static_cast<std::size_t>(from_index) > g.tokens.size())
    return client_error(self, peer, g.req.id, status_code::out_of_range,
                        "from_index " + std::to_string(from_index) + " is beyond the " +
                            std::to_string(g.tokens.size()) + " tokens generated");
  g.peer = peer;
  g.sent = static_cast<std::size_t>(from_index);
  g.done_sent = false;
  trace(g, "resumed", "", "from index " + std::to_string(from_index));
  if (g.parked) {
    g.parked = false;
    g.last_progress = clock_type::now();
    dispatch(self, ctx, g);
  }
  flush_to_client(self, g);
}

status_code code_named(const std::string& name) {
  for (int c = 1; c <= static_cast<int>(status_code::permission_denied); ++c)
    if (to_string(static_cast<status_code>(c)) == name) return static_cast<status_code>(c);
  return status_code::internal;
}

// The journal's answer for a `resume` of a generation this router did not hold (its router died,
// or the whole cluster restarted). Unfinished: the generation is taken over -- re-dispatched with
// the row's delivered prefix and seed, so it continues with the very tokens it had; the tokens
// between the row's last checkpoint and `from_index` are regenerated and not sent again.
// Finished within resume_grace_ms: replayed from the row, as a held finished generation is.
void resume_from_row(router_actor* self, node_context_ptr ctx, const std::string& peer, const std::string& owner,
                     const proto::resume_request& r, const persist::journal_entry& j) {
  auto& st = self->state;
  auto& rc = ctx->cluster.routing;
  const std::string key = router_journal::journal_key(owner, r.id);
  if (auto it = st.gens.find(key); it != st.gens.end()) return resume_held(self, ctx, peer, it->second, r.from_index);
  const std::string gone = "no generation '" + r.id + "' to resume (expired or never started)";
  if (j.owner != owner || j.client_id != r.id) return client_error(self, peer, r.id, status_code::not_found, gone);
  auto* model = ctx->cluster.find_model(j.served_model.empty() ? j.model : j.served_model);
  if (!model || !ctx->cluster.find_model(j.model))
    return client_error(self, peer, r.id, status_code::not_found, "generation '" + r.id + "' used model '" + j.model +
                                                                      "', which this cluster does not serve");
  std::size_t route = 0;
  while (route < st.routes.size() && st.routes[route].cfg != model) ++route;
  const bool done = router_journal::finished(j);
  if (done && persist::now_ms() - j.updated_ms > rc.resume_grace_ms) return client_error(self, peer, r.id, status_code::not_found, gone);
  if (j.status == persist::journal_status::failed)
    return client_error(self, peer, r.id, code_named(j.finish_reason), "generation '" + r.id + "' failed: " + j.finish_reason);
  if (!done && r.from_index > j.max_tokens)
    return client_error(self, peer, r.id, status_code::out_of_range,
                        "from_index " + std::to_string(r.from_index) + " is beyond max_tokens " + std::to_string(j.max_tokens));
  if (!done && (unfinished_of(self, owner) >= rc.max_concurrent_per_client || unfinished_of(self, "") >= rc.max_pending_requests))
    return client_error(self, peer, r.id, status_code::resource_exhausted, "generation limit reached on " + ctx->node.name);

  generation_state g;
  g.owner = owner;
  g.peer = peer;
  g.req = router_journal::request_of(j);
  admit(self, ctx, g, key, j.seed, clock_type::now());
  g.model = route;
  g.tokens = j.delivered_tokens;
  g.texts = j.delivered_texts;
  g.dispatches = static_cast<std::uint32_t>(j.attempts);
  g.journal_revision = j.revision;
  g.journal_created_ms = j.created_ms;
  g.journal_tokens = g.tokens.size();
  g.journal_at = clock_type::now();
  trace(g, "received", ctx->node.name, "resume of a journaled generation of router " + j.router_node + ", " +
                                           std::to_string(g.tokens.size()) + " tokens checkpointed, status " + j.status);
  g.trace.back().t_ms = 0;
  if (done) {
    // A finished row: nothing runs; it is held like a finished generation (for the grace period).
    g.finished = true;
    g.finished_at = clock_type::now();
    g.counted = true;        // counted by the router that ran it
    g.journal_final = true;  // nothing to write
    g.done.id = r.id;
    g.done.reason = j.finish_reason;
    g.done.generated_tokens = static_cast<std::int64_t>(g.tokens.size());
    g.done.prompt_tokens = -1;  // unknown: not journaled
    g.done.model = model->name;
    g.done.node = "";           // unknown: the shard that finished it is not journaled
    g.done.attempts = j.attempts;
    g.done.timings.ttft_ms = -1;
    if (!g.req.stream) {
      for (auto& t : g.texts) g.done.text += t;
      g.done.tokens = g.tokens;
    }
  }
  auto [it, _] = st.gens.emplace(key, std::move(g));
  auto& held = it->second;
  if (done) return resume_held(self, ctx, peer, held, std::min<std::int64_t>(r.from_index, held.tokens.size()));
  ctx->log.child(names::router)
      .info("resuming a journaled generation", {{"request", key}, {"router_was", j.router_node},
                                                {"checkpointed", static_cast<std::int64_t>(held.tokens.size())},
                                                {"from_index", r.from_index}});
  // Tokens before from_index are the client's already: `sent` starts there, so the ones between the
  // checkpoint and from_index are regenerated (the same ones: same seed, key and prefix) but never
  // sent twice (flush_to_client sends from `sent` on only).
  held.sent = static_cast<std::size_t>(r.from_index);
  held.journal_dirty = true;
  journal_write(self, ctx, held);  // this router owns the row now
  dispatch(self, ctx, held);
  flush_to_client(self, held);
}

void on_resume(router_actor* self, node_context_ptr ctx, const std::string& peer, const std::string& owner,
               const std::string& frame) {
  auto r = proto::decode_resume(frame);
  auto hdr = proto::decode_request_header(frame);
  const std::string id = hdr ? hdr->id : "";
  if (!r) return client_error(self, peer, id, r.error().code(), r.error().message());
  auto& st = self->state;
  const std::string key = router_journal::journal_key(owner, id);
  if (auto it = st.gens.find(key); it != st.gens.end()) return resume_held(self, ctx, peer, it->second, r->from_index);
  const std::string gone = "no generation '" + id + "' to resume (expired or never started)";
  // Not held here: the request journal may know it (another router accepted it, or this one
  // before a restart). Only where this node runs a store; one lookup per key at a time, bounded.
  auto store = ctx->node.has_role("store") ? registered(self, names::store) : caf::actor{};
  if (!store) return client_error(self, peer, id, status_code::not_found, gone);
  if (st.journal_lookups.count(key))
    return client_error(self, peer, id, status_code::unavailable, "a resume of '" + id + "' is already in progress");
  if (st.journal_lookups.size() >= journal_lookups_max)
    return client_error(self, peer, id, status_code::resource_exhausted, "too many resumes in progress: retry");
  st.journal_lookups.insert(key);
  proto::resume_request req = *r;
  self->request(store, journal_lookup_timeout, store_journal_atom::value, key)
      .then(
          [=](store_journal_reply& rep) {
            self->state.journal_lookups.erase(key);
            if (!rep.result.ok())
              return client_error(self, peer, id, status_code::unavailable,
                                  "the request journal is unavailable: " + rep.result.message());
            if (!rep.entry) return client_error(self, peer, id, status_code::not_found, gone);
            resume_from_row(self, ctx, peer, owner, req, *rep.entry);
          },
          [=](caf::error& e) {
            self->state.journal_lookups.erase(key);
            client_error(self, peer, id, status_code::unavailable,
                         "the request journal did not answer: " + self->system().render(e));
          });
}

void on_models(router_actor* self, const std::string& peer, const std::string& id) {
  std::vector<proto::model_info> out;
  auto now = clock_type::now();
  for (auto& route : self->state.routes) {
    proto::model_info mi;
    mi.name = route.cfg->name;
    mi.aliases = route.cfg->aliases;
    mi.fallback = route.cfg->fallback;
    for (auto& r : route.replicas) {
      // A replica whose shard has not reported lately is as good as down for placement.
      std::string state = member_state(self, r.node) != "up" || now - r.heard > load_report_stale ? "down"
                          : r.load.state == "failed"                                               ? "down"
                                                                                                   : r.load.state;
      mi.replicas.push_back({r.node, state});
    }
    out.push_back(std::move(mi));
  }
  to_client(self, peer, proto::encode_models_reply(id, out));
}

// The client left: stop its generations (nobody reads them) and keep them for `resume`.
void on_client_gone(router_actor* self, node_context_ptr ctx, const std::string& peer) {
  self->state.congested.erase(peer);
  for (auto& [k, g] : self->state.gens) {
    if (g.peer != peer) continue;
    g.peer.clear();
    g.detached_at = clock_type::now();
    if (g.finished || g.parked) continue;
    if (!g.node.empty())
      to_shard(self, g.node, self->state.routes[g.model].index, wire::gen_cancel{g.request_id, g.attempt});
    release_replica(self, g);
    ++g.attempt;
    g.parked = true;
    trace(g, "parked", "", "the client left");
    ctx->log.child(names::router).debug("client left: generation parked", {{"request", g.key}});
  }
}

// ---- shard events -----------------------------------------------------------------------------

void on_token(router_actor* self, node_context_ptr ctx, wire::gen_token& t) {
  auto* g = by_request(self, t.request_id, t.attempt);
  if (!g) return;
  const auto expected = static_cast<std::int64_t>(g->tokens.size());
  if (t.index < expected) return;  // already delivered (a replayed attempt never sends these, but be sure)
  if (t.index > expected) return move(self, ctx, *g, "token gap: got " + std::to_string(t.index) + ", expected " +
                                                         std::to_string(expected));
  auto now = clock_type::now();
  const auto& model = self->state.routes[g->model].cfg->name;
  metrics::count_generated_tokens(model, 1);
  if (g->has_first_token) metrics::observe_inter_token_latency(model, seconds_between(g->last_token, now));
  g->last_token = now;
  if (!g->has_first_token) {
    metrics::observe_time_to_first_token(model, seconds_between(g->accepted, now));
    g->has_first_token = true;
    g->first_token = now;
    trace(*g, "first_token", g->node, "");
    for (auto& r : self->state.routes[g->model].replicas)
      if (r.node == g->node) {
        double ms = ms_between(g->dispatched, now);
        r.ewma_ttft_ms = r.ewma_ttft_ms == 0 ? ms : 0.8 * r.ewma_ttft_ms + 0.2 * ms;
      }
  }
  g->last_progress = g->last_heard = now;
  g->avoid.clear();
  g->tokens.push_back(t.token);
  g->texts.push_back(std::move(t.text));
  if (g->journaled && journal_due(ctx, *g, now)) journal_write(self, ctx, *g);
  flush_to_client(self, *g);
}

void on_end(router_actor* self, node_context_ptr ctx, wire::gen_end& e) {
  auto* g = by_request(self, e.request_id, e.attempt);
  if (!g) return;
  if (e.generated_tokens != static_cast<std::int64_t>(g->tokens.size()) && e.reason != "cancelled")
    return move(self, ctx, *g, "end after " + std::to_string(e.generated_tokens) + " tokens, " +
                                   std::to_string(g->tokens.size()) + " received");
  g->done.prompt_tokens = e.prompt_tokens;
  g->done.node = e.node;
  g->done.timings.prefill_ms = e.prefill_ms;
  g->done.timings.decode_ms = e.decode_ms;
  finish(self, ctx, *g, e.reason, std::move(e.text));
}

void on_failed(router_actor* self, node_context_ptr ctx, wire::gen_failed& f) {
  auto* g = by_request(self, f.request_id, f.attempt);
  if (!g) return;
  if (f.retry) return move(self, ctx, *g, f.message);
  release_replica(self, *g);
  trace(*g, "failed", g->node, f.message);
  client_error(self, g->peer, g->req.id, static_cast<status_code>(f.code), f.message);
  count_end(self, *g, std::string(to_string(static_cast<status_code>(f.code))));
  g->finished = true;
  g->finished_at = clock_type::now();
  g->failure = std::string(to_string(static_cast<status_code>(f.code)));
  journal_write(self, ctx, *g);
}

void on_load(router_actor* self, node_context_ptr ctx, wire::shard_load& l) {
  auto& st = self->state;
  for (auto& route : st.routes) {
    if (route.cfg->name != l.model) continue;
    for (auto& r : route.replicas) {
      if (r.node != l.node) continue;
      const bool restarted = r.load.incarnation != 0 && l.incarnation != r.load.incarnation;
      r.load = l;
      r.heard = clock_type::now();
      if (!restarted) continue;
      // The shard restarted: whatever ran on it is gone.
      for (auto& [k, g] : st.gens)
        if (!g.finished && !g.parked && g.node == l.node && g.model == route.index && g.shard_incarnation != l.incarnation)
          move(self, ctx, g, "shard restarted");
    }
  }
}

void on_member(router_actor* self, node_context_ptr ctx, const std::string& node, const std::string& state) {
  self->state.members[node] = state;
  if (state != "down" && state != "left") return;
  for (auto& [k, g] : self->state.gens)
    if (!g.finished && !g.parked && g.node == node) move(self, ctx, g, "node " + node + " is " + state);
}

// Asks the shard of a silent generation whether it still has it; if not (a start, the last token or
// the end was lost on the way), or if it cannot answer, the generation moves.
void probe(router_actor* self, node_context_ptr ctx, generation_state& g) {
  auto t = transport_door(self->system());
  if (!t) return;
  g.probing = true;
  const std::string key = g.key;
  const std::uint32_t attempt = g.attempt;
  auto current = [self, key, attempt]() -> generation_state* {
    auto it = self->state.gens.find(key);
    if (it == self->state.gens.end()) return nullptr;
    auto& g = it->second;
    if (g.finished || g.parked || g.attempt != attempt) return nullptr;
    return &g;
  };
  self->request(t, std::chrono::milliseconds(probe_timeout_ms + 500), remote_request_atom::value, g.node,
                shard_actor_name(self->state.routes[g.model].index), probe_timeout_ms,
                caf::make_message(wire::gen_probe{g.request_id, g.attempt}))
      .then(
          [=](wire::gen_probe_reply& r) {
            auto* g = current();
            if (!g) return;
            g->probing = false;
            if (r.known) g->last_heard = clock_type::now();
            else move(self, ctx, *g, "its shard does not have it (a frame was lost)");
          },
          [=](caf::error& e) {
            auto* g = current();
            if (!g) return;
            g->probing = false;
            move(self, ctx, *g, "probe failed: " + self->system().render(e));
          });
}

void on_tick(router_actor* self, node_context_ptr ctx) {
  auto& st = self->state;
  auto now = clock_type::now();
  // Re-subscribe when the health actor restarted (a new one does not know us).
  if (auto h = registered(self, names::health); h && h.address() != st.health) {
    st.health = h.address();
    self->send(h, subscribe_atom::value);
  }
  const auto stall = std::chrono::milliseconds(ctx->cluster.routing.stall_timeout_ms);
  const auto grace = std::chrono::milliseconds(ctx->cluster.routing.resume_grace_ms);
  std::vector<std::string> expired;
  for (auto& [k, g] : st.gens) {
    if (!g.finished && !g.parked && !g.node.empty() && now - g.last_progress > stall && now - g.dispatched > stall)
      move(self, ctx, g, "no progress for " + std::to_string(ctx->cluster.routing.stall_timeout_ms) + " ms");
    else if (!g.finished && !g.parked && !g.node.empty() && !g.probing && now - g.last_heard > probe_after)
      probe(self, ctx, g);
    // The journal: the time trigger of the cadence, and rows whose write failed or had to wait.
    if (g.journaled && !g.journal_final && !g.journal_busy && (g.journal_dirty || (!g.finished && journal_due(ctx, g, now))))
      journal_write(self, ctx, g);
    if ((g.finished && g.peer.empty() && now - g.finished_at > std::chrono::seconds(1) &&
         now - std::max(g.finished_at, g.detached_at) > grace) ||
        (g.finished && now - g.finished_at > grace) || (g.parked && now - g.detached_at > grace))
      expired.push_back(k);
  }
  for (auto& k : expired) {
    auto& g = st.gens[k];
    st.recent.push_back({g.key, g.request_id, st.routes[g.model].cfg->name, g.received_unix_ms, std::move(g.trace)});
    if (st.recent.size() > trace_ring_max) st.recent.pop_front();
    st.by_request_id.erase(g.request_id);
    st.gens.erase(k);
  }
}

// ---- the shell's tables (runtime/admin_protocol.hpp) ---------------------------------------------

proto::table requests_table(router_actor* self, node_context_ptr ctx) {
  proto::table t;
  t.node = ctx->node.name;
  t.columns = {"id", "owner", "model", "node", "shard", "state", "tokens", "max_tokens", "progress_pct", "attempts", "age_ms"};
  auto now = clock_type::now();
  for (auto& [k, g] : self->state.gens) {
    if (g.finished) continue;
    auto& route = self->state.routes[g.model];
    const auto max_tokens = static_cast<std::int64_t>(g.start.sampling.max_tokens);
    const auto n = static_cast<std::int64_t>(g.tokens.size());
    t.rows.push_back({g.req.id, g.owner, route.cfg->name, g.node.empty() ? std::string("-") : g.node,
                      shard_actor_name(route.index),
                      std::string(g.parked ? "parked" : g.node.empty() ? "waiting" : "running"), n, max_tokens,
                      max_tokens > 0 ? 100.0 * static_cast<double>(n) / static_cast<double>(max_tokens) : 0.0,
                      static_cast<std::int64_t>(g.dispatches), static_cast<std::int64_t>(ms_between(g.accepted, now))});
  }
  return t;
}

// A request named by the client's id, the owner-scoped key or the cluster-wide request id.
const trace_record* find_trace(router_actor* self, const std::string& arg, trace_record& live) {
  auto matches = [&](const std::string& key, const std::string& request_id) {
    return key == arg || request_id == arg ||
           (key.size() > arg.size() && key.compare(key.size() - arg.size(), arg.size(), arg) == 0 &&
            key[key.size() - arg.size() - 1] == ':');
  };
  for (auto& [k, g] : self->state.gens)
    if (matches(g.key, g.request_id)) {
      live = {g.key, g.request_id, self->state.routes[g.model].cfg->name, g.received_unix_ms, g.trace};
      return &live;
    }
  for (auto it = self->state.recent.rbegin(); it != self->state.recent.rend(); ++it)
    if (matches(it->key, it->request_id)) return &*it;
  return nullptr;
}

proto::table placement_table(router_actor* self, node_context_ptr ctx) {
  proto::table t;
  t.node = ctx->node.name;
  t.columns = {"model", "node", "shard", "state", "active", "queued", "slots", "tokens_per_s", "inflight", "ttft_ms", "placed"};
  auto now = clock_type::now();
  for (auto& route : self->state.routes)
    for (auto& r : route.replicas) {
      std::string state = member_state(self, r.node) != "up" ? member_state(self, r.node)
                          : r.heard == clock_type::time_point{} || now - r.heard >= load_report_stale ? "silent"
                                                                                                       : r.load.state;
      auto it = self->state.decisions.find({route.cfg->name, r.node});
      t.rows.push_back({route.cfg->name, r.node, shard_actor_name(route.index), state, r.load.active, r.load.queued,
                        r.load.slots, r.load.tokens_per_second, r.inflight, r.ewma_ttft_ms,
                        static_cast<std::int64_t>(it == self->state.decisions.end() ? 0 : it->second)});
    }
  return t;
}

std::string admin_reply(router_actor* self, node_context_ptr ctx, const std::string& kind, const std::string& id,
                        const std::string& arg) {
  if (kind == "requests") return proto::encode_table_reply(id, kind, requests_table(self, ctx));
  if (kind == "placement") return proto::encode_table_reply(id, kind, placement_table(self, ctx));
  if (kind == "trace") {
    trace_record live;
    auto* rec = find_trace(self, arg, live);
    if (!rec)
      return proto::encode_error(id, status_code::not_found,
                                 "no recent request '" + arg + "' on router " + ctx->node.name +
                                     " (the last " + std::to_string(trace_ring_max) + " are kept)");
    proto::table t;
    t.node = ctx->node.name;
    t.columns = {"request", "model", "t_ms", "event", "node", "detail"};
    for (auto& e : rec->events)
      t.rows.push_back({rec->request_id, rec->model, e.t_ms, e.event, e.node.empty() ? std::string("-") : e.node, e.detail});
    return proto::encode_table_reply(id, kind, t);
  }
  return proto::encode_error(id, status_code::invalid_argument, "the router has no table '" + kind + "'");
}

caf::behavior router(router_actor* self, node_context_ptr ctx) {
  auto& st = self->state;
  for (std::size_t i = 0; i < ctx->cluster.models.size(); ++i) {
    model_route route;
    route.index = i;
    route.cfg = &ctx->cluster.models[i];
    for (auto& p : ctx->cluster.placements)
      if (ctx->cluster.find_model(p.model) == route.cfg) {
        for (auto& n : p.nodes) route.replicas.push_back(replica{n});
        // A pipeline is served through its head (the first stage); the others are not targets.
        if (!p.stages.empty()) route.replicas.push_back(replica{p.stages.front().node});
      }
    // A model without placement goes where the plan puts it (actors/planned_shard.hpp): any shard
    // node may report it ready; the others stay silent or say "vacant" and are never chosen.
    if (follows_plan(ctx->cluster, *route.cfg))
      for (auto& n : ctx->cluster.nodes)
        if (n.has_role("shard")) route.replicas.push_back(replica{n.name});
    st.routes.push_back(std::move(route));
  }
  st.members[ctx->node.name] = "up";
  self->send(self, tick_atom::value);
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{names::router, "running"}; },
      [=](client_frame_atom, std::string& peer, std::string& owner, std::string& frame) {
        auto hdr = proto::decode_request_header(frame);
        if (!hdr) return;  // client_api checked it already
        if (auto from = caf::actor_cast<caf::actor>(self->current_sender());
            from && from != registered(self, names::client_api))
          self->state.reply_to[peer] = from;
        if (hdr->kind == "generate") return on_generate(self, ctx, peer, owner, frame);
        if (hdr->kind == "cancel") return on_cancel(self, ctx, peer, owner, hdr->id);
        if (hdr->kind == "resume") return on_resume(self, ctx, peer, owner, frame);
        if (hdr->kind == "models") return on_models(self, peer, hdr->id);
        client_error(self, peer, hdr->id, status_code::invalid_argument, "unknown kind '" + hdr->kind + "'");
      },
      [=](client_gone_atom, std::string& peer) {
        on_client_gone(self, ctx, peer);
        self->state.reply_to.erase(peer);
      },
      [=](client_congested_atom, std::string& peer, bool congested) {
        if (congested) {
          self->state.congested.insert(peer);
          return;
        }
        self->state.congested.erase(peer);
        for (auto& [k, g] : self->state.gens)
          if (g.peer == peer) flush_to_client(self, g);
      },
      [=](member_changed_atom, std::string& node, std::string& state) { on_member(self, ctx, node, state); },
      [=](wire::gen_token& t) { on_token(self, ctx, t); },
      [=](wire::gen_end& e) { on_end(self, ctx, e); },
      [=](wire::gen_failed& f) { on_failed(self, ctx, f); },
      [=](wire::shard_load& l) { on_load(self, ctx, l); },
      [=](redispatch_atom, std::string& key) {
        auto it = self->state.gens.find(key);
        if (it == self->state.gens.end()) return;
        it->second.retry_pending = false;
        if (!it->second.finished && !it->second.parked && it->second.node.empty()) dispatch(self, ctx, it->second);
      },
      [=](tick_atom) {
        on_tick(self, ctx);
        self->delayed_send(self, tick_interval, tick_atom::value);
      },
      [=](router_admin_atom, std::string& kind, std::string& id, std::string& arg) {
        return admin_reply(self, ctx, kind, id, arg);
      },
      [=](router_checkpoint_atom, std::string& id) -> caf::result<std::string> {
        return journal_checkpoint_all(self, ctx, id);
      },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](router_requests_atom) {
        std::vector<std::string> lines;
        auto now = clock_type::now();
        for (auto& [k, g] : self->state.gens)
          lines.push_back(k + " model=" + self->state.routes[g.model].cfg->name + " node=" + g.node +
                          " tokens=" + std::to_string(g.tokens.size()) + " attempts=" + std::to_string(g.dispatches) +
                          " state=" + (g.finished ? "finished" : g.parked ? "parked" : "running") +
                          " age_ms=" + std::to_string(static_cast<std::int64_t>(ms_between(g.accepted, now))) +
                          " decision=" + g.decision);
        return lines;
      },
  };
}

}  // namespace

caf::actor spawn_router(caf::actor_system& sys, node_context_ptr ctx) { return sys.spawn(router, std::move(ctx)); }

}  // namespace holo
