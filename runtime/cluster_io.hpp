// cluster_io: the node's cluster sockets and the one I/O thread that owns them.
//
//   peers' DEALERs --tcp--> ROUTER (cluster_endpoint) --> I/O thread --anon_send--> owner actor
//   owner --(bridge_out_atom, peer, frame)--> sender --inproc PUSH/PULL--> I/O thread
//   I/O thread --> the peer's own DEALER --tcp--> the peer's ROUTER
//
// Inbound frames reach the owner as (cluster_in_atom, std::string peer, std::string frame), where
// `peer` is who the frame is from: with CURVE, the name the ZAP handler gave the client's public key
// (authenticated); without CURVE (loopback only), the DEALER's routing id. Outbound frames go
// through the peer's own DEALER; a frame for a peer whose connection is not up, or whose queue
// (`peer_queue_frames_max`) is full, is not queued: it comes back to the owner as
// (cluster_undeliverable_atom, std::string peer, std::string frame) so requests can fail fast.
//
// Security: with `curve` set, the ROUTER is a CURVE server and every DEALER a CURVE client of its
// peer's public key; a ZAP handler on the same context admits only the keys in `allowed`. Without
// it, every endpoint must be loopback (checked by start()).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "runtime/status.hpp"

namespace zmq {
class context_t;
class socket_t;
}

namespace holo {

using cluster_in_atom = caf::atom_constant<caf::atom("cl_in")>;
using cluster_undeliverable_atom = caf::atom_constant<caf::atom("cl_undeliv")>;
// (cluster_rejected_atom, std::string peer_address, std::string why): a handshake the ZAP handler refused.
// (cluster_link_atom, std::string peer, bool up): our connection to a peer completed its handshake
// (true) or closed (false: the peer's process died or the network dropped it).
using cluster_link_atom = caf::atom_constant<caf::atom("cl_link")>;
using cluster_rejected_atom = caf::atom_constant<caf::atom("cl_reject")>;

struct cluster_peer {
  std::string name;
  std::string endpoint;    // tcp://host:port of its ROUTER
  std::string public_key;  // Z85; required with CURVE
};

struct curve_identity {
  std::string public_key;  // Z85, 40 chars
  std::string secret_key;  // Z85, 40 chars
};

struct cluster_io_options {
  std::string self;                     // this node's name: the routing id of its DEALERs
  std::string bind_endpoint;
  std::vector<cluster_peer> peers;
  std::optional<curve_identity> curve;  // set: CURVE + ZAP on every socket
  // Public keys (Z85) admitted by the ZAP handler, with the name each authenticates as.
  std::vector<std::pair<std::string, std::string>> allowed;
  // Client keys (Z85, name) admitted on this node's client endpoint only (ZAP domain "holo-client");
  // they authenticate as "client:NAME". Node keys are admitted there too.
  std::vector<std::pair<std::string, std::string>> allowed_clients;
  std::int64_t frame_bytes_max = 64 << 20;
  int peer_queue_frames_max = 1000;
  int reconnect_ms = 100;               // first retry after a lost connection
  int reconnect_max_ms = 500;           // bounds the time to rejoin after a peer restarts
};

struct cluster_io_counters {
  std::atomic<std::uint64_t> frames_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> dropped_malformed{0};    // not [routing id][payload]
  std::atomic<std::uint64_t> dropped_unknown_peer{0}; // outbound to a name we have no DEALER for
  std::atomic<std::uint64_t> undeliverable{0};        // peer not connected or its queue full
  std::atomic<std::uint64_t> rejected_handshakes{0};  // ZAP said no
  std::atomic<std::uint64_t> links_rebuilt{0};        // DEALERs recreated after a refusing streak
};

// True when every host in `endpoint` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback_endpoint(const std::string& endpoint);

class cluster_io {
 public:
  // Binds and connects everything, then starts the I/O thread. Fails (invalid_argument) when a
  // non-loopback endpoint has no CURVE keys, (unavailable) when the bind address is in use.
  static result<std::unique_ptr<cluster_io>> start(caf::actor_system& sys, zmq::context_t& ctx,
                                                   cluster_io_options opts, caf::actor owner);
  ~cluster_io();
  cluster_io(const cluster_io&) = delete;
  cluster_io& operator=(const cluster_io&) = delete;

  // Send (bridge_out_atom, std::string peer, std::string frame) here.
  const caf::actor& sender() const { return sender_; }
  const cluster_io_counters& counters() const { return *counters_; }

 private:
  struct sockets;
  cluster_io() = default;
  std::unique_ptr<zmq::socket_t> make_dealer(const struct peer_link& link);
  std::unique_ptr<zmq::socket_t> make_monitor(zmq::socket_t& dealer, const std::string& peer);
  void run();

  cluster_io_options opts_;
  caf::actor owner_;
  caf::actor sender_;
  std::unique_ptr<sockets> sockets_;
  std::shared_ptr<cluster_io_counters> counters_ = std::make_shared<cluster_io_counters>();
  std::atomic<bool> running_{true};
  std::thread thread_;
};

}  // namespace holo
