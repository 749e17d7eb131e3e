// `holo launch`: config/local.toml (the file itself, copied next to a demo model in a temporary
// folder) launched detached and in the foreground, with real node processes: ready, serving, a
// killed node restarted and rejoined, a clean stop in reverse order, no stray process left.
#define BOOST_TEST_MODULE launch
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "runtime/client.hpp"
#include "test/process.hpp"

using namespace std::chrono_literals;
using holo::test::child_process;
using holo::test::eventually;
using holo::test::temp_dir;
namespace proto = holo::proto;

namespace {

const std::string holo_bin = HOLO_BIN;

using holo::test::read_file;

// The launcher's state file: node name -> (pid, restarts, state).
struct node_row {
  int pid = 0;
  int restarts = 0;
  std::string state;
};
std::map<std::string, node_row> read_nodes(const std::string& state_path) {
  std::map<std::string, node_row> out;
  std::istringstream in(read_file(state_path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string kind, name;
    node_row r;
    l >> kind;
    if (kind != "node") continue;
    l >> name >> r.pid >> r.restarts >> r.state;
    out[name] = r;
  }
  return out;
}

// Pids of processes whose command line mentions `needle` (our temporary folder).
std::vector<int> processes_mentioning(const std::string& needle) {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (auto* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.find(needle) != std::string::npos) out.push_back(pid);
  }
  closedir(d);
  return out;
}

// A copy of config/local.toml with the demo model it names (../var/models/demo.gguf).
struct local_cluster {
  temp_dir tmp;
  std::string config;
  std::string state_home;

  local_cluster() {
    namespace fs = std::filesystem;
    fs::create_directories(tmp.file("config"));
    fs::create_directories(tmp.file("var/models"));
    config = tmp.file("config/local.toml");
    fs::copy_file(std::string(HOLO_SOURCE_DIR) + "/config/local.toml", config);
    child_process mk({holo_bin, "mkmodel", "--preset", "tiny", "--type", "Q8_0", "-q", tmp.file("var/models/demo.gguf")},
                     tmp.file("mkmodel.log"));
    auto rc = mk.wait_exit(60s);
    BOOST_REQUIRE_MESSAGE(rc && *rc == 0, mk.log());
    // The launcher keeps its state under $XDG_STATE_HOME: the test's own.
    state_home = tmp.file("state");
    setenv("XDG_STATE_HOME", state_home.c_str(), 1);
  }
  ~local_cluster() {
    // Whatever a failed test left running.
    for (int pid : processes_mentioning(tmp.path())) kill(pid, SIGKILL);
  }
  std::string state_file() const { return state_home + "/holobionte/local/launch.state"; }
  std::string logs() const { return tmp.file("logs"); }

  int run(std::vector<std::string> args, std::string* out = nullptr, std::chrono::seconds timeout = 120s) {
    static int n = 0;
    auto log = tmp.file("cmd-" + std::to_string(++n) + ".log");
    args.insert(args.begin(), holo_bin);
    child_process p(args, log);
    auto rc = p.wait_exit(timeout);
    if (out) *out = p.log();
    BOOST_REQUIRE_MESSAGE(rc.has_value(), "holo did not finish in time: " << p.log());
    return *rc;
  }
};

bool generates(const std::string& endpoint, const std::string& id) {
  holo::client c(endpoint);
  proto::generate_request r;
  r.id = id;
  r.model = "demo";
  r.prompt = "Once upon a time";
  r.options.max_tokens = 12;
  r.options.seed = 7;
  std::int64_t tokens = 0;
  auto done = c.generate(r, [&](const proto::token_event& e) {
    tokens += static_cast<std::int64_t>(e.tokens.size());
    return true;
  }, 10s);
  if (!done) BOOST_TEST_MESSAGE("generate " << id << " on " << endpoint << ": " << done.error().message());
  // Random weights may end a generation early (eog): what matters is that it was served.
  return done && tokens >= 1 && tokens == done->generated_tokens && (done->reason == "length" || done->reason == "eog");
}

bool sees_all_up(const std::string& endpoint) {
  holo::client c(endpoint);
  auto v = c.nodes(500ms);
  if (!v) return false;
  int up = 0;
  for (auto& m : v->members) up += m.state == "up";
  return up == 3;
}

}  // namespace

BOOST_AUTO_TEST_CASE(detached_launch_serves_restarts_a_killed_node_and_stops_clean) {
  local_cluster c;
  std::string out;
  int rc = c.run({"launch", c.config, "--detach", "--log-dir", c.logs()}, &out);
  BOOST_REQUIRE_MESSAGE(rc == 0, out);
  BOOST_CHECK_MESSAGE(out.find("ready in") != std::string::npos, out);
  for (auto ep : {"tcp://127.0.0.1:7711", "127.0.0.1:9461", "local-3"})
    BOOST_CHECK_MESSAGE(out.find(ep) != std::string::npos, "the endpoints table lacks " << ep << ":\n" << out);
  // The launch returned only once the cluster serves: every node answers and generates now.
  BOOST_CHECK(generates("tcp://127.0.0.1:7711", "l1"));
  BOOST_CHECK(generates("tcp://127.0.0.1:7713", "l3"));

  // A second launch of the same cluster is refused.
  std::string again;
  BOOST_CHECK_EQUAL(c.run({"launch", c.config, "--log-dir", c.logs()}, &again), 1);
  BOOST_CHECK_MESSAGE(again.find("already launched") != std::string::npos, again);

  std::string st;
  BOOST_CHECK_EQUAL(c.run({"launch", "status", c.config}, &st), 0);
  BOOST_CHECK_MESSAGE(st.find("running") != std::string::npos && st.find("3/3 ready") != std::string::npos, st);

  // kill -9 of local-2: the launcher restarts it and it rejoins the cluster.
  auto before = read_nodes(c.state_file());
  BOOST_REQUIRE_EQUAL(before.size(), 3u);
  int victim = before["local-2"].pid;
  BOOST_REQUIRE_GT(victim, 0);
  BOOST_REQUIRE_EQUAL(kill(victim, SIGKILL), 0);
  bool restarted = eventually(20s, [&] {
    auto now = read_nodes(c.state_file());
    return now["local-2"].pid > 0 && now["local-2"].pid != victim && now["local-2"].restarts == 1 &&
           now["local-2"].state == "running";
  });
  BOOST_CHECK_MESSAGE(restarted, "local-2 not restarted; state:\n" << read_file(c.state_file()) << "\nlauncher log:\n"
                                                                     << read_file(c.logs() + "/launch.log"));
  BOOST_CHECK(eventually(10s, [&] { return sees_all_up("tcp://127.0.0.1:7711"); }));
  BOOST_CHECK(eventually(10s, [&] { return generates("tcp://127.0.0.1:7712", "l2-after"); }));
  auto launch_log = read_file(c.logs() + "/launch.log");
  BOOST_CHECK_MESSAGE(launch_log.find("local-2  exited (killed by signal 9") != std::string::npos, launch_log);
  BOOST_CHECK_MESSAGE(launch_log.find("local-2  rejoined the cluster") != std::string::npos, launch_log);
  // Started exactly twice: once at launch, once after the kill.
  std::size_t starts = 0;
  for (auto p = launch_log.find("local-2  started"); p != std::string::npos; p = launch_log.find("local-2  started", p + 1))
    ++starts;
  BOOST_CHECK_EQUAL(starts, 2u);
  // Each node has its own log, and the restart is marked in it.
  BOOST_CHECK(read_file(c.logs() + "/local-2.log").find("(restart 1)") != std::string::npos);

  auto pids = read_nodes(c.state_file());
  auto t0 = std::chrono::steady_clock::now();
  BOOST_CHECK_EQUAL(c.run({"launch", "stop", c.config}, &out, 60s), 0);
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - t0, 30s);
  for (auto& [name, row] : pids)
    BOOST_CHECK_MESSAGE(kill(row.pid, 0) != 0, name << " still runs; stop said:\n" << out << "\nlauncher log:\n"
                                                    << read_file(c.logs() + "/launch.log"));
  BOOST_CHECK_MESSAGE(processes_mentioning(c.tmp.path()).empty(), "stray processes after stop");
  BOOST_CHECK_EQUAL(c.run({"launch", "status", c.config}, &st), 3);
}

BOOST_AUTO_TEST_CASE(foreground_launch_stops_nodes_in_reverse_order_on_ctrl_c) {
  local_cluster c;
  child_process launcher({holo_bin, "launch", c.config, "--log-dir", c.logs()}, c.tmp.file("launch.out"));
  BOOST_REQUIRE_MESSAGE(eventually(90s, [&] { return launcher.log().find("ready in") != std::string::npos; }),
                        launcher.log());
  BOOST_CHECK(generates("tcp://127.0.0.1:7712", "fg"));
  auto pids = read_nodes(c.state_file());
  launcher.signal(SIGINT);
  auto rc = launcher.wait_exit(60s);
  BOOST_REQUIRE_MESSAGE(rc.has_value(), "launcher did not stop: " << launcher.log());
  BOOST_CHECK_EQUAL(*rc, 0);
  auto log = launcher.log();
  auto p3 = log.find("local-3  stopped"), p2 = log.find("local-2  stopped"), p1 = log.find("local-1  stopped");
  BOOST_CHECK_MESSAGE(p3 != std::string::npos && p2 != std::string::npos && p1 != std::string::npos && p3 < p2 && p2 < p1,
                      "not stopped in reverse order:\n" << log);
  BOOST_CHECK_MESSAGE(log.find("(exit code 0") != std::string::npos, log);
  for (auto& [name, row] : pids) BOOST_CHECK_MESSAGE(kill(row.pid, 0) != 0, name << " still runs");
  BOOST_CHECK(processes_mentioning(c.tmp.path()).empty());
}

BOOST_AUTO_TEST_CASE(a_node_that_cannot_start_fails_the_launch_with_its_log) {
  local_cluster c;
  // local-2's model file is missing on this "machine": replace the placement's model path.
  auto text = read_file(c.config);
  auto pos = text.find("../var/models/demo.gguf");
  BOOST_REQUIRE(pos != std::string::npos);
  text.replace(pos, std::string("../var/models/demo.gguf").size(), "../var/models/missing.gguf");
  std::ofstream(c.config, std::ios::trunc) << text;
  std::string out;
  auto t0 = std::chrono::steady_clock::now();
  int rc = c.run({"launch", c.config, "--log-dir", c.logs(), "--ready-timeout", "8"}, &out, 90s);
  BOOST_CHECK_EQUAL(rc, 1);
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - t0, 40s);
  BOOST_CHECK_MESSAGE(out.find("missing.gguf") != std::string::npos, "the reason is not shown:\n" << out);
  BOOST_CHECK(processes_mentioning(c.tmp.path()).empty());
}

BOOST_AUTO_TEST_CASE(print_remote_names_the_command_and_unit_for_other_hosts) {
  // The seed's four machines: none of them is this one.
  temp_dir tmp;
  const std::string seed = std::string(HOLO_SOURCE_DIR) + "/config/holobionte.toml";
  child_process p({holo_bin, "launch", "--print-remote", "--systemd", seed}, tmp.file("out.log"));
  auto rc = p.wait_exit(20s);
  BOOST_REQUIRE(rc.has_value());
  auto out = p.log();
  BOOST_CHECK_MESSAGE(*rc == 0, out);
  for (auto n : {"nodo1", "nodo2", "nodo3", "nodo4"}) {
    BOOST_CHECK_MESSAGE(out.find(std::string(n) + " runs on 192.168.1.") != std::string::npos, out);
    BOOST_CHECK_MESSAGE(out.find("node --config " + seed + " --name " + n) != std::string::npos, out);
  }
  BOOST_CHECK_MESSAGE(out.find("[Service]") != std::string::npos, out);

  child_process plain({holo_bin, "launch", "--print-remote", seed}, tmp.file("plain.log"));
  BOOST_REQUIRE(plain.wait_exit(20s).has_value());
  BOOST_CHECK(plain.log().find("[Service]") == std::string::npos);
  BOOST_CHECK(plain.log().find("--name nodo4") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_node_that_keeps_dying_is_given_up_and_the_others_keep_serving) {
  local_cluster c;
  child_process launcher({holo_bin, "launch", c.config, "--log-dir", c.logs(), "--max-restarts", "1"},
                         c.tmp.file("launch.out"));
  BOOST_REQUIRE_MESSAGE(eventually(90s, [&] { return launcher.log().find("ready in") != std::string::npos; }),
                        launcher.log());
  int first = read_nodes(c.state_file())["local-3"].pid;
  BOOST_REQUIRE_EQUAL(kill(first, SIGKILL), 0);
  BOOST_REQUIRE_MESSAGE(eventually(20s, [&] {
                          auto r = read_nodes(c.state_file())["local-3"];
                          return r.state == "running" && r.pid != first && r.restarts == 1;
                        }),
                        launcher.log());
  auto t_backoff = std::chrono::steady_clock::now();
  BOOST_REQUIRE_EQUAL(kill(read_nodes(c.state_file())["local-3"].pid, SIGKILL), 0);
  BOOST_CHECK(eventually(10s, [&] { return read_nodes(c.state_file())["local-3"].state == "failed"; }));
  BOOST_CHECK_MESSAGE(launcher.log().find("local-3  exited (killed by signal 9") != std::string::npos &&
                          launcher.log().find("giving up on it") != std::string::npos,
                      launcher.log());
  // Given up at once (no further backoff), and not started again.
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - t_backoff, 5s);
  std::this_thread::sleep_for(3s);
  BOOST_CHECK_EQUAL(read_nodes(c.state_file())["local-3"].pid, 0);
  BOOST_CHECK(launcher.running());
  BOOST_CHECK(generates("tcp://127.0.0.1:7711", "after-give-up"));
  launcher.signal(SIGTERM);
  auto rc = launcher.wait_exit(60s);
  BOOST_REQUIRE(rc.has_value());
  BOOST_CHECK_EQUAL(*rc, 0);
  BOOST_CHECK(processes_mentioning(c.tmp.path()).empty());
}
