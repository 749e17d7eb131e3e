#include "persistence/postgres_store.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <regex>
#include <unordered_map>

#include "persistence/migrations.hpp"
#include "persistence/row_codec.hpp"

namespace holo::persist {

std::string redact_dsn(const std::string& dsn) {
  static const std::regex kv(R"((password\s*=\s*)('[^']*'|\S+))", std::regex::icase);
  static const std::regex uri(R"((://[^:/@]*:)[^@]*@)");
  return std::regex_replace(std::regex_replace(dsn, kv, "$1***"), uri, "$1***@");
}

namespace {

// Parameters of one statement: text values, or binary for bytea; nullopt is NULL.
class params {
 public:
  params& text(std::string v) { return add(std::move(v), 0); }
  params& bytes(std::string v) { return add(std::move(v), 1); }
  params& integer(std::int64_t v) { return add(std::to_string(v), 0); }
  params& null() {
    values_.emplace_back();
    null_.push_back(true);
    formats_.push_back(0);
    return *this;
  }
  int size() const { return int(values_.size()); }
  // Pointers are valid while this object lives and is not added to.
  void fill(std::vector<const char*>& v, std::vector<int>& len, std::vector<int>& fmt) const {
    v.clear();
    len.clear();
    for (std::size_t i = 0; i < values_.size(); ++i) {
      v.push_back(null_[i] ? nullptr : values_[i].data());
      len.push_back(int(values_[i].size()));
    }
    fmt = formats_;
  }

 private:
  params& add(std::string v, int fmt) {
    values_.push_back(std::move(v));
    null_.push_back(false);
    formats_.push_back(fmt);
    return *this;
  }
  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<int> formats_;
};

using pg_result = std::unique_ptr<PGresult, decltype(&PQclear)>;

struct rows {
  pg_result r{nullptr, &PQclear};
  int count() const { return PQntuples(r.get()); }
  bool null(int row, int c) const { return PQgetisnull(r.get(), row, c); }
  std::string text(int row, int c) const {
    return std::string(PQgetvalue(r.get(), row, c), std::size_t(PQgetlength(r.get(), row, c)));
  }
  std::int64_t integer(int row, int c) const { return std::strtoll(PQgetvalue(r.get(), row, c), nullptr, 10); }
  std::string bytes(int row, int c) const {  // bytea arrives as text (hex) in text-format results
    std::size_t n = 0;
    unsigned char* p = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r.get(), row, c)), &n);
    if (!p) return {};
    std::string out(reinterpret_cast<char*>(p), n);
    PQfreemem(p);
    return out;
  }
};

constexpr const char* journal_cols =
    "request_id, owner, client_id, router_node, model, served_model, session_id, prompt, messages, sampling, seed, "
    "max_tokens, delivered_tokens, delivered_texts, delivered_count, status, finish_reason, attempts, revision, "
    "created_ms, updated_ms";

constexpr const char* upsert_journal_sql =
    "INSERT INTO journal (request_id, owner, client_id, router_node, model, served_model, session_id, prompt, "
    "messages, sampling, seed, max_tokens, delivered_tokens, delivered_texts, delivered_count, status, finish_reason, "
    "attempts, revision, created_ms, updated_ms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,"
    "$18,$19,$20,$21) "
    "ON CONFLICT (request_id) DO UPDATE SET owner = excluded.owner, client_id = excluded.client_id, "
    "router_node = excluded.router_node, model = excluded.model, served_model = excluded.served_model, "
    "session_id = excluded.session_id, prompt = excluded.prompt, messages = excluded.messages, "
    "sampling = excluded.sampling, seed = excluded.seed, max_tokens = excluded.max_tokens, "
    "delivered_tokens = excluded.delivered_tokens, delivered_texts = excluded.delivered_texts, "
    "delivered_count = excluded.delivered_count, status = excluded.status, finish_reason = excluded.finish_reason, "
    "attempts = excluded.attempts, revision = excluded.revision, updated_ms = excluded.updated_ms "
    "WHERE excluded.revision > journal.revision";

constexpr const char* upsert_session_sql =
    "INSERT INTO sessions (session_id, seq, role, content, request_id, created_ms) VALUES ($1,$2,$3,$4,$5,$6) "
    "ON CONFLICT (session_id, seq) DO UPDATE SET role = excluded.role, content = excluded.content, "
    "request_id = excluded.request_id";

constexpr const char* upsert_checkpoint_sql =
    "INSERT INTO checkpoints (actor, key, sequence, blob, updated_ms) VALUES ($1,$2,$3,$4,$5) "
    "ON CONFLICT (actor, key) DO UPDATE SET sequence = excluded.sequence, blob = excluded.blob, "
    "updated_ms = excluded.updated_ms WHERE excluded.sequence >= checkpoints.sequence";

constexpr const char* upsert_event_sql =
    "INSERT INTO membership_events (event_id, observer, peer, state, incarnation, at_ms) VALUES ($1,$2,$3,$4,$5,$6) "
    "ON CONFLICT (event_id) DO NOTHING";

constexpr const char* upsert_backup_sql =
    "INSERT INTO backups (backup_id, node, path, bytes, sha256, status, created_ms, verified_ms, note) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (backup_id) DO UPDATE SET node = excluded.node, "
    "path = excluded.path, bytes = excluded.bytes, sha256 = excluded.sha256, status = excluded.status, "
    "verified_ms = excluded.verified_ms, note = excluded.note";

constexpr const char* upsert_outbox_sql =
    "INSERT INTO outbox (kind, row_key, seq) VALUES ($1, $2, nextval('outbox_seq')) "
    "ON CONFLICT (kind, row_key) DO UPDATE SET seq = excluded.seq";

// Serialises migrations of every holo process on one database (an arbitrary constant key).
constexpr const char* migration_lock_sql = "SELECT pg_advisory_xact_lock(7233160245)";

bool retryable_sqlstate(const char* state) {
  if (!state) return true;  // no SQLSTATE: a client-side failure (connection)
  std::string_view s(state);
  return s.starts_with("08") || s.starts_with("57P") || s.starts_with("53") || s == "40001" || s == "40P01";
}

class postgres_store final : public store {
 public:
  explicit postgres_store(store_options o) : o_(std::move(o)) {}
  ~postgres_store() override { close(); }

  std::string_view backend() const override { return "postgres"; }
  std::string where() const override { return redact_dsn(o_.postgres_dsn) + (o_.postgres_schema.empty() ? "" : " schema=" + o_.postgres_schema); }
  bool connected() const override { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

  status connect() override {
    if (connected()) return {};
    close();
    const std::string timeout = std::to_string(std::max(1, o_.connect_timeout_s));
    // connect_timeout first: a value given in the DSN (expanded from dbname) overrides it.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* vals[] = {timeout.c_str(), "holo", o_.postgres_dsn.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, vals, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = conn_ ? PQerrorMessage(conn_) : "out of memory";
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      close();
      return status::unavailable("postgres " + redact_dsn(o_.postgres_dsn) + ": " + msg);
    }
    // Server notices ("already exists, skipping") are not errors: keep them off stderr.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    if (!o_.postgres_schema.empty()) {
      char* id = PQescapeIdentifier(conn_, o_.postgres_schema.data(), o_.postgres_schema.size());
      if (!id) return fail(status::invalid_argument("postgres schema name '" + o_.postgres_schema + "' is not valid"));
      std::string quoted(id);
      PQfreemem(id);
      // Two processes creating the schema at once would race on the catalog: take the lock.
      std::string sql = "BEGIN; " + std::string(migration_lock_sql) + "; CREATE SCHEMA IF NOT EXISTS " + quoted +
                        "; COMMIT; SET search_path TO " + quoted;
      if (auto st = exec(sql, "schema"); !st.ok()) return fail(st);
    }
    if (auto st = migrate(); !st.ok()) return fail(st);
    return {};
  }

  result<std::int64_t> schema_version() override {
    auto r = query("SELECT coalesce(max(version), 0) FROM schema_migrations", {});
    if (!r) return r.error();
    return r->integer(0, 0);
  }

  status apply(std::span<const write_op> writes) override {
    for (auto& w : writes) HOLO_TRY(validate(w));
    HOLO_TRY(require());
    HOLO_TRY(exec("BEGIN", "begin"));
    for (auto& w : writes) {
      if (auto st = std::visit([&](const auto& row) { return put(row); }, w); !st.ok()) {
        rollback();
        return st;
      }
    }
    // A COMMIT without an answer leaves the outcome unknown: the caller reapplies the batch.
    if (auto st = exec("COMMIT", "commit"); !st.ok()) {
      rollback();
      return st;
    }
    return {};
  }

  result<std::optional<journal_entry>> journal(const std::string& request_id) override {
    auto r = query(std::string("SELECT ") + journal_cols + " FROM journal WHERE request_id = $1",
                   params().text(request_id));
    if (!r) return r.error();
    if (r->count() == 0) return std::optional<journal_entry>{};
    auto j = read_journal(*r, 0);
    if (!j) return j.error();
    return std::optional<journal_entry>(std::move(*j));
  }

  result<std::vector<journal_entry>> unfinished_journal(std::size_t limit) override {
    auto r = query(std::string("SELECT ") + journal_cols +
                       " FROM journal WHERE status IN ('accepted', 'running') ORDER BY created_ms, request_id LIMIT $1",
                   params().integer(std::int64_t(std::min(limit, read_rows_max))));
    if (!r) return r.error();
    std::vector<journal_entry> out;
    for (int i = 0; i < r->count(); ++i) {
      auto j = read_journal(*r, i);
      if (!j) return j.error();
      out.push_back(std::move(*j));
    }
    return out;
  }

  result<std::vector<session_message>> session(const std::string& id, std::size_t limit) override {
    auto r = query(
        "SELECT session_id, seq, role, content, request_id, created_ms FROM sessions WHERE session_id = $1 "
        "ORDER BY seq LIMIT $2",
        params().text(id).integer(std::int64_t(std::min(limit, read_rows_max))));
    if (!r) return r.error();
    std::vector<session_message> out;
    for (int i = 0; i < r->count(); ++i)
      out.push_back({r->text(i, 0), r->integer(i, 1), r->text(i, 2), r->text(i, 3), r->text(i, 4), r->integer(i, 5)});
    return out;
  }

  result<std::optional<checkpoint_record>> checkpoint(const std::string& actor, const std::string& key) override {
    auto r = query("SELECT actor, key, sequence, blob, updated_ms FROM checkpoints WHERE actor = $1 AND key = $2",
                   params().text(actor).text(key));
    if (!r) return r.error();
    if (r->count() == 0) return std::optional<checkpoint_record>{};
    return std::optional<checkpoint_record>(
        checkpoint_record{r->text(0, 0), r->text(0, 1), r->integer(0, 2), r->bytes(0, 3), r->integer(0, 4)});
  }

  result<std::vector<membership_event>> events(std::int64_t since_ms, std::size_t limit) override {
    auto r = query(
        "SELECT event_id, observer, peer, state, incarnation, at_ms FROM membership_events WHERE at_ms >= $1 "
        "ORDER BY at_ms, event_id LIMIT $2",
        params().integer(since_ms).integer(std::int64_t(std::min(limit, read_rows_max))));
    if (!r) return r.error();
    std::vector<membership_event> out;
    for (int i = 0; i < r->count(); ++i)
      out.push_back({r->text(i, 0), r->text(i, 1), r->text(i, 2), r->text(i, 3),
                     static_cast<std::uint64_t>(r->integer(i, 4)), r->integer(i, 5)});
    return out;
  }

  result<std::optional<session_message>> session_message_at(const std::string& id, std::int64_t seq) override {
    auto r = query(
        "SELECT session_id, seq, role, content, request_id, created_ms FROM sessions WHERE session_id = $1 AND seq = $2",
        params().text(id).integer(seq));
    if (!r) return r.error();
    if (r->count() == 0) return std::optional<session_message>{};
    return std::optional<session_message>(
        session_message{r->text(0, 0), r->integer(0, 1), r->text(0, 2), r->text(0, 3), r->text(0, 4), r->integer(0, 5)});
  }

  result<std::optional<membership_event>> event(const std::string& event_id) override {
    auto r = query("SELECT event_id, observer, peer, state, incarnation, at_ms FROM membership_events WHERE event_id = $1",
                   params().text(event_id));
    if (!r) return r.error();
    if (r->count() == 0) return std::optional<membership_event>{};
    return std::optional<membership_event>(membership_event{r->text(0, 0), r->text(0, 1), r->text(0, 2), r->text(0, 3),
                                                            static_cast<std::uint64_t>(r->integer(0, 4)), r->integer(0, 5)});
  }

  result<std::vector<backup_entry>> backups(std::size_t limit) override {
    auto r = query(
        "SELECT backup_id, node, path, bytes, sha256, status, created_ms, verified_ms, note FROM backups "
        "ORDER BY created_ms DESC, backup_id LIMIT $1",
        params().integer(std::int64_t(std::min(limit, read_rows_max))));
    if (!r) return r.error();
    std::vector<backup_entry> out;
    for (int i = 0; i < r->count(); ++i)
      out.push_back({r->text(i, 0), r->text(i, 1), r->text(i, 2), r->integer(i, 3), r->text(i, 4), r->text(i, 5),
                     r->integer(i, 6), r->integer(i, 7), r->text(i, 8)});
    return out;
  }

  result<std::vector<outbox_entry>> outbox(std::int64_t after_seq, std::size_t limit) override {
    auto r = query("SELECT seq, kind, row_key FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
                   params().integer(after_seq).integer(std::int64_t(std::min(limit, read_rows_max))));
    if (!r) return r.error();
    std::vector<outbox_entry> out;
    for (int i = 0; i < r->count(); ++i) out.push_back({r->integer(i, 0), r->text(i, 1), r->text(i, 2)});
    return out;
  }

  status ack_outbox(std::int64_t up_to_seq) override {
    auto r = query("DELETE FROM outbox WHERE seq <= $1", params().integer(up_to_seq));
    return r ? status{} : r.error();
  }

  result<table_counts> counts() override {
    auto r = query(
        "SELECT (SELECT count(*) FROM journal), (SELECT count(*) FROM sessions), (SELECT count(*) FROM checkpoints), "
        "(SELECT count(*) FROM membership_events), (SELECT count(*) FROM backups), (SELECT count(*) FROM outbox)",
        {});
    if (!r) return r.error();
    return table_counts{r->integer(0, 0), r->integer(0, 1), r->integer(0, 2),
                        r->integer(0, 3), r->integer(0, 4), r->integer(0, 5)};
  }

  result<std::vector<std::string>> journal_ids(const std::string& after, std::size_t limit) override {
    auto r = query("SELECT request_id FROM journal WHERE request_id > $1 ORDER BY request_id LIMIT $2",
                   params().text(after).integer(std::int64_t(std::min(limit, read_rows_max))));
    if (!r) return r.error();
    std::vector<std::string> out;
    for (int i = 0; i < r->count(); ++i) out.push_back(r->text(i, 0));
    return out;
  }

  status integrity_check() override {
    auto v = schema_version();
    if (!v) return v.error();
    const auto want = postgres_migrations().back().version;
    if (*v != want)
      return status::data_loss("schema version " + std::to_string(*v) + ", this build expects " + std::to_string(want));
    auto r = query(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN "
        "('journal', 'sessions', 'checkpoints', 'membership_events', 'backups', 'outbox', 'schema_migrations')",
        {});
    if (!r) return r.error();
    if (r->integer(0, 0) != 7) return status::data_loss("tables missing: found " + r->text(0, 0) + " of 7");
    return {};
  }

 private:
  status require() {
    if (!connected()) return status::unavailable("postgres " + redact_dsn(o_.postgres_dsn) + ": not connected");
    return {};
  }

  status fail(status st) {
    close();
    return st;
  }

  void close() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    prepared_.clear();
  }

  void rollback() {
    if (connected()) (void)exec("ROLLBACK", "rollback");
  }

  // Our status for a failed result; a broken connection is closed so that connect() starts afresh.
  status error_of(PGresult* r, const std::string& what) {
    std::string msg = r ? PQresultErrorMessage(r) : (conn_ ? PQerrorMessage(conn_) : "no connection");
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    msg = what + ": " + msg + (state ? std::string(" (SQLSTATE ") + state + ")" : "");
    const bool lost = !conn_ || PQstatus(conn_) != CONNECTION_OK;
    if (lost) close();
    if (lost || retryable_sqlstate(state)) return status::unavailable(msg);
    std::string_view s(state ? state : "");
    if (s.starts_with("22") || s.starts_with("23")) return status::invalid_argument(msg);
    return status::internal(msg);
  }

  // Simple-protocol execution (several statements allowed, no parameters).
  status exec(const std::string& sql, const std::string& what) {
    HOLO_TRY(require());
    pg_result r(PQexec(conn_, sql.c_str()), &PQclear);
    auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {};
    return error_of(r.get(), what);
  }

  // A parameterised statement, prepared on first use on this connection.
  result<rows> query(const std::string& sql, const params& p) {
    HOLO_TRY(require());
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "holo_" + std::to_string(prepared_.size());
      pg_result r(PQprepare(conn_, name.c_str(), sql.c_str(), p.size(), nullptr), &PQclear);
      if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) return error_of(r.get(), "prepare");
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    std::vector<const char*> v;
    std::vector<int> len, fmt;
    p.fill(v, len, fmt);
    rows out;
    out.r.reset(PQexecPrepared(conn_, it->second.c_str(), p.size(), v.data(), len.data(), fmt.data(), 0));
    auto st = out.r ? PQresultStatus(out.r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return out;
    return error_of(out.r.get(), "query");
  }

  status run(const std::string& sql, const params& p) {
    auto r = query(sql, p);
    return r ? status{} : r.error();
  }

  status migrate() {
    for (auto& m : postgres_migrations()) {
      HOLO_TRY(exec("BEGIN", "begin migration"));
      status st = exec(migration_lock_sql, "migration lock");
      if (st.ok())
        st = exec("CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, "
                  "applied_ms bigint NOT NULL)",
                  "schema_migrations");
      bool done = false;
      if (st.ok()) {
        auto r = query("SELECT 1 FROM schema_migrations WHERE version = $1", params().integer(m.version));
        if (r) done = r->count() > 0;
        else st = r.error();
      }
      if (st.ok() && !done) {
        st = exec(m.sql, m.name);
        if (st.ok())
          st = run("INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)",
                   params().integer(m.version).text(m.name).integer(now_ms()));
      }
      if (st.ok()) st = exec("COMMIT", "commit migration");
      if (!st.ok()) {
        rollback();
        return st.with_context("migration " + std::string(m.name));
      }
    }
    return {};
  }

  status touch_outbox(const char* kind, const std::string& key) {
    if (!o_.outbox) return {};
    return run(upsert_outbox_sql, params().text(kind).text(key));
  }

  status put(const journal_entry& j) {
    params p;
    p.text(j.request_id).text(j.owner).text(j.client_id).text(j.router_node).text(j.model).text(j.served_model);
    p.text(j.session_id);
    if (j.prompt) p.text(*j.prompt);
    else p.null();
    p.bytes(codec::encode_messages(j.messages)).bytes(codec::encode_sampling(j.sampling)).integer(std::int64_t(j.seed));
    p.integer(j.max_tokens).bytes(codec::encode_tokens(j.delivered_tokens)).bytes(codec::encode_texts(j.delivered_texts));
    p.integer(std::int64_t(j.delivered_tokens.size())).text(j.status).text(j.finish_reason).integer(j.attempts);
    p.integer(j.revision).integer(j.created_ms).integer(j.updated_ms);
    HOLO_TRY(run(upsert_journal_sql, p));
    return touch_outbox("journal", j.request_id);
  }

  status put(const session_message& m) {
    HOLO_TRY(run(upsert_session_sql, params().text(m.session_id).integer(m.seq).text(m.role).text(m.content)
                                         .text(m.request_id).integer(m.created_ms)));
    return touch_outbox("session", codec::session_key(m.session_id, m.seq));
  }

  status put(const checkpoint_record& c) {
    return run(upsert_checkpoint_sql,
               params().text(c.actor).text(c.key).integer(c.sequence).bytes(c.blob).integer(c.updated_ms));
  }

  status put(const membership_event& e) {
    HOLO_TRY(run(upsert_event_sql, params().text(e.event_id).text(e.observer).text(e.peer).text(e.state)
                                       .integer(std::int64_t(e.incarnation)).integer(e.at_ms)));
    return touch_outbox("event", e.event_id);
  }

  status put(const backup_entry& b) {
    return run(upsert_backup_sql, params().text(b.backup_id).text(b.node).text(b.path).integer(b.bytes).text(b.sha256)
                                      .text(b.status).integer(b.created_ms).integer(b.verified_ms).text(b.note));
  }

  result<journal_entry> read_journal(const rows& r, int i) {
    journal_entry j;
    j.request_id = r.text(i, 0);
    j.owner = r.text(i, 1);
    j.client_id = r.text(i, 2);
    j.router_node = r.text(i, 3);
    j.model = r.text(i, 4);
    j.served_model = r.text(i, 5);
    j.session_id = r.text(i, 6);
    if (!r.null(i, 7)) j.prompt = r.text(i, 7);
    auto m = codec::decode_messages(r.bytes(i, 8));
    if (!m) return m.error().with_context("journal " + j.request_id);
    j.messages = std::move(*m);
    auto sp = codec::decode_sampling(r.bytes(i, 9));
    if (!sp) return sp.error().with_context("journal " + j.request_id);
    j.sampling = std::move(*sp);
    j.seed = static_cast<std::uint64_t>(r.integer(i, 10));
    j.max_tokens = r.integer(i, 11);
    auto t = codec::decode_tokens(r.bytes(i, 12));
    if (!t) return t.error().with_context("journal " + j.request_id);
    j.delivered_tokens = std::move(*t);
    auto tx = codec::decode_texts(r.bytes(i, 13));
    if (!tx) return tx.error().with_context("journal " + j.request_id);
    j.delivered_texts = std::move(*tx);
    j.status = r.text(i, 15);
    j.finish_reason = r.text(i, 16);
    j.attempts = r.integer(i, 17);
    j.revision = r.integer(i, 18);
    j.created_ms = r.integer(i, 19);
    j.updated_ms = r.integer(i, 20);
    return j;
  }

  store_options o_;
  PGconn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;  // sql -> statement name
};

}  // namespace

std::unique_ptr<store> make_postgres_store(const store_options& o) { return std::make_unique<postgres_store>(o); }

}  // namespace holo::persist
