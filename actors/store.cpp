#include "actors/store.hpp"

#include <chrono>
#include <cstdlib>
#include <deque>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "runtime/errors.hpp"
#include "runtime/metrics.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

using flush_atom = caf::atom_constant<caf::atom("st_flush")>;
using reconnect_atom = caf::atom_constant<caf::atom("st_reconn")>;
using probe_atom = caf::atom_constant<caf::atom("st_probe")>;
// An idle store would learn of a lost database only at its next write: it asks the database this
// often, so health and metrics say "degraded" while nothing is being written too.
constexpr auto probe_interval = std::chrono::seconds(2);

struct pending_batch {
  std::vector<persist::write_op> rows;
  caf::typed_response_promise<store_ack> rp;
  std::chrono::steady_clock::time_point queued;  // for holo_store_write_seconds: queue + commit
};

struct store_state {
  store_actor_options opts;
  log::logger log;
  std::unique_ptr<persist::store> db;
  std::deque<pending_batch> buffer;   // oldest first; committed in this order
  std::int64_t buffered_rows = 0;
  bool flush_scheduled = false;
  bool reconnect_scheduled = false;
  std::int64_t backoff_ms = 0;
  store_stats stats;
  static inline const char* name = "store";
};

using store_actor = caf::stateful_actor<store_state>;

void schedule_flush(store_actor* self) {
  auto& st = self->state;
  if (st.flush_scheduled || st.stats.degraded || st.buffer.empty()) return;
  st.flush_scheduled = true;
  // A message, not a direct call: writes already in the mailbox join this commit (group commit).
  self->send(self, flush_atom::value);
}

void schedule_reconnect(store_actor* self) {
  auto& st = self->state;
  if (st.reconnect_scheduled) return;
  st.reconnect_scheduled = true;
  self->delayed_send(self, std::chrono::milliseconds(st.backoff_ms), reconnect_atom::value);
  st.backoff_ms = std::min(st.backoff_ms * 2, st.opts.reconnect_max_ms);
}

void enter_degraded(store_actor* self, const status& why) {
  auto& st = self->state;
  st.stats.last_error = why.to_string();
  if (!st.stats.degraded) {
    st.stats.degraded = true;
    st.stats.degraded_since_ms = persist::now_ms();
    metrics::set_store_degraded(true);
    st.backoff_ms = st.opts.reconnect_min_ms;
    st.log.warn("database unavailable: degraded (buffering writes, reconnecting)",
                {{"backend", st.stats.backend}, {"where", st.stats.where}, {"error", why.to_string()},
                 {"buffered_rows", st.buffered_rows}, {"buffer_rows_max", st.opts.buffer_rows}});
  }
  schedule_reconnect(self);
}

void leave_degraded(store_actor* self) {
  auto& st = self->state;
  if (st.stats.degraded) {
    st.stats.reconnects++;
    st.log.info("database reachable again: recovered",
                {{"backend", st.stats.backend}, {"degraded_ms", persist::now_ms() - st.stats.degraded_since_ms},
                 {"buffered_rows", st.buffered_rows}});
  }
  st.stats.degraded = false;
  st.stats.degraded_since_ms = 0;
  metrics::set_store_degraded(false);
  st.backoff_ms = st.opts.reconnect_min_ms;
}

// Takes whole batches from the front, at most batch_rows_max rows (at least one batch).
std::size_t batches_for_commit(const store_state& st, std::vector<persist::write_op>& rows) {
  std::size_t n = 0;
  for (auto& b : st.buffer) {
    if (n > 0 && std::int64_t(rows.size() + b.rows.size()) > st.opts.batch_rows_max) break;
    rows.insert(rows.end(), b.rows.begin(), b.rows.end());
    ++n;
  }
  return n;
}

void acknowledge(store_actor* self, std::size_t batches, const status& result) {
  auto& st = self->state;
  for (std::size_t i = 0; i < batches; ++i) {
    auto& b = st.buffer.front();
    st.buffered_rows -= std::int64_t(b.rows.size());
    if (result.ok()) st.stats.committed_rows += std::int64_t(b.rows.size());
    metrics::observe_store_write(std::chrono::duration<double>(std::chrono::steady_clock::now() - b.queued).count(),
                                 result.ok());
    b.rp.deliver(store_ack{result});
    st.buffer.pop_front();
  }
  st.stats.buffered_rows = st.buffered_rows;
}

// One group commit. On `unavailable` everything stays buffered for the retry after reconnect.
// Another error (a row the database refuses, e.g. invalid UTF-8 for PostgreSQL text) is isolated:
// each batch is retried alone so one bad batch does not hold back the others.
void flush(store_actor* self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.stats.degraded || st.buffer.empty()) return;
  std::vector<persist::write_op> rows;
  const auto n = batches_for_commit(st, rows);
  auto result = st.db->apply(rows);
  if (result.ok()) {
    st.stats.committed_batches++;
    acknowledge(self, n, result);
  } else if (result.retryable()) {
    st.stats.failed_commits++;
    enter_degraded(self, result);
    return;
  } else {
    st.stats.failed_commits++;
    for (std::size_t i = 0; i < n; ++i) {
      auto one = st.db->apply(st.buffer.front().rows);
      if (one.retryable()) {
        enter_degraded(self, one);
        return;
      }
      if (!one.ok()) st.log.warn("write refused by the database", {{"error", one.to_string()}});
      else st.stats.committed_batches++;
      acknowledge(self, 1, one);
    }
  }
  schedule_flush(self);
}

void reconnect(store_actor* self) {
  auto& st = self->state;
  st.reconnect_scheduled = false;
  if (!st.stats.degraded) return;
  auto s = st.db->connect();
  if (!s.ok()) {
    st.stats.last_error = s.to_string();
    st.log.debug("reconnect failed", {{"error", s.to_string()}, {"next_ms", st.backoff_ms}});
    schedule_reconnect(self);
    return;
  }
  leave_degraded(self);
  schedule_flush(self);
}

// Runs a read; an unavailable database turns the actor degraded (and the reply says so).
template <class F>
auto read(store_actor* self, F f) -> decltype(f()) {
  auto& st = self->state;
  if (st.stats.degraded) return status::unavailable("store degraded: " + st.stats.last_error);
  auto r = f();
  if (!r.ok() && r.error().retryable()) enter_degraded(self, r.error());
  return r;
}

template <class T>
status status_of(const result<T>& r) {
  return r.ok() ? status{} : r.error();
}

caf::behavior store_fun(store_actor* self, store_actor_options opts, log::logger log) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.log = std::move(log);
  st.stats.backend = st.opts.store.backend;
  st.stats.buffer_rows_max = st.opts.buffer_rows;
  st.backoff_ms = st.opts.reconnect_min_ms;
  auto opened = persist::open_store(st.opts.store, /*allow_unconnected=*/true);
  if (!opened) {
    st.log.error("cannot open the store", {{"error", opened.error().to_string()}});
    self->quit(status_to_error(opened.error()));
    return {};
  }
  st.db = std::move(*opened);
  st.stats.where = st.db->where();
  if (st.db->connected()) {
    st.log.info("store open", {{"backend", st.stats.backend}, {"where", st.stats.where}});
  } else {
    auto c = st.db->connect();  // the error to report
    if (c.ok()) st.log.info("store open", {{"backend", st.stats.backend}, {"where", st.stats.where}});
    else enter_degraded(self, c);
  }

  // A stop commits what is buffered if it can, then tells the writers still waiting that their
  // batch was not acknowledged (they may retry elsewhere: the upserts are idempotent).
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& s = self->state;
    while (!s.stats.degraded && !s.buffer.empty()) flush(self);  // each round commits or degrades
    while (!s.buffer.empty()) acknowledge(self, 1, status::unavailable("store stopping before commit"));
    self->quit(em.reason);
  });

  self->delayed_send(self, probe_interval, probe_atom::value);

  return {
      [=](probe_atom) {
        auto& s = self->state;
        if (!s.stats.degraded && s.buffer.empty()) {
          auto v = s.db->schema_version();
          if (!v && v.error().code() == status_code::unavailable) enter_degraded(self, v.error());
        }
        self->delayed_send(self, probe_interval, probe_atom::value);
      },
      [=](store_write_atom, store_batch& b) -> caf::result<store_ack> {
        auto& s = self->state;
        for (auto& w : b.rows)
          if (auto v = persist::validate(w); !v.ok()) return store_ack{v};
        if (b.rows.empty()) return store_ack{status{}};
        if (s.buffered_rows + std::int64_t(b.rows.size()) > s.opts.buffer_rows) {
          s.stats.rejected_rows += std::int64_t(b.rows.size());
          return store_ack{status::resource_exhausted(
              "store buffer full (" + std::to_string(s.buffered_rows) + " of " + std::to_string(s.opts.buffer_rows) +
              " rows" + (s.stats.degraded ? ", database unavailable" : "") + "): retry later")};
        }
        auto rp = self->make_response_promise<store_ack>();
        s.buffered_rows += std::int64_t(b.rows.size());
        s.stats.buffered_rows = s.buffered_rows;
        s.buffer.push_back({std::move(b.rows), rp, std::chrono::steady_clock::now()});
        schedule_flush(self);
        return rp;
      },
      [=](flush_atom) { flush(self); },
      [=](reconnect_atom) { reconnect(self); },
      [=](store_journal_atom, const std::string& id) {
        auto r = read(self, [&] { return self->state.db->journal(id); });
        return store_journal_reply{status_of(r), r.ok() ? *r : std::nullopt};
      },
      [=](store_unfinished_atom, std::int64_t max) {
        auto r = read(self, [&] { return self->state.db->unfinished_journal(std::size_t(std::max<std::int64_t>(0, max))); });
        return store_journals_reply{status_of(r), r.ok() ? std::move(*r) : std::vector<persist::journal_entry>{}};
      },
      [=](store_checkpoint_atom, const std::string& actor, const std::string& key) {
        auto r = read(self, [&] { return self->state.db->checkpoint(actor, key); });
        return store_checkpoint_reply{status_of(r), r.ok() ? *r : std::nullopt};
      },
      [=](store_session_atom, const std::string& id, std::int64_t max) {
        auto r = read(self, [&] { return self->state.db->session(id, std::size_t(std::max<std::int64_t>(0, max))); });
        return store_session_reply{status_of(r), r.ok() ? std::move(*r) : std::vector<persist::session_message>{}};
      },
      [=](store_ack_outbox_atom, std::int64_t seq) {
        // A write, but not a buffered one: losing it only means those rows are shipped again.
        auto& s = self->state;
        if (s.stats.degraded) return store_ack{status::unavailable("store degraded: " + s.stats.last_error)};
        auto r = s.db->ack_outbox(seq);
        if (!r.ok() && r.retryable()) enter_degraded(self, r);
        return store_ack{r};
      },
      [=](store_stats_atom) { return self->state.stats; },
      [=](status_atom) { return actor_status{names::store, self->state.stats.degraded ? "degraded" : "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](sup::ready_atom) { return caf::ok_atom::value; },
  };
}

}  // namespace

result<store_actor_options> store_options_from_config(const config::cluster_config& c, const config::node_config& node) {
  const auto& p = c.persistence;
  store_actor_options o;
  o.store.backend = p.backend;
  o.store.sqlite_synchronous = p.sqlite_synchronous;
  o.store.outbox = node.has_role("sync");
  if (p.backend == "sqlite") {
    o.store.sqlite_path = c.resolve_path(p.sqlite_path.empty() ? node.data_dir + "/holo.sqlite" : p.sqlite_path);
  } else {
    o.store.postgres_dsn = p.postgres_dsn;
    if (o.store.postgres_dsn.empty())
      if (const char* env = std::getenv("HOLO_POSTGRES_DSN")) o.store.postgres_dsn = env;
    if (o.store.postgres_dsn.empty())
      return status::invalid_argument(c.source_path + ": persistence.backend is postgres but neither persistence.postgres_dsn " +
                                      "nor HOLO_POSTGRES_DSN gives a DSN");
  }
  o.buffer_rows = p.buffer_rows;
  o.reconnect_min_ms = p.reconnect_min_ms;
  o.reconnect_max_ms = p.reconnect_max_ms;
  return o;
}

caf::actor spawn_store(caf::actor_system& sys, store_actor_options opts, log::logger log) {
  return sys.spawn<caf::detached>(store_fun, std::move(opts), std::move(log));
}

}  // namespace holo
