// `holo`'s subcommands, in the order --help lists them.
#include "runtime/cli/commands.hpp"

#include <CLI/CLI.hpp>

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
