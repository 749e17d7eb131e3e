// Why libedit's native interface (histedit.h) and not its readline emulation: Ctrl-C must clear the
// line at the prompt and must not end the shell. readline() retries an interrupted read once and
// then returns NULL, which looks like Ctrl-D. With our own character reader (EL_GETCFN) a SIGINT
// wakes a self-pipe, the reader returns an error, el_gets gives up the line, and we start a fresh
// prompt; the terminal stays in libedit's hands throughout.
#include "runtime/cli/shell_repl.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fcntl.h>
#include <histedit.h>
#include <poll.h>
#include <unistd.h>

namespace holo::cli::shell {

namespace {

// Signal handlers can reach nothing but globals: the pipe they write to, and the flags they set.
int sigint_pipe[2] = {-1, -1};
volatile sig_atomic_t sigint_seen = 0;

void on_sigint(int) {
  sigint_seen = 1;
  session::cancel_flag() = true;  // a running `gen` sends cancel at its next event
  int saved = errno;
  if (sigint_pipe[1] >= 0) (void)!::write(sigint_pipe[1], "i", 1);
  errno = saved;
}

void drain_pipe() {
  char buf[64];
  while (::read(sigint_pipe[0], buf, sizeof buf) > 0) {
  }
}

struct repl_state {
  session* s;
  std::string prompt;
  bool interrupted = false;
};

repl_state* state_of(EditLine* el) {
  void* p = nullptr;
  el_get(el, EL_CLIENTDATA, &p);
  return static_cast<repl_state*>(p);
}

const char* prompt_of(EditLine* el) { return state_of(el)->prompt.c_str(); }

// libedit's character reader: waits on the terminal and the SIGINT pipe. Ctrl-C (as SIGINT, or as a
// raw 0x03 when the terminal does not turn it into a signal) fails the read, so el_gets gives up.
int read_char(EditLine* el, wchar_t* out) {
  for (;;) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sigint_pipe[0], POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno != EINTR) return -1;
    if (sigint_seen || (fds[1].revents & POLLIN)) {
      drain_pipe();
      sigint_seen = 0;
      state_of(el)->interrupted = true;
      errno = EINTR;
      return -1;
    }
    if (n <= 0 || !(fds[0].revents & (POLLIN | POLLHUP))) continue;
    // One UTF-8 character, byte by byte.
    unsigned char b[4];
    // Ctrl-C between poll and read: the terminal flushes its input queue, and a blocking read
    // would then wait for the next key -- for ever when the SIGINT came before the read started
    // (seen in CI: the shell stopped echoing). So this one read does not block: nothing there, or
    // an interrupt, means poll again (which sees the SIGINT pipe). Only around the read: stdout
    // may share the terminal's open file description, and its writes must stay blocking.
    const int flags = ::fcntl(STDIN_FILENO, F_GETFL);
    if (flags >= 0) ::fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
    const ssize_t got = ::read(STDIN_FILENO, b, 1);
    const int read_errno = errno;
    if (flags >= 0) ::fcntl(STDIN_FILENO, F_SETFL, flags);
    errno = read_errno;
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (got != 1) return 0;  // end of input
    if (b[0] == 3) {
      state_of(el)->interrupted = true;
      return -1;
    }
    int len = b[0] < 0x80 ? 1 : (b[0] >> 5) == 6 ? 2 : (b[0] >> 4) == 14 ? 3 : (b[0] >> 3) == 30 ? 4 : 1;
    for (int i = 1; i < len; ++i)
      if (::read(STDIN_FILENO, b + i, 1) != 1) return 0;
    wchar_t wc = 0;
    std::mbstate_t st{};
    if (std::mbrtowc(&wc, reinterpret_cast<const char*>(b), static_cast<std::size_t>(len), &st) >
        static_cast<std::size_t>(len))
      wc = b[0];
    *out = wc;
    return 1;
  }
}

// Tab: complete the word under the cursor from the session's candidates (commands, nodes,
// node/actor, models). One candidate: insert it; several: insert their common prefix and list them.
unsigned char complete(EditLine* el, int) {
  auto* rs = state_of(el);
  const LineInfo* li = el_line(el);
  std::string before(li->buffer, li->cursor);
  std::size_t start = before.find_last_of(" \t");
  start = start == std::string::npos ? 0 : start + 1;
  std::string word = before.substr(start);
  auto words = split_words(before.substr(0, start));
  auto cands = rs->s->complete(words, word);
  if (cands.empty()) return CC_REFRESH_BEEP;
  std::string common = cands[0];
  for (auto& c : cands) {
    std::size_t k = 0;
    while (k < common.size() && k < c.size() && common[k] == c[k]) ++k;
    common.resize(k);
  }
  std::string add = common.substr(word.size());
  if (cands.size() == 1 && cands[0].back() != '/') add += " ";
  if (!add.empty()) el_insertstr(el, add.c_str());
  if (cands.size() > 1 && add.empty()) {
    std::cout << "\n";
    for (auto& c : cands) std::cout << c << "  ";
    std::cout << std::endl;
    return CC_REDISPLAY;
  }
  return CC_REFRESH;
}

std::string history_path() {
  if (const char* p = std::getenv("HOLO_SHELL_HISTORY"); p && *p) return p;
  std::filesystem::path dir;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) dir = x;
  else if (const char* h = std::getenv("HOME"); h && *h) dir = std::filesystem::path(h) / ".local" / "state";
  else return "";
  dir /= "holobionte";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return "";
  return (dir / "shell_history").string();
}

int run_plain(session& s) {
  int last = exit_ok;
  std::string line;
  while (!s.quit_requested() && std::getline(std::cin, line)) last = s.run_line(line);
  return last;
}

}  // namespace

int run_repl(session& s) {
  if (::pipe2(sigint_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return exit_failed;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;  // no SA_RESTART: poll and read return EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  if (!::isatty(STDIN_FILENO)) return run_plain(s);

  repl_state rs{&s, "holo> "};
  if (auto n = s.node_name(); !n.empty()) rs.prompt = "holo " + n + "> ";
  EditLine* el = el_init("holo", stdin, stdout, stderr);
  HistEvent ev;
  History* hist = history_init();
  history(hist, &ev, H_SETSIZE, 1000);
  history(hist, &ev, H_SETUNIQUE, 1);
  const auto hpath = history_path();
  if (!hpath.empty()) history(hist, &ev, H_LOAD, hpath.c_str());
  el_set(el, EL_CLIENTDATA, &rs);
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_SIGNAL, 0);  // our SIGINT handler, not libedit's
  el_set(el, EL_PROMPT, prompt_of);
  el_set(el, EL_HIST, history, hist);
  el_set(el, EL_GETCFN, read_char);
  el_set(el, EL_ADDFN, "holo-complete", "complete a command, node, actor or model", complete);
  el_set(el, EL_BIND, "^I", "holo-complete", nullptr);
  el_source(el, nullptr);  // the user's ~/.editrc, if any

  int last = exit_ok;
  while (!s.quit_requested()) {
    rs.interrupted = false;
    int count = 0;
    const char* line = el_gets(el, &count);
    if (!line) {
      if (rs.interrupted) {  // Ctrl-C at the prompt: drop the line, prompt again
        std::cout << "^C" << std::endl;
        el_reset(el);
        continue;
      }
      std::cout << std::endl;  // Ctrl-D or end of input
      last = exit_ok;
      break;
    }
    std::string text(line, static_cast<std::size_t>(count));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    history(hist, &ev, H_ENTER, text.c_str());
    if (!hpath.empty()) history(hist, &ev, H_SAVE, hpath.c_str());
    session::cancel_flag() = false;
    last = s.run_line(text);
    drain_pipe();  // a Ctrl-C that stopped a `gen` is spent
    sigint_seen = 0;
  }
  el_end(el);
  history_end(hist);
  return last;
}

}  // namespace holo::cli::shell
