// Helpers for multi-node tests: write a cluster config with free loopback ports (and CURVE keys on
// request), start node processes from it, ask them over their client endpoints.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/client.hpp"
#include "test/process.hpp"

namespace holo::test {

struct node_spec {
  std::string name;
  int cluster_port = 0;
  int client_port = 0;
  std::string public_key;  // Z85; empty: no keys
  std::string secret_key;
};

class cluster_fixture {
 public:
  // `n` nodes named n1..nN; with `curve`, each gets a keypair and the config lists every key.
  explicit cluster_fixture(int n, bool curve = false, int heartbeat_ms = 250);
  ~cluster_fixture();

  const temp_dir& dir() const { return dir_; }
  const std::string& config_path() const { return config_path_; }
  std::vector<node_spec>& nodes() { return nodes_; }
  std::string client_endpoint(const std::string& name) const;

  // Requires CURVE on every node's client endpoint and lists `clients` (name, public key).
  void require_client_keys(std::vector<std::pair<std::string, std::string>> clients);
  // Makes every node a router and a shard (one engine thread each) and appends `toml` ([[model]],
  // [[placement]], [routing] ... sections) to the config.
  void serve(const std::string& toml);
  // Extra lines for every [[node]] section.
  void set_node_lines(const std::string& lines);
  // The cluster's admin key (every config this fixture writes names its file in [admin]): admin
  // client kinds such as `kill` carry it (proto::encode_kill's admin_key).
  const std::string& admin_key() const { return admin_key_; }
  std::string admin_key_file() const { return dir_.file("admin.key"); }
  // [admin] read_only: allow the shell's read-only kinds without the key.
  void set_admin_read_only(bool on);
  // Writes a config for the given node list (used for rogue nodes with other keys or no keys).
  std::string write_config(const std::string& file, const std::vector<node_spec>& nodes) const;

  child_process& start(const std::string& name, const std::string& config = "");
  void kill9(const std::string& name);
  child_process* process(const std::string& name);

  // The states of every member in `observer`'s view (empty map if it does not answer).
  std::map<std::string, std::string> view(const std::string& observer, std::chrono::milliseconds timeout = std::chrono::milliseconds(500));
  // True when every node in `observers` sees `subject` in `state`.
  bool all_see(const std::vector<std::string>& observers, const std::string& subject, const std::string& state);
  std::vector<std::string> names() const;
  std::string logs() const;

 private:
  temp_dir dir_;
  std::string config_path_;
  std::vector<node_spec> nodes_;
  int heartbeat_ms_;
  bool client_curve_ = false;
  std::vector<std::pair<std::string, std::string>> clients_;
  std::string serve_toml_;  // non-empty: nodes serve models
  std::string node_lines_;
  std::string admin_key_;
  bool admin_read_only_ = false;
  std::map<std::string, std::unique_ptr<child_process>> procs_;
  int restarts_ = 0;
};

}  // namespace holo::test
