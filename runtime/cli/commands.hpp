// The subcommands of `holo`. Each cmd_X.cpp defines `void add_X(CLI::App&, command_registry&)` that
// adds its options and registers the function to run when it is selected.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace holo::cli {

std::string_view version_string();

class command_registry {
 public:
  void add(CLI::App* sub, std::function<int()> run) { entries_.push_back({sub, std::move(run)}); }
  int run_selected();

 private:
  struct entry {
    CLI::App* sub;
    std::function<int()> run;
  };
  std::vector<entry> entries_;
};

void register_all(CLI::App& app, command_registry& reg);

// A parent command's children (`bench engine`, `bench transport`, ...): each sub and its run.
using child_commands = std::vector<std::pair<CLI::App*, std::function<int()>>>;
// The parent's run: the run of whichever child was parsed (2 when none was).
std::function<int()> run_parsed_child(std::shared_ptr<child_commands> children);

// The engine's own commands (run, tokenize, bench engine): all that the lean `holo-engine` executable
// has. It links only the engine, so its resident memory is the model's and not also the ~17 MiB
// that the cluster's libraries (CAF, ZeroMQ, libpq with TLS and Kerberos, httplib with OpenSSL)
// touch at start -- more than the engine's whole 10% allowance for a 100M model.
void register_engine_commands(CLI::App& app, command_registry& reg);

// In `holo`: when argv selects an engine command and `holo-engine` sits beside this executable, run
// it there (execv, same arguments; no return). Returns when it cannot, and `holo` runs the command
// itself.
void exec_engine_command(int argc, char** argv);

}  // namespace holo::cli
