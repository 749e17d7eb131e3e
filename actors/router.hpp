// router: admits client generations, places them on model shards, streams their tokens back, and
// moves them to another replica when the one serving them dies. One per node with the router role.
//
// Protocol (local actors):
//   (client_frame_atom, peer, owner, frame)  from client_api: a generate, cancel, resume or models
//                                            frame (header already valid). `peer` is the connection's
//                                            routing id, `owner` the authenticated client name
//                                            ("anon" on loopback without keys)
//   (client_gone_atom, peer)                 from client_api: the connection is gone (a send to it
//                                            failed): its generations are stopped and parked for
//                                            `resume` during routing.resume_grace_ms
//   (client_congested_atom, peer, bool)      from client_api: the connection's send queue is full
//                                            (true) or drained (false); token events wait and are
//                                            then sent coalesced, several tokens per event
//   (member_changed_atom, node, state)       from health (subscribed at start)
//   wire::gen_token / gen_end / gen_failed   from shards, through the transport
//   wire::shard_load                         from every shard of the cluster, every 500 ms
//   (router_requests_atom) -> std::vector<std::string>   one line per generation (diagnostics)
//   (router_admin_atom, kind, id, arg) -> std::string      the shell's requests/trace/placement
//                                            tables. Every generation keeps a trace (received,
//                                            admitted, placed, first token, moves and why, done);
//                                            the last 256 expired ones stay in a ring for `trace`
//   (router_checkpoint_atom, id) -> std::string   the shell's `checkpoint`: writes the journal row of
//                                            every generation whose row is not final, now, in one
//                                            store batch; replies (after the commit) with an ok or
//                                            error frame (runtime/admin_protocol.hpp) for request `id`
//   (status_atom) -> actor_status
// It sends (client_out_atom, peer, frame) to client_api for every event of a client -- or, for a
// peer whose frames came from another actor (the HTTP gateway's), to that actor, until the peer's
// client_gone.
//
// Exactly-once stream: the router keeps every delivered token of a generation; a shard's event
// whose attempt is not the current one, or whose index is not the next one, is dropped (a gap makes
// it move the request). Moving a request = gen_start on another replica with the tokens delivered so
// far and the same seed: the stream continues at the next index with the same text
// (gpu/generation.hpp). Triggers: the node goes down/left, the shard restarts (new incarnation),
// the shard answers gen_failed with retry, or nothing arrives for routing.stall_timeout_ms.
//
// Request journal (node with the `store` role; actors/router_journal.hpp, docs/storage.md): a row
// per generation, written through the store actor when it is accepted, with its delivered prefix at
// the [persistence] checkpoint cadence (every checkpoint_every_tokens tokens or checkpoint_every_ms,
// whichever first), and with its final status. A write that fails is retried at the next tick and
// never stops serving. A `resume` naming a generation this router does not hold reads the row (key
// owner + ":" + client id) and, when it is unfinished, takes the generation over: re-dispatched with
// the row's prefix and seed, the tokens below the resume's from_index regenerated and suppressed.
#pragma once

#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/node_context.hpp"

namespace holo {

using client_frame_atom = caf::atom_constant<caf::atom("cl_frame")>;
using client_gone_atom = caf::atom_constant<caf::atom("cl_gone")>;
using client_congested_atom = caf::atom_constant<caf::atom("cl_congest")>;
using client_out_atom = caf::atom_constant<caf::atom("cl_out")>;
using router_requests_atom = caf::atom_constant<caf::atom("rt_reqs")>;
// (router_admin_atom, kind, id, arg) -> std::string: a reply frame (runtime/admin_protocol.hpp) for
// the shell's read-only kinds: "requests" (generations in flight), "trace" (arg: a request id; the
// hops and timings of one recent request) and "placement" (every replica as this router sees it).
using router_admin_atom = caf::atom_constant<caf::atom("rt_admin")>;
using router_checkpoint_atom = caf::atom_constant<caf::atom("rt_ckpt")>;

caf::actor spawn_router(caf::actor_system& sys, node_context_ptr ctx);

}  // namespace holo
