// The actor shell's commands (`holo shell`, docs/shell.md): one session = one connection to one
// node's client endpoint, the admin key, and the output mode. The command table (shell_session.cpp,
// `commands()`) is the one place that names each command, its arguments, who may run it, its help
// text and how its arguments complete; the REPL (shell_repl.cpp) and `-c` both go through run_line.
//
// Not thread-safe: one session per thread. The only cross-thread state is `cancel_flag()`, which a
// SIGINT handler sets to stop a running `gen`.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/admin_protocol.hpp"
#include "runtime/cli/node_target.hpp"
#include "runtime/client.hpp"

namespace holo::cli::shell {

// Exit statuses of a command (and of `holo shell -c`).
inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;      // the node answered an error, or did not answer
inline constexpr int exit_usage = 2;       // unknown command, wrong arguments
inline constexpr int exit_refused = 3;     // permission_denied: the admin key is missing or wrong
inline constexpr int exit_interrupted = 130;  // Ctrl-C stopped a `gen`

enum class completer { none, command, node, node_actor, model, drain, backup };

class session;

struct command_spec {
  const char* name;
  const char* args;     // usage, e.g. "NODE/ACTOR"
  proto::access access; // open, read_only (key unless [admin] read_only), admin (key)
  const char* help;
  const char* example;
  completer complete;   // how the first argument completes
  int (session::*run)(const std::vector<std::string>& args);
};

// Every command, in help order.
const std::vector<command_spec>& commands();

// Splits a command line into words: blanks separate, '...' and "..." quote (no escapes inside '').
std::vector<std::string> split_words(const std::string& line);

class session {
 public:
  session(node_target target, std::string admin_key, bool json, std::chrono::milliseconds timeout,
          std::ostream& out, std::ostream& err);
  ~session();

  // Runs one command line; returns its exit status. An empty line is ok.
  int run_line(const std::string& line);
  // Candidates for `word` (the word under the cursor) given the words before it.
  std::vector<std::string> complete(const std::vector<std::string>& before, const std::string& word);
  // The connected node's name ("" until known); fetched on first use.
  std::string node_name();
  bool quit_requested() const { return quit_; }
  // Set from a SIGINT handler: stops a running `gen` (client::generate's cancel flag).
  static std::atomic<bool>& cancel_flag();

  // Commands (see commands()).
  int cmd_help(const std::vector<std::string>& a);
  int cmd_quit(const std::vector<std::string>& a);
  int cmd_nodes(const std::vector<std::string>& a);
  int cmd_health(const std::vector<std::string>& a);
  int cmd_actors(const std::vector<std::string>& a);
  int cmd_models(const std::vector<std::string>& a);
  int cmd_placement(const std::vector<std::string>& a);
  int cmd_plan(const std::vector<std::string>& a);
  int cmd_requests(const std::vector<std::string>& a);
  int cmd_trace(const std::vector<std::string>& a);
  int cmd_gen(const std::vector<std::string>& a);
  int cmd_kill(const std::vector<std::string>& a);
  int cmd_drain(const std::vector<std::string>& a);
  int cmd_checkpoint(const std::vector<std::string>& a);
  int cmd_backup(const std::vector<std::string>& a);
  int cmd_metrics(const std::vector<std::string>& a);

 private:
  // Sends a shell kind (with the admin key when we have one); the node's reply, or its error.
  result<proto::admin_reply> ask(const std::string& kind, const std::string& node,
                                 std::map<std::string, std::string> args);
  // ask(), then prints the table or ok reply.
  int admin_call(const std::string& kind, const std::string& node, std::map<std::string, std::string> args);
  int fail(const status& s);
  int usage(const std::string& message);
  void print(const std::string& kind, const proto::table& t);
  std::vector<std::string> node_names();
  std::vector<std::string> model_names();
  std::vector<std::string> actor_names(const std::string& node);

  node_target target_;
  std::string admin_key_;
  bool json_;
  std::chrono::milliseconds timeout_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<client> client_;
  std::string node_;
  bool quit_ = false;
  // Completion caches, refreshed when older than a few seconds.
  struct cache {
    std::vector<std::string> items;
    std::chrono::steady_clock::time_point at{};
  };
  cache nodes_, models_;
  std::map<std::string, cache> actors_;
};

}  // namespace holo::cli::shell
