// holo bench: benchmarks, one child subcommand each.
//   holo bench engine MODEL [--threads N] [--pp 512] [--tg 128] ...  (cmd_bench_engine.cpp)
//   holo bench transport [--round-trips N] [--messages N]       (cmd_bench_transport.cpp)
//   holo bench serve MODEL [--threads 1] [--tokens 128] [--streams 1,4,16] (cmd_bench_serve.cpp)
//   holo bench pipeline MODEL [--stages 2]                      (cmd_bench_pipeline.cpp)
//   holo bench store                                            (cmd_store.cpp)
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"

namespace holo::cli {

void add_bench_engine(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children);
void add_bench_transport(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children);
void add_bench_serve(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children);
void add_bench_pipeline(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children);
void add_bench_store(CLI::App& bench, std::vector<std::pair<CLI::App*, std::function<int()>>>& children);

void add_bench(CLI::App& app, command_registry& reg) {
  auto* bench = app.add_subcommand("bench", "Benchmarks: engine, transport, serve, store");
  bench->require_subcommand(1);
  auto children = std::make_shared<child_commands>();
  add_bench_engine(*bench, *children);
  add_bench_transport(*bench, *children);  // cmd_bench_transport.cpp
  add_bench_serve(*bench, *children);      // cmd_bench_serve.cpp
  add_bench_pipeline(*bench, *children);   // cmd_bench_pipeline.cpp
  add_bench_store(*bench, *children);      // cmd_store.cpp
  // Sibling benchmarks go here, each an add_bench_NAME(*bench, *children) in its own
  // cmd_bench_NAME.cpp.
  reg.add(bench, run_parsed_child(children));
}

}  // namespace holo::cli
