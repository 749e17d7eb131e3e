// cluster_io: the node's cluster sockets and the one I/O thread that owns them.
//
//   peers' DEALERs --tcp--> ROUTER (cluster_endpoint) --> I/O thread --> deliver_inline (fast path)
//                                                                     \-anon_send--> owner actor
//   owner: send(peer, frame) --(mutex)--> the peer's own DEALER --tcp--> the peer's ROUTER
//
// Inbound frames are first offered to `deliver_inline` on the I/O thread; the ones it declines
// reach the owner as (cluster_in_atom, std::string peer, std::string frame), where `peer` is who
// the frame is from: with CURVE, the name the ZAP handler gave the client's public key
// (authenticated); without CURVE (loopback only), the DEALER's routing id.
// Outbound frames go straight into the peer's DEALER from the caller's thread, under a mutex (a
// ZeroMQ socket may change threads across a full memory barrier). A frame for a peer whose
// connection is not up, or whose queue (`peer_queue_frames_max`) is full, is not queued: send()
// says so at once, so requests fail fast. The performance bet: no actor or thread hop between the
// owner and the wire (docs/benchmarks.md).
// Bursts are coalesced (`coalesce_wait_us`): the first frame after a quiet spell still goes out at
// once and alone, but frames that follow it closely are appended to the peer's batch
// (runtime/wire_batch.hpp), which the I/O thread puts on the DEALER as one ZeroMQ message when a
// timer fires (one per node, armed by the first batch since the last flush). Per frame ZeroMQ then costs a memcpy instead of
// a message, a queue entry, and (with CURVE) an encryption; every I/O thread on the way wakes once
// per batch. A batched frame that the DEALER then refuses (the link fell in between) is counted
// as undeliverable, like one ZeroMQ drops from its queue when the connection breaks: a request in
// it fails by its timeout or when the peer is marked down. While a link refuses, nothing is
// coalesced, so callers hear of it at once.
//
// Security: with `curve` set, the ROUTER is a CURVE server and every DEALER a CURVE client of its
// peer's public key; a ZAP handler on the same context admits only the keys in `allowed`. Without
// it, every endpoint must be loopback (checked by start()).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  // Runs on the I/O thread for every well-formed inbound frame, with the authenticated peer and
  // the payload (valid only during the call). Returns true when it has dealt with the frame;
  // false sends it on to the owner as cluster_in_atom. Must not block. Unset: everything goes on.
  // `host`: pass it to the enqueue of what the frame delivers. An actor woken that way is handed to
  // the scheduler once the I/O thread has delivered every frame of the ZeroMQ message (a batch:
  // a sender's burst), not at once: a burst for one actor then costs one wake-up of a worker
  // instead of one per frame (the worker used to drain a frame or two, sleep, and be woken again).
  std::function<bool(const std::string& peer, std::string_view frame, caf::execution_unit* host)> deliver_inline;
  // Runs on the I/O thread about every `tick_ms` (the poll wakes at least that often): for
  // deadlines kept by the owner's shared state (request timeouts). Must not block.
  std::function<void()> on_tick;
  int tick_ms = 20;
  // Runs on the I/O thread after each inbound ZeroMQ message (one frame or a batch), before the
  // actors its frames woke are scheduled: what deliver_inline cached for it can be dropped. Must
  // not block.
  std::function<void()> on_batch_end;
  // Coalescing. A frame sent to a peer that has had no send for `coalesce_idle_us` goes on the wire
  // at once, alone; frames that follow it closer than that join a batch (runtime/wire_batch.hpp)
  // that the I/O thread sends at most `coalesce_wait_us` after its first frame, or the sender itself once
  // the batch holds batch_bytes_max bytes or peer_queue_frames_max frames. A lone request or
  // heartbeat pays nothing; a burst costs one ZeroMQ message per batch instead of one per frame.
  // The idle threshold sits well below a loopback round trip (~60 us), so a request/response loop
  // never waits; the wait and the size decide how many frames share a batch's fixed cost (wake-ups
  // of four threads): 20 us gave 30-60 frames a batch in the transport bench, 100 us with 16 KiB
  // 120-190 and +50% throughput; 500 us filled the bench's whole window and stalled it (benchmarks.md).
  // coalesce_wait_us = 0 sends every frame alone.
  int coalesce_idle_us = 20;
  int coalesce_wait_us = 100;
  // A batch begun by an actor on a worker of the node's scheduler leaves when the actor's job ends
  // (runtime/after_job.hpp); the timer is then only the bound for a job that goes on after sending,
  // this long (or coalesce_wait_us if that is longer). Longer than coalesce_wait_us so that the I/O
  // thread is not woken for every batch only to find it gone.
  int job_flush_bound_us = 1000;
  std::size_t batch_bytes_max = 16 << 10;
};

struct cluster_io_counters {
  std::atomic<std::uint64_t> frames_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> dropped_malformed{0};    // not [routing id][payload]
  std::atomic<std::uint64_t> dropped_unknown_peer{0}; // outbound to a name we have no DEALER for
  std::atomic<std::uint64_t> undeliverable{0};        // send() refused: peer not connected or its queue full
  std::atomic<std::uint64_t> rejected_handshakes{0};  // ZAP said no
  std::atomic<std::uint64_t> links_rebuilt{0};        // DEALERs recreated after a refusing streak
  std::atomic<std::uint64_t> batches_out{0};          // ZeroMQ messages that carried several frames
  std::atomic<std::uint64_t> batches_in{0};
};

// True when every host in `endpoint` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback_endpoint(const std::string& endpoint);

class cluster_io {
 public:
  // Binds and connects everything, then starts the I/O thread. Fails (invalid_argument) when a
  // non-loopback endpoint has no CURVE keys, (unavailable) when the bind address is in use.
  static result<std::unique_ptr<cluster_io>> start(caf::actor_system& sys, zmq::context_t& ctx,
                                                   cluster_io_options opts, caf::actor owner);
  ~cluster_io();  // stop()s
  // Stops the I/O thread and closes every socket (a queued last frame still gets its linger);
  // send() refuses from then on. Idempotent. Must not be called from the I/O thread itself
  // (deliver_inline, on_tick). Drops deliver_inline and on_tick, so what they captured is released.
  void stop();
  cluster_io(const cluster_io&) = delete;
  cluster_io& operator=(const cluster_io&) = delete;

  // Queues `frame` on the DEALER to `peer` without blocking. Returns false (and counts it) when
  // the peer is unknown, its connection is not up, its queue is full, or cluster_io is stopping.
  // Any thread may call it; calls are serialized by a mutex held only for the non-blocking send.
  bool send(const std::string& peer, std::string_view frame);
  const cluster_io_counters& counters() const { return *counters_; }

 private:
  struct sockets;
  struct flush_handle;  // what after_job holds: flushes until stop()
  cluster_io() = default;
  static void flush_deferred(void* handle);  // after_job: a job that batched frames has ended
  void arm_batch_timer(int wait_us);
  void flush_waiting();
  std::unique_ptr<zmq::socket_t> make_dealer(const struct peer_link& link);
  void rebuild_failing_links();
  std::unique_ptr<zmq::socket_t> make_monitor(zmq::socket_t& dealer, const std::string& peer);
  bool put_on_wire(struct peer_link& link, std::string_view bytes, std::size_t frames);
  bool flush_batch(struct peer_link& link);
  void flush_batches();
  void run();

  class deferred_scheduling;  // cluster_io.cpp: the `host` of deliver_inline
  cluster_io_options opts_;
  caf::actor owner_;
  std::unique_ptr<sockets> sockets_;
  std::shared_ptr<flush_handle> flush_handle_;
  std::shared_ptr<void> flush_ref_;  // the same, as after_job::defer takes it (no copy per frame)
  std::shared_ptr<cluster_io_counters> counters_ = std::make_shared<cluster_io_counters>();
  std::atomic<bool> running_{true};
  std::thread thread_;
};

}  // namespace holo
