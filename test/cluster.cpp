#include "test/cluster.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "runtime/admin_key.hpp"
#include "runtime/keys.hpp"

namespace holo::test {

cluster_fixture::cluster_fixture(int n, bool curve, int heartbeat_ms) : heartbeat_ms_(heartbeat_ms) {
  auto key = generate_admin_key();
  if (!key) throw std::runtime_error(key.error().to_string());
  admin_key_ = *key;
  if (auto st = write_admin_key_file(admin_key_file(), admin_key_, true); !st.ok())
    throw std::runtime_error(st.to_string());
  for (int i = 1; i <= n; ++i) {
    node_spec s;
    s.name = "n" + std::to_string(i);
    s.cluster_port = free_port();
    s.client_port = free_port();
    if (curve) {
      auto kp = generate_keypair();
      if (!kp) throw std::runtime_error(kp.error().to_string());
      s.public_key = kp->public_z85;
      s.secret_key = kp->secret_z85;
    }
    nodes_.push_back(s);
  }
  config_path_ = write_config("cluster.toml", nodes_);
}

void cluster_fixture::require_client_keys(std::vector<std::pair<std::string, std::string>> clients) {
  client_curve_ = true;
  clients_ = std::move(clients);
  config_path_ = write_config("cluster.toml", nodes_);
}

void cluster_fixture::serve(const std::string& toml) {
  serve_toml_ = toml;
  config_path_ = write_config("cluster.toml", nodes_);
}

void cluster_fixture::set_admin_read_only(bool on) {
  admin_read_only_ = on;
  config_path_ = write_config("cluster.toml", nodes_);
}

void cluster_fixture::set_node_lines(const std::string& lines) {
  node_lines_ = lines;
  config_path_ = write_config("cluster.toml", nodes_);
}

cluster_fixture::~cluster_fixture() {
  for (auto& [name, p] : procs_) p->signal(SIGKILL);
}

std::string cluster_fixture::write_config(const std::string& file, const std::vector<node_spec>& nodes) const {
  std::ostringstream os;
  os << "[cluster]\nname = \"test\"\n\n[health]\nheartbeat_interval_ms = " << heartbeat_ms_ << "\n\n";
  os << "[admin]\nkey_file = \"" << admin_key_file() << "\"\nread_only = " << (admin_read_only_ ? "true" : "false")
     << "\n\n";
  for (auto& s : nodes) {
    os << "[[node]]\nname = \"" << s.name << "\"\n"
       << "cluster_endpoint = \"tcp://127.0.0.1:" << s.cluster_port << "\"\n"
       << "client_endpoint = \"tcp://127.0.0.1:" << s.client_port << "\"\n"
       << (serve_toml_.empty() ? "roles = [\"router\"]\n" : "roles = [\"router\", \"shard\"]\nengine_threads = 1\n")
       << (client_curve_ ? "client_auth = \"curve\"\n" : "")
       << "data_dir = \"" << dir_.path() << "/data-" << s.name << "\"\n" << node_lines_;
    if (!s.public_key.empty()) {
      auto key_file = dir_.path() + "/" + file + "-" + s.name + ".key";
      ::unlink(key_file.c_str());
      int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
      if (fd < 0) throw std::runtime_error("cannot write " + key_file);
      auto line = s.secret_key + "\n";
      if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) throw std::runtime_error("write");
      ::close(fd);
      os << "keys = { public_key = \"" << s.public_key << "\", secret_key_file = \"" << key_file << "\" }\n";
    }
    os << "\n";
  }
  for (auto& [name, key] : clients_) os << "[[client]]\nname = \"" << name << "\"\npublic_key = \"" << key << "\"\n\n";
  os << serve_toml_;
  dir_.write(file, os.str());
  return dir_.file(file);
}

std::string cluster_fixture::client_endpoint(const std::string& name) const {
  for (auto& s : nodes_)
    if (s.name == name) return "tcp://127.0.0.1:" + std::to_string(s.client_port);
  throw std::runtime_error("no node " + name);
}

child_process& cluster_fixture::start(const std::string& name, const std::string& config) {
  auto log = dir_.file(name + "-" + std::to_string(restarts_++) + ".log");
  auto& p = procs_[name];
  if (p) p->signal(SIGKILL);
  p = std::make_unique<child_process>(
      std::vector<std::string>{HOLO_BIN, "node", "--config", config.empty() ? config_path_ : config, "--name", name,
                               "--threads", "2", "--log-level", std::getenv("HOLO_TEST_LOG_LEVEL") ? std::getenv("HOLO_TEST_LOG_LEVEL") : "info"},
      log);
  return *p;
}

void cluster_fixture::kill9(const std::string& name) {
  auto it = procs_.find(name);
  if (it == procs_.end()) return;
  it->second->signal(SIGKILL);
  it->second->wait_exit(std::chrono::seconds(5));
}

child_process* cluster_fixture::process(const std::string& name) {
  auto it = procs_.find(name);
  return it == procs_.end() ? nullptr : it->second.get();
}

std::map<std::string, std::string> cluster_fixture::view(const std::string& observer, std::chrono::milliseconds timeout) {
  std::map<std::string, std::string> out;
  holo::client c(client_endpoint(observer));
  auto r = c.nodes(timeout);
  if (!r) return out;
  for (auto& m : r->members) out[m.node] = m.state;
  return out;
}

bool cluster_fixture::all_see(const std::vector<std::string>& observers, const std::string& subject,
                              const std::string& state) {
  for (auto& o : observers) {
    auto v = view(o);
    auto it = v.find(subject);
    if (it == v.end() || it->second != state) return false;
  }
  return true;
}

std::vector<std::string> cluster_fixture::names() const {
  std::vector<std::string> out;
  for (auto& s : nodes_) out.push_back(s.name);
  return out;
}

std::string cluster_fixture::logs() const {
  std::string all;
  for (auto& [name, p] : procs_) all += "---- " + name + "\n" + p->log();
  return all;
}

}  // namespace holo::test
