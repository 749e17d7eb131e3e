#include "runtime/cli/node_target.hpp"

#include <CLI/CLI.hpp>

#include "runtime/config.hpp"
#include "runtime/keys.hpp"

namespace holo::cli {

void node_target_options::add_to(CLI::App* sub) {
  sub->add_option("-c,--config", config_path, "Cluster configuration, to find the endpoint");
  sub->add_option("-n,--name", name, "Node name in the configuration (default: the first)");
  sub->add_option("--key", key_file, "This client's CURVE secret key file, for nodes that require CURVE clients");
  sub->add_option("--server-key", server_key, "The node's CURVE public key (Z85); taken from --config if given");
}

result<node_target> resolve(const node_target_options& o) {
  node_target t{o.endpoint, std::nullopt};
  std::string server_key = o.server_key;
  if (t.endpoint.empty()) {
    if (o.config_path.empty()) return status::invalid_argument("give an ENDPOINT or --config (and --name)");
    auto cfg = config::load_file(o.config_path);
    if (!cfg) return status::invalid_argument("invalid configuration\n" + cfg.error().message());
    auto node = config::select_node(*cfg, o.name.empty() && cfg->nodes.size() > 1 ? cfg->nodes[0].name : o.name);
    if (!node) return node.error();
    t.endpoint = node->client_endpoint;
    if (server_key.empty()) server_key = node->public_key;
  }
  if (!o.key_file.empty()) {
    auto secret = read_secret_key_file(o.key_file);
    if (!secret) return secret.error();
    auto pub = public_from_secret(*secret);
    if (!pub || server_key.size() != 40)
      return status::invalid_argument("--key needs the node's public key (--server-key, or --config with keys)");
    t.keys = client_keys{server_key, *pub, *secret};
  }
  return t;
}

}  // namespace holo::cli
