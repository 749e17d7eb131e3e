// A blocking ZeroMQ client for one node's client endpoint: used by `holo status`, `holo generate`
// (and later the shell). One instance per thread; not thread-safe. Every call has a deadline and
// answers `deadline_exceeded` instead of hanging when the node does not answer.
//
// One instance is one DEALER, i.e. one connection as the node sees it. To resume a generation after
// the connection was lost (docs/protocol.md, "resume"), make a new client and call resume() on it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/client_protocol.hpp"
#include "runtime/serving_protocol.hpp"
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
  // Called for each token event of the generation, in index order. Returning false asks for the
  // generation to stop: the client sends cancel, stops calling back and reads on until `done`.
  using token_callback = std::function<bool(const proto::token_event&)>;

  // Sends generate and follows the generation `req.id` to its end: the `done` event, or its error
  // event as a status with the node's code (invalid_argument, not_found, out_of_range,
  // resource_exhausted, unavailable; any other code becomes failed_precondition). Fails with
  // data_loss when token indexes are not contiguous from 0 (a gap or a repeat), and with
  // deadline_exceeded when nothing arrives for `idle_timeout`. Events for other ids are skipped.
  // On failure the generation may still run on the node: cancel(req.id) stops it.
  // `cancel_requested`, if given, is read between events (at least every 100 ms) and may be set from
  // a signal handler or another thread; once true the client sends cancel, as for a false callback.
  result<proto::done_event> generate(const proto::generate_request& req, const token_callback& on_token,
                                     std::chrono::milliseconds idle_timeout,
                                     const std::atomic<bool>* cancel_requested = nullptr);
  // Re-attaches this connection to generation `id` and follows it as generate() does, from token
  // `from_index` (the node keeps a finished or orphaned generation for 60 s; not_found after that).
  result<proto::done_event> resume(const std::string& id, std::int64_t from_index, const token_callback& on_token,
                                   std::chrono::milliseconds idle_timeout,
                                   const std::atomic<bool>* cancel_requested = nullptr);
  // Asks the node to stop generation `id`; sends only (its `done`, reason cancelled, goes to whoever
  // follows it).
  status cancel(const std::string& id);
  // The models the cluster serves and their replicas.
  result<std::vector<proto::model_info>> models(std::chrono::milliseconds timeout);

  // Sends the frame `encode(id)`, for a fresh id, and returns the first reply frame carrying that id
  // (the shell's kinds: runtime/admin_protocol.hpp decodes it).
  result<std::string> request(const std::function<std::string(const std::string& id)>& encode,
                              std::chrono::milliseconds timeout);
  // Sends one raw frame and waits for one raw reply frame (tests of malformed input use it).
  result<std::string> roundtrip(const std::string& frame, std::chrono::milliseconds timeout);

 private:
  struct impl;
  // Sends a request built by `encode(id)` and returns the first reply with that id, decoded.
  template <class T, class Encode, class Decode>
  result<T> call(std::chrono::milliseconds timeout, Encode encode, Decode decode);
  // Reads the events of generation `id` from token `next_index` until its done or error event.
  result<proto::done_event> follow(const std::string& id, std::int64_t next_index, const token_callback& on_token,
                                   std::chrono::milliseconds idle_timeout, const std::atomic<bool>* cancel_requested);
  std::unique_ptr<impl> impl_;
};

}  // namespace holo
