// The HTTP side of the gateway: a cpp-httplib server serving OpenAI's and Ollama's routes
// (docs/http-api.md), each request bridged to the router with a router_call. Owned by the
// http_gateway actor, which starts it and destroys it.
//
// Threads: httplib's accept thread plus a bounded pool of worker threads (one per request being
// served; a streamed response holds its worker until it ends). Limits: body bytes (413 past
// http::body_bytes_max), read/write timeouts, connections waiting for a worker. Auth: with keys
// configured every route needs `Authorization: Bearer KEY` (401 otherwise).
//
// Stopping (destructor): no new connections; streams in flight end with an error event within
// about a second; returns once every thread has joined.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/node_context.hpp"
#include "runtime/status.hpp"

namespace holo::http {

struct server_options {
  std::string host;  // bind address
  int port = 0;
  std::vector<std::pair<std::string, std::string>> keys;  // (key, name); empty: no auth (loopback)
  std::size_t worker_threads = 32;          // requests served at once (streams included)
  std::size_t pending_connections_max = 64; // accepted connections waiting for a worker
};

class server {
 public:
  // Binds and starts serving; unavailable when the address cannot be bound.
  static result<std::unique_ptr<server>> start(caf::actor_system& sys, node_context_ptr ctx, server_options opts);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  struct impl;

 private:
  explicit server(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

// HOST:PORT (HOST may be [v6]) split; nullopt when malformed.
struct host_port {
  std::string host;
  int port = 0;
};
result<host_port> parse_host_port(const std::string& s);
bool is_loopback_host(const std::string& host);

}  // namespace holo::http
