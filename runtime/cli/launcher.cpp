#include "runtime/cli/launcher.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "runtime/cli/node_target.hpp"
#include "runtime/client.hpp"

namespace holo::cli {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Signals only set a counter: the loop does the work (a second signal kills the nodes at once).
volatile std::sig_atomic_t g_signals = 0;
void on_signal(int) { g_signals = g_signals + 1; }

std::string fmt_seconds(clock_type::duration d) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << std::chrono::duration<double>(d).count() << " s";
  return o.str();
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string describe_exit(int st) {
  if (WIFEXITED(st)) return "exit code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "status " + std::to_string(st);
}

std::string tail_lines(const std::string& path, std::size_t n) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > n) lines.pop_front();
  }
  std::string out;
  for (auto& l : lines) out += "    | " + l + "\n";
  return out;
}

struct child {
  const config::node_config* cfg = nullptr;
  pid_t pid = 0;
  std::string state = "starting";
  int restarts = 0;
  std::deque<clock_type::time_point> recent_exits;  // within the restart window
  clock_type::time_point started{};
  clock_type::time_point restart_at{};
  clock_type::time_point died_at{};
  bool up = false;          // seen up by the observer since its last start
  std::streamoff log_offset = 0;  // size of its log at its latest start
  bool was_restarted = false;
};

class launcher {
 public:
  launcher(const config::cluster_config& cfg, const launch_options& o, const std::function<void(const std::string&)>& say,
           const std::function<void(bool)>& on_ready)
      : cfg_(cfg), o_(o), say_(say), on_ready_(on_ready) {}

  int run() {
    for (auto* n : local_nodes(cfg_)) {
      if (!o_.only.empty() && std::find(o_.only.begin(), o_.only.end(), n->name) == o_.only.end()) continue;
      child c;
      c.cfg = n;
      children_.push_back(c);
    }
    if (children_.empty()) {
      say_("launch: no node of " + o_.config_path + " runs on this machine (see `holo launch --print-remote`)");
      on_ready_(false);
      return 1;
    }
    std::string names;
    for (auto& c : children_) names += " " + c.cfg->name;
    say_("launch: cluster \"" + cfg_.name + "\": starting" + names + " (logs in " + o_.log_dir + ")");
    t0_ = clock_type::now();
    for (auto& c : children_) spawn(c);
    write_state();

    bool ready = false;
    auto next_poll = clock_type::now();
    auto next_wait_note = clock_type::now() + std::chrono::seconds(5);
    while (g_signals == 0) {
      reap();
      auto now = clock_type::now();
      for (auto& c : children_)
        if (c.state == "restarting" && c.pid == 0 && now >= c.restart_at) {
          spawn(c);
          write_state();
        }
      if (!ready && failed_before_ready_) {
        say_("launch: the cluster cannot become ready; stopping the nodes that started");
        on_ready_(false);
        stop_all();
        return 1;
      }
      if (now >= next_poll) {
        poll();
        next_poll = now + milliseconds(250);
      }
      if (!ready) {
        if (cluster_ready()) {
          ready = true;
          say_("launch: ready in " + fmt_seconds(clock_type::now() - t0_));
          print_summary();
          on_ready_(true);
        } else if (now - t0_ > o_.ready_timeout) {
          say_("launch: not ready after " + fmt_seconds(o_.ready_timeout) + ": " + waiting_for());
          on_ready_(false);
          stop_all();
          return 1;
        } else if (now >= next_wait_note) {
          say_("  waiting (" + fmt_seconds(now - t0_) + "): " + waiting_for());
          next_wait_note = now + std::chrono::seconds(5);
        }
      }
      if (std::all_of(children_.begin(), children_.end(), [](const child& c) { return c.state == "failed"; })) {
        say_("launch: every node failed for good; giving up");
        write_state();
        return 1;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    stop_all();
    return 0;
  }

 private:
  void spawn(child& c) {
    const auto& name = c.cfg->name;
    std::string log_path = o_.log_dir + "/" + name + ".log";
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      say_("  " + name + ": cannot open its log " + log_path + ": " + std::strerror(errno));
      c.state = "failed";
      failed_before_ready_ = true;
      return;
    }
    {
      struct stat sb{};
      c.log_offset = ::fstat(fd, &sb) == 0 ? sb.st_size : 0;
      std::ostringstream h;
      auto t = std::time(nullptr);
      h << "---- holo launch: starting " << name << " at " << std::put_time(std::gmtime(&t), "%Y-%m-%dT%H:%M:%SZ")
        << (c.restarts ? " (restart " + std::to_string(c.restarts) + ")" : "") << " ----\n";
      auto s = h.str();
      [[maybe_unused]] auto w = ::write(fd, s.data(), s.size());
    }
    std::vector<std::string> args = {o_.holo_binary, "node", "--config", o_.config_path, "--name", name,
                                     "--log-level", o_.log_level};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      say_("  " + name + ": fork failed: " + std::strerror(errno));
      ::close(fd);
      c.state = "failed";
      failed_before_ready_ = true;
      return;
    }
    if (pid == 0) {
      // Own process group: a Ctrl-C in the terminal reaches the launcher only, which stops the nodes
      // in order. PDEATHSIG: if the launcher itself is killed, its nodes get SIGTERM instead of
      // running on unsupervised.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);
      int in = ::open("/dev/null", O_RDONLY);
      if (in >= 0) ::dup2(in, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      dprintf(2, "holo launch: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    ::close(fd);
    c.pid = pid;
    c.started = clock_type::now();
    c.state = "starting";
    c.up = false;
    say_("  " + name + "  started (pid " + std::to_string(pid) + ")");
  }

  void reap() {
    int st = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &st, WNOHANG)) > 0) {
      for (auto& c : children_)
        if (c.pid == pid) on_exit(c, st);
    }
  }

  void on_exit(child& c, int st) {
    auto now = clock_type::now();
    auto ran = now - c.started;
    c.pid = 0;
    c.up = false;
    c.died_at = now;
    const auto& name = c.cfg->name;
    std::string why = describe_exit(st);
    std::string log_path = o_.log_dir + "/" + name + ".log";
    // A node that exits on its own before the cluster was ever ready failed to start (a port in
    // use, a bad model path, an invalid configuration): restarting it would only repeat that.
    bool exited = WIFEXITED(st);
    if (exited && (WEXITSTATUS(st) == 2 || !ever_ready_)) {
      say_("  " + name + "  failed to start (" + why + ") after " + fmt_seconds(ran) + "; the end of " + log_path +
           ":\n" + tail_lines(log_path, 8));
      c.state = "failed";
      if (!ever_ready_) failed_before_ready_ = true;
      write_state();
      return;
    }
    c.recent_exits.push_back(now);
    while (!c.recent_exits.empty() && now - c.recent_exits.front() > o_.restart_window) c.recent_exits.pop_front();
    if (static_cast<int>(c.recent_exits.size()) > o_.max_restarts) {
      say_("  " + name + "  exited (" + why + "); it died " + std::to_string(c.recent_exits.size()) + " times within " +
           fmt_seconds(o_.restart_window) + ": giving up on it (its log: " + log_path + ")");
      c.state = "failed";
      write_state();
      return;
    }
    auto backoff = milliseconds(1000) * (1 << std::min<std::size_t>(c.recent_exits.size() - 1, 10));
    if (backoff > o_.max_backoff) backoff = o_.max_backoff;
    ++c.restarts;
    c.was_restarted = true;
    c.state = "restarting";
    c.restart_at = now + backoff;
    say_("  " + name + "  exited (" + why + ") after " + fmt_seconds(ran) + "; restarting in " + fmt_seconds(backoff) +
         " (" + std::to_string(c.recent_exits.size()) + " of " + std::to_string(o_.max_restarts) + " restarts allowed within " +
         fmt_seconds(o_.restart_window) + ")");
    write_state();
  }

  // The node whose view the launcher trusts: the first running launched node with a client endpoint.
  child* observer() {
    for (auto& c : children_)
      if (c.pid > 0 && !c.cfg->client_endpoint.empty()) return &c;
    return nullptr;
  }

  client* client_for(const child& c) {
    auto it = clients_.find(c.cfg->name);
    if (it != clients_.end()) return it->second.get();
    node_target_options t;
    t.config_path = o_.config_path;
    t.name = c.cfg->name;
    t.key_file = o_.key_file;
    auto r = resolve(t);
    if (!r) {
      if (!key_warned_) say_("  cannot ask " + c.cfg->name + ": " + r.error().message());
      key_warned_ = true;
      return nullptr;
    }
    auto& slot = clients_[c.cfg->name];
    slot = std::make_unique<client>(r->endpoint, r->keys);
    return slot.get();
  }

  // Asks the observer for its membership view and the models; notes what changed.
  void poll() {
    auto* obs = observer();
    if (!obs) return;
    auto* cl = client_for(*obs);
    if (!cl) return;
    auto view = cl->nodes(milliseconds(400));
    if (!view) {
      clients_.erase(obs->cfg->name);  // a fresh connection next time
      return;
    }
    std::map<std::string, std::string> states;
    for (auto& m : view->members) states[m.node] = m.state;
    for (auto& c : children_) {
      bool up = c.pid > 0 && states[c.cfg->name] == "up";
      if (up && !c.up) {
        if (c.state != "running") {
          c.state = "running";
          write_state();
        }
        if (c.was_restarted)
          say_("  " + c.cfg->name + "  rejoined the cluster, up " + fmt_seconds(clock_type::now() - c.died_at) +
               " after it died");
        else
          say_("  " + c.cfg->name + "  up (" + fmt_seconds(clock_type::now() - t0_) + ")");
      }
      c.up = up;
    }
    // Ready means every router can place on every local replica: each router's own view of the
    // shards (from their load reports) must say ready, not only the observer's.
    bool all_ready = true, any_router = false;
    for (auto& c : children_) {
      if (c.pid <= 0 || c.cfg->client_endpoint.empty() || !c.cfg->has_role("router")) continue;
      any_router = true;
      auto* rc = client_for(c);
      auto ms = rc ? rc->models(milliseconds(400)) : result<std::vector<proto::model_info>>(status::unavailable(""));
      if (!ms) {
        clients_.erase(c.cfg->name);
        all_ready = false;
        continue;
      }
      for (auto& m : *ms)
        for (auto& r : m.replicas)
          if (launched(r.node) && r.state != "ready") all_ready = false;
      if (&c != obs) continue;
      models_ = *ms;
      for (auto& m : models_)
        for (auto& r : m.replicas) {
          if (!launched(r.node)) continue;
          auto key = m.name + "@" + r.node;
          auto& prev = replica_states_[key];
          if (r.state == prev) continue;
          if (r.state == "ready" || !prev.empty())
            say_("  " + m.name + " on " + r.node + ": " + r.state + " (" + fmt_seconds(clock_type::now() - t0_) + ")");
          prev = r.state;
        }
      have_models_ = true;
    }
    routers_ready_ = any_router && all_ready;
  }

  // The last error line a node logged since its latest start: shown while the launcher waits for it.
  std::string last_error(const child& c) const {
    std::ifstream in(o_.log_dir + "/" + c.cfg->name + ".log");
    in.seekg(c.log_offset);
    std::string line, found;
    while (std::getline(in, line))
      if (line.find(" error ") != std::string::npos || line.find("\"level\":\"error\"") != std::string::npos) found = line;
    return found;
  }

  bool launched(const std::string& name) const {
    for (auto& c : children_)
      if (c.cfg->name == name && c.state != "failed") return true;
    return false;
  }

  bool cluster_ready() {
    if (!observer()) return false;
    for (auto& c : children_)
      if (c.state != "failed" && !c.up) return false;
    if (!observer()->cfg->has_role("router")) {
      ever_ready_ = true;
      return true;
    }
    if (!have_models_ || !routers_ready_) return false;
    ever_ready_ = true;
    return true;
  }

  std::string waiting_for() {
    std::string w;
    for (auto& c : children_) {
      if (c.state == "failed") continue;
      if (c.pid == 0) w += c.cfg->name + " restarting; ";
      else if (!c.up) w += c.cfg->name + " not up yet; ";
    }
    for (auto& m : models_)
      for (auto& r : m.replicas)
        if (launched(r.node) && r.state != "ready") w += m.name + " " + r.state + " on " + r.node + "; ";
    if (!observer()) w += "no node answers on a client endpoint; ";
    if (w.empty()) w = "every router to see every replica ready; ";
    w.resize(w.size() - 2);
    std::set<std::string> shown;
    for (auto& c : children_) {
      if (c.state == "failed") continue;
      bool waiting = !c.up;
      for (auto& m : models_)
        for (auto& r : m.replicas) waiting |= r.node == c.cfg->name && r.state != "ready";
      if (!waiting) continue;
      auto e = last_error(c);
      if (!e.empty() && shown.insert(e.substr(e.find(' ') + 1)).second)
        w += "\n    " + c.cfg->name + ".log: " + e;
    }
    return w;
  }

  void print_summary() {
    std::ostringstream o;
    o << "\n" << std::left << std::setw(12) << "NODE" << std::setw(9) << "PID" << std::setw(26) << "CLIENT"
      << std::setw(20) << "HTTP" << std::setw(20) << "METRICS" << "LOG\n";
    for (auto& c : children_) {
      auto dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
      o << std::setw(12) << c.cfg->name << std::setw(9) << (c.pid ? std::to_string(c.pid) : "-") << std::setw(26)
        << dash(c.cfg->client_endpoint) << std::setw(20) << dash(c.cfg->http_endpoint) << std::setw(20)
        << dash(c.cfg->metrics_endpoint) << o_.log_dir << "/" << c.cfg->name << ".log\n";
    }
    if (!models_.empty()) {
      o << "\n" << std::setw(20) << "MODEL" << std::setw(14) << "REPLICAS" << "NODES\n";
      for (auto& m : models_) {
        std::size_t ready = 0;
        std::string nodes;
        for (auto& r : m.replicas) {
          ready += r.state == "ready";
          nodes += (nodes.empty() ? "" : " ") + r.node + "=" + r.state;
        }
        o << std::setw(20) << m.name << std::setw(14) << (std::to_string(ready) + "/" + std::to_string(m.replicas.size()) + " ready")
          << nodes << "\n";
      }
    }
    auto s = o.str();
    s.pop_back();
    say_(s);
  }

  // Reverse start order, each given stop_timeout after SIGTERM before SIGKILL; a second signal to
  // the launcher kills whatever still runs at once.
  void stop_all() {
    std::size_t running = 0;
    for (auto& c : children_) running += c.pid > 0;
    if (running)
      say_("launch: stopping " + std::to_string(running) + " node" + (running > 1 ? "s" : "") +
           " in reverse order (a second Ctrl-C kills them at once)");
    int signals_at_start = g_signals;
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
      auto& c = *it;
      if (c.pid <= 0) {
        if (c.state != "failed") c.state = "stopped";
        continue;
      }
      auto t = clock_type::now();
      ::kill(c.pid, SIGTERM);
      bool gone = false;
      int st = 0;
      while (clock_type::now() - t < o_.stop_timeout) {
        if (::waitpid(c.pid, &st, WNOHANG) == c.pid) {
          gone = true;
          break;
        }
        if (g_signals > signals_at_start) break;
        std::this_thread::sleep_for(milliseconds(20));
      }
      if (!gone) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, &st, 0);
        say_("  " + c.cfg->name + "  did not stop within " + fmt_seconds(clock_type::now() - t) + ": killed");
      } else {
        say_("  " + c.cfg->name + "  stopped (" + describe_exit(st) + ", " + fmt_seconds(clock_type::now() - t) + ")");
      }
      c.pid = 0;
      c.state = "stopped";
      write_state();
    }
    write_state();
  }

  void write_state() {
    std::ostringstream o;
    o << "holo-launch 1\nlauncher " << ::getpid() << " " << started_unix_ms_ << "\nconfig " << o_.config_path
      << "\nlog_dir " << o_.log_dir << "\n";
    for (auto& c : children_)
      o << "node " << c.cfg->name << " " << c.pid << " " << c.restarts << " " << c.state << "\n";
    auto path = state_file(o_.run_dir);
    auto tmp = path + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << o.str();
      if (!f) return;
    }
    std::rename(tmp.c_str(), path.c_str());
  }

  const config::cluster_config& cfg_;
  const launch_options& o_;
  const std::function<void(const std::string&)>& say_;
  const std::function<void(bool)>& on_ready_;
  std::vector<child> children_;
  std::map<std::string, std::unique_ptr<client>> clients_;
  std::vector<proto::model_info> models_;
  std::map<std::string, std::string> replica_states_;
  bool have_models_ = false;
  bool routers_ready_ = false;
  bool ever_ready_ = false;
  bool failed_before_ready_ = false;
  bool key_warned_ = false;
  clock_type::time_point t0_{};
  std::int64_t started_unix_ms_ = unix_ms();
};

std::set<std::string> this_machine_names() {
  std::set<std::string> names = {"127.0.0.1", "localhost", "::1", "localhost.localdomain", ""};
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) names.insert(host);
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) == 0) {
    for (auto* i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr) continue;
      char buf[INET6_ADDRSTRLEN] = {};
      if (i->ifa_addr->sa_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      else if (i->ifa_addr->sa_family == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, buf, sizeof buf);
      if (buf[0]) names.insert(buf);
    }
    ::freeifaddrs(ifs);
  }
  return names;
}

}  // namespace

std::vector<const config::node_config*> local_nodes(const config::cluster_config& cfg) {
  auto names = this_machine_names();
  std::vector<const config::node_config*> out;
  for (auto& n : cfg.nodes)
    if (names.count(n.host) || n.host.rfind("127.", 0) == 0) out.push_back(&n);
  return out;
}

int run_launcher(const config::cluster_config& cfg, const launch_options& opts,
                 const std::function<void(const std::string&)>& say, const std::function<void(bool)>& on_ready) {
  g_signals = 0;
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  // A client (or the detached parent) that went away must not kill the launcher mid-stop.
  ::signal(SIGPIPE, SIG_IGN);
  launcher l(cfg, opts, say, on_ready);
  return l.run();
}

std::string state_file(const std::string& run_dir) { return run_dir + "/launch.state"; }

result<launch_state> read_state(const std::string& run_dir) {
  std::ifstream in(state_file(run_dir));
  if (!in) return status::not_found("no launcher state in " + run_dir + " (no `holo launch` has run with it)");
  launch_state s;
  std::string line;
  bool header = false;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string kind;
    l >> kind;
    if (kind == "holo-launch") {
      int v = 0;
      l >> v;
      header = v == 1;
    } else if (kind == "launcher") {
      l >> s.launcher_pid >> s.started_unix_ms;
    } else if (kind == "config") {
      std::getline(l >> std::ws, s.config_path);
    } else if (kind == "log_dir") {
      std::getline(l >> std::ws, s.log_dir);
    } else if (kind == "node") {
      launch_state::node n;
      l >> n.name >> n.pid >> n.restarts >> n.state;
      if (!l) return status::data_loss("damaged launcher state file " + state_file(run_dir) + ": " + line);
      s.nodes.push_back(n);
    }
  }
  if (!header || s.launcher_pid <= 0)
    return status::data_loss("damaged launcher state file " + state_file(run_dir));
  return s;
}

bool process_alive(pid_t pid, const std::string& needle) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (auto& ch : cmd)
    if (ch == '\0') ch = ' ';
  // A zombie has an empty command line: it is not alive for our purposes.
  return !cmd.empty() && cmd.find(needle) != std::string::npos;
}

}  // namespace holo::cli
