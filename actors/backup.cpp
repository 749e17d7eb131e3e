#include "actors/backup.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/store.hpp"
#include "persistence/backup_key.hpp"
#include "persistence/backup_retention.hpp"
#include "persistence/postgres_dump.hpp"
#include "runtime/metrics.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

namespace pz = holo::persistence;
using backup_tick_atom = caf::atom_constant<caf::atom("bk_tick")>;

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// SHA-256 of a file, hex: what the catalogue records so that a copy of an archive can be checked
// without its key.
std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0)
      crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(buf.data()), static_cast<unsigned long long>(in.gcount()));
  }
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, out);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (auto b : out) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

backup_file to_file(const pz::archive_entry& e) {
  backup_file f;
  f.name = e.name;
  f.path = e.path;
  f.bytes = e.size_bytes;
  f.created_unix_s = e.header_status.ok() ? e.header.created_unix_seconds : 0;
  f.plaintext_bytes = e.header_status.ok() ? e.header.plaintext_bytes : 0;
  f.key_id = e.header_status.ok() ? pz::key_id_hex(e.header.key_id) : "";
  f.state = e.header_status.ok() ? "ok" : e.header_status.message();
  return f;
}

struct backup_state {
  static inline const char* name = "backup";
  backup_actor_options opts;
  node_context_ptr ctx;
  log::logger log;
  backup_stats stats;
  bool failing = false;
};

using backup_actor = caf::stateful_actor<backup_state>;

void schedule(backup_actor* self, std::int64_t due_unix_s) {
  auto& st = self->state;
  st.stats.next_due_unix_s = due_unix_s;
  auto wait = std::chrono::seconds(std::max<std::int64_t>(0, due_unix_s - unix_now_s()));
  self->delayed_send(self, wait, backup_tick_atom::value, due_unix_s);
}

// Records `e` in the store's catalogue, if this node has a store. A catalogue that cannot be
// written does not fail the backup (the archive is on disk and listed by the folder); it is logged.
void record(backup_actor* self, persist::backup_entry e) {
  auto store = caf::actor_cast<caf::actor>(self->system().registry().get(caf::atom_from_string(names::store)));
  if (!store) return;
  auto log = self->state.log;
  store_batch b;
  b.rows.push_back(std::move(e));
  self->request(store, std::chrono::seconds(10), store_write_atom::value, std::move(b))
      .then([log](store_ack& a) {
              if (!a.result.ok()) log.warn("backup catalogue not updated", {{"error", a.result.to_string()}});
            },
            [log](caf::error& err) { log.warn("backup catalogue not updated", {{"error", caf::to_string(err)}}); });
}

backup_result run_backup(backup_actor* self) {
  auto& st = self->state;
  auto t0 = std::chrono::steady_clock::now();
  backup_result r;
  auto key = pz::read_backup_key_file(st.opts.key_file);
  if (!key) {
    r.result = key.error();
  } else {
    pz::backup_options bo;
    bo.keep = st.opts.keep;
    auto rec = st.opts.postgres_dsn.empty() ? pz::create_sqlite_backup(st.opts.db_path, st.opts.dir, *key, bo)
                                            : pz::create_postgres_backup(st.opts.postgres_dsn, st.opts.dir, *key, bo);
    if (!rec) {
      r.result = rec.error();
    } else {
      r.file.path = rec->archive_path;
      r.file.name = rec->archive_path.substr(rec->archive_path.find_last_of('/') + 1);
      r.file.created_unix_s = rec->info.created_unix_seconds;
      r.file.bytes = rec->info.archive_bytes;
      r.file.plaintext_bytes = rec->info.plaintext_bytes;
      r.file.key_id = pz::key_id_hex(rec->info.key_id);
      r.file.state = "ok";
      r.pruned = rec->pruned;
    }
  }
  r.took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  auto now_ms = unix_now_s() * 1000;
  if (r.result.ok()) {
    st.failing = false;
    ++st.stats.successes;
    st.stats.last_success_unix_s = r.file.created_unix_s;
    st.stats.last_error.clear();
    metrics::set_backup_last_success(static_cast<double>(unix_now_s()));
    st.log.info("backup written", {{"archive", r.file.path}, {"bytes", static_cast<std::int64_t>(r.file.bytes)},
                                   {"database_bytes", static_cast<std::int64_t>(r.file.plaintext_bytes)},
                                   {"took_ms", r.took_ms}, {"pruned", static_cast<std::int64_t>(r.pruned.size())}});
    persist::backup_entry e;
    e.backup_id = r.file.name;
    e.node = st.ctx->node.name;
    e.path = r.file.path;
    e.bytes = static_cast<std::int64_t>(r.file.bytes);
    e.sha256 = file_sha256(r.file.path);
    e.status = "complete";
    e.created_ms = r.file.created_unix_s * 1000;
    e.note = "key " + r.file.key_id;
    record(self, std::move(e));
    for (auto& name : r.pruned) {
      persist::backup_entry d;
      d.backup_id = name;
      d.node = st.ctx->node.name;
      d.path = st.opts.dir + "/" + name;
      d.status = "deleted";
      d.created_ms = now_ms;
      d.note = "removed by retention (keep " + std::to_string(st.opts.keep) + ")";
      record(self, std::move(d));
    }
  } else {
    st.failing = true;
    ++st.stats.failures;
    st.stats.last_error = r.result.to_string();
    st.log.error("backup failed", {{"error", st.stats.last_error}, {"database", st.opts.postgres_dsn.empty() ? st.opts.db_path : std::string("postgres")}});
  }
  return r;
}

caf::behavior backup_fun(backup_actor* self, node_context_ptr ctx, backup_actor_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.ctx = ctx;
  st.log = ctx->log.child(names::backup);
  if (sodium_init() < 0) {
    st.log.error("libsodium failed to initialise");
    self->quit(caf::make_error(caf::sec::runtime_error));
    return {};
  }
  // Fail at start, not at 3 a.m.: the key must be readable now.
  if (auto key = pz::read_backup_key_file(st.opts.key_file); !key) {
    st.log.error("cannot read the backup key", {{"error", key.error().to_string()}});
    self->quit(caf::make_error(caf::sec::runtime_error, key.error().to_string()));
    return {};
  }
  // Due one period after the newest archive; one overdue (or none at all) runs after first_delay.
  std::int64_t newest = 0;
  if (auto ls = pz::list_archives(st.opts.dir); ls && !ls->empty())
    for (auto& e : *ls)
      if (e.header_status.ok()) {
        newest = e.header.created_unix_seconds;
        break;
      }
  st.stats.last_success_unix_s = newest;
  if (newest > 0) metrics::set_backup_last_success(static_cast<double>(newest));
  auto earliest = unix_now_s() + std::chrono::duration_cast<std::chrono::seconds>(st.opts.first_delay).count();
  schedule(self, std::max(newest + st.opts.period.count(), earliest));
  st.log.info("backups scheduled", {{"dir", st.opts.dir}, {"period_s", static_cast<std::int64_t>(st.opts.period.count())},
                                    {"keep", static_cast<std::int64_t>(st.opts.keep)},
                                    {"next_in_s", st.stats.next_due_unix_s - unix_now_s()}});
  return {
      [=](backup_tick_atom, std::int64_t due) {
        if (due != self->state.stats.next_due_unix_s) return;  // superseded by a reschedule
        run_backup(self);
        schedule(self, unix_now_s() + self->state.opts.period.count());
      },
      [=](backup_now_atom) {
        auto r = run_backup(self);
        // A manual backup restarts the period, as a scheduled one would have.
        if (r.result.ok()) schedule(self, unix_now_s() + self->state.opts.period.count());
        return r;
      },
      [=](backup_list_atom) {
        backup_listing l;
        auto ls = pz::list_archives(self->state.opts.dir);
        if (!ls) {
          l.result = ls.error().code() == status_code::not_found ? status{} : ls.error();
          return l;
        }
        for (auto& e : *ls) l.files.push_back(to_file(e));
        return l;
      },
      [=](backup_stats_atom) { return self->state.stats; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](status_atom) { return actor_status{names::backup, self->state.failing ? "failing" : "running"}; },
      [=](sup::ready_atom) { return caf::ok_atom::value; },
  };
}

}  // namespace

result<backup_actor_options> backup_options_from_config(const config::cluster_config& c, const config::node_config& node) {
  backup_actor_options o;
  if (c.backup.key_file.empty()) return status::invalid_argument(c.source_path + ": backup.key_file is required");
  if (c.persistence.backend == "postgres") {
    o.postgres_dsn = c.persistence.postgres_dsn;
    if (const char* env = std::getenv("HOLO_POSTGRES_DSN"); o.postgres_dsn.empty() && env != nullptr) o.postgres_dsn = env;
    if (o.postgres_dsn.empty())
      return status::invalid_argument(c.source_path + ": backups of a PostgreSQL store need persistence.postgres_dsn or HOLO_POSTGRES_DSN");
  }
  o.db_path = c.resolve_path(c.persistence.sqlite_path.empty() ? node.data_dir + "/holo.sqlite" : c.persistence.sqlite_path);
  o.dir = c.resolve_path(c.backup.dir.empty() ? node.data_dir + "/backups" : c.backup.dir);
  o.key_file = c.resolve_path(c.backup.key_file);
  o.keep = static_cast<std::size_t>(c.backup.keep);
  o.period = c.backup.schedule == "hourly" ? std::chrono::seconds(3600)
             : c.backup.schedule == "weekly" ? std::chrono::seconds(7 * 86400)
                                            : std::chrono::seconds(86400);
  return o;
}

caf::actor spawn_backup(caf::actor_system& sys, node_context_ptr ctx, backup_actor_options opts) {
  return sys.spawn<caf::detached>(backup_fun, std::move(ctx), std::move(opts));
}

}  // namespace holo
