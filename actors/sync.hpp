// sync: on nodes with the `sync` role, ships the node's outbox -- the journal, session and event rows
// its store changed -- to a central PostgreSQL (`[sync] central_dsn` or $HOLO_SYNC_DSN), in outbox
// order, idempotently, through persistence/sync_pump.hpp. docs/storage.md "Sync format".
//
// It runs detached (its own thread: libpq and SQLite calls block) and owns the central connection.
// The node's store actor stays the only WRITER of the local database: this actor opens its own
// connection to it only to read (SQLite's WAL lets readers run beside the writer) and sends the
// acknowledgement -- deleting shipped outbox entries -- to the store actor as
// (store_ack_outbox_atom, seq). A lost ack only means those rows are shipped again after a restart.
//
// Unreachable central (or local) database: the actor answers "degraded", retries with exponential
// backoff (reconnect_min_ms doubling to reconnect_max_ms) and loses nothing: the outbox keeps the
// entries until they are shipped. Lag (holo_store_sync_lag_seconds, the status word, sync_stats):
// 0 when the last step found the outbox drained, else the time since the last step that did -- an
// upper bound of the age of the oldest unshipped change.
//
// Protocol (local actors):
//   (sync_stats_atom) -> sync_stats
//   (status_atom)     -> actor_status   "running lag=0.0s", "degraded lag=12.3s", "disabled (...)"
//   (sup::ready_atom) -> ok_atom
#pragma once

#include <cstdint>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "persistence/store.hpp"
#include "runtime/config.hpp"
#include "runtime/logging.hpp"

namespace holo {

using sync_stats_atom = caf::atom_constant<caf::atom("sy_stats")>;

struct sync_stats {
  bool enabled = false;               // false: no central DSN configured
  bool degraded = false;              // the last step failed (database unreachable or refusing)
  std::string central;                // the redacted DSN
  std::string last_error;
  double lag_s = 0;
  std::int64_t shipped_rows = 0;      // applied centrally (a retried step counts again)
  std::int64_t steps = 0;             // successful steps
  std::int64_t failed_steps = 0;
  std::int64_t cursor = 0;            // highest outbox seq applied centrally
  std::int64_t acked = 0;             // highest seq the store actor confirmed deleting
  std::int64_t reconnects = 0;
};

struct sync_actor_options {
  persist::store_options local;       // the node's store, opened for reading
  persist::store_options central;     // empty postgres_dsn: the actor idles, "disabled"
  std::int64_t interval_ms = 1000;
  std::int64_t batch_rows = 500;
  std::int64_t reconnect_min_ms = 200;
  std::int64_t reconnect_max_ms = 10000;
};

// From the cluster file: the local side as the store actor opens it, the central side from [sync]
// (central_dsn, else $HOLO_SYNC_DSN). invalid_argument when the node lacks the `store` role (its
// store actor fills the outbox and takes the acks) or the store options are bad.
result<sync_actor_options> sync_options_from_config(const config::cluster_config& c, const config::node_config& node);

caf::actor spawn_sync(caf::actor_system& sys, sync_actor_options opts, log::logger log);

}  // namespace holo

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::sync_stats)
