// router_bridge: a ZeroMQ ROUTER socket bound to one endpoint, bridged to actors without ever letting
// two threads touch a socket (shared/caf-0.17-notes.md §5):
//
//   peer DEALER --tcp--> [I/O thread: ROUTER + PULL(inproc)] --anon_send(bridge_in)--> owner actor
//   any actor --(bridge_out)--> sender (detached actor, PUSH(inproc)) --> PULL --> ROUTER --> peer
//
// The owner actor starts it in its init and keeps it in its state; destroying the bridge stops the I/O
// thread (joins it) and the sender. Limits: frames larger than `frame_bytes_max` are refused by ZeroMQ
// itself (ZMQ_MAXMSGSIZE drops the connection); frames that are not [identity][payload] are dropped
// and counted. Outbound sends to a peer that is gone are dropped, counted and told to the owner
// (ROUTER_MANDATORY makes that visible instead of silent); a peer whose queue is full gets a bounded
// backlog, retried every few milliseconds, and the owner is told so it can coalesce.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <caf/fwd.hpp>
#include <caf/atom.hpp>
#include <caf/actor.hpp>

#include "runtime/inproc_sender.hpp"
#include "runtime/status.hpp"

namespace zmq {
class context_t;
}

namespace holo {

// Inbound: (bridge_in_atom, std::string peer_identity, std::string user, std::string payload) to the
// owner; `user` is the name the ZAP handler gave the peer's key (empty without CURVE).
using bridge_in_atom = caf::atom_constant<caf::atom("bridge_in")>;
// (bridge_gone_atom, std::string peer): a send to the peer failed because it disconnected, or its
// backlog overflowed (it stopped reading); frames queued for it are dropped (and counted).
using bridge_gone_atom = caf::atom_constant<caf::atom("br_gone")>;
// (bridge_congested_atom, std::string peer, bool): the peer's send queue is full (true) -- later
// frames wait in a bounded backlog -- or drained again (false). Owners coalesce meanwhile.
using bridge_congested_atom = caf::atom_constant<caf::atom("br_congest")>;
// Outbound: (bridge_out_atom, std::string peer_identity, std::string payload) to sender().

struct bridge_options {
  std::string endpoint;                       // tcp://127.0.0.1:7711
  std::int64_t frame_bytes_max = 16 << 20;    // ZMQ_MAXMSGSIZE
  int send_queue_frames_max = 10000;          // SNDHWM of the ROUTER and the inproc pipe
  int peer_queue_frames = 0;                  // SNDHWM per peer of the ROUTER; 0: send_queue_frames_max
  std::size_t peer_backlog_bytes_max = 8 << 20;  // beyond this a congested peer is dropped
  int socket_send_buffer_bytes = 0;           // SO_SNDBUF per connection; 0: the OS default
  // Set: the ROUTER is a CURVE server with this secret key (Z85), and asks the context's ZAP
  // handler, under `zap_domain`, who may connect. The handler must already be bound (ZAP fails open).
  std::string curve_secret_key;
  std::string zap_domain;
};

struct bridge_counters {
  std::atomic<std::uint64_t> frames_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> dropped_malformed{0};
  std::atomic<std::uint64_t> dropped_unroutable{0};
  std::atomic<std::uint64_t> congestions{0};
};

class router_bridge {
 public:
  // Binds the ROUTER (fails with `unavailable` when the address is in use), starts the I/O thread
  // and the sender actor. `ctx` must outlive the bridge.
  static result<std::unique_ptr<router_bridge>> start(caf::actor_system& sys, zmq::context_t& ctx,
                                                       bridge_options opts, caf::actor owner);
  ~router_bridge();
  router_bridge(const router_bridge&) = delete;
  router_bridge& operator=(const router_bridge&) = delete;

  const caf::actor& sender() const { return sender_; }
  const bridge_counters& counters() const { return *counters_; }
  const std::string& endpoint() const { return opts_.endpoint; }

 private:
  router_bridge() = default;
  void run(void* router_socket, void* pull_socket);

  bridge_options opts_;
  caf::actor owner_;
  caf::actor sender_;
  std::string inproc_address_;
  std::shared_ptr<bridge_counters> counters_ = std::make_shared<bridge_counters>();
  std::atomic<bool> running_{true};
  std::thread io_thread_;
};

}  // namespace holo
