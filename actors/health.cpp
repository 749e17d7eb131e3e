#include "actors/health.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <caf/all.hpp>

#include "actors/model_shard.hpp"
#include "actors/placement_keeper.hpp"
#include "actors/planned_shard.hpp"
#include "actors/transport.hpp"
#include "runtime/admin_protocol.hpp"
#include "runtime/membership.hpp"
#include "runtime/memory_available.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

using tick_atom = caf::atom_constant<caf::atom("hb_tick")>;
using verdict_atom = caf::atom_constant<caf::atom("hb_verdict")>;
using check_atom = caf::atom_constant<caf::atom("hb_check")>;

constexpr auto status_timeout = std::chrono::milliseconds(500);
constexpr int verdict_every_ticks = 4;    // own actors checked about once a second
constexpr int announce_every_ticks = 20;  // announces repeated (a first one can meet a link not yet up)

struct health_state {
  std::vector<std::string> watched;
  std::unique_ptr<membership> members;
  wire::node_announce self_announce;
  std::uint64_t seq = 0;
  std::uint64_t ticks = 0;
  std::string verdict = "up";
  std::vector<caf::actor> subscribers;
  std::unique_ptr<placement_keeper> plan;
  // Round trips from heartbeat echoes: when each of our last heartbeats left (by seq % ring), the
  // last heartbeat heard from each peer (seq + 1, when), and each peer's smoothed round trip.
  static constexpr std::size_t ring = 64;
  std::array<std::uint64_t, ring> sent_seq{};
  std::array<membership::time_point, ring> sent_at{};
  std::map<std::string, std::pair<std::uint64_t, membership::time_point>> heard;
  std::map<std::string, double> rtt_ms;
  // Planned shards (actors/planned_shard.hpp): whether the plan is settled (every peer heard from,
  // or settle_after passed since the node started), and the shards being restarted now.
  bool settled = false;
  std::set<std::string> restarting;
  static inline const char* name = "health";
};

using health_actor = caf::stateful_actor<health_state>;

// One health query in progress: filled by the status replies, delivered when the last arrives.
struct health_round {
  wire::node_health result;
  std::size_t pending = 0;
  std::function<void(wire::node_health)> done;

  void done_one() {
    if (--pending > 0) return;
    bool all_ok = true;
    for (auto& a : result.actors) all_ok = all_ok && a.state != "unresponsive" && a.state != "restarting";
    result.state = all_ok ? "up" : "degraded";
    done(std::move(result));
  }
};

void run_round(health_actor* self, const node_context_ptr& ctx, std::function<void(wire::node_health)> done) {
  auto round = std::make_shared<health_round>();
  round->done = std::move(done);
  round->result.node = ctx->node.name;
  round->result.cluster = ctx->cluster.name;
  round->result.uptime_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ctx->started).count();
  round->result.actors.push_back({names::health, "running"});
  round->pending = self->state.watched.size() + 1;
  for (auto& name : self->state.watched) {
    auto idx = round->result.actors.size();
    round->result.actors.push_back({name, "restarting"});
    auto h = self->system().registry().get(caf::atom_from_string(name));
    if (!h) {
      round->done_one();
      continue;
    }
    self->request(caf::actor_cast<caf::actor>(h), status_timeout, status_atom::value)
        .then(
            [round, idx](actor_status& s) {
              round->result.actors[idx].state = s.state;
              round->done_one();
            },
            [round, idx](caf::error& e) {
              // An actor that does not know the query (a supervisor) still proved that it reads
              // its mailbox; only silence or death is unresponsive.
              round->result.actors[idx].state = e == caf::sec::unexpected_message ? "running" : "unresponsive";
              round->done_one();
            });
  }
  round->done_one();  // the health actor's own entry
}

caf::actor transport_of(health_actor* self) {
  return transport_door(self->system());
}

void send_to_peer(health_actor* self, const std::string& node, caf::message msg) {
  if (auto t = transport_of(self)) self->send(t, remote_send_atom::value, node, std::string(names::health), std::move(msg));
}

wire::membership_view make_view(health_actor* self);

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A starting node waits this long at most for its peers before its planned shards follow the plan.
constexpr auto settle_after = std::chrono::seconds(3);

void sync_planned(health_actor* self, const node_context_ptr& ctx);

// Restarts planned shard `i` (its start function reads the plan again): one restart per shard at a
// time; when it is done, the next sync catches up with any later change.
void restart_planned(health_actor* self, const node_context_ptr& ctx, std::size_t i) {
  const std::string id = shard_actor_name(i);
  auto log = ctx->log.child(names::health);
  if (!self->state.restarting.insert(id).second) return;
  auto sup = caf::actor_cast<caf::actor>(self->system().registry().get(caf::atom_from_string(names::shards)));
  if (!sup) {
    self->state.restarting.erase(id);
    log.warn("cannot restart a planned shard: no shards supervisor registered", {{"shard", id}});
    return;
  }
  log.info("the plan moved a shard here or away: restarting it", {{"shard", id}, {"model", ctx->cluster.models[i].name}});
  auto failed = [=](caf::error& e) {
    self->state.restarting.erase(id);
    log.warn("cannot restart a planned shard", {{"shard", id}, {"error", self->system().render(e)}});
  };
  self->request(sup, std::chrono::seconds(30), sup::terminate_child_atom::value, id)
      .then(
          [=](caf::ok_atom) {
            // The restart answers once the shard is ready (its model loaded): allow a long load.
            self->request(sup, std::chrono::minutes(30), sup::restart_child_atom::value, id)
                .then(
                    [=](caf::ok_atom) {
                      self->state.restarting.erase(id);
                      sync_planned(self, ctx);
                    },
                    failed);
          },
          failed);
}

// Hands the latest plan to the planned shards' start functions (ctx->plan) and restarts every
// planned shard whose assignment on this node changed.
void sync_planned(health_actor* self, const node_context_ptr& ctx) {
  if (!ctx->plan || !ctx->node.has_role("shard")) return;
  auto& box = *ctx->plan;
  std::vector<std::size_t> changed;
  {
    std::lock_guard<std::mutex> lk(box.mu);
    box.latest = self->state.plan->latest();
    box.settled = box.settled || self->state.settled;  // once settled, always (a restarted health too)
    for (std::size_t i = 0; i < ctx->cluster.models.size(); ++i) {
      const auto& m = ctx->cluster.models[i];
      if (!follows_plan(ctx->cluster, m)) continue;
      auto it = box.started.find(m.name);
      if (it == box.started.end()) continue;  // not started yet: it reads the plan when it starts
      if (box.wanted(m.name, ctx->node.name) != it->second) changed.push_back(i);
    }
  }
  for (auto i : changed) restart_planned(self, ctx, i);
}

// Recomputes the placement plan when the view changed in what the planner reads (cheap otherwise).
void refresh_plan(health_actor* self, const node_context_ptr& ctx) {
  auto& keeper = *self->state.plan;
  if (!keeper.update(ctx->cluster, make_view(self).members, unix_ms_now())) return;
  ctx->log.child(names::health)
      .info("placement plan recomputed", {{"revision", static_cast<std::int64_t>(keeper.latest().revision)},
                                          {"trigger", keeper.latest().trigger},
                                          {"plan", keeper.summary()}});
  sync_planned(self, ctx);
}

void publish(health_actor* self, const node_context_ptr& ctx, const std::vector<membership::change>& changes) {
  auto log = ctx->log.child(names::health);
  auto t = transport_of(self);
  for (auto& c : changes) {
    auto to = std::string(to_string(c.to));
    if (c.from == c.to)
      log.info("peer restarted", {{"peer", c.node}, {"incarnation", c.incarnation}});
    else
      log.info("peer " + to, {{"peer", c.node}, {"was", std::string(to_string(c.from))}});
    bool reachable = c.to == member_state::up || c.to == member_state::suspect;
    if (t) self->send(t, peer_state_atom::value, c.node, reachable);
    for (auto& s : self->state.subscribers) self->send(s, member_changed_atom::value, c.node, to);
    if (c.to == member_state::up && (c.from != member_state::suspect))
      send_to_peer(self, c.node, caf::make_message(self->state.self_announce));
  }
  if (!changes.empty()) refresh_plan(self, ctx);
}

wire::membership_view make_view(health_actor* self) {
  wire::membership_view v;
  v.node = self->state.members->self();
  auto now = membership::clock::now();
  for (auto& m : self->state.members->view()) {
    wire::member_info mi;
    mi.node = m.name;
    mi.state = std::string(to_string(m.state));
    mi.incarnation = m.incarnation;
    mi.last_heard_ms = m.last_heartbeat
                           ? std::chrono::duration_cast<std::chrono::milliseconds>(now - *m.last_heartbeat).count()
                           : (m.is_self ? 0 : -1);
    mi.phi = m.is_self ? 0 : m.detector.phi(now);
    mi.roles = m.info.roles;
    mi.cores = m.info.cores;
    mi.memory_bytes = m.info.memory_bytes;
    mi.memory_free_bytes = m.info.memory_free_bytes;
    for (auto& l : m.info.links) mi.links.push_back({l.node, l.ms});
    for (auto& g : m.info.gpus) mi.gpus.push_back({g.name, g.memory_bytes, g.free_bytes});
    mi.speed = m.info.speed;
    if (auto r = self->state.rtt_ms.find(m.name); r != self->state.rtt_ms.end() && !m.is_self) mi.rtt_ms = r->second;
    v.members.push_back(std::move(mi));
  }
  return v;
}

node_info to_info(const wire::node_announce& a) {
  node_info i;
  i.roles = a.roles;
  i.cores = a.cores;
  i.memory_bytes = a.memory_bytes;
  i.memory_free_bytes = a.memory_free_bytes;
  for (auto& l : a.links) i.links.push_back({l.node, l.ms});
  for (auto& g : a.gpus) i.gpus.push_back({g.name, g.memory_bytes, g.free_bytes});
  i.models = a.models;
  i.speed = a.speed;
  return i;
}

wire::node_announce make_announce(const node_context& ctx) {
  wire::node_announce a;
  a.node = ctx.node.name;
  a.incarnation = ctx.incarnation;
  a.roles = ctx.node.roles;
  a.cores = ctx.hardware_cores;
  a.memory_bytes = ctx.hardware_memory_bytes;
  a.memory_free_bytes = ctx.hardware_memory_free_bytes;
  a.speed = ctx.hardware_speed;
  for (auto& g : ctx.hardware_gpus) a.gpus.push_back(g);
  for (auto& p : ctx.cluster.placements) {
    for (auto& n : p.nodes)
      if (n == ctx.node.name) a.models.push_back(p.model);
    for (auto& s : p.stages)
      if (s.node == ctx.node.name || std::find(s.standby.begin(), s.standby.end(), ctx.node.name) != s.standby.end())
        a.models.push_back(p.model);
  }
  return a;
}

// This node's round trips as announced: whole ms rounded down, by peer name.
std::vector<wire::link_latency> floored_links(const health_state& st) {
  std::vector<wire::link_latency> out;
  for (auto& [node, ms] : st.rtt_ms) out.push_back({node, std::floor(ms)});
  return out;
}

// Whether the announced links should be replaced by `now`: a peer appeared, or one moved by at
// least 1 ms and 25% (a WAN link's jitter around a whole ms does not re-plan the cluster).
bool links_worth_announcing(const std::vector<wire::link_latency>& was, const std::vector<wire::link_latency>& now) {
  if (was.size() != now.size()) return true;
  for (std::size_t i = 0; i < was.size(); ++i) {
    if (was[i].node != now[i].node) return true;
    const double d = std::abs(was[i].ms - now[i].ms);
    if (d >= 1.0 && d >= 0.25 * std::max(was[i].ms, now[i].ms)) return true;
  }
  return false;
}

// What the planner reads of this node that it measures while running -- free memory, link round
// trips -- checked every announce period, just before the announce goes out: the announce carries
// the new figures, and the plan is recomputed, when they moved far enough from what was announced
// (memory_drift_worth_announcing, links_worth_announcing); smaller swings wait, so a plan does not
// flap with the page cache or a link's jitter.
void update_self_announce(health_actor* self, const node_context_ptr& ctx) {
  auto& st = self->state;
  auto log = ctx->log.child(names::health);
  bool changed = false;
  if (ctx->memory_free_measured)  // else a hint: taken as given
    if (auto usable = usable_memory_bytes(ctx->hardware_memory_bytes);
        usable && memory_drift_worth_announcing(st.self_announce.memory_free_bytes, *usable)) {
      constexpr double mib = 1024.0 * 1024.0;
      log.info("free memory changed", {{"was_mib", static_cast<std::int64_t>(st.self_announce.memory_free_bytes / mib)},
                                       {"now_mib", static_cast<std::int64_t>(*usable / mib)}});
      st.self_announce.memory_free_bytes = *usable;
      changed = true;
    }
  if (auto links = floored_links(st); links_worth_announcing(st.self_announce.links, links)) {
    st.self_announce.links = std::move(links);
    changed = true;
  }
  if (!changed) return;
  st.members->set_self(ctx->incarnation, to_info(st.self_announce));
  refresh_plan(self, ctx);
}

caf::behavior health(health_actor* self, node_context_ptr ctx, std::vector<std::string> watched) {
  auto& st = self->state;
  st.watched = std::move(watched);
  std::vector<std::string> peers;
  for (auto& n : ctx->cluster.nodes)
    if (n.name != ctx->node.name) peers.push_back(n.name);
  membership::params mp;
  // Detection time is about mean + pause + 5.6 std for phi 8: with 250 ms heartbeats, 250 + 400 +
  // 5.6 * 62 = 1 s, plus up to one check period (50 ms). A heartbeat late by more than ~0.7 s reads
  // as a failure: the price of noticing a dead node within two seconds.
  auto hb_ms = static_cast<double>(ctx->cluster.health.heartbeat_interval_ms);
  mp.detector.first_interval_ms = hb_ms;
  mp.detector.acceptable_pause_ms = hb_ms * 1.6;
  mp.detector.min_std_ms = hb_ms / 4;
  mp.down_phi = ctx->cluster.health.phi_threshold;
  mp.suspect_phi = ctx->cluster.health.phi_threshold / 2;
  st.members = std::make_unique<membership>(ctx->node.name, peers, mp);
  st.self_announce = make_announce(*ctx);
  st.members->set_self(ctx->incarnation, to_info(st.self_announce));
  st.plan = std::make_unique<placement_keeper>(ctx->node.name);
  if (ctx->plan) {
    std::lock_guard<std::mutex> lk(ctx->plan->mu);
    st.settled = ctx->plan->settled;  // a restarted health actor: the node settled long ago
  }
  refresh_plan(self, ctx);
  auto interval = std::chrono::milliseconds(ctx->cluster.health.heartbeat_interval_ms);
  self->send(self, tick_atom::value);
  auto check_every = std::max(interval / 5, std::chrono::milliseconds(10));
  self->send(self, check_atom::value);
  // On a clean stop, say goodbye so peers mark us `left` at once instead of suspecting us.
  self->set_exit_handler([self, ctx](caf::exit_msg& em) {
    wire::node_leave bye{ctx->node.name, ctx->incarnation};
    for (auto& m : self->state.members->view())
      if (!m.is_self) send_to_peer(self, m.name, caf::make_message(bye));
    self->quit(em.reason);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(), [&](const caf::actor& a) { return a.address() == dm.source; }),
               subs.end());
  });
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{names::health, "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](tick_atom) {
        auto& st = self->state;
        self->delayed_send(self, interval, tick_atom::value);
        ++st.ticks;
        const auto now = membership::clock::now();
        if (!st.settled) {
          bool all_heard = true;
          for (auto& m : st.members->view()) all_heard = all_heard && (m.is_self || m.state != member_state::joining);
          if (all_heard || std::chrono::steady_clock::now() - ctx->started > settle_after) st.settled = true;
        }
        // Every beat, so a restart that failed (the supervisor still starting its children, say)
        // is tried again; cheap when nothing changed.
        if (st.settled) sync_planned(self, ctx);
        if (st.ticks % announce_every_ticks == 0) update_self_announce(self, ctx);
        wire::heartbeat hb{ctx->node.name, ctx->incarnation, st.seq, st.verdict};
        st.sent_seq[st.seq % health_state::ring] = st.seq;
        st.sent_at[st.seq % health_state::ring] = now;
        ++st.seq;
        for (auto& m : st.members->view()) {
          if (m.is_self) continue;
          hb.echo_seq = 0;
          hb.echo_hold_us = 0;
          if (auto h = st.heard.find(m.name); h != st.heard.end()) {
            hb.echo_seq = h->second.first;
            hb.echo_hold_us = std::chrono::duration_cast<std::chrono::microseconds>(now - h->second.second).count();
          }
          send_to_peer(self, m.name, caf::make_message(hb));
          if (st.ticks % announce_every_ticks == 0 && m.state == member_state::up)
            send_to_peer(self, m.name, caf::make_message(st.self_announce));
        }
        if (st.ticks % verdict_every_ticks == 0)
          run_round(self, ctx, [self](wire::node_health h) { self->send(self, verdict_atom::value, h.state); });
      },
      [=](check_atom) {
        // The detectors are read more often than heartbeats are sent, so a silence is noticed
        // within a fifth of an interval of phi crossing the threshold.
        self->delayed_send(self, check_every, check_atom::value);
        publish(self, ctx, self->state.members->tick(membership::clock::now()));
      },
      [=](verdict_atom, std::string& v) {
        if (v != self->state.verdict)
          ctx->log.child(names::health).warn("own state changed", {{"state", v}, {"was", self->state.verdict}});
        self->state.verdict = v;
      },
      [=](wire::heartbeat& hb) {
        auto& st = self->state;
        const auto now = membership::clock::now();
        // Only configured peers are timed (bounded maps; anything else is the membership's to ignore).
        const bool known = hb.node != st.members->self() && st.members->find(hb.node);
        if (known && hb.echo_seq > 0) {
          // Our heartbeat echo_seq - 1, held hb.echo_hold_us by the peer: the rest is the two
          // trips (transport, queues, both nodes' actors). Smoothed like TCP's SRTT (1/8).
          const std::uint64_t s = hb.echo_seq - 1;
          if (st.sent_seq[s % health_state::ring] == s && s < st.seq && hb.echo_hold_us >= 0) {
            const double ms = std::chrono::duration<double, std::milli>(now - st.sent_at[s % health_state::ring]).count() -
                              static_cast<double>(hb.echo_hold_us) / 1000.0;
            if (ms >= 0) {
              auto [it, fresh] = st.rtt_ms.emplace(hb.node, ms);
              if (!fresh) it->second += (ms - it->second) / 8;
            }
          }
        }
        if (known) st.heard[hb.node] = {hb.seq + 1, now};
        publish(self, ctx, st.members->on_heartbeat(hb.node, hb.incarnation, hb.state, now));
      },
      [=](wire::node_announce& a) {
        auto& st = self->state;
        const auto* before = st.members->find(a.node);
        const bool first = before && !before->is_self && (!before->info_known || before->incarnation != a.incarnation);
        auto changes = st.members->on_announce(a.node, a.incarnation, to_info(a), membership::clock::now());
        // The first announce of a peer (or of its new incarnation) is answered with ours: the one we
        // sent when we first heard it may have met our link to it not yet connected (ZeroMQ drops
        // it), and the peer would plan without us until the periodic repeat (5 s). Its announce
        // says it heard us (it announces only to peers it counts up), so our link to it is up now.
        if (const auto* after = st.members->find(a.node); first && after && after->info_known &&
                                                           after->incarnation == a.incarnation)
          send_to_peer(self, a.node, caf::make_message(st.self_announce));
        publish(self, ctx, changes);
        if (changes.empty()) refresh_plan(self, ctx);  // the node's memory or cores may have changed
      },
      [=](link_lost_atom, std::string& node) {
        publish(self, ctx, self->state.members->on_link_lost(node, membership::clock::now()));
      },
      [=](wire::node_leave& l) {
        publish(self, ctx, self->state.members->on_leave(l.node, l.incarnation, membership::clock::now()));
      },
      [=](wire::membership_query&) { return make_view(self); },
      [=](plan_query_atom, std::string& id) {
        return proto::encode_table_reply(id, "plan", self->state.plan->table(unix_ms_now()));
      },
      [=](wire::health_query&) -> caf::result<wire::node_health> {
        auto rp = self->make_response_promise<wire::node_health>();
        run_round(self, ctx, [rp](wire::node_health h) mutable { rp.deliver(std::move(h)); });
        return rp;
      },
      [=](subscribe_atom) {
        auto who = caf::actor_cast<caf::actor>(self->current_sender());
        if (!who) return;
        self->monitor(who);
        self->state.subscribers.push_back(who);
        for (auto& m : self->state.members->view())
          self->send(who, member_changed_atom::value, m.name, std::string(to_string(m.state)));
      },
  };
}

}  // namespace

caf::actor spawn_health(caf::actor_system& sys, node_context_ptr ctx, std::vector<std::string> watched) {
  return sys.spawn(health, std::move(ctx), std::move(watched));
}

}  // namespace holo
