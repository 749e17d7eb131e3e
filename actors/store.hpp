// store: the only actor of a node that touches the database (persistence/store.hpp). It runs
// detached -- on its own thread, because SQLite and libpq calls block -- so no other actor ever
// waits on the disk or the network to the database.
//
// Protocol (local actors; every reply is a value carrying a holo::status, never a caf::error):
//   (store_write_atom, store_batch)           -> store_ack      after the batch COMMITTED, never before
//   (store_journal_atom, std::string id)      -> store_journal_reply
//   (store_unfinished_atom, std::int64_t max) -> store_journals_reply   open requests, oldest first
//   (store_checkpoint_atom, actor, key)       -> store_checkpoint_reply
//   (store_session_atom, session_id, max)     -> store_session_reply
//   (store_stats_atom)                        -> store_stats
//   (store_ack_outbox_atom, std::int64_t seq) -> store_ack      drops outbox entries <= seq (the sync actor,
//                                                               after they reached the central store)
//   (status_atom)                             -> actor_status  "running" or "degraded"
//   (sup::ready_atom)                         -> ok_atom
//
// Writes: each batch is validated (a bad row: invalid_argument at once), buffered, and committed
// with the batches that arrived meanwhile in one transaction (group commit, at most
// batch_rows_max rows). The buffer holds at most buffer_rows rows; a batch that does not fit is
// refused with resource_exhausted -- push-back, the caller retries later -- never dropped.
//
// Degraded: when the database is unreachable (open failed, connection lost, commit outcome
// unknown) the actor logs a warning, answers status "degraded" and reads with `unavailable`, keeps
// buffering writes (bounded), and reconnects with exponential backoff (reconnect_min_ms doubling to
// reconnect_max_ms). On reconnect it commits the buffer again -- the same batches, idempotent
// upserts, so a commit that had in fact succeeded is not duplicated -- logs "recovered" and
// acknowledges. An acknowledged write is committed; an unacknowledged one may or may not be (the
// caller retries it; idempotence makes that safe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "persistence/store.hpp"
#include "runtime/config.hpp"
#include "runtime/logging.hpp"

namespace holo {

using store_write_atom = caf::atom_constant<caf::atom("st_write")>;
using store_journal_atom = caf::atom_constant<caf::atom("st_journal")>;
using store_unfinished_atom = caf::atom_constant<caf::atom("st_unfin")>;
using store_checkpoint_atom = caf::atom_constant<caf::atom("st_ckpt")>;
using store_session_atom = caf::atom_constant<caf::atom("st_session")>;
using store_stats_atom = caf::atom_constant<caf::atom("st_stats")>;
using store_ack_outbox_atom = caf::atom_constant<caf::atom("st_ackout")>;

struct store_batch {
  std::vector<persist::write_op> rows;  // committed together, all or nothing
};

struct store_ack {
  status result;  // ok: committed
};

struct store_journal_reply {
  status result;
  std::optional<persist::journal_entry> entry;
};

struct store_journals_reply {
  status result;
  std::vector<persist::journal_entry> entries;
};

struct store_checkpoint_reply {
  status result;
  std::optional<persist::checkpoint_record> record;
};

struct store_session_reply {
  status result;
  std::vector<persist::session_message> messages;
};

// What the store actor says about itself (the metrics actor exports these as holo_store_*).
struct store_stats {
  std::string backend;
  std::string where;                   // file path or redacted DSN
  bool degraded = false;               // holo_store_degraded
  std::int64_t degraded_since_ms = 0;  // unix ms, 0 when not degraded
  std::string last_error;
  std::int64_t buffered_rows = 0;      // holo_store_buffered_rows
  std::int64_t buffer_rows_max = 0;
  std::int64_t committed_rows = 0;     // holo_store_committed_rows_total
  std::int64_t committed_batches = 0;  // holo_store_commits_total
  std::int64_t rejected_rows = 0;      // holo_store_pushback_rows_total (buffer full)
  std::int64_t failed_commits = 0;     // holo_store_failed_commits_total
  std::int64_t reconnects = 0;         // holo_store_reconnects_total (successful)
};

struct store_actor_options {
  persist::store_options store;
  std::int64_t buffer_rows = 10000;       // rows buffered while committing or degraded
  std::int64_t batch_rows_max = 512;      // rows per transaction
  std::int64_t reconnect_min_ms = 100;
  std::int64_t reconnect_max_ms = 5000;
};

// The store options of `node` from the cluster file's [persistence] section: the SQLite file
// defaults to <data_dir>/holo.sqlite; the PostgreSQL DSN to $HOLO_POSTGRES_DSN. invalid_argument
// when postgres has no DSN at all. The outbox is on when the node has the `sync` role.
result<store_actor_options> store_options_from_config(const config::cluster_config& c, const config::node_config& node);

// Spawns the detached store actor. It opens the database in its own thread; an unreachable one
// starts it degraded. A configuration error (unknown backend, missing path or DSN) makes it exit
// with that error, which the node reports at start.
caf::actor spawn_store(caf::actor_system& sys, store_actor_options opts, log::logger log);

}  // namespace holo

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::store_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::store_ack)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::store_journal_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::store_journals_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::store_checkpoint_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::store_session_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::store_stats)
