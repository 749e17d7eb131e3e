// A blocking ZeroMQ client for one node's client endpoint: used by `holo status` (and later `holo
// generate` and the shell). One instance per thread; not thread-safe. Every call has a deadline and
// answers `deadline_exceeded` instead of hanging when the node does not answer.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "runtime/client_protocol.hpp"
#include "runtime/status.hpp"

namespace holo {

// Keys for a node whose client endpoint requires CURVE (docs/security.md): the node's public key and
// this client's keypair, all Z85. The client's public key must be listed in the cluster's [[client]].
struct client_keys {
  std::string server_public_key;
  std::string public_key;
  std::string secret_key;
};

class client {
 public:
  explicit client(std::string endpoint, std::optional<client_keys> keys = std::nullopt);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // This node's health; with `node`, the health of another node of the cluster asked through this
  // one (fails with the node's typed error, e.g. node_unreachable, when it is down).
  result<proto::health_reply> health(std::chrono::milliseconds timeout, const std::string& node = "");
  // This node's membership view and link counters.
  result<proto::nodes_reply> nodes(std::chrono::milliseconds timeout);
  // Sends one raw frame and waits for one raw reply frame (tests of malformed input use it).
  result<std::string> roundtrip(const std::string& frame, std::chrono::milliseconds timeout);

 private:
  struct impl;
  // Sends a request built by `encode(id)` and returns the first reply with that id, decoded.
  template <class T, class Encode, class Decode>
  result<T> call(std::chrono::milliseconds timeout, Encode encode, Decode decode);
  std::unique_ptr<impl> impl_;
};

}  // namespace holo
