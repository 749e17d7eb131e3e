// holo bench transport: actor messages between two nodes' transports over TCP loopback (CURVE off
// and on) beside raw ZeroMQ DEALER/ROUTER, all measured in the same run.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "actors/transport_bench.hpp"

namespace holo::cli {

void add_bench_transport(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children) {
  auto o = std::make_shared<transport_bench_options>();
  auto* sub = bench.add_subcommand("transport", "Latency and throughput of node-to-node actor messages vs raw ZeroMQ");
  sub->footer(
      "Two nodes run in this process (two actor systems, two ZeroMQ contexts, real TCP sockets on\n"
      "127.0.0.1), so the figures isolate the transport. Run it on an otherwise idle machine.\n"
      "Example: holo bench transport --round-trips 5000 --messages 100000");
  sub->add_option("--bytes", o->payload_bytes, "Payload bytes per message")->capture_default_str()->check(CLI::Range(16, 1 << 20));
  sub->add_option("--round-trips", o->round_trips, "Sequential request/reply pairs timed")->capture_default_str();
  sub->add_option("--messages", o->one_way_messages, "One-way messages for the throughput figure")->capture_default_str();
  sub->add_option("--window", o->window, "One-way messages in flight (keep below the peer queue of 1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 999));
  children.emplace_back(sub, [o] {
    auto rows = run_transport_bench(*o);
    std::cout << format_transport_bench(rows, *o);
    return 0;
  });
}

}  // namespace holo::cli
