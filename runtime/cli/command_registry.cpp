// What `holo` and the lean `holo-engine` share around their subcommands: the registry that runs the
// selected one, and the version string.
#include "runtime/cli/commands.hpp"

#include <CLI/CLI.hpp>

#include "runtime/version.hpp"

namespace holo::cli {

std::string_view version_string() { return holo::version_string(); }

std::function<int()> run_parsed_child(std::shared_ptr<child_commands> children) {
  return [children = std::move(children)] {
    for (auto& [sub, run] : *children)
      if (sub->parsed()) return run();
    return 2;
  };
}

int command_registry::run_selected() {
  for (auto& e : entries_)
    if (e.sub->parsed()) return e.run();
  return 2;
}

}  // namespace holo::cli
