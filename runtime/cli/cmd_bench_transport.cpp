// holo bench transport: actor messages between two nodes' transports over TCP loopback (CURVE off
// and on) beside raw ZeroMQ DEALER/ROUTER, all measured in the same run.
#include <iostream>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/transport_bench.hpp"

namespace holo::cli {

void add_bench_transport(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children) {
  auto o = std::make_shared<transport_bench_options>();
  auto rounds = std::make_shared<int>(3);
  auto* sub = bench.add_subcommand("transport", "Latency and throughput of node-to-node actor messages vs raw ZeroMQ");
  sub->footer(
      "Two nodes run in this process (two actor systems, two ZeroMQ contexts, real TCP sockets on\n"
      "127.0.0.1), so the figures isolate the transport. Round trips are timed in blocks of 100, the\n"
      "rows taking turns, so each ratio to raw ZeroMQ compares the same minutes; one-way rates are\n"
      "measured one row after the other. Run it on an otherwise idle machine.\n"
      "Example: holo bench transport --round-trips 5000 --messages 100000\n"
      "Profiling one row: perf record -g holo bench transport --only holo --round-trips 10 --messages 3000000");
  sub->add_option("--bytes", o->payload_bytes, "Payload bytes per message")->capture_default_str()->check(CLI::Range(16, 1 << 20));
  sub->add_option("--round-trips", o->round_trips, "Sequential request/reply pairs timed per row")->capture_default_str();
  sub->add_option("--messages", o->one_way_messages, "One-way messages for the throughput figure")->capture_default_str();
  sub->add_option("--window", o->window, "One-way messages in flight (keep below the peer queue of 1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 999));
  sub->add_option("--rounds", *rounds,
                  "Times to run the rows back to back; with more than one, a summary of the median "
                  "per-round ratios follows (this kind of host drifts by tens of percent within minutes)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  sub->add_option("--coalesce-us", o->coalesce_us,
                  "The holo rows' batch wait, [transport] coalesce_us (0: every frame alone); default: the "
                  "configuration's")
      ->check(CLI::Range(0, 1000));
  sub->add_option("--only", o->only,
                  "Run only these rows (comma-separated: raw, holo, raw-curve, holo-curve, caf-local); a row whose "
                  "raw baseline is left out prints '-' for its ratios")
      ->delimiter(',')
      ->check(CLI::IsMember(transport_bench_row_keys()));
  children.emplace_back(sub, [o, rounds] {
    std::vector<std::vector<transport_bench_row>> all;
    for (int r = 0; r < *rounds; ++r) {
      auto round = run_transport_bench(*o);
      if (!round) {
        std::cerr << "holo bench transport: " << round.error().message() << "\n";
        return 1;
      }
      all.push_back(std::move(*round));
      if (*rounds > 1) std::cout << "round " << r + 1 << " of " << *rounds << ": ";
      std::cout << format_transport_bench(all.back(), *o) << std::flush;
    }
    if (*rounds > 1) std::cout << "\n" << format_transport_summary(all);
    return 0;
  });
}

}  // namespace holo::cli
