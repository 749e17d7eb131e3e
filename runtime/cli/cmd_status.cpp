// holo status [ENDPOINT | --config FILE --name NODE]: ask a node whether it is up.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"
#include "runtime/client.hpp"
#include "runtime/config.hpp"
#include "runtime/keys.hpp"

namespace holo::cli {

namespace {

struct status_args {
  std::string endpoint;
  std::string config_path;
  std::string name;
  double timeout_s = 3;
  bool json = false;
  std::string key_file;    // this client's secret key (CURVE client endpoints)
  std::string server_key;  // the node's public key; from the config when --config is given
};

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

int run(const status_args& a) {
  std::string endpoint = a.endpoint;
  std::string server_key = a.server_key;
  if (endpoint.empty()) {
    if (a.config_path.empty()) {
      std::cerr << "holo status: give an ENDPOINT or --config (and --name)\n";
      return 2;
    }
    auto cfg = config::load_file(a.config_path);
    if (!cfg) {
      std::cerr << "holo status: invalid configuration\n" << cfg.error().message() << "\n";
      return 2;
    }
    auto node = config::select_node(*cfg, a.name.empty() && cfg->nodes.size() > 1 ? cfg->nodes[0].name : a.name);
    if (!node) {
      std::cerr << "holo status: " << node.error().message() << "\n";
      return 2;
    }
    endpoint = node->client_endpoint;
    if (server_key.empty()) server_key = node->public_key;
  }
  std::optional<client_keys> keys;
  if (!a.key_file.empty()) {
    auto secret = read_secret_key_file(a.key_file);
    if (!secret) {
      std::cerr << "holo status: " << secret.error().message() << "\n";
      return 2;
    }
    auto pub = public_from_secret(*secret);
    if (!pub || server_key.size() != 40) {
      std::cerr << "holo status: --key needs the node's public key (--server-key, or --config with keys)\n";
      return 2;
    }
    keys = client_keys{server_key, *pub, *secret};
  }
  client c(endpoint, keys);
  auto h = c.health(std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000)));
  if (!h) {
    if (a.json)
      std::cout << "{\"endpoint\":\"" << json_escape(endpoint) << "\",\"state\":\"unreachable\",\"error\":\""
                << json_escape(h.error().message()) << "\"}\n";
    else
      std::cerr << "holo status: " << endpoint << ": " << h.error().message() << "\n";
    return 1;
  }
  if (a.json) {
    std::cout << "{\"endpoint\":\"" << json_escape(endpoint) << "\",\"node\":\"" << json_escape(h->node)
              << "\",\"cluster\":\"" << json_escape(h->cluster) << "\",\"state\":\"" << h->state
              << "\",\"version\":\"" << json_escape(h->version) << "\",\"uptime_ms\":" << h->uptime_ms
              << ",\"actors\":[";
    for (std::size_t i = 0; i < h->actors.size(); ++i)
      std::cout << (i ? "," : "") << "{\"name\":\"" << json_escape(h->actors[i].name) << "\",\"state\":\""
                << json_escape(h->actors[i].state) << "\"}";
    std::cout << "]}\n";
  } else {
    std::cout << "node     " << h->node << " (cluster " << h->cluster << ", holo " << h->version << ")\n"
              << "state    " << h->state << "\n"
              << "uptime   " << h->uptime_ms / 1000.0 << " s\n"
              << "endpoint " << endpoint << "\n"
              << "actors\n";
    for (auto& ac : h->actors) std::cout << "  " << ac.name << std::string(12 - std::min<std::size_t>(11, ac.name.size()), ' ') << ac.state << "\n";
    if (auto n = c.nodes(std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000)))) {
      std::printf("cluster\n  %-14s %-8s %10s %6s %6s %9s\n", "NODE", "STATE", "HEARD", "PHI", "CORES", "MEMORY");
      for (auto& m : n->members) {
        auto heard = m.last_heard_ms < 0 ? std::string("never") : std::to_string(m.last_heard_ms) + " ms";
        std::printf("  %-14s %-8s %10s %6.1f %6lld %7.1f G\n", m.node.c_str(), m.state.c_str(), heard.c_str(), m.phi,
                    static_cast<long long>(m.cores), static_cast<double>(m.memory_bytes) / (1ull << 30));
      }
      std::printf("links    %llu frames in, %llu out, %llu dropped, %llu undeliverable, %llu handshakes refused\n",
                  static_cast<unsigned long long>(n->links.frames_in), static_cast<unsigned long long>(n->links.frames_out),
                  static_cast<unsigned long long>(n->links.dropped_frames),
                  static_cast<unsigned long long>(n->links.undeliverable),
                  static_cast<unsigned long long>(n->links.rejected_handshakes));
      std::fflush(stdout);
    }
  }
  return h->state == "up" ? 0 : 1;
}

}  // namespace

void add_status(CLI::App& app, command_registry& reg) {
  auto args = std::make_shared<status_args>();
  auto* sub = app.add_subcommand("status", "Ask a node whether it is up and its actors answer");
  sub->footer(
      "Exit codes: 0 up, 1 degraded or unreachable, 2 usage error.\n"
      "Examples: holo status tcp://127.0.0.1:7711\n"
      "          holo status --config config/local.toml --name local-2 --json");
  sub->add_option("endpoint", args->endpoint, "Client endpoint of the node (tcp://HOST:PORT)");
  sub->add_option("-c,--config", args->config_path, "Cluster configuration, to find the endpoint");
  sub->add_option("-n,--name", args->name, "Node name in the configuration (default: the first)");
  sub->add_option("--timeout", args->timeout_s, "Seconds to wait for the answer")->capture_default_str();
  sub->add_flag("--json", args->json, "Print one JSON object");
  sub->add_option("--key", args->key_file, "This client's CURVE secret key file, for nodes that require CURVE clients");
  sub->add_option("--server-key", args->server_key, "The node's CURVE public key (Z85); taken from --config if given");
  reg.add(sub, [args] { return run(*args); });
}

}  // namespace holo::cli
