#include "persistence/sqlite_store.hpp"

#include <sqlite3.h>

#include <unordered_map>

#include "persistence/migrations.hpp"
#include "persistence/row_codec.hpp"

namespace holo::persist {

namespace {

// SQLite result code -> our status. Busy, locked, I/O and full disk may pass: retry after
// reconnect; corruption needs an operator.
status from_sqlite(int rc, sqlite3* db, const std::string& what) {
  const std::string msg = what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL: return status::unavailable(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return status::data_loss(msg);
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH: return status::invalid_argument(msg);
    default: return status::internal(msg);
  }
}

// One prepared statement in use: bind, step, read; reset on destruction so the cache can reuse it.
class query {
 public:
  query(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~query() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  query(const query&) = delete;
  query& operator=(const query&) = delete;

  query& text(const std::string& v) { return check(sqlite3_bind_text(s_, ++i_, v.data(), int(v.size()), SQLITE_TRANSIENT)); }
  query& blob(const std::string& v) {
    return check(sqlite3_bind_blob(s_, ++i_, v.empty() ? "" : v.data(), int(v.size()), SQLITE_TRANSIENT));
  }
  query& integer(std::int64_t v) { return check(sqlite3_bind_int64(s_, ++i_, v)); }
  query& null() { return check(sqlite3_bind_null(s_, ++i_)); }

  // SQLITE_ROW -> true, SQLITE_DONE -> false; else the error.
  result<bool> step() {
    if (bind_rc_ != SQLITE_OK) return from_sqlite(bind_rc_, db_, "bind");
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return from_sqlite(rc, db_, "step");
  }
  status run() {
    auto r = step();
    return r ? status{} : r.error();
  }

  std::string col_text(int c) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, std::size_t(sqlite3_column_bytes(s_, c))) : std::string();
  }
  std::string col_blob(int c) const {
    auto p = static_cast<const char*>(sqlite3_column_blob(s_, c));
    return p ? std::string(p, std::size_t(sqlite3_column_bytes(s_, c))) : std::string();
  }
  bool col_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::int64_t col_int(int c) const { return sqlite3_column_int64(s_, c); }

 private:
  query& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* s_;
  int i_ = 0;
  int bind_rc_ = SQLITE_OK;
};

constexpr const char* journal_cols =
    "request_id, owner, client_id, router_node, model, served_model, session_id, prompt, messages, sampling, seed, "
    "max_tokens, delivered_tokens, delivered_texts, delivered_count, status, finish_reason, attempts, revision, "
    "created_ms, updated_ms";

constexpr const char* upsert_journal_sql =
    "INSERT INTO journal (request_id, owner, client_id, router_node, model, served_model, session_id, prompt, "
    "messages, sampling, seed, max_tokens, delivered_tokens, delivered_texts, delivered_count, status, finish_reason, "
    "attempts, revision, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (request_id) DO UPDATE SET owner = excluded.owner, client_id = excluded.client_id, "
    "router_node = excluded.router_node, model = excluded.model, served_model = excluded.served_model, "
    "session_id = excluded.session_id, prompt = excluded.prompt, messages = excluded.messages, "
    "sampling = excluded.sampling, seed = excluded.seed, max_tokens = excluded.max_tokens, "
    "delivered_tokens = excluded.delivered_tokens, delivered_texts = excluded.delivered_texts, "
    "delivered_count = excluded.delivered_count, status = excluded.status, finish_reason = excluded.finish_reason, "
    "attempts = excluded.attempts, revision = excluded.revision, updated_ms = excluded.updated_ms "
    "WHERE excluded.revision > journal.revision";

constexpr const char* upsert_session_sql =
    "INSERT INTO sessions (session_id, seq, role, content, request_id, created_ms) VALUES (?,?,?,?,?,?) "
    "ON CONFLICT (session_id, seq) DO UPDATE SET role = excluded.role, content = excluded.content, "
    "request_id = excluded.request_id";

constexpr const char* upsert_checkpoint_sql =
    "INSERT INTO checkpoints (actor, key, sequence, blob, updated_ms) VALUES (?,?,?,?,?) "
    "ON CONFLICT (actor, key) DO UPDATE SET sequence = excluded.sequence, blob = excluded.blob, "
    "updated_ms = excluded.updated_ms WHERE excluded.sequence >= checkpoints.sequence";

constexpr const char* upsert_event_sql =
    "INSERT INTO membership_events (event_id, observer, peer, state, incarnation, at_ms) VALUES (?,?,?,?,?,?) "
    "ON CONFLICT (event_id) DO NOTHING";

constexpr const char* upsert_backup_sql =
    "INSERT INTO backups (backup_id, node, path, bytes, sha256, status, created_ms, verified_ms, note) "
    "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (backup_id) DO UPDATE SET node = excluded.node, path = excluded.path, "
    "bytes = excluded.bytes, sha256 = excluded.sha256, status = excluded.status, verified_ms = excluded.verified_ms, "
    "note = excluded.note";

constexpr const char* bump_outbox_sql = "UPDATE outbox_counter SET value = value + 1 WHERE id = 1";
constexpr const char* upsert_outbox_sql =
    "INSERT INTO outbox (kind, row_key, seq) VALUES (?, ?, (SELECT value FROM outbox_counter WHERE id = 1)) "
    "ON CONFLICT (kind, row_key) DO UPDATE SET seq = excluded.seq";

class sqlite_store final : public store {
 public:
  explicit sqlite_store(store_options o) : o_(std::move(o)) {}
  ~sqlite_store() override { close(); }

  std::string_view backend() const override { return "sqlite"; }
  std::string where() const override { return o_.sqlite_path; }
  bool connected() const override { return db_ != nullptr; }

  status connect() override {
    if (db_) return {};
    if (o_.sqlite_synchronous != "full" && o_.sqlite_synchronous != "normal")
      return status::invalid_argument("sqlite synchronous must be full or normal, not '" + o_.sqlite_synchronous + "'");
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(o_.sqlite_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
      auto st = from_sqlite(rc, db, "open " + o_.sqlite_path);
      sqlite3_close_v2(db);
      return st;
    }
    db_ = db;
    sqlite3_busy_timeout(db_, 5000);  // another process (holo store check) may hold the lock briefly
    sqlite3_extended_result_codes(db_, 1);
    const std::string pragmas = "PRAGMA journal_mode = WAL; PRAGMA synchronous = " + o_.sqlite_synchronous +
                                "; PRAGMA foreign_keys = ON;";
    if (auto st = exec(pragmas, "pragmas"); !st.ok()) return fail(st);
    if (auto st = migrate(); !st.ok()) return fail(st);
    return {};
  }

  result<std::int64_t> schema_version() override {
    HOLO_TRY(require());
    auto q = prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!q) return q.error();
    auto r = (*q)->step();
    if (!r) return r.error();
    return (*q)->col_int(0);
  }

  status apply(std::span<const write_op> writes) override {
    HOLO_TRY(require());
    for (auto& w : writes) HOLO_TRY(validate(w));
    HOLO_TRY(exec("BEGIN IMMEDIATE", "begin"));
    for (auto& w : writes) {
      if (auto st = std::visit([&](const auto& row) { return put(row); }, w); !st.ok()) {
        (void)exec("ROLLBACK", "rollback");
        return st;
      }
    }
    if (auto st = exec("COMMIT", "commit"); !st.ok()) {
      (void)exec("ROLLBACK", "rollback");
      return st;
    }
    return {};
  }

  result<std::optional<journal_entry>> journal(const std::string& request_id) override {
    HOLO_TRY(require());
    auto q = prepare(std::string("SELECT ") + journal_cols + " FROM journal WHERE request_id = ?");
    if (!q) return q.error();
    (*q)->text(request_id);
    auto r = (*q)->step();
    if (!r) return r.error();
    if (!*r) return std::optional<journal_entry>{};
    auto j = read_journal(**q);
    if (!j) return j.error();
    return std::optional<journal_entry>(std::move(*j));
  }

  result<std::vector<journal_entry>> unfinished_journal(std::size_t limit) override {
    HOLO_TRY(require());
    auto q = prepare(std::string("SELECT ") + journal_cols +
                     " FROM journal WHERE status IN ('accepted', 'running') ORDER BY created_ms, request_id LIMIT ?");
    if (!q) return q.error();
    (*q)->integer(std::int64_t(std::min(limit, read_rows_max)));
    std::vector<journal_entry> out;
    for (;;) {
      auto r = (*q)->step();
      if (!r) return r.error();
      if (!*r) break;
      auto j = read_journal(**q);
      if (!j) return j.error();
      out.push_back(std::move(*j));
    }
    return out;
  }

  result<std::vector<session_message>> session(const std::string& id, std::size_t limit) override {
    HOLO_TRY(require());
    auto q = prepare(
        "SELECT session_id, seq, role, content, request_id, created_ms FROM sessions WHERE session_id = ? "
        "ORDER BY seq LIMIT ?");
    if (!q) return q.error();
    (*q)->text(id).integer(std::int64_t(std::min(limit, read_rows_max)));
    std::vector<session_message> out;
    for (;;) {
      auto r = (*q)->step();
      if (!r) return r.error();
      if (!*r) break;
      auto& s = **q;
      out.push_back({s.col_text(0), s.col_int(1), s.col_text(2), s.col_text(3), s.col_text(4), s.col_int(5)});
    }
    return out;
  }

  result<std::optional<checkpoint_record>> checkpoint(const std::string& actor, const std::string& key) override {
    HOLO_TRY(require());
    auto q = prepare("SELECT actor, key, sequence, blob, updated_ms FROM checkpoints WHERE actor = ? AND key = ?");
    if (!q) return q.error();
    (*q)->text(actor).text(key);
    auto r = (*q)->step();
    if (!r) return r.error();
    if (!*r) return std::optional<checkpoint_record>{};
    auto& s = **q;
    return std::optional<checkpoint_record>(
        checkpoint_record{s.col_text(0), s.col_text(1), s.col_int(2), s.col_blob(3), s.col_int(4)});
  }

  result<std::vector<membership_event>> events(std::int64_t since_ms, std::size_t limit) override {
    HOLO_TRY(require());
    auto q = prepare(
        "SELECT event_id, observer, peer, state, incarnation, at_ms FROM membership_events WHERE at_ms >= ? "
        "ORDER BY at_ms, event_id LIMIT ?");
    if (!q) return q.error();
    (*q)->integer(since_ms).integer(std::int64_t(std::min(limit, read_rows_max)));
    std::vector<membership_event> out;
    for (;;) {
      auto r = (*q)->step();
      if (!r) return r.error();
      if (!*r) break;
      auto& s = **q;
      out.push_back({s.col_text(0), s.col_text(1), s.col_text(2), s.col_text(3),
                     static_cast<std::uint64_t>(s.col_int(4)), s.col_int(5)});
    }
    return out;
  }

  result<std::optional<session_message>> session_message_at(const std::string& id, std::int64_t seq) override {
    HOLO_TRY(require());
    auto q = prepare(
        "SELECT session_id, seq, role, content, request_id, created_ms FROM sessions WHERE session_id = ? AND seq = ?");
    if (!q) return q.error();
    (*q)->text(id).integer(seq);
    auto r = (*q)->step();
    if (!r) return r.error();
    if (!*r) return std::optional<session_message>{};
    auto& s = **q;
    return std::optional<session_message>(
        session_message{s.col_text(0), s.col_int(1), s.col_text(2), s.col_text(3), s.col_text(4), s.col_int(5)});
  }

  result<std::optional<membership_event>> event(const std::string& event_id) override {
    HOLO_TRY(require());
    auto q = prepare("SELECT event_id, observer, peer, state, incarnation, at_ms FROM membership_events WHERE event_id = ?");
    if (!q) return q.error();
    (*q)->text(event_id);
    auto r = (*q)->step();
    if (!r) return r.error();
    if (!*r) return std::optional<membership_event>{};
    auto& s = **q;
    return std::optional<membership_event>(membership_event{s.col_text(0), s.col_text(1), s.col_text(2), s.col_text(3),
                                                            static_cast<std::uint64_t>(s.col_int(4)), s.col_int(5)});
  }

  result<std::vector<backup_entry>> backups(std::size_t limit) override {
    HOLO_TRY(require());
    auto q = prepare(
        "SELECT backup_id, node, path, bytes, sha256, status, created_ms, verified_ms, note FROM backups "
        "ORDER BY created_ms DESC, backup_id LIMIT ?");
    if (!q) return q.error();
    (*q)->integer(std::int64_t(std::min(limit, read_rows_max)));
    std::vector<backup_entry> out;
    for (;;) {
      auto r = (*q)->step();
      if (!r) return r.error();
      if (!*r) break;
      auto& s = **q;
      out.push_back({s.col_text(0), s.col_text(1), s.col_text(2), s.col_int(3), s.col_text(4), s.col_text(5),
                     s.col_int(6), s.col_int(7), s.col_text(8)});
    }
    return out;
  }

  result<std::vector<outbox_entry>> outbox(std::int64_t after_seq, std::size_t limit) override {
    HOLO_TRY(require());
    auto q = prepare("SELECT seq, kind, row_key FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
    if (!q) return q.error();
    (*q)->integer(after_seq).integer(std::int64_t(std::min(limit, read_rows_max)));
    std::vector<outbox_entry> out;
    for (;;) {
      auto r = (*q)->step();
      if (!r) return r.error();
      if (!*r) break;
      out.push_back({(*q)->col_int(0), (*q)->col_text(1), (*q)->col_text(2)});
    }
    return out;
  }

  status ack_outbox(std::int64_t up_to_seq) override {
    HOLO_TRY(require());
    auto q = prepare("DELETE FROM outbox WHERE seq <= ?");
    if (!q) return q.error();
    return (*q)->integer(up_to_seq).run();
  }

  result<table_counts> counts() override {
    HOLO_TRY(require());
    table_counts c;
    for (auto [table, out] : {std::pair{"journal", &c.journal}, {"sessions", &c.sessions}, {"checkpoints", &c.checkpoints},
                              {"membership_events", &c.events}, {"backups", &c.backups}, {"outbox", &c.outbox}}) {
      auto q = prepare(std::string("SELECT count(*) FROM ") + table);
      if (!q) return q.error();
      auto r = (*q)->step();
      if (!r) return r.error();
      *out = (*q)->col_int(0);
    }
    return c;
  }

  result<std::vector<std::string>> journal_ids(const std::string& after, std::size_t limit) override {
    HOLO_TRY(require());
    auto q = prepare("SELECT request_id FROM journal WHERE request_id > ? ORDER BY request_id LIMIT ?");
    if (!q) return q.error();
    (*q)->text(after).integer(std::int64_t(std::min(limit, read_rows_max)));
    std::vector<std::string> out;
    for (;;) {
      auto r = (*q)->step();
      if (!r) return r.error();
      if (!*r) break;
      out.push_back((*q)->col_text(0));
    }
    return out;
  }

  status integrity_check() override {
    HOLO_TRY(require());
    auto q = prepare("PRAGMA integrity_check");
    if (!q) return q.error();
    std::string said;
    for (;;) {
      auto r = (*q)->step();
      if (!r) return r.error();
      if (!*r) break;
      said += (said.empty() ? "" : "; ") + (*q)->col_text(0);
    }
    return said == "ok" ? status{} : status::data_loss("PRAGMA integrity_check: " + said);
  }

 private:
  status require() {
    if (!db_) return status::unavailable("sqlite " + o_.sqlite_path + ": not open");
    return {};
  }

  // On an error that may mean the handle is unusable, close it: connect() reopens.
  status fail(status st) {
    close();
    return st;
  }

  void close() {
    for (auto& [sql, s] : cache_) sqlite3_finalize(s);
    cache_.clear();
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  status exec(const std::string& sql, const char* what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return {};
    std::string msg = std::string(what) + ": " + (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    auto st = from_sqlite(rc, nullptr, msg);
    return st;
  }

  // A cached prepared statement, reset when the returned query goes away.
  result<std::unique_ptr<query>> prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      sqlite3_stmt* s = nullptr;
      int rc = sqlite3_prepare_v3(db_, sql.c_str(), int(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      if (rc != SQLITE_OK) return from_sqlite(rc, db_, "prepare");
      it = cache_.emplace(sql, s).first;
    }
    return std::make_unique<query>(db_, it->second);
  }

  status migrate() {
    HOLO_TRY(exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                  "applied_ms INTEGER NOT NULL)",
                  "schema_migrations"));
    for (auto& m : sqlite_migrations()) {
      // Each migration in its own IMMEDIATE transaction, re-checking inside it: two processes opening
      // the same file at once apply each migration exactly once.
      HOLO_TRY(exec("BEGIN IMMEDIATE", "begin migration"));
      auto done = [&]() -> result<bool> {
        auto q = prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
        if (!q) return q.error();
        (*q)->integer(m.version);
        return (*q)->step();
      }();
      status st = done ? status{} : done.error();
      if (st.ok() && !*done) {
        st = exec(m.sql, m.name);
        if (st.ok()) {
          auto q = prepare("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)");
          st = q ? (*q)->integer(m.version).text(m.name).integer(now_ms()).run() : q.error();
        }
      }
      if (st.ok()) st = exec("COMMIT", "commit migration");
      if (!st.ok()) {
        (void)exec("ROLLBACK", "rollback");
        return st.with_context("migration " + std::string(m.name));
      }
    }
    return {};
  }

  status touch_outbox(const char* kind, const std::string& key) {
    if (!o_.outbox) return {};
    auto b = prepare(bump_outbox_sql);
    if (!b) return b.error();
    HOLO_TRY((*b)->run());
    auto q = prepare(upsert_outbox_sql);
    if (!q) return q.error();
    return (*q)->text(kind).text(key).run();
  }

  status put(const journal_entry& j) {
    const auto messages = codec::encode_messages(j.messages);
    const auto sampling = codec::encode_sampling(j.sampling);
    const auto tokens = codec::encode_tokens(j.delivered_tokens);
    const auto texts = codec::encode_texts(j.delivered_texts);
    auto q = prepare(upsert_journal_sql);
    if (!q) return q.error();
    auto& s = **q;
    s.text(j.request_id).text(j.owner).text(j.client_id).text(j.router_node).text(j.model).text(j.served_model);
    s.text(j.session_id);
    if (j.prompt) s.text(*j.prompt);
    else s.null();
    s.blob(messages).blob(sampling).integer(std::int64_t(j.seed)).integer(j.max_tokens).blob(tokens).blob(texts);
    s.integer(std::int64_t(j.delivered_tokens.size())).text(j.status).text(j.finish_reason).integer(j.attempts);
    s.integer(j.revision).integer(j.created_ms).integer(j.updated_ms);
    HOLO_TRY(s.run());
    return touch_outbox("journal", j.request_id);
  }

  status put(const session_message& m) {
    auto q = prepare(upsert_session_sql);
    if (!q) return q.error();
    HOLO_TRY((*q)->text(m.session_id).integer(m.seq).text(m.role).text(m.content).text(m.request_id).integer(m.created_ms).run());
    return touch_outbox("session", codec::session_key(m.session_id, m.seq));
  }

  status put(const checkpoint_record& c) {
    auto q = prepare(upsert_checkpoint_sql);
    if (!q) return q.error();
    return (*q)->text(c.actor).text(c.key).integer(c.sequence).blob(c.blob).integer(c.updated_ms).run();
  }

  status put(const membership_event& e) {
    auto q = prepare(upsert_event_sql);
    if (!q) return q.error();
    HOLO_TRY((*q)->text(e.event_id).text(e.observer).text(e.peer).text(e.state).integer(std::int64_t(e.incarnation)).integer(e.at_ms).run());
    return touch_outbox("event", e.event_id);
  }

  status put(const backup_entry& b) {
    auto q = prepare(upsert_backup_sql);
    if (!q) return q.error();
    return (*q)->text(b.backup_id).text(b.node).text(b.path).integer(b.bytes).text(b.sha256).text(b.status)
        .integer(b.created_ms).integer(b.verified_ms).text(b.note).run();
  }

  result<journal_entry> read_journal(const query& s) {
    journal_entry j;
    j.request_id = s.col_text(0);
    j.owner = s.col_text(1);
    j.client_id = s.col_text(2);
    j.router_node = s.col_text(3);
    j.model = s.col_text(4);
    j.served_model = s.col_text(5);
    j.session_id = s.col_text(6);
    if (!s.col_null(7)) j.prompt = s.col_text(7);
    auto m = codec::decode_messages(s.col_blob(8));
    if (!m) return m.error().with_context("journal " + j.request_id);
    j.messages = std::move(*m);
    auto sp = codec::decode_sampling(s.col_blob(9));
    if (!sp) return sp.error().with_context("journal " + j.request_id);
    j.sampling = std::move(*sp);
    j.seed = static_cast<std::uint64_t>(s.col_int(10));
    j.max_tokens = s.col_int(11);
    auto t = codec::decode_tokens(s.col_blob(12));
    if (!t) return t.error().with_context("journal " + j.request_id);
    j.delivered_tokens = std::move(*t);
    auto tx = codec::decode_texts(s.col_blob(13));
    if (!tx) return tx.error().with_context("journal " + j.request_id);
    j.delivered_texts = std::move(*tx);
    // column 14, delivered_count, is for SQL readers
    j.status = s.col_text(15);
    j.finish_reason = s.col_text(16);
    j.attempts = s.col_int(17);
    j.revision = s.col_int(18);
    j.created_ms = s.col_int(19);
    j.updated_ms = s.col_int(20);
    return j;
  }

  store_options o_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace

std::unique_ptr<store> make_sqlite_store(const store_options& o) { return std::make_unique<sqlite_store>(o); }

}  // namespace holo::persist
