// holo-engine: the lean executable `holo` hands `run`, `tokenize` and `bench engine` to (see
// exec_engine_command in engine_commands.cpp); it also has `mkmodel`. Same options, help and exit
// codes as in `holo`.
#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"holo: run GGUF models on this machine (the engine commands of holo)", "holo"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(holo::cli::version_string()));
  holo::cli::command_registry reg;
  holo::cli::register_engine_commands(app, reg);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return reg.run_selected();
}
