// The store: one interface, two backends (SQLite embedded, PostgreSQL over libpq). Start here for
// persistence; docs/storage.md has the schema and the rules.
//
// What it holds (one table each): the request journal, sessions (chat history), actor checkpoints,
// membership events, the backup catalogue, and an outbox that lists which journal/session/event
// rows changed since the sync actor last shipped them.
//
// Every write is an idempotent upsert keyed by the row's id, so a batch whose commit outcome is
// unknown (the connection died during COMMIT) is simply applied again: never a duplicate. Rows that
// change over time (journal, checkpoints) carry a `revision`/`sequence`; an upsert never replaces a
// newer row with an older one, so retries and reordering cannot move a row backwards.
//
// Threading: a store object is used by one thread at a time (the store actor's). It holds one
// database connection. Errors are values: `unavailable` means "the database is gone or busy, retry
// after reconnect()" (the store actor's cue to go degraded); `invalid_argument`, `data_loss`,
// `failed_precondition` need someone to fix something and are not retried. Nothing here throws.
// Knows nothing of actors (no CAF).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "runtime/status.hpp"

namespace holo::persist {

// ---- rows ---------------------------------------------------------------------------------------

struct chat_message {
  std::string role;
  std::string content;
  bool operator==(const chat_message&) const = default;
};

// Sampling options of a request; an absent value means the engine default. Stored as one
// MessagePack map, so a new option needs no migration.
struct sampling_options {
  std::optional<double> temperature, top_p, min_p, repeat_penalty, frequency_penalty, presence_penalty;
  std::optional<std::int64_t> top_k, repeat_last_n;
  std::vector<std::string> stop;
  // Request flags kept in the same map (so they need no migration either); the router needs them to
  // regenerate a journaled request exactly (actors/router_journal.hpp):
  bool client_seed = false;  // the client chose `seed`: the engine's request key is then 0
  bool stream = true;        // false: a non-streamed request (one `done` with the whole text)
  bool ignore_eos = false;   // generate past end-of-generation tokens
  bool operator==(const sampling_options&) const = default;
};

// Journal status words (stored as text): accepted -> running -> done | failed | cancelled.
namespace journal_status {
inline constexpr const char* accepted = "accepted";
inline constexpr const char* running = "running";
inline constexpr const char* done = "done";
inline constexpr const char* failed = "failed";
inline constexpr const char* cancelled = "cancelled";
}  // namespace journal_status

// One accepted request: everything a router on another node needs to restart the generation from
// its delivered prefix (same model, same prompt, same sampling, same seed), plus where it stands.
struct journal_entry {
  std::string request_id;   // the key: owner + ":" + client id, so a router on any node finds it
                            // from a `resume` alone (actors/router_journal.hpp)
  std::string owner;        // authenticated client name
  std::string client_id;    // the id the client chose (what `resume` names)
  std::string router_node;  // the node whose router accepted it
  std::string model;        // the name the client asked for
  std::string served_model; // the model actually serving it (canary / fallback), "" until placed
  std::string session_id;   // "" when none
  std::optional<std::string> prompt;  // raw prompt, or
  std::vector<chat_message> messages; // chat messages (rendered with the model's template)
  sampling_options sampling;
  std::uint64_t seed = 0;
  std::int64_t max_tokens = 0;
  std::vector<std::int32_t> delivered_tokens;  // token ids delivered to the client, in order
  std::vector<std::string> delivered_texts;    // the text of each delivered token (same length)
  std::string status = journal_status::accepted;
  std::string finish_reason;  // length, eog, stop, context, cancelled, or an error code
  std::int64_t attempts = 0;  // dispatches so far
  std::int64_t revision = 0;  // the writer increments it on every change: newer wins, equal is a retry
  std::int64_t created_ms = 0;  // unix ms
  std::int64_t updated_ms = 0;
  bool operator==(const journal_entry&) const = default;
};

// One message of a chat session; keyed by (session_id, seq).
struct session_message {
  std::string session_id;
  std::int64_t seq = 0;     // position in the session, from 0
  std::string role;
  std::string content;
  std::string request_id;   // the request that produced or carried it ("" for none)
  std::int64_t created_ms = 0;
  bool operator==(const session_message&) const = default;
};

// An actor's checkpoint: an opaque, versioned, checksummed blob (persistence/checkpoint_blob.hpp),
// keyed by (actor, key). `sequence` grows with every checkpoint of that key; an older one never
// overwrites a newer one. The row is replaced whole, in one transaction: never half written.
struct checkpoint_record {
  std::string actor;        // e.g. "router"
  std::string key;          // e.g. a request id
  std::int64_t sequence = 0;
  std::string blob;         // encode_checkpoint() bytes
  std::int64_t updated_ms = 0;
  bool operator==(const checkpoint_record&) const = default;
};

// A membership change one node observed. `event_id` is chosen by the observer so that a retried
// write is the same row (observer + "/" + peer + "/" + incarnation + "/" + sequence).
struct membership_event {
  std::string event_id;
  std::string observer;     // the node that saw it
  std::string peer;         // the node it is about
  std::string state;        // joining, up, suspect, down, left
  std::uint64_t incarnation = 0;
  std::int64_t at_ms = 0;
  bool operator==(const membership_event&) const = default;
};

// One backup archive (written by the backup actor, later).
struct backup_entry {
  std::string backup_id;
  std::string node;
  std::string path;
  std::int64_t bytes = 0;
  std::string sha256;       // hex of the archive file
  std::string status;       // writing, complete, verified, failed, deleted
  std::int64_t created_ms = 0;
  std::int64_t verified_ms = 0;  // 0: never
  std::string note;
  bool operator==(const backup_entry&) const = default;
};

// One write. A batch of writes is applied in one transaction: all or nothing.
using write_op = std::variant<journal_entry, session_message, checkpoint_record, membership_event, backup_entry>;

// An outbox entry: "the row (kind, row_key) changed; ship its current state". Re-changing a row
// before it was shipped moves its entry to the end (one entry per row), so the sync actor ships
// rows in the order of their last change, each once.
struct outbox_entry {
  std::int64_t seq = 0;
  std::string kind;         // journal, session, event
  std::string row_key;      // journal: request_id; session: session_id + "\x1f" + seq; event: event_id
};

struct table_counts {
  std::int64_t journal = 0, sessions = 0, checkpoints = 0, events = 0, backups = 0, outbox = 0;
};

// ---- limits ----------------------------------------------------------------------------------------
inline constexpr std::size_t id_bytes_max = 512;              // every key column
inline constexpr std::size_t text_bytes_max = 16 << 20;       // prompt, content, one delivered text
inline constexpr std::size_t blob_bytes_max = 64 << 20;       // a checkpoint blob
inline constexpr std::size_t delivered_tokens_max = 1 << 22;  // per journal row
inline constexpr std::size_t read_rows_max = 100000;          // any list call

// Checks sizes and required keys of one write: invalid_argument naming the field.
status validate(const write_op& w);

// ---- the interface -------------------------------------------------------------------------------

class store {
 public:
  virtual ~store() = default;

  virtual std::string_view backend() const = 0;  // "sqlite" or "postgres"
  // Where it is (a file path, or the DSN without its password): for logs.
  virtual std::string where() const = 0;

  // (Re)connects and applies the missing migrations (each in its own transaction, recorded in
  // schema_migrations). Called by open_store and after a lost connection; cheap when connected.
  virtual status connect() = 0;
  virtual bool connected() const = 0;
  virtual result<std::int64_t> schema_version() = 0;

  // Applies every write in one transaction. On `unavailable` nothing may be known about the
  // outcome: reconnect and apply the same batch again (idempotent).
  virtual status apply(std::span<const write_op> writes) = 0;

  virtual result<std::optional<journal_entry>> journal(const std::string& request_id) = 0;
  // Requests not finished (accepted or running), oldest first: what a restarted router resumes.
  virtual result<std::vector<journal_entry>> unfinished_journal(std::size_t limit) = 0;
  virtual result<std::vector<session_message>> session(const std::string& session_id, std::size_t limit) = 0;
  virtual result<std::optional<checkpoint_record>> checkpoint(const std::string& actor, const std::string& key) = 0;
  virtual result<std::vector<membership_event>> events(std::int64_t since_ms, std::size_t limit) = 0;
  // One row by its key (the sync pump reads what an outbox entry names): nullopt when absent.
  virtual result<std::optional<session_message>> session_message_at(const std::string& session_id, std::int64_t seq) = 0;
  virtual result<std::optional<membership_event>> event(const std::string& event_id) = 0;
  virtual result<std::vector<backup_entry>> backups(std::size_t limit) = 0;

  // Outbox (only filled when store_options::outbox is on): entries after `after_seq`, in order;
  // ack removes entries up to and including `up_to_seq` (a row changed again since keeps its newer
  // entry).
  virtual result<std::vector<outbox_entry>> outbox(std::int64_t after_seq, std::size_t limit) = 0;
  virtual status ack_outbox(std::int64_t up_to_seq) = 0;

  virtual result<table_counts> counts() = 0;
  // Journal request_ids after `after` in request_id order (the database's), at most `limit`
  // (capped at read_rows_max): one page; the next page starts after the last id of this one. For
  // tests and `holo store check`, which must see every id however many there are.
  virtual result<std::vector<std::string>> journal_ids(const std::string& after, std::size_t limit) = 0;
  // Structural check: SQLite's PRAGMA integrity_check; PostgreSQL: the schema is complete.
  // Ok or data_loss with what the check said.
  virtual status integrity_check() = 0;
};

struct store_options {
  std::string backend = "sqlite";   // sqlite or postgres
  std::string sqlite_path;          // the database file (its folder must exist)
  // SQLite durability: "full" syncs the WAL on every commit (an acknowledged write survives power
  // loss); "normal" survives a crash of the process but not of the machine.
  std::string sqlite_synchronous = "full";
  std::string postgres_dsn;         // libpq connection string
  std::string postgres_schema;      // "" : the DSN's default search_path; else created and used
  int connect_timeout_s = 2;        // libpq connect_timeout; SQLite busy timeout is 5 s
  bool outbox = false;              // record changed journal/session/event rows for sync
};

// Opens (and connects, and migrates) a store. An unavailable database still yields the store
// object when `allow_unconnected` is set (the store actor starts degraded and reconnects later);
// otherwise the connect error is returned.
result<std::unique_ptr<store>> open_store(const store_options& o, bool allow_unconnected = false);

// When to checkpoint a generation: after `every_tokens` new tokens or `every_ms` since the last
// checkpoint, whichever comes first (0 disables that trigger). Plain arithmetic, for the router.
struct checkpoint_cadence {
  std::int64_t every_tokens = 16;
  std::int64_t every_ms = 1000;
  bool due(std::int64_t tokens_since_last, std::int64_t ms_since_last) const {
    return (every_tokens > 0 && tokens_since_last >= every_tokens) ||
           (every_ms > 0 && tokens_since_last > 0 && ms_since_last >= every_ms);
  }
};

// Unix time in milliseconds (row timestamps).
std::int64_t now_ms();

}  // namespace holo::persist
