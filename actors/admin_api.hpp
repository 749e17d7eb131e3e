// admin_api: the shell's kinds on a node's client door (docs/shell.md, docs/protocol.md "Shell and
// admin kinds"). client_api hands it every frame whose kind it serves, after `authorize`; it answers
// through `reply`, once, from client_api's own actor (continuations capture values and handles only).
//
//   actors     this node's supervision tree: name, supervisor, state, restarts, mailbox depth
//   requests   the router's generations in flight        (router_admin_atom)
//   trace      one recent request's hops and timings     (router_admin_atom)
//   placement  every replica as this router sees it      (router_admin_atom)
//   plan       this node's placement plan: per model whole/pipeline/refused, replicas or stages,
//              why, and when and why it was recomputed (asked of health: plan_query_atom)
//   kill       fault injection: crash/hang a shard, exit any other actor (admin)
//   drain      shards of this node take no new generations; "state": "off" undoes it (admin)
//   checkpoint / backup   asked of the node's store / backup actor (admin; below)
//
// Access (proto::access_of): open kinds need nothing; read-only kinds need the admin key unless
// [admin] read_only = true; admin kinds always need it. Without it: permission_denied.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/node_context.hpp"
#include "runtime/client_protocol.hpp"

namespace holo::admin {

// `checkpoint` is asked of the router (actors/router.hpp router_checkpoint_atom: every in-flight
// generation's request-journal row, written now through the store); a node without the store role
// answers `unavailable`. checkpoint_now_atom is kept for a store-side checkpoint (unused today):
//   (checkpoint_now_atom) -> std::string   checkpoint every live actor state now; a summary
// `backup now|list` use the backup actor's own protocol (actors/backup.hpp: backup_now_atom,
// backup_list_atom); a node whose backup actor does not take them answers `unimplemented`.
using checkpoint_now_atom = caf::atom_constant<caf::atom("ckpt_now")>;

using reply_fn = std::function<void(std::string frame)>;

// True for the kinds `serve` answers.
bool serves(std::string_view kind);

// ok, or permission_denied with a message for the user. `frame` is the whole request.
status authorize(const node_context& ctx, const proto::request_header& hdr, const std::string& frame);

// Serves one frame for this node (hdr.node is empty or this node's name).
void serve(caf::event_based_actor* self, node_context_ptr ctx, const proto::request_header& hdr,
           const std::string& frame, reply_fn reply);

// Sends `frame` to `node`'s client_api through the transport (wire::client_relay) and replies with
// that node's answer, or an error (unavailable: node unreachable or silent).
void relay(caf::event_based_actor* self, const std::string& node, const std::string& id, std::string frame,
           reply_fn reply);

}  // namespace holo::admin
