// What the benches that run real nodes share (`holo bench serve`, `holo bench pipeline`): a
// temporary folder, free loopback ports (runtime/free_port.hpp), `holo node` as a child process that is always stopped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <fstream>

#include "runtime/free_port.hpp"
#include "runtime/status.hpp"

namespace holo::cli {

namespace fs = std::filesystem;

inline constexpr auto node_stop_timeout = std::chrono::seconds(10);  // SIGTERM, then SIGKILL

// ---- the node: a temporary folder, free ports, a child process ----

// The node's config, data and log; the folder is removed by the destructor (after the node stopped:
// declare it before the node_process).
struct scratch_dir {
  fs::path path;
  scratch_dir() = default;
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  status create(const std::string& prefix = "holo-bench") {
    std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) return status::unavailable("cannot create a temporary folder from " + tmpl);
    path = tmpl;
    return {};
  }
};

// `holo node` as a child of this process, its stdout and stderr to a log file. The destructor
// stops it as stop() does, so no error path leaves a node behind.
class node_process {
 public:
  node_process() = default;
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;
  ~node_process() { stop(); }

  status start(std::vector<std::string> argv, std::string log_path) {
    log_path_ = std::move(log_path);
    std::vector<char*> args;
    for (auto& s : argv) args.push_back(s.data());
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) return status::unavailable("fork failed");
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      sigset_t none;  // the node must see SIGTERM whatever mask we run under
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    return {};
  }

  // False once it exited (and was reaped).
  bool running() { return pid_ > 0 && !exit_code_ && !reap(std::chrono::milliseconds(0)); }
  std::optional<int> exit_code() const { return exit_code_; }

  // SIGTERM, SIGKILL after node_stop_timeout; the exit code (128 + N after signal N).
  std::optional<int> stop() {
    if (pid_ <= 0 || exit_code_) return exit_code_;
    ::kill(pid_, SIGTERM);
    if (!reap(node_stop_timeout)) {
      ::kill(pid_, SIGKILL);
      reap(std::chrono::seconds(5));
    }
    return exit_code_;
  }

  std::string log_tail(std::size_t lines) const {
    std::ifstream in(log_path_);
    std::deque<std::string> tail;
    for (std::string l; std::getline(in, l);) {
      tail.push_back(std::move(l));
      if (tail.size() > lines) tail.pop_front();
    }
    std::string out;
    for (auto& l : tail) out += "  | " + l + "\n";
    return out;
  }

 private:
  bool reap(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      ::usleep(10'000);
    }
  }
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

inline std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace holo::cli
