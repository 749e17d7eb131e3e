// The subcommands of `holo`. Each cmd_X.cpp defines `void add_X(CLI::App&, command_registry&)` that
// adds its options and registers the function to run when it is selected.
#pragma once

#include <functional>
#include <string_view>
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

}  // namespace holo::cli
