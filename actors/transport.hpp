// transport: the node's link to its peers. Owns cluster_io (the ROUTER, a DEALER per peer, the I/O
// thread) through transport_link (actors/transport_link.hpp), which turns actor messages into
// frames and back on whichever thread has them. Protocol (local actors only), taken by the
// transport's *door* (`transport_door(sys)`: encodes on the sender's thread, no mailbox hop) and,
// one hop later, by the transport actor itself:
//
//   (remote_send_atom, std::string node, std::string actor, caf::message msg)
//       one-way; `msg` holds one catalogue message (runtime/cluster_messages.hpp). To this node's
//       own name: delivered to the local actor (same order as every other send from the caller).
//   (remote_request_atom, std::string node, std::string actor, std::int64_t timeout_ms, caf::message msg)
//       -> the remote actor's reply (a catalogue message), or an error:
//          holo::errc::node_unreachable  at once, when the node is down/left/never heard, or its link
//                                        refuses the frame; also for pending requests when it goes down
//          holo::errc::remote_timeout    no answer within timeout_ms
//          holo::errc::unknown_actor     the node has no such actor
//          holo::errc::remote_failure    the remote actor answered with an error
//          unavailable (status error)    more than pending_requests_max requests in flight
//   The transport actor only:
//   (peer_state_atom, std::string node, bool up)   from health: membership changes
//   (status_atom) -> actor_status;  (transport_stats_atom) -> transport_stats
//
// Inbound, on the I/O thread: a `send` frame is decoded and enqueued in the mailbox of the local
// actor registered under its `to_actor` name; a `request` frame likewise, with a reply sink as its
// sender whose enqueue sends the answer back on the answering actor's thread; a response completes
// the caller's request directly. A frame whose envelope names a sender other than the
// authenticated peer, another destination node, an unknown type or a bad shape is dropped and
// counted (and answered with an error when it was a request).
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/node_context.hpp"
#include "runtime/wire_codec.hpp"

namespace holo {

using remote_send_atom = caf::atom_constant<caf::atom("r_send")>;
using remote_request_atom = caf::atom_constant<caf::atom("r_request")>;
using peer_state_atom = caf::atom_constant<caf::atom("peer_state")>;
using transport_stats_atom = caf::atom_constant<caf::atom("tr_stats")>;

struct transport_stats {
  static constexpr const char* wire_name = "holo_transport_stats";
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t dropped_frames = 0;       // malformed, spoofed, misaddressed, unknown type
  std::uint64_t undeliverable = 0;        // peer not connected or its queue full
  std::uint64_t rejected_handshakes = 0;  // keys the ZAP handler refused
  std::uint64_t pending_requests = 0;
  std::uint64_t batches_in = 0;   // ZeroMQ messages that carried several frames (coalescing)
  std::uint64_t batches_out = 0;
  HOLO_WIRE_FIELDS(frames_in, frames_out, bytes_in, bytes_out, dropped_frames, undeliverable,
                   rejected_handshakes, pending_requests, batches_in, batches_out)
};

caf::actor spawn_transport(caf::actor_system& sys, node_context_ptr ctx);

// Where to send remote_send / remote_request: the running transport's door, else the transport
// actor, else an invalid handle (no transport running). Look it up per use: a restarted transport
// has a new door.
caf::actor transport_door(caf::actor_system& sys);

}  // namespace holo
