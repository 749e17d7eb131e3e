// Drivers of the store actor for `holo store write-test` and `holo bench store` (runtime/cli/
// cmd_store.cpp): each runs its own actor system with one store actor, outside any node.
#pragma once

#include <cstdint>
#include <string>

#include "actors/store.hpp"

namespace holo {

// Writes journal rows `prefix + N` for N in [first, first + count) through the store actor, keeping
// `window` batches in flight, and prints "ack ID" on stdout (flushed) for each acknowledged one --
// only after its commit. A push-back (buffer full) is retried after a pause. Returns 0 when all
// were acknowledged, 1 otherwise.
struct write_test_options {
  store_actor_options actor;
  std::string prefix = "wt/";
  std::int64_t first = 0;
  std::int64_t count = 1000;
  std::int64_t window = 16;
  std::int64_t timeout_ms = 120000;  // whole run
};
int run_store_write_test(const write_test_options& o, log::logger log);

// Checkpoint writes through the store actor: `writes` checkpoints of `payload_bytes`, with
// `concurrency` writers each waiting for its ack before the next; writes/s and ack latency.
struct store_bench_options {
  store_actor_options actor;
  std::int64_t writes = 2000;
  std::int64_t payload_bytes = 4096;
  std::int64_t concurrency = 1;
};
struct store_bench_row {
  std::string backend;
  std::int64_t concurrency = 0;
  std::int64_t writes = 0;
  double writes_per_s = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  std::string error;  // non-empty: the run failed
};
store_bench_row run_store_bench(const store_bench_options& o);

}  // namespace holo
