#include "test/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "runtime/free_port.hpp"

namespace holo::test {

child_process::child_process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    // The test runner may block signals; the node must see them as a shell would deliver them.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

child_process::~child_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(5));
  }
}

bool child_process::running() {
  if (exit_code_) return false;
  return !wait_exit(std::chrono::milliseconds(0));
}

void child_process::signal(int sig) {
  if (!exit_code_) ::kill(pid_, sig);
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    usleep(10'000);
  }
}

std::string child_process::log() const {
  std::ifstream in(log_path_);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int free_port() {
  auto port = free_loopback_port();
  if (!port) throw std::runtime_error(port.error().message());
  return *port;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string make_model(const std::string& holo_bin, const temp_dir& dir, const std::string& file,
                       std::vector<std::string> args) {
  const std::string path = dir.file(file);
  args.insert(args.begin(), {holo_bin, "mkmodel"});
  args.push_back(path);
  child_process mk(args, dir.file("mkmodel.log"));
  auto rc = mk.wait_exit(std::chrono::seconds(120));
  if (!rc || *rc != 0) throw std::runtime_error("mkmodel failed: " + mk.log());
  return path;
}

}  // namespace holo::test
