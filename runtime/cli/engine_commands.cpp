// The engine commands both executables have, and `holo`'s hand-over of them to `holo-engine`.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"

namespace holo::cli {

void add_tokenize(CLI::App& app, command_registry& reg);
void add_run(CLI::App& app, command_registry& reg);
void add_mkmodel(CLI::App& app, command_registry& reg);
void add_bench_engine(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children);

void register_engine_commands(CLI::App& app, command_registry& reg) {
  add_tokenize(app, reg);
  add_run(app, reg);
  // Not handed over by holo (it needs no lean process), but a machine with holo-engine alone (a
  // GPU box being tried out) can make its test models.
  add_mkmodel(app, reg);
  auto* bench = app.add_subcommand("bench", "Benchmarks: engine (the others are in `holo bench`)");
  bench->require_subcommand(1);
  auto children = std::make_shared<child_commands>();
  add_bench_engine(*bench, *children);
  reg.add(bench, run_parsed_child(children));
}

namespace {

bool selects_engine_command(int argc, char** argv) {
  if (argc < 2) return false;
  if (std::strcmp(argv[1], "run") == 0 || std::strcmp(argv[1], "tokenize") == 0) return true;
  return argc >= 3 && std::strcmp(argv[1], "bench") == 0 && std::strcmp(argv[2], "engine") == 0;
}

}  // namespace

void exec_engine_command(int argc, char** argv) {
  if (!selects_engine_command(argc, argv)) return;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return;
  const auto lean = (self.parent_path() / "holo-engine").string();
  if (::access(lean.c_str(), X_OK) != 0) return;  // a `holo` copied alone still runs them itself
  ::execv(lean.c_str(), argv);
  // execv failed (the file vanished, a noexec mount): run in this process.
}

}  // namespace holo::cli
