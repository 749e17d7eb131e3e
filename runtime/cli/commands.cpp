#include "runtime/cli/commands.hpp"

#include <CLI/CLI.hpp>

#include "runtime/version.hpp"

namespace holo::cli {

void add_mkmodel(CLI::App& app, command_registry& reg);
void add_node(CLI::App& app, command_registry& reg);
void add_status(CLI::App& app, command_registry& reg);
void add_generate(CLI::App& app, command_registry& reg);
void add_models(CLI::App& app, command_registry& reg);
void add_tokenize(CLI::App& app, command_registry& reg);
void add_keygen(CLI::App& app, command_registry& reg);
void add_run(CLI::App& app, command_registry& reg);
void add_bench(CLI::App& app, command_registry& reg);
void add_store(CLI::App& app, command_registry& reg);
void add_launch(CLI::App& app, command_registry& reg);
void add_backup(CLI::App& app, command_registry& reg);
void add_shell(CLI::App& app, command_registry& reg);

std::string_view version_string() { return holo::version_string(); }

int command_registry::run_selected() {
  for (auto& e : entries_)
    if (e.sub->parsed()) return e.run();
  return 2;
}

void register_all(CLI::App& app, command_registry& reg) {
  add_node(app, reg);
  add_status(app, reg);
  add_generate(app, reg);
  add_models(app, reg);
  add_mkmodel(app, reg);
  add_tokenize(app, reg);
  add_keygen(app, reg);
  add_run(app, reg);
  add_bench(app, reg);
  add_store(app, reg);
  add_launch(app, reg);
  add_backup(app, reg);
  add_shell(app, reg);
}

}  // namespace holo::cli
