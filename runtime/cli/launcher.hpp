// The cluster launcher behind `holo launch`: starts the nodes of a configuration that run on this
// machine as child processes (`holo node`), waits until the cluster serves, restarts a node process
// that dies (with backoff and a limit), and stops the nodes in reverse start order within a bounded
// time on SIGINT/SIGTERM. No CAF here: a launcher is a process supervisor that talks to its nodes
// through their client endpoints like any other client.
//
// Its state (its own pid, each node's pid, restarts and state) lives in a small text file in the
// run folder, rewritten atomically on every change, so that `holo launch status|stop` (another
// process) can find it. Format, one record per line, fields separated by single spaces:
//   holo-launch 1
//   launcher PID START_UNIX_MS
//   config ABSOLUTE_PATH
//   log_dir ABSOLUTE_PATH
//   node NAME PID RESTARTS STATE          STATE: starting, running, restarting (waiting out its
//                                         backoff), failed (given up), stopped
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/config.hpp"
#include "runtime/status.hpp"

namespace holo::cli {

struct launch_options {
  std::string config_path;                      // absolute
  std::vector<std::string> only;                // launch only these nodes (empty: every local node)
  std::string run_dir;                          // state file; absolute
  std::string log_dir;                          // one NODE.log per node; absolute
  std::string holo_binary;                      // what runs `holo node`
  std::string log_level = "info";               // passed to the nodes
  std::string key_file;                         // client key for nodes that require CURVE clients
  std::chrono::milliseconds ready_timeout{120'000};
  std::chrono::milliseconds stop_timeout{15'000};  // per node, then SIGKILL
  int max_restarts = 5;                         // within restart_window, then the node is given up
  std::chrono::milliseconds restart_window{60'000};
  std::chrono::milliseconds max_backoff{30'000};
};

// The nodes of `cfg` that run on this machine: host is loopback, "localhost", this machine's
// hostname or one of its interface addresses.
std::vector<const config::node_config*> local_nodes(const config::cluster_config& cfg);

// Runs the launcher until stopped. `say` receives every progress line (already newline-free);
// `on_ready` is called once when the cluster serves (or with false when it never will: a node
// failed for good before readiness, or ready_timeout passed). Returns the exit status: 0 stopped
// cleanly after a signal, 1 it gave up (readiness failed, or every node failed for good).
int run_launcher(const config::cluster_config& cfg, const launch_options& opts,
                 const std::function<void(const std::string&)>& say, const std::function<void(bool)>& on_ready);

struct launch_state {
  pid_t launcher_pid = 0;
  std::int64_t started_unix_ms = 0;
  std::string config_path;
  std::string log_dir;
  struct node {
    std::string name;
    pid_t pid = 0;
    int restarts = 0;
    std::string state;
  };
  std::vector<node> nodes;
};

std::string state_file(const std::string& run_dir);
result<launch_state> read_state(const std::string& run_dir);
// True when `pid` runs and its command line contains `needle` (guards against pid reuse).
bool process_alive(pid_t pid, const std::string& needle);

}  // namespace holo::cli
