// holo shell [ENDPOINT] [-c 'CMD'] [--json] [--admin-key FILE]: the actor shell (docs/shell.md).
// Interactive on a terminal (shell_repl.cpp); with -c it runs one command and exits with its status:
// 0 ok, 1 failed, 2 usage, 3 refused (no or wrong admin key), 130 a `gen` stopped by Ctrl-C.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "runtime/admin_key.hpp"
#include "runtime/cli/commands.hpp"
#include "runtime/cli/node_target.hpp"
#include "runtime/cli/shell_repl.hpp"
#include "runtime/cli/shell_session.hpp"

namespace holo::cli {

namespace {

struct shell_args {
  node_target_options target;
  std::string endpoint;
  std::string command;
  std::string admin_key_file;
  bool json = false;
  double timeout_s = 5;
};

int run(shell_args a) {
  if (!a.endpoint.empty()) a.target.endpoint = a.endpoint;
  auto t = resolve(a.target);
  if (!t) {
    std::cerr << "holo shell: " << t.error().message() << "\n";
    return shell::exit_usage;
  }
  if (a.admin_key_file.empty())
    if (const char* env = std::getenv("HOLO_ADMIN_KEY_FILE")) a.admin_key_file = env;
  std::string key;
  if (!a.admin_key_file.empty()) {
    auto k = read_admin_key_file(a.admin_key_file);
    if (!k) {
      std::cerr << "holo shell: " << k.error().message() << "\n";
      return shell::exit_usage;
    }
    key = *k;
  }
  shell::session s(*t, key, a.json, std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000)),
                   std::cout, std::cerr);
  if (!a.command.empty()) {
    // Ctrl-C during a `-c 'gen ...'` cancels the generation as it does at the prompt.
    struct sigaction sa {};
    sa.sa_handler = [](int) { shell::session::cancel_flag() = true; };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    return s.run_line(a.command);
  }
  return shell::run_repl(s);
}

}  // namespace

void add_shell(CLI::App& app, command_registry& reg) {
  auto a = std::make_shared<shell_args>();
  auto* sub = app.add_subcommand("shell", "Interactive actor shell: nodes, actors, requests, gen, kill, drain, ...");
  sub->add_option("endpoint", a->endpoint, "The node's client endpoint (tcp://HOST:PORT); or use --config");
  // Not node_target_options::add_to: its -c is --config, and here -c is the command, as in sh -c.
  sub->add_option("--config", a->target.config_path, "Cluster configuration, to find the endpoint");
  sub->add_option("-n,--name", a->target.name, "Node name in the configuration (default: the first)");
  sub->add_option("--key", a->target.key_file, "This client's CURVE secret key file, for nodes that require CURVE clients");
  sub->add_option("--server-key", a->target.server_key, "The node's CURVE public key (Z85); taken from --config if given");
  sub->add_option("-c,--command", a->command, "Run this one command and exit with its status");
  sub->add_option("--admin-key", a->admin_key_file, "The cluster's admin key file (or HOLO_ADMIN_KEY_FILE)");
  sub->add_flag("--json", a->json, "Print JSON, one document per command");
  sub->add_option("--timeout", a->timeout_s, "Seconds to wait for each answer")->capture_default_str();
  sub->footer(
      "Commands: nodes, health, actors, models, placement, requests, trace, gen, kill, drain, checkpoint,\n"
      "backup, metrics, help, quit (docs/shell.md). Exit status of -c: 0 ok, 1 failed, 2 usage,\n"
      "3 refused (admin key missing or wrong), 130 gen interrupted.\n"
      "Examples: holo shell tcp://127.0.0.1:7711 --admin-key var/admin.key\n"
      "          holo shell --config config/local.toml -c 'actors local-2' --json");
  reg.add(sub, [a] { return run(*a); });
}

}  // namespace holo::cli
