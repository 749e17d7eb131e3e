// `holo bench transport`: round-trip latency and one-way throughput of small actor messages between
// two nodes' transports over TCP loopback, with CURVE off and on, beside raw ZeroMQ DEALER/ROUTER
// measured the same way in the same run (also off and on: each holo row is compared with the raw
// row doing the same encryption, so the ratio is the transport's own cost). Both "nodes" live in this process (two actor systems, two
// ZeroMQ contexts, real sockets), so the figures isolate the transport from process scheduling.
// Every row is set up first; their round trips are then timed in blocks of 100, the rows taking
// turns (a host whose speed drifts within minutes then drifts for all rows alike), and their
// one-way rates one row after the other.
// A last row, "caf local", measures the same between two actors of one system with no transport
// at all: the ceiling CAF's own mailboxes and scheduler set on this host (compared with raw ZeroMQ
// without CURVE).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/status.hpp"

namespace holo {

struct transport_bench_options {
  std::size_t payload_bytes = 100;
  std::size_t round_trips = 5000;
  std::size_t one_way_messages = 100000;
  std::size_t window = 512;  // one-way: unacknowledged messages in flight (below the peer queue, 1000)
  std::size_t ack_every = 128;
  // Rows to run, by key (transport_bench_row_keys); empty = all. One row alone is what a profiler
  // wants; a row whose raw baseline is not run prints "-" for its ratios.
  std::vector<std::string> only;
  // The holo rows' `[transport] coalesce_us` (the batch wait); -1: the configuration's default.
  std::int64_t coalesce_us = -1;
};

// The keys of --only, in the order the rows run: raw, holo, raw-curve, holo-curve, caf-local.
const std::vector<std::string>& transport_bench_row_keys();

struct transport_bench_row {
  std::string name;          // "raw zeromq", "holo", "raw zmq + curve", "holo + curve", "caf local"
  std::size_t baseline = 0;  // index of the raw ZeroMQ row it is compared with (CURVE with CURVE)
  double rtt_p50_us = 0;
  double rtt_p99_us = 0;
  double one_way_msgs_per_s = 0;
  bool ran = true;  // false: left out by --only (not printed)
  // holo rows: frames node A sent and the ZeroMQ messages among them that carried several frames.
  std::uint64_t frames_out = 0;
  std::uint64_t batches_out = 0;
};

// An error when the bench cannot set up (no free loopback port).
result<std::vector<transport_bench_row>> run_transport_bench(const transport_bench_options& opts);
std::string format_transport_bench(const std::vector<transport_bench_row>& rows, const transport_bench_options& opts);
// Over several rounds (each a run_transport_bench): per row, the median of each round's ratio to
// that round's raw ZeroMQ (p50 round trip, throughput), the figures to trust on a host whose speed
// drifts between minutes, and the median absolute values.
std::string format_transport_summary(const std::vector<std::vector<transport_bench_row>>& rounds);

}  // namespace holo
