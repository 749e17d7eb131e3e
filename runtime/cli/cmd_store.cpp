// holo store: look at and exercise a node's store without running the node.
//   holo store check    [TARGET] [--expect-ids FILE] [--page-rows N]
//                                                       integrity, schema version, row counts; with
//                                                       --expect-ids, how many of those journal ids are missing
//                                                       (all ids read, N per query)
//   holo store migrate  [TARGET]                        apply missing migrations, print the version
//   holo store write-test [TARGET] [--count N] [--first K] [--window W] [--prefix P]
//                                                       journal writes through the store actor, "ack ID" per commit
//   holo bench store [--backend sqlite|postgres|both] [--writes N] [--payload-bytes B] [--concurrency 1,16]
// TARGET: --config FILE [--name NODE] (the node's [persistence] section), or --backend/--path/--dsn
// directly (--dsn defaults to $HOLO_POSTGRES_DSN). Exit codes: 0 ok, 1 check failed or runtime failure,
// 2 usage or configuration error.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "actors/store_tools.hpp"
#include "persistence/store.hpp"
#include "runtime/cli/commands.hpp"
#include "runtime/cli/log_options.hpp"
#include "runtime/config.hpp"

namespace holo::cli {

namespace {

struct target_args {
  std::string config, name;
  std::string backend = "sqlite", path, dsn, schema, synchronous = "full";

  void add_to(CLI::App* sub) {
    sub->add_option("--config", config, "Cluster TOML: use the node's [persistence] settings");
    sub->add_option("--name", name, "Node name in --config (default: the only node)");
    sub->add_option("--backend", backend, "sqlite or postgres (without --config)")
        ->check(CLI::IsMember({"sqlite", "postgres"}))
        ->capture_default_str();
    sub->add_option("--path", path, "SQLite file (without --config)");
    sub->add_option("--dsn", dsn, "PostgreSQL DSN (default: $HOLO_POSTGRES_DSN)");
    sub->add_option("--schema", schema, "PostgreSQL schema to use (created if missing)");
    sub->add_option("--synchronous", synchronous, "SQLite synchronous: full or normal")
        ->check(CLI::IsMember({"full", "normal"}))
        ->capture_default_str();
  }

  // The actor options, or a message for exit code 2.
  result<store_actor_options> resolve() const {
    if (!config.empty()) {
      auto c = config::load_file(config);
      if (!c) return c.error();
      auto n = config::select_node(*c, name);
      if (!n) return n.error();
      auto o = store_options_from_config(*c, *n);
      if (o && !schema.empty()) o->store.postgres_schema = schema;
      return o;
    }
    store_actor_options o;
    o.store.backend = backend;
    o.store.sqlite_path = path;
    o.store.sqlite_synchronous = synchronous;
    o.store.postgres_dsn = dsn;
    o.store.postgres_schema = schema;
    if (o.store.postgres_dsn.empty())
      if (const char* env = std::getenv("HOLO_POSTGRES_DSN")) o.store.postgres_dsn = env;
    if (backend == "sqlite" && path.empty()) return status::invalid_argument("--path is required for sqlite (or give --config)");
    if (backend == "postgres" && o.store.postgres_dsn.empty())
      return status::invalid_argument("--dsn or HOLO_POSTGRES_DSN is required for postgres");
    return o;
  }
};

int fail_usage(const char* cmd, const status& s) {
  std::cerr << "holo store " << cmd << ": " << s.message() << "\n";
  return 2;
}

int run_check(const target_args& t, const std::string& expect_ids, std::size_t page_rows) {
  auto o = t.resolve();
  if (!o) return fail_usage("check", o.error());
  auto s = persist::open_store(o->store);
  if (!s) {
    std::cerr << "holo store check: " << s.error().to_string() << "\n";
    return 1;
  }
  auto& db = **s;
  int rc = 0;
  std::printf("backend %s\nwhere %s\n", std::string(db.backend()).c_str(), db.where().c_str());
  auto v = db.schema_version();
  std::printf("schema_version %lld\n", v ? static_cast<long long>(*v) : -1LL);
  auto integrity = db.integrity_check();
  std::printf("integrity %s\n", integrity.ok() ? "ok" : integrity.message().c_str());
  if (!integrity.ok()) rc = 1;
  if (auto c = db.counts()) {
    std::printf("journal %lld\nsessions %lld\ncheckpoints %lld\nevents %lld\nbackups %lld\noutbox %lld\n",
                (long long)c->journal, (long long)c->sessions, (long long)c->checkpoints, (long long)c->events,
                (long long)c->backups, (long long)c->outbox);
  } else {
    std::printf("counts %s\n", c.error().to_string().c_str());
    rc = 1;
  }
  if (!expect_ids.empty()) {
    std::ifstream in(expect_ids);
    if (!in) {
      std::cerr << "holo store check: cannot read " << expect_ids << "\n";
      return 2;
    }
    // Every id, page by page: a journal longer than one page must not read as missing rows.
    std::set<std::string> have;
    for (std::string after;;) {
      auto ids = db.journal_ids(after, page_rows);
      if (!ids) {
        std::cerr << "holo store check: " << ids.error().to_string() << "\n";
        return 1;
      }
      have.insert(ids->begin(), ids->end());
      if (ids->size() < page_rows) break;
      after = ids->back();
    }
    std::int64_t expected = 0, missing = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      ++expected;
      if (!have.count(line)) {
        if (missing < 10) std::printf("missing_id %s\n", line.c_str());
        ++missing;
      }
    }
    std::printf("expected %lld\nmissing %lld\n", (long long)expected, (long long)missing);
    if (missing > 0) rc = 1;
  }
  return rc;
}

int run_migrate(const target_args& t) {
  auto o = t.resolve();
  if (!o) return fail_usage("migrate", o.error());
  auto s = persist::open_store(o->store);
  if (!s) {
    std::cerr << "holo store migrate: " << s.error().to_string() << "\n";
    return 1;
  }
  auto v = (*s)->schema_version();
  if (!v) {
    std::cerr << "holo store migrate: " << v.error().to_string() << "\n";
    return 1;
  }
  std::printf("%s %s: schema version %lld\n", std::string((*s)->backend()).c_str(), (*s)->where().c_str(),
              static_cast<long long>(*v));
  return 0;
}

std::vector<std::int64_t> parse_list(const std::string& s) {
  std::vector<std::int64_t> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) out.push_back(std::stoll(x));
  return out;
}

}  // namespace

void add_store(CLI::App& app, command_registry& reg) {
  auto* store = app.add_subcommand("store", "Check, migrate and exercise a node's store (SQLite or PostgreSQL)");
  store->require_subcommand(1);
  auto t = std::make_shared<target_args>();
  auto expect = std::make_shared<std::string>();
  auto* check = store->add_subcommand("check", "Integrity, schema version and row counts");
  t->add_to(check);
  check->add_option("--expect-ids", *expect, "File of journal request ids (one a line) that must all be present");
  auto page_rows = std::make_shared<std::size_t>(persist::read_rows_max);
  check->add_option("--page-rows", *page_rows, "Journal ids read per query for --expect-ids")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t(1), persist::read_rows_max));
  auto* migrate = store->add_subcommand("migrate", "Apply the missing migrations");
  t->add_to(migrate);
  auto wt = std::make_shared<write_test_options>();
  auto logs = std::make_shared<log_options>();
  logs->level = "warn";
  auto* write_test = store->add_subcommand("write-test", "Journal writes through the store actor, printing \"ack ID\" per commit");
  t->add_to(write_test);
  write_test->add_option("--count", wt->count, "Rows to write")->capture_default_str();
  write_test->add_option("--first", wt->first, "First row number")->capture_default_str();
  write_test->add_option("--window", wt->window, "Writes in flight")->capture_default_str()->check(CLI::Range(1, 100000));
  write_test->add_option("--prefix", wt->prefix, "Request id prefix")->capture_default_str();
  write_test->add_option("--buffer-rows", wt->actor.buffer_rows, "Store actor buffer")->capture_default_str();
  write_test->add_option("--timeout-ms", wt->timeout_ms, "Give up after this long")->capture_default_str();
  logs->add_to(write_test);
  reg.add(store, [=] {
    if (check->parsed()) return run_check(*t, *expect, *page_rows);
    if (migrate->parsed()) return run_migrate(*t);
    if (write_test->parsed()) {
      auto o = t->resolve();
      if (!o) return fail_usage("write-test", o.error());
      auto w = *wt;
      const auto buffer = w.actor.buffer_rows;
      w.actor = *o;
      w.actor.buffer_rows = buffer;
      w.actor.reconnect_min_ms = 50;
      w.actor.reconnect_max_ms = 500;
      return run_store_write_test(w, log::logger(logs->make_sink(), "store"));
    }
    return 2;
  });
}

void add_bench_store(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children) {
  struct args {
    std::string backend = "both", dsn, path, synchronous = "full", concurrency = "1,16";
    std::int64_t writes = 2000, payload_bytes = 4096;
  };
  auto a = std::make_shared<args>();
  auto* sub = bench.add_subcommand("store", "Checkpoint writes/s and ack latency through the store actor, SQLite and PostgreSQL");
  sub->footer(
      "Each checkpoint (a checksummed envelope around an incompressible payload) is one store write\n"
      "acknowledged after its commit; `concurrency` writers each wait for their ack (the store actor\n"
      "group-commits what arrives meanwhile). PostgreSQL uses --dsn or $HOLO_POSTGRES_DSN, schema holo_bench.\n"
      "Example: holo bench store --backend both --writes 2000 --payload-bytes 4096 --concurrency 1,16");
  sub->add_option("--backend", a->backend, "sqlite, postgres or both")->check(CLI::IsMember({"sqlite", "postgres", "both"}))->capture_default_str();
  sub->add_option("--dsn", a->dsn, "PostgreSQL DSN (default: $HOLO_POSTGRES_DSN)");
  sub->add_option("--path", a->path, "SQLite file (default: a temporary one)");
  sub->add_option("--synchronous", a->synchronous, "SQLite synchronous: full or normal")->check(CLI::IsMember({"full", "normal"}))->capture_default_str();
  sub->add_option("--writes", a->writes, "Checkpoints per run")->capture_default_str()->check(CLI::Range(1, 10000000));
  sub->add_option("--payload-bytes", a->payload_bytes, "Payload of each checkpoint")->capture_default_str()->check(CLI::Range(0, 16 << 20));
  sub->add_option("--concurrency", a->concurrency, "Comma-separated writer counts")->capture_default_str();
  children.emplace_back(sub, [a] {
    std::vector<std::string> backends;
    if (a->backend != "postgres") backends.push_back("sqlite");
    if (a->backend != "sqlite") backends.push_back("postgres");
    std::string dsn = a->dsn;
    if (dsn.empty())
      if (const char* env = std::getenv("HOLO_POSTGRES_DSN")) dsn = env;
    std::vector<std::int64_t> conc;
    try {
      conc = parse_list(a->concurrency);
    } catch (const std::exception&) {
      std::cerr << "holo bench store: --concurrency must be a comma-separated list of integers\n";
      return 2;
    }
    for (auto c : conc)
      if (c < 1 || c > 4096) {
        std::cerr << "holo bench store: --concurrency values must be in [1, 4096]\n";
        return 2;
      }
    std::printf("%-9s %11s %8s %12s %9s %9s %9s\n", "backend", "concurrency", "writes", "writes/s", "p50 ms", "p99 ms", "max ms");
    int rc = 0;
    for (auto& b : backends) {
      if (b == "postgres" && dsn.empty()) {
        std::printf("%-9s skipped: no --dsn and no HOLO_POSTGRES_DSN\n", b.c_str());
        continue;
      }
      std::filesystem::path tmp;
      for (auto c : conc) {
        store_bench_options o;
        o.actor.store.backend = b;
        o.actor.store.sqlite_synchronous = a->synchronous;
        if (b == "sqlite") {
          if (a->path.empty()) {
            tmp = std::filesystem::temp_directory_path() / ("holo-bench-store-" + std::to_string(::getpid()));
            std::filesystem::create_directories(tmp);
            o.actor.store.sqlite_path = (tmp / "bench.sqlite").string();
          } else {
            o.actor.store.sqlite_path = a->path;
          }
        }
        o.actor.store.postgres_dsn = dsn;
        o.actor.store.postgres_schema = "holo_bench";
        o.writes = a->writes;
        o.payload_bytes = a->payload_bytes;
        o.concurrency = c;
        auto r = run_store_bench(o);
        if (!r.error.empty()) {
          std::printf("%-9s %11lld failed: %s\n", b.c_str(), (long long)c, r.error.c_str());
          rc = 1;
          continue;
        }
        std::printf("%-9s %11lld %8lld %12.0f %9.3f %9.3f %9.3f\n", b.c_str(), (long long)c, (long long)r.writes,
                    r.writes_per_s, r.p50_ms, r.p99_ms, r.max_ms);
        std::fflush(stdout);
      }
      if (!tmp.empty()) std::filesystem::remove_all(tmp);
    }
    return rc;
  });
}

}  // namespace holo::cli
