// holo models [ENDPOINT | --config FILE --name NODE]: what the cluster serves, as one router sees
// it: every configured model, its aliases and fallback, and the state of each replica.
#include <iomanip>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"
#include "runtime/cli/json_text.hpp"
#include "runtime/cli/node_target.hpp"
#include "runtime/client.hpp"

namespace holo::cli {

namespace {

struct models_args {
  node_target_options target;
  std::string endpoint;
  double timeout_s = 3;
  bool json = false;
};

std::string join(const std::vector<std::string>& v) {
  std::string o;
  for (auto& s : v) o += (o.empty() ? "" : ",") + s;
  return o.empty() ? "-" : o;
}

int run(models_args a) {
  if (!a.endpoint.empty()) a.target.endpoint = a.endpoint;
  auto t = resolve(a.target);
  if (!t) {
    std::cerr << "holo models: " << t.error().message() << "\n";
    return 2;
  }
  client c(t->endpoint, t->keys);
  auto ms = c.models(std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000)));
  if (!ms) {
    std::cerr << "holo models: " << ms.error().message() << "\n";
    return 1;
  }
  if (a.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < ms->size(); ++i) {
      auto& m = (*ms)[i];
      std::cout << (i ? "," : "") << "{\"name\":" << json_string(m.name) << ",\"fallback\":" << json_string(m.fallback)
                << ",\"aliases\":[";
      for (std::size_t k = 0; k < m.aliases.size(); ++k) std::cout << (k ? "," : "") << json_string(m.aliases[k]);
      std::cout << "],\"replicas\":[";
      for (std::size_t k = 0; k < m.replicas.size(); ++k)
        std::cout << (k ? "," : "") << "{\"node\":" << json_string(m.replicas[k].node)
                  << ",\"state\":" << json_string(m.replicas[k].state) << "}";
      std::cout << "]}";
    }
    std::cout << "]\n";
    return 0;
  }
  std::cout << std::left << std::setw(20) << "MODEL" << std::setw(20) << "ALIASES" << std::setw(14) << "FALLBACK"
            << std::setw(14) << "REPLICAS" << "NODES\n";
  for (auto& m : *ms) {
    std::size_t ready = 0;
    std::string nodes;
    for (auto& r : m.replicas) {
      ready += r.state == "ready";
      nodes += (nodes.empty() ? "" : " ") + r.node + "=" + r.state;
    }
    std::ostringstream rep;
    rep << ready << "/" << m.replicas.size() << " ready";
    std::cout << std::setw(20) << m.name << std::setw(20) << join(m.aliases) << std::setw(14)
              << (m.fallback.empty() ? "-" : m.fallback) << std::setw(14) << rep.str() << (nodes.empty() ? "-" : nodes)
              << "\n";
  }
  return 0;
}

}  // namespace

void add_models(CLI::App& app, command_registry& reg) {
  auto a = std::make_shared<models_args>();
  auto* sub = app.add_subcommand("models", "List the models the cluster serves and where each replica stands");
  sub->add_option("endpoint", a->endpoint, "The node's client endpoint (tcp://HOST:PORT); or use --config");
  a->target.add_to(sub);
  sub->add_option("--timeout", a->timeout_s, "Seconds to wait for the answer")->capture_default_str();
  sub->add_flag("--json", a->json, "Print JSON");
  sub->footer(
      "A replica is ready (its shard reported in the last 3 s and has the model loaded), loading, or\n"
      "down (its node is not up, or its shard is not answering).\n"
      "Examples: holo models tcp://127.0.0.1:7711\n"
      "          holo models --config config/local.toml --name local-2 --json");
  reg.add(sub, [a] { return run(*a); });
}

}  // namespace holo::cli
