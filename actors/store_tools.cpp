#include "actors/store_tools.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>

#include <caf/all.hpp>

#include "persistence/checkpoint_blob.hpp"
#include "runtime/errors.hpp"

namespace holo {

namespace {

using clock_type = std::chrono::steady_clock;

persist::journal_entry test_row(const std::string& id, std::int64_t n) {
  persist::journal_entry j;
  j.request_id = id;
  j.owner = "write-test";
  j.client_id = std::to_string(n);
  j.router_node = "write-test";
  j.model = "demo";
  j.prompt = "write-test prompt " + std::to_string(n);
  j.seed = static_cast<std::uint64_t>(n);
  j.max_tokens = 16;
  j.delivered_tokens = {1, 2, 3};
  j.delivered_texts = {"a", "b", "c"};
  j.status = persist::journal_status::running;
  j.revision = 1;
  j.created_ms = j.updated_ms = persist::now_ms();
  return j;
}

struct writer_state {
  std::int64_t next = 0;
  std::int64_t acked = 0;
  static inline const char* name = "store_writer";
};

using issue_atom = caf::atom_constant<caf::atom("wt_issue")>;

// Each write is a message to itself (issue_atom), not a self-referencing continuation: nothing
// outlives the actor, so the store's handle is released when the writer quits.
caf::behavior writer(caf::stateful_actor<writer_state>* self, caf::actor store, write_test_options o,
                     std::shared_ptr<std::atomic<bool>> ok) {
  self->state.next = o.first;
  for (std::int64_t i = 0; i < std::min(o.window, o.count); ++i) self->send(self, issue_atom::value, self->state.next++);
  return {
      [=](issue_atom, std::int64_t n) {
        const std::string id = o.prefix + std::to_string(n);
        self->request(store, caf::infinite, store_write_atom::value, store_batch{{test_row(id, n)}})
            .then(
                [=](store_ack& a) {
                  if (a.result.ok()) {
                    std::printf("ack %s\n", id.c_str());
                    std::fflush(stdout);
                    if (++self->state.acked == o.count) {
                      ok->store(true);
                      self->quit();
                    } else if (self->state.next < o.first + o.count) {
                      self->send(self, issue_atom::value, self->state.next++);
                    }
                    return;
                  }
                  // Push-back or a stop before commit: not acknowledged, so retry the same id later.
                  if (a.result.code() != status_code::resource_exhausted)
                    std::fprintf(stderr, "write-test: %s not acknowledged: %s\n", id.c_str(), a.result.to_string().c_str());
                  self->delayed_send(self, std::chrono::milliseconds(20), issue_atom::value, n);
                },
                [=](caf::error& e) {
                  std::fprintf(stderr, "write-test: %s: %s\n", id.c_str(), self->system().render(e).c_str());
                  self->quit(e);
                });
      },
  };
}

struct actor_system_setup {
  caf::actor_system_config cfg;
  actor_system_setup() {
    register_error_category(cfg);
    cfg.set("scheduler.max-threads", 2);
    cfg.set("scheduler.policy", caf::atom("sharing"));
  }
};

// Waits for `a` to go down, at most `timeout`. False on timeout.
bool await_down(caf::scoped_actor& self, const caf::actor& a, std::chrono::milliseconds timeout) {
  bool down = false;
  self->monitor(a);
  auto deadline = clock_type::now() + timeout;
  while (!down) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0) return false;
    self->receive([&](caf::down_msg& dm) { down = dm.source == a.address(); }, caf::after(left) >> [] {});
  }
  return true;
}

}  // namespace

int run_store_write_test(const write_test_options& o, log::logger log) {
  actor_system_setup setup;
  caf::actor_system sys{setup.cfg};
  caf::scoped_actor self{sys};
  auto store = spawn_store(sys, o.actor, log);
  auto ok = std::make_shared<std::atomic<bool>>(false);
  auto w = sys.spawn(writer, store, o, ok);
  if (!await_down(self, w, std::chrono::milliseconds(o.timeout_ms))) {
    std::fprintf(stderr, "write-test: not done after %lld ms\n", static_cast<long long>(o.timeout_ms));
    self->send_exit(w, caf::exit_reason::user_shutdown);
  }
  self->send_exit(store, caf::exit_reason::user_shutdown);
  await_down(self, store, std::chrono::milliseconds(10000));
  return ok->load() ? 0 : 1;
}

namespace {

struct bench_state {
  std::int64_t issued = 0, done = 0;
  std::vector<double> latencies_ms;
  clock_type::time_point t0;
  std::int64_t sequence_base = 0;
  static inline const char* name = "store_bench";
};

caf::behavior bencher(caf::stateful_actor<bench_state>* self, caf::actor store, store_bench_options o,
                      std::shared_ptr<std::string> payload, std::shared_ptr<store_bench_row> out) {
  self->state.t0 = clock_type::now();
  self->state.sequence_base = persist::now_ms() * 1000;
  for (std::int64_t i = 0; i < std::min(o.concurrency, o.writes); ++i) self->send(self, issue_atom::value);
  return {
      [=](issue_atom) {
        const std::int64_t n = self->state.issued++;
        // 256 live keys: inserts at first, then updates, as a router checkpointing live generations.
        // Sequences above any earlier run's (the PostgreSQL schema persists): each upsert really writes.
        const std::int64_t seq = self->state.sequence_base + n;
        persist::checkpoint_blob b{"bench.generation", 1, std::uint64_t(seq), persist::now_ms(), *payload};
        persist::checkpoint_record r{"bench", "gen-" + std::to_string(n % 256), seq, persist::encode_checkpoint(b),
                                     persist::now_ms()};
        const auto sent = clock_type::now();
        self->request(store, caf::infinite, store_write_atom::value, store_batch{{std::move(r)}})
            .then(
                [=](store_ack& a) {
                  auto& s = self->state;
                  if (!a.result.ok()) {
                    out->error = a.result.to_string();
                    self->quit();
                    return;
                  }
                  s.latencies_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - sent).count());
                  if (++s.done == o.writes) {
                    const double secs = std::chrono::duration<double>(clock_type::now() - s.t0).count();
                    auto v = s.latencies_ms;
                    std::sort(v.begin(), v.end());
                    out->writes = s.done;
                    out->writes_per_s = double(s.done) / secs;
                    out->p50_ms = v[v.size() / 2];
                    out->p99_ms = v[std::min(v.size() - 1, v.size() * 99 / 100)];
                    out->max_ms = v.back();
                    self->quit();
                  } else if (s.issued < o.writes) {
                    self->send(self, issue_atom::value);
                  }
                },
                [=](caf::error& e) {
                  out->error = self->system().render(e);
                  self->quit();
                });
      },
  };
}

}  // namespace

store_bench_row run_store_bench(const store_bench_options& o) {
  store_bench_row row;
  row.backend = o.actor.store.backend;
  row.concurrency = o.concurrency;
  actor_system_setup setup;
  caf::actor_system sys{setup.cfg};
  caf::scoped_actor self{sys};
  auto store = spawn_store(sys, o.actor, log::logger{});
  auto payload = std::make_shared<std::string>(std::size_t(o.payload_bytes), '\0');
  std::mt19937 rng(42);
  for (auto& c : *payload) c = static_cast<char>(rng());  // incompressible, as model state is
  auto out = std::make_shared<store_bench_row>(row);
  // Warm-up: open, migrate, prepare statements.
  store_bench_options warm = o;
  warm.writes = std::min<std::int64_t>(50, o.writes);
  auto w0 = sys.spawn(bencher, store, warm, payload, std::make_shared<store_bench_row>(row));
  await_down(self, w0, std::chrono::milliseconds(60000));
  auto b = sys.spawn(bencher, store, o, payload, out);
  if (!await_down(self, b, std::chrono::milliseconds(600000))) {
    out->error = "timed out";
    self->send_exit(b, caf::exit_reason::user_shutdown);
  } else if (out->writes != o.writes && out->error.empty()) {
    self->request(store, std::chrono::seconds(5), store_stats_atom::value)
        .receive([&](store_stats& s) { out->error = "failed: " + s.last_error; },
                 [&](caf::error& e) { out->error = sys.render(e); });
  }
  self->send_exit(store, caf::exit_reason::user_shutdown);
  await_down(self, store, std::chrono::milliseconds(10000));
  return *out;
}

}  // namespace holo
