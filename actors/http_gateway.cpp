#include "actors/http_gateway.hpp"

#include <fstream>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/http_server.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

struct gateway_state {
  std::unique_ptr<http::server> server;  // stopped (threads joined) when the state is destroyed
  static inline const char* name = "http_gateway";
};

using gateway_actor = caf::stateful_actor<gateway_state>;

// The keys, with key files read now (first line, trailing whitespace dropped).
result<std::vector<std::pair<std::string, std::string>>> read_keys(const config::cluster_config& cluster) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (auto& k : cluster.http_keys) {
    if (!k.key.empty()) {
      keys.emplace_back(k.key, k.name);
      continue;
    }
    auto path = cluster.resolve_path(k.key_file);
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) return status::not_found("cannot read the API key file " + path + " of http_key " + k.name);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.size() < 16 || line.size() > 256)
      return status::invalid_argument("the API key in " + path + " must have 16 to 256 characters");
    keys.emplace_back(line, k.name);
  }
  return keys;
}

caf::behavior http_gateway(gateway_actor* self, node_context_ptr ctx) {
  auto log = ctx->log.child("http");
  auto fail = [&](const std::string& why) -> caf::behavior {
    log.error("cannot start the HTTP gateway", {{"endpoint", ctx->node.http_endpoint}, {"error", why}});
    self->quit(caf::make_error(caf::sec::cannot_open_port));
    return {};
  };
  auto hp = http::parse_host_port(ctx->node.http_endpoint);
  if (!hp) return fail(hp.error().message());
  auto keys = read_keys(ctx->cluster);
  if (!keys) return fail(keys.error().message());
  http::server_options opts;
  opts.host = hp->host;
  opts.port = hp->port;
  opts.keys = std::move(*keys);
  const bool auth = !opts.keys.empty();
  auto srv = http::server::start(self->system(), ctx, std::move(opts));
  if (!srv) return fail(srv.error().message());
  self->state.server = std::move(*srv);
  log.info("listening for HTTP clients", {{"endpoint", ctx->node.http_endpoint}, {"auth", auth ? "bearer keys" : "none (loopback)"}});
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{http_gateway_name, "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
  };
}

}  // namespace

caf::actor spawn_http_gateway(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn<caf::detached>(http_gateway, std::move(ctx));
}

status http_bind_allowed(const config::cluster_config& cluster, const config::node_config& node) {
  if (node.http_endpoint.empty()) return {};
  if (!node.has_role("router"))
    return status::invalid_argument("node " + node.name + " has an http_endpoint but not the router role that serves it");
  auto hp = http::parse_host_port(node.http_endpoint);
  if (!hp) return status::invalid_argument("node " + node.name + ": http_endpoint " + hp.error().message());
  if (cluster.http_keys.empty() && !http::is_loopback_host(hp->host))
    return status::invalid_argument("refusing to serve HTTP on " + node.http_endpoint + " without API keys: off loopback " +
                                    "clients must authenticate (add [[http_key]] entries, see docs/http-api.md)");
  return {};
}

}  // namespace holo
