// holo launch CONFIG | holo launch status|stop CONFIG | holo launch --print-remote CONFIG:
// start every node of a cluster configuration that runs on this machine and look after them
// (runtime/cli/launcher.hpp), in the foreground or detached.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "runtime/cli/commands.hpp"
#include "runtime/cli/json_text.hpp"
#include "runtime/cli/launcher.hpp"
#include "runtime/cli/node_target.hpp"
#include "runtime/client.hpp"

namespace holo::cli {

namespace {

namespace fs = std::filesystem;

struct launch_args {
  std::string config_path;
  std::string nodes;  // comma-separated
  std::string run_dir;
  std::string log_dir;
  bool detach = false;
  bool print_remote = false;
  bool systemd = false;
  double ready_timeout_s = 120;
  double stop_timeout_s = 15;
  int max_restarts = 5;
  double restart_window_s = 60;
  std::string log_level = "info";
  std::string key_file;
  // status / stop
  bool json = false;
  double wait_s = 60;
};

std::string self_binary() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("holo") : p.string();
}

std::string absolute(const std::string& p) {
  std::error_code ec;
  auto a = fs::absolute(p, ec);
  return ec ? p : a.lexically_normal().string();
}

// Where a cluster's launcher keeps its state (and, by default, the node logs): like other user
// services, under $XDG_STATE_HOME (~/.local/state), one folder per cluster name.
std::string default_run_dir(const config::cluster_config& cfg) {
  std::string base;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) base = x;
  else if (const char* h = std::getenv("HOME"); h && *h) base = std::string(h) + "/.local/state";
  else base = "/tmp/holobionte-" + std::to_string(::getuid());
  return base + "/holobionte/" + cfg.name;
}

struct loaded {
  config::cluster_config cfg;
  std::string run_dir;
  std::string log_dir;
};

result<loaded> load(const launch_args& a) {
  if (a.config_path.empty()) return status::invalid_argument("give the cluster configuration file (holo launch CONFIG)");
  auto cfg = config::load_file(a.config_path);
  if (!cfg) return status::invalid_argument("invalid configuration\n" + cfg.error().message());
  loaded l{std::move(cfg).value(), "", ""};
  l.run_dir = absolute(a.run_dir.empty() ? default_run_dir(l.cfg) : a.run_dir);
  l.log_dir = absolute(a.log_dir.empty() ? l.run_dir + "/logs" : a.log_dir);
  return l;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int print_remote(const launch_args& a, const loaded& l) {
  auto local = local_nodes(l.cfg);
  auto bin = self_binary();
  auto config = absolute(a.config_path);
  int shown = 0;
  for (auto& n : l.cfg.nodes) {
    if (std::find(local.begin(), local.end(), &n) != local.end()) continue;
    ++shown;
    std::cout << "# " << n.name << " runs on " << n.host << ". Copy " << config
              << " there (same path; its secret key file too),\n# install holo at " << bin << ", then ";
    if (!a.systemd) {
      std::cout << "run:\n" << bin << " node --config " << config << " --name " << n.name << "\n\n";
      continue;
    }
    std::cout << "install this unit as /etc/systemd/system/holo-" << n.name << ".service and run\n"
              << "# systemctl daemon-reload && systemctl enable --now holo-" << n.name << "\n"
              << "[Unit]\nDescription=Holobionte node " << n.name << " (cluster " << l.cfg.name << ")\n"
              << "Wants=network-online.target\nAfter=network-online.target\n\n"
              << "[Service]\nType=exec\nExecStart=" << bin << " node --config " << config << " --name " << n.name
              << " --log-format json\nRestart=on-failure\nRestartSec=2\nTimeoutStopSec=30\n"
              << "NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=read-only\nPrivateTmp=yes\n"
              << "StateDirectory=holobionte\nReadWritePaths=" << l.cfg.resolve_path(n.data_dir) << "\n\n"
              << "[Install]\nWantedBy=multi-user.target\n\n";
  }
  if (!shown) std::cout << "# every node of " << config << " runs on this machine: `holo launch " << a.config_path << "`\n";
  return 0;
}

// A line to the terminal (and, detached, to the launcher's log and the waiting parent).
struct output {
  int progress_fd = -1;  // detached: the pipe to the parent until ready

  void line(const std::string& s) {
    auto t = std::time(nullptr);
    std::ostringstream stamped;
    if (progress_fd >= 0 || !::isatty(1))
      stamped << std::put_time(std::gmtime(&t), "%Y-%m-%dT%H:%M:%SZ ");
    std::cout << stamped.str() << s << std::endl;
    if (progress_fd >= 0) {
      auto text = s + "\n";
      [[maybe_unused]] auto w = ::write(progress_fd, text.data(), text.size());
    }
  }
  void ready(bool ok) {
    if (progress_fd < 0) return;
    std::string marker = ok ? "\x01" "READY\n" : "\x01" "FAILED\n";
    [[maybe_unused]] auto w = ::write(progress_fd, marker.data(), marker.size());
    ::close(progress_fd);
    progress_fd = -1;
  }
};

int launch(const launch_args& a) {
  auto l = load(a);
  if (!l) {
    std::cerr << "holo launch: " << l.error().message() << "\n";
    return 2;
  }
  if (a.print_remote) return print_remote(a, *l);

  for (auto& only : split_commas(a.nodes))
    if (!l->cfg.find_node(only)) {
      std::cerr << "holo launch: --nodes: no node named '" << only << "' in " << a.config_path << "\n";
      return 2;
    }
  std::error_code ec;
  fs::create_directories(l->run_dir, ec);
  fs::create_directories(l->log_dir, ec);
  if (ec) {
    std::cerr << "holo launch: cannot create " << l->log_dir << ": " << ec.message() << "\n";
    return 1;
  }
  if (auto st = read_state(l->run_dir); st && process_alive(st->launcher_pid, "launch")) {
    std::cerr << "holo launch: cluster \"" << l->cfg.name << "\" is already launched (launcher pid "
              << st->launcher_pid << "); see `holo launch status " << a.config_path << "` or stop it with `holo launch stop "
              << a.config_path << "`\n";
    return 1;
  }

  launch_options o;
  o.config_path = absolute(a.config_path);
  o.only = split_commas(a.nodes);
  o.run_dir = l->run_dir;
  o.log_dir = l->log_dir;
  o.holo_binary = self_binary();
  o.log_level = a.log_level;
  o.key_file = a.key_file;
  o.ready_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.ready_timeout_s * 1000));
  o.stop_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.stop_timeout_s * 1000));
  o.max_restarts = a.max_restarts;
  o.restart_window = std::chrono::milliseconds(static_cast<std::int64_t>(a.restart_window_s * 1000));

  output out;
  if (a.detach) {
    // Double fork: the launcher becomes a session leader's child, reparented away from the shell.
    // Until the cluster is ready it reports progress through a pipe that this process echoes.
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      std::cerr << "holo launch: pipe: " << std::strerror(errno) << "\n";
      return 1;
    }
    std::cout.flush();
    pid_t mid = ::fork();
    if (mid < 0) {
      std::cerr << "holo launch: fork: " << std::strerror(errno) << "\n";
      return 1;
    }
    if (mid > 0) {
      ::close(p[1]);
      int st = 0;
      ::waitpid(mid, &st, 0);
      std::string buf;
      char chunk[4096];
      bool ok = false;
      ssize_t n;
      while ((n = ::read(p[0], chunk, sizeof chunk)) > 0) {
        buf.append(chunk, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          auto line = buf.substr(0, nl);
          buf.erase(0, nl + 1);
          if (line == "\x01" "READY") ok = true;
          else if (line != "\x01" "FAILED") std::cout << line << "\n" << std::flush;
        }
      }
      if (ok)
        std::cout << "launch: running in the background (log " << l->log_dir << "/launch.log); `holo launch status "
                  << a.config_path << "`, `holo launch stop " << a.config_path << "`\n";
      else
        std::cerr << "launch: the detached launcher gave up; see " << l->log_dir << "/launch.log\n";
      return ok ? 0 : 1;
    }
    ::setsid();
    pid_t daemon = ::fork();
    if (daemon != 0) ::_exit(daemon < 0 ? 1 : 0);
    ::close(p[0]);
    int logfd = ::open((l->log_dir + "/launch.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nullfd = ::open("/dev/null", O_RDONLY);
    if (nullfd >= 0) ::dup2(nullfd, 0);
    if (logfd >= 0) {
      ::dup2(logfd, 1);
      ::dup2(logfd, 2);
    }
    out.progress_fd = p[1];
  }
  std::function<void(const std::string&)> say = [&out](const std::string& s) { out.line(s); };
  std::function<void(bool)> on_ready = [&out](bool ok) { out.ready(ok); };
  int rc = run_launcher(l->cfg, o, say, on_ready);
  out.ready(false);  // no-op unless it never got ready
  return rc;
}

int show_status(const launch_args& a) {
  auto l = load(a);
  if (!l) {
    std::cerr << "holo launch status: " << l.error().message() << "\n";
    return 2;
  }
  auto st = read_state(l->run_dir);
  if (!st) {
    if (a.json) std::cout << "{\"launcher\":\"not running\"}\n";
    else std::cout << "launch: cluster \"" << l->cfg.name << "\" is not launched (" << st.error().message() << ")\n";
    return 3;
  }
  bool alive = process_alive(st->launcher_pid, "launch");
  std::vector<proto::model_info> models;
  bool have_models = false;
  for (auto& n : st->nodes) {
    if (have_models || !process_alive(n.pid, "node")) continue;
    auto* cfg = l->cfg.find_node(n.name);
    if (!cfg || cfg->client_endpoint.empty() || !cfg->has_role("router")) continue;
    node_target_options t;
    t.config_path = a.config_path;
    t.name = n.name;
    t.key_file = a.key_file;
    auto target = resolve(t);
    if (!target) continue;
    client c(target->endpoint, target->keys);
    if (auto m = c.models(std::chrono::milliseconds(1000))) {
      models = *m;
      have_models = true;
    }
  }
  if (a.json) {
    std::cout << "{\"launcher\":" << json_string(alive ? "running" : "not running") << ",\"pid\":" << st->launcher_pid
              << ",\"config\":" << json_string(st->config_path) << ",\"log_dir\":" << json_string(st->log_dir)
              << ",\"nodes\":[";
    for (std::size_t i = 0; i < st->nodes.size(); ++i) {
      auto& n = st->nodes[i];
      bool up = process_alive(n.pid, "node");
      std::cout << (i ? "," : "") << "{\"name\":" << json_string(n.name) << ",\"pid\":" << (up ? n.pid : 0)
                << ",\"state\":" << json_string(alive ? n.state : (up ? "orphaned" : "stopped"))
                << ",\"restarts\":" << n.restarts << "}";
    }
    std::cout << "],\"models\":[";
    for (std::size_t i = 0; i < models.size(); ++i) {
      std::size_t ready = 0;
      for (auto& r : models[i].replicas) ready += r.state == "ready";
      std::cout << (i ? "," : "") << "{\"name\":" << json_string(models[i].name) << ",\"ready\":" << ready
                << ",\"replicas\":" << models[i].replicas.size() << "}";
    }
    std::cout << "]}\n";
    return alive ? 0 : 3;
  }
  std::time_t since = static_cast<std::time_t>(st->started_unix_ms / 1000);
  std::cout << "launcher  " << (alive ? "running" : "not running") << " (pid " << st->launcher_pid << ", started "
            << std::put_time(std::gmtime(&since), "%Y-%m-%d %H:%M:%S UTC") << ")\nconfig    " << st->config_path
            << "\nlogs      " << st->log_dir << "\n\n"
            << std::left << std::setw(14) << "NODE" << std::setw(10) << "PID" << std::setw(12) << "STATE" << "RESTARTS\n";
  for (auto& n : st->nodes) {
    bool up = process_alive(n.pid, "node");
    std::cout << std::setw(14) << n.name << std::setw(10) << (up ? std::to_string(n.pid) : "-") << std::setw(12)
              << (alive ? n.state : (up ? "orphaned" : "stopped")) << n.restarts << "\n";
  }
  if (have_models) {
    std::cout << "\n" << std::setw(20) << "MODEL" << std::setw(14) << "REPLICAS" << "NODES\n";
    for (auto& m : models) {
      std::size_t ready = 0;
      std::string nodes;
      for (auto& r : m.replicas) {
        ready += r.state == "ready";
        nodes += (nodes.empty() ? "" : " ") + r.node + "=" + r.state;
      }
      std::cout << std::setw(20) << m.name << std::setw(14)
                << (std::to_string(ready) + "/" + std::to_string(m.replicas.size()) + " ready") << nodes << "\n";
    }
  }
  return alive ? 0 : 3;
}

// Waits until none of `pids` runs (as a holo process), up to `timeout`.
bool wait_gone(const std::vector<pid_t>& pids, const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (auto p : pids) any |= process_alive(p, needle);
    if (!any) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int stop(const launch_args& a) {
  auto l = load(a);
  if (!l) {
    std::cerr << "holo launch stop: " << l.error().message() << "\n";
    return 2;
  }
  auto st = read_state(l->run_dir);
  if (!st) {
    std::cout << "launch: cluster \"" << l->cfg.name << "\" is not launched\n";
    return 0;
  }
  std::vector<pid_t> nodes;
  for (auto& n : st->nodes)
    if (process_alive(n.pid, "node")) nodes.push_back(n.pid);
  auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.wait_s * 1000));
  if (process_alive(st->launcher_pid, "launch")) {
    std::cout << "launch: stopping cluster \"" << l->cfg.name << "\" (launcher pid " << st->launcher_pid << ", "
              << nodes.size() << " nodes running) ..." << std::endl;
    ::kill(st->launcher_pid, SIGTERM);
    if (!wait_gone({st->launcher_pid}, "launch", timeout)) {
      std::cerr << "launch: the launcher did not stop within " << a.wait_s << " s: killing it and its nodes\n";
      ::kill(st->launcher_pid, SIGKILL);
    }
  }
  // Nodes whose launcher is gone get SIGTERM from the kernel (PR_SET_PDEATHSIG); make sure.
  for (auto p : nodes)
    if (process_alive(p, "node")) ::kill(p, SIGTERM);
  if (!wait_gone(nodes, "node", std::chrono::milliseconds(15'000))) {
    for (auto p : nodes)
      if (process_alive(p, "node")) ::kill(p, SIGKILL);
    std::cerr << "launch: some nodes did not stop within 15 s and were killed\n";
  }
  std::cout << "launch: stopped; logs in " << st->log_dir << "\n";
  return 0;
}

}  // namespace

void add_launch(CLI::App& app, command_registry& reg) {
  auto a = std::make_shared<launch_args>();
  auto* sub = app.add_subcommand("launch", "Start the nodes of a cluster that run on this machine and look after them");
  sub->add_option("config", a->config_path, "Cluster configuration (TOML)");
  sub->add_option("--nodes", a->nodes, "Only these nodes (comma-separated names; default: every node on this machine)");
  sub->add_option("--log-dir", a->log_dir, "Folder for one NODE.log per node (default: RUN_DIR/logs)");
  sub->add_option("--run-dir", a->run_dir,
                  "Folder of the launcher's state (default: $XDG_STATE_HOME/holobionte/CLUSTER, i.e. ~/.local/state/...)");
  sub->add_flag("-d,--detach", a->detach, "Run in the background once the cluster is ready");
  sub->add_flag("--print-remote", a->print_remote, "Print the command to run on each host for the nodes not on this machine");
  sub->add_flag("--systemd", a->systemd, "With --print-remote: print a systemd unit per node instead");
  sub->add_option("--ready-timeout", a->ready_timeout_s, "Seconds to wait for the cluster to serve")->capture_default_str();
  sub->add_option("--stop-timeout", a->stop_timeout_s, "Seconds each node gets to stop before it is killed")
      ->capture_default_str();
  sub->add_option("--max-restarts", a->max_restarts, "Restarts of a node allowed within --restart-window")
      ->capture_default_str();
  sub->add_option("--restart-window", a->restart_window_s, "Seconds over which --max-restarts counts")->capture_default_str();
  sub->add_option("--log-level", a->log_level, "The nodes' log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  sub->add_option("--key", a->key_file, "Client secret key file, for nodes that require CURVE clients");
  sub->footer(
      "Starts each node with `holo node` as its own process, shows progress while models load, waits\n"
      "until every node is up and every local replica ready, prints the endpoints, and restarts a node\n"
      "that dies (backoff 1 s doubling to 30 s; a node that fails to start is not restarted). Ctrl-C or\n"
      "SIGTERM stops the nodes in reverse order. Exit codes: 0 stopped cleanly, 1 failed, 2 usage.\n"
      "Examples: holo launch config/local.toml\n"
      "          holo launch config/local.toml --detach && holo launch status config/local.toml\n"
      "          holo launch --print-remote --systemd config/holobionte.toml");

  auto* st = sub->add_subcommand("status", "Show the launcher, its nodes and the models of a launched cluster");
  st->add_option("config", a->config_path, "Cluster configuration (TOML)")->required();
  st->add_option("--run-dir", a->run_dir, "The launcher's state folder (as given to `holo launch`)");
  st->add_option("--key", a->key_file, "Client secret key file, for nodes that require CURVE clients");
  st->add_flag("--json", a->json, "Print JSON");
  st->footer("Exit codes: 0 running, 3 not running, 2 usage.");
  reg.add(st, [a] { return show_status(*a); });

  auto* sp = sub->add_subcommand("stop", "Stop a launched cluster (its launcher stops the nodes in order)");
  sp->add_option("config", a->config_path, "Cluster configuration (TOML)")->required();
  sp->add_option("--run-dir", a->run_dir, "The launcher's state folder (as given to `holo launch`)");
  sp->add_option("--timeout", a->wait_s, "Seconds to wait for the launcher before killing it")->capture_default_str();
  reg.add(sp, [a] { return stop(*a); });
  // After status and stop: the registry runs the first parsed entry, and `launch` is parsed too
  // when one of its subcommands is.
  reg.add(sub, [a] { return launch(*a); });
}

}  // namespace holo::cli
