// holo status [ENDPOINT | --config FILE --name NODE]: ask a node whether it is up, how it sees the
// cluster, and its placement plan.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"
#include "runtime/admin_query.hpp"
#include "runtime/cli/json_text.hpp"
#include "runtime/cli/node_target.hpp"
#include "runtime/cli/shell_output.hpp"
#include "runtime/client.hpp"

namespace holo::cli {

namespace {

struct status_args {
  node_target_options target;
  double timeout_s = 3;
  bool json = false;
};

int run(const status_args& a) {
  auto target = resolve(a.target);
  if (!target) {
    std::cerr << "holo status: " << target.error().message() << "\n";
    return 2;
  }
  const auto& endpoint = target->endpoint;
  client c(endpoint, target->keys);
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000));
  auto h = c.health(timeout);
  if (!h) {
    if (a.json)
      std::cout << "{\"endpoint\":" << json_string(endpoint) << ",\"state\":\"unreachable\",\"error\":"
                << json_string(h.error().message()) << "}\n";
    else
      std::cerr << "holo status: " << endpoint << ": " << h.error().message() << "\n";
    return 1;
  }
  if (a.json) {
    std::cout << "{\"endpoint\":" << json_string(endpoint) << ",\"node\":" << json_string(h->node)
              << ",\"cluster\":" << json_string(h->cluster) << ",\"state\":" << json_string(h->state)
              << ",\"version\":" << json_string(h->version) << ",\"uptime_ms\":" << h->uptime_ms << ",\"actors\":[";
    for (std::size_t i = 0; i < h->actors.size(); ++i)
      std::cout << (i ? "," : "") << "{\"name\":" << json_string(h->actors[i].name)
                << ",\"state\":" << json_string(h->actors[i].state) << "}";
    std::cout << "]";
    if (auto plan = ask_admin_table(c, "plan", timeout)) std::cout << ",\"plan\":" << shell::plan_json(*plan);
    std::cout << "}\n";
  } else {
    std::cout << "node     " << h->node << " (cluster " << h->cluster << ", holo " << h->version << ")\n"
              << "state    " << h->state << "\n"
              << "uptime   " << h->uptime_ms / 1000.0 << " s\n"
              << "endpoint " << endpoint << "\n"
              << "actors\n";
    for (auto& ac : h->actors) std::cout << "  " << ac.name << std::string(12 - std::min<std::size_t>(11, ac.name.size()), ' ') << ac.state << "\n";
    if (auto n = c.nodes(timeout)) {
      std::printf("cluster\n  %-14s %-8s %10s %6s %9s %6s %9s %9s\n", "NODE", "STATE", "HEARD", "PHI", "RTT", "CORES",
                  "MEMORY", "FREE");
      for (auto& m : n->members) {
        auto heard = m.last_heard_ms < 0 ? std::string("never") : std::to_string(m.last_heard_ms) + " ms";
        char rtt[32] = "-";
        if (m.rtt_ms >= 0) std::snprintf(rtt, sizeof rtt, "%.2f ms", m.rtt_ms);
        char free_text[32] = "-";  // what it can give to models (measured, or its hint)
        if (m.memory_free_bytes > 0)
          std::snprintf(free_text, sizeof free_text, "%.1f G", static_cast<double>(m.memory_free_bytes) / (1ull << 30));
        std::printf("  %-14s %-8s %10s %6.1f %9s %6lld %7.1f G %9s\n", m.node.c_str(), m.state.c_str(), heard.c_str(),
                    m.phi, rtt, static_cast<long long>(m.cores), static_cast<double>(m.memory_bytes) / (1ull << 30),
                    free_text);
      }
      std::printf("links    %llu frames in, %llu out, %llu dropped, %llu undeliverable, %llu handshakes refused\n",
                  static_cast<unsigned long long>(n->links.frames_in), static_cast<unsigned long long>(n->links.frames_out),
                  static_cast<unsigned long long>(n->links.dropped_frames),
                  static_cast<unsigned long long>(n->links.undeliverable),
                  static_cast<unsigned long long>(n->links.rejected_handshakes));
      std::fflush(stdout);
    }
    if (auto plan = ask_admin_table(c, "plan", timeout)) shell::print_plan(std::cout, *plan);
    else std::cout << "plan     unavailable: " << plan.error().message() << "\n";
  }
  return h->state == "up" ? 0 : 1;
}

}  // namespace

void add_status(CLI::App& app, command_registry& reg) {
  auto args = std::make_shared<status_args>();
  auto* sub = app.add_subcommand("status", "Ask a node whether it is up, its view of the cluster and its placement plan");
  sub->footer(
      "Exit codes: 0 up, 1 degraded or unreachable, 2 usage error.\n"
      "Examples: holo status tcp://127.0.0.1:7711\n"
      "          holo status --config config/local.toml --name local-2 --json");
  sub->add_option("endpoint", args->target.endpoint, "Client endpoint of the node (tcp://HOST:PORT)");
  args->target.add_to(sub);
  sub->add_option("--timeout", args->timeout_s, "Seconds to wait for the answer")->capture_default_str();
  sub->add_flag("--json", args->json, "Print one JSON object");
  reg.add(sub, [args] { return run(*args); });
}

}  // namespace holo::cli
