// holo: one executable, one subcommand per cmd_*.cpp. Exit codes: 0 ok, 1 runtime failure, 2 usage or
// configuration error (the message names the file, line and key).
#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"

int main(int argc, char** argv) {
  holo::cli::exec_engine_command(argc, argv);  // run, tokenize, bench engine: in the lean holo-engine
  CLI::App app{"holo: run an LLM-serving cluster across unlike machines", "holo"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(holo::cli::version_string()));
  holo::cli::command_registry reg;
  holo::cli::register_all(app, reg);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return reg.run_selected();
}
