// holo node --config FILE [--name NODE]: run one node of the cluster the file describes.
#include <iostream>

#include <CLI/CLI.hpp>

#include "actors/node.hpp"
#include "runtime/cli/commands.hpp"
#include "runtime/cli/log_options.hpp"
#include "runtime/config.hpp"

namespace holo::cli {

namespace {

struct node_args {
  std::string config_path;
  std::string name;
  double shutdown_timeout_s = 10;
  std::size_t threads = 0;
  log_options log;
};

int run(const node_args& a) {
  auto cfg = config::load_file(a.config_path);
  if (!cfg) {
    std::cerr << "holo node: invalid configuration\n" << cfg.error().message() << "\n";
    return 2;
  }
  auto node = config::select_node(*cfg, a.name);
  if (!node) {
    std::cerr << "holo node: " << node.error().message() << "\n";
    return 2;
  }
  node_options opts;
  opts.cluster = std::move(cfg).value();
  opts.node = std::move(node).value();
  opts.log_sink = a.log.make_sink();
  opts.shutdown_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.shutdown_timeout_s * 1000));
  opts.worker_threads = a.threads;
  return run_node(std::move(opts));
}

}  // namespace

void add_node(CLI::App& app, command_registry& reg) {
  auto args = std::make_shared<node_args>();
  auto* sub = app.add_subcommand("node", "Run one node of a cluster (stops cleanly on Ctrl-C or SIGTERM)");
  sub->footer(
      "Exit codes: 0 stopped cleanly, 1 failed to start or gave up after too many restarts,\n"
      "2 invalid configuration (the message names the file, line and key).\n"
      "Example: holo node --config config/local.toml --name local-1");
  sub->add_option("-c,--config", args->config_path, "Cluster configuration (TOML)")->required();
  sub->add_option("-n,--name", args->name, "Which [[node]] of the file this is (optional if it has one)");
  sub->add_option("--shutdown-timeout", args->shutdown_timeout_s, "Seconds allowed for a clean stop")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  sub->add_option("--threads", args->threads, "Actor scheduler threads (0: one per core, at least 4)")
      ->capture_default_str();
  args->log.add_to(sub);
  reg.add(sub, [args] { return run(*args); });
}

}  // namespace holo::cli
