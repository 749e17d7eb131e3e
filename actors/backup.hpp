// backup: on nodes with the `backup` role and `[backup] enabled = true`, writes an encrypted,
// compressed archive of the node's store (its SQLite file, or a pg_dump of its PostgreSQL database)
// on a schedule (hourly, daily, weekly), keeps the
// newest `keep`, and records each in the store's backup catalogue (persistence/store.hpp,
// backup_entry). The archive format and the snapshot are persistence/backup_archive.hpp and
// persistence/sqlite_snapshot.hpp; docs/storage.md describes both and how to restore.
//
// It runs detached (its own thread): a snapshot reads the whole database and must not hold a
// scheduler thread. The schedule survives restarts: the next backup is due one period after the
// newest archive in the folder (or `first_delay` after start when there is none or it is overdue).
//
// Protocol (local actors):
//   (backup_now_atom)   -> backup_result     writes one now (the shell's `backup now`)
//   (backup_list_atom)  -> backup_listing    the archives in the folder, newest first
//   (backup_stats_atom) -> backup_stats      for /metrics and health
//   (status_atom)       -> actor_status      "running", or "failing" after a failed backup
//   (sup::ready_atom)   -> ok_atom
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/node_context.hpp"
#include "runtime/status.hpp"

namespace holo {

using backup_now_atom = caf::atom_constant<caf::atom("bk_now")>;
using backup_list_atom = caf::atom_constant<caf::atom("bk_list")>;
using backup_stats_atom = caf::atom_constant<caf::atom("bk_stats")>;

struct backup_file {
  std::string name;
  std::string path;
  std::int64_t created_unix_s = 0;
  std::uint64_t bytes = 0;
  std::uint64_t plaintext_bytes = 0;
  std::string key_id;  // hex; which key opens it
  std::string state;   // "ok" when its header reads, else the reason
};

struct backup_result {
  status result;
  backup_file file;                 // the new archive when ok
  std::vector<std::string> pruned;  // archives removed by retention
  std::int64_t took_ms = 0;
};

struct backup_listing {
  status result;
  std::vector<backup_file> files;
};

struct backup_stats {
  std::int64_t last_success_unix_s = 0;  // 0: none since start nor in the folder
  std::int64_t next_due_unix_s = 0;
  std::int64_t successes = 0;
  std::int64_t failures = 0;
  std::string last_error;
};

struct backup_actor_options {
  std::string db_path;   // the SQLite store file, or
  std::string postgres_dsn;  // the PostgreSQL store's database (pg_dump: persistence/postgres_dump.hpp)
  std::string dir;       // archive folder
  std::string key_file;
  std::chrono::seconds period{86400};
  std::size_t keep = 7;
  std::chrono::milliseconds first_delay{60'000};
};

// From [backup] and [persistence]: invalid_argument when backups cannot work on this node (no key
// file, a PostgreSQL store without a DSN).
result<backup_actor_options> backup_options_from_config(const config::cluster_config& c, const config::node_config& node);

caf::actor spawn_backup(caf::actor_system& sys, node_context_ptr ctx, backup_actor_options opts);

}  // namespace holo

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::backup_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::backup_listing)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(holo::backup_stats)
