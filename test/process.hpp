// Child processes for multi-process tests: start `holo` with arguments, its stdout and stderr going
// to a log file; signal it, wait for its exit with a deadline, read its log. The destructor kills
// and reaps a child still running, so a failing test leaves no stray node behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "test/temp_dir.hpp"

namespace holo::test {

class child_process {
 public:
  child_process(std::vector<std::string> argv, std::string log_path);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // The exit code (128+N when killed by signal N), or nullopt if still running at the deadline.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// A TCP port on 127.0.0.1 that nothing listens on right now, never the same twice
// (runtime/free_port.hpp); throws when none can be found.
int free_port();

// The whole file ("" when it cannot be read).
std::string read_file(const std::string& path);

// Writes a test model `dir`/`file` with `holo mkmodel ARGS... PATH` (log in dir/mkmodel.log) and
// returns its path; throws std::runtime_error with the log when mkmodel fails.
std::string make_model(const std::string& holo_bin, const temp_dir& dir, const std::string& file,
                       std::vector<std::string> args);

// Polls `pred` every 50 ms until it is true or the timeout passes.
template <class Pred>
bool eventually(std::chrono::milliseconds timeout, Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    struct timespec ts{0, 50'000'000};
    nanosleep(&ts, nullptr);
  }
  return pred();
}

}  // namespace holo::test
