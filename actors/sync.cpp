#include "actors/sync.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/store.hpp"
#include "persistence/postgres_store.hpp"
#include "persistence/sqlite_store.hpp"
#include "persistence/sync_pump.hpp"
#include "runtime/metrics.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

using tick_atom = caf::atom_constant<caf::atom("sy_tick")>;

struct sync_state {
  sync_actor_options opts;
  log::logger log;
  std::unique_ptr<persist::store> local, central;
  std::unique_ptr<persist::sync_pump> pump;
  std::int64_t backoff_ms = 0;
  std::int64_t last_drained_ms = 0;
  bool ack_in_flight = false;
  sync_stats stats;
  static inline const char* name = "sync";
};

using sync_actor = caf::stateful_actor<sync_state>;

void update_lag(sync_state& st, bool drained) {
  const auto now = persist::now_ms();
  if (drained) st.last_drained_ms = now;
  st.stats.lag_s = drained ? 0.0 : double(now - st.last_drained_ms) / 1000.0;
  metrics::set_store_sync_lag(st.stats.lag_s);
}

void fail(sync_actor* self, const status& why) {
  auto& st = self->state;
  st.stats.failed_steps++;
  st.stats.last_error = why.to_string();
  update_lag(st, false);
  if (!st.stats.degraded) {
    st.stats.degraded = true;
    st.backoff_ms = st.opts.reconnect_min_ms;
    st.log.warn("sync stalled: retrying with backoff", {{"error", why.to_string()}, {"cursor", st.stats.cursor}});
  }
  self->delayed_send(self, std::chrono::milliseconds(st.backoff_ms), tick_atom::value);
  st.backoff_ms = std::min(st.backoff_ms * 2, st.opts.reconnect_max_ms);
}

// Tells the store actor (the local writer) to drop the shipped entries; one ack at a time.
void send_ack(sync_actor* self) {
  auto& st = self->state;
  const auto seq = st.stats.cursor;
  if (st.ack_in_flight || seq <= st.stats.acked) return;
  auto store = caf::actor_cast<caf::actor>(self->system().registry().get(caf::atom_from_string(names::store)));
  if (!store) return;  // restarting: the next step acks
  st.ack_in_flight = true;
  self->request(store, std::chrono::seconds(10), store_ack_outbox_atom::value, seq)
      .then(
          [=](const store_ack& a) {
            auto& s = self->state;
            s.ack_in_flight = false;
            if (a.result.ok()) s.stats.acked = std::max(s.stats.acked, seq);
            else s.log.debug("outbox ack refused", {{"error", a.result.to_string()}, {"seq", seq}});
          },
          [=](caf::error& e) {
            self->state.ack_in_flight = false;
            self->state.log.debug("outbox ack failed", {{"error", caf::to_string(e)}, {"seq", seq}});
          });
}

void tick(sync_actor* self) {
  auto& st = self->state;
  for (auto* db : {st.local.get(), st.central.get()}) {
    if (db->connected()) continue;
    if (auto c = db->connect(); !c.ok()) return fail(self, c);
    if (db == st.central.get() && st.stats.steps + st.stats.failed_steps > 0) st.stats.reconnects++;
  }
  auto r = st.pump->step();
  if (!r) return fail(self, r.error());
  if (st.stats.degraded) {
    st.stats.degraded = false;
    st.log.info("sync recovered", {{"cursor", st.pump->cursor()}, {"failed_steps", st.stats.failed_steps}});
  }
  st.stats.steps++;
  st.stats.shipped_rows += std::int64_t(r->shipped);
  st.stats.cursor = st.pump->cursor();
  if (r->missing > 0)
    st.log.warn("outbox entries without a local row skipped", {{"count", std::int64_t(r->missing)}});
  update_lag(st, r->drained);
  send_ack(self);
  // A full batch: more is waiting, go on at once (a message, so queries are still answered between).
  if (r->drained) self->delayed_send(self, std::chrono::milliseconds(st.opts.interval_ms), tick_atom::value);
  else self->send(self, tick_atom::value);
}

std::string status_word(const sync_state& st) {
  if (!st.stats.enabled) return "disabled (no central_dsn)";
  char lag[32];
  std::snprintf(lag, sizeof lag, " lag=%.1fs", st.stats.lag_s);
  return std::string(st.stats.degraded ? "degraded" : "running") + lag;
}

caf::behavior sync_fun(sync_actor* self, sync_actor_options opts, log::logger log) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.log = std::move(log);
  st.last_drained_ms = persist::now_ms();
  st.backoff_ms = st.opts.reconnect_min_ms;
  st.stats.enabled = !st.opts.central.postgres_dsn.empty();
  if (st.stats.enabled) {
    st.stats.central = persist::redact_dsn(st.opts.central.postgres_dsn);
    // Our own connection to the node's store, only read (the store actor writes and takes the acks).
    st.local = st.opts.local.backend == "postgres" ? persist::make_postgres_store(st.opts.local)
                                                   : persist::make_sqlite_store(st.opts.local);
    st.central = persist::make_postgres_store(st.opts.central);
    st.pump = std::make_unique<persist::sync_pump>(*st.local, *st.central, std::size_t(st.opts.batch_rows));
    st.log.info("sync to central store", {{"central", st.stats.central}, {"batch_rows", st.opts.batch_rows}});
    self->send(self, tick_atom::value);
  } else {
    st.log.warn("sync role without [sync] central_dsn or HOLO_SYNC_DSN: nothing is shipped", {});
  }
  return {
      [=](tick_atom) { tick(self); },
      [=](sync_stats_atom) { return self->state.stats; },
      [=](status_atom) { return actor_status{names::sync, status_word(self->state)}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](sup::ready_atom) { return caf::ok_atom::value; },
  };
}

}  // namespace

result<sync_actor_options> sync_options_from_config(const config::cluster_config& c, const config::node_config& node) {
  if (!node.has_role("store"))
    return status::invalid_argument("node " + node.name + ": the sync role needs the store role on the same node");
  auto so = store_options_from_config(c, node);
  if (!so) return so.error();
  sync_actor_options o;
  o.local = so->store;
  o.central.backend = "postgres";
  o.central.postgres_dsn = c.sync.central_dsn;
  if (o.central.postgres_dsn.empty())
    if (const char* env = std::getenv("HOLO_SYNC_DSN")) o.central.postgres_dsn = env;
  o.central.postgres_schema = c.sync.central_schema;
  o.central.outbox = false;  // the central store ships nothing onwards
  o.interval_ms = c.sync.interval_ms;
  o.batch_rows = c.sync.batch_rows;
  o.reconnect_min_ms = c.sync.reconnect_min_ms;
  o.reconnect_max_ms = c.sync.reconnect_max_ms;
  return o;
}

caf::actor spawn_sync(caf::actor_system& sys, sync_actor_options opts, log::logger log) {
  return sys.spawn<caf::detached>(sync_fun, std::move(opts), std::move(log));
}

}  // namespace holo
