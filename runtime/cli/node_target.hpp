// Which node a client subcommand (`holo status`, `holo generate`) talks to: an ENDPOINT, or the
// `client_endpoint` of a node named in a configuration file; and this client's CURVE keys when the
// node requires CURVE clients (docs/security.md).
#pragma once

#include <optional>
#include <string>

#include "runtime/client.hpp"
#include "runtime/status.hpp"

namespace CLI {
class App;
}

namespace holo::cli {

struct node_target_options {
  std::string endpoint;     // tcp://HOST:PORT; wins over --config
  std::string config_path;  // cluster configuration, to find the endpoint and the node's public key
  std::string name;         // node in the configuration (default: the first)
  std::string key_file;     // this client's secret key
  std::string server_key;   // the node's public key (Z85); from the configuration when not given

  // Adds --config, --name, --key and --server-key (the ENDPOINT positional is the command's own).
  void add_to(CLI::App* sub);
};

struct node_target {
  std::string endpoint;
  std::optional<client_keys> keys;
};

// The endpoint and keys the options name. Fails with a message for the user (a missing endpoint, an
// invalid configuration, an unknown node, unreadable keys); callers print it and exit 2.
result<node_target> resolve(const node_target_options& o);

}  // namespace holo::cli
