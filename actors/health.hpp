// health: is this node alive and making progress, and which peers are? Protocol:
//   (wire::health_query)      -> wire::node_health      asks every watched sibling for its status
//                                                        (500 ms each): "up" when all answered
//   (wire::membership_query)  -> wire::membership_view  this node's view of the cluster
//   (wire::heartbeat), (wire::node_announce), (wire::node_leave)   from peers, via the transport
//   (subscribe_atom)          the sender gets (member_changed_atom, node, state) on every change
//   (plan_query_atom, id)     -> std::string   the `plan` reply frame for request `id` (a table,
//                                              runtime/admin_protocol.hpp): this node's latest
//                                              placement plan, its revision, age and trigger
//   (status_atom)             -> actor_status
//
// Every heartbeat_interval_ms it sends a heartbeat to every peer and re-evaluates each peer's
// phi-accrual detector (runtime/membership.hpp); changes are logged, told to the transport (so
// requests to a down node fail at once) and to subscribers. Its heartbeat carries its own verdict
// on its actors, so a node whose transport beats but whose actors are stuck is suspected by its
// peers. On a clean stop it tells every peer it leaves.
//
// It also keeps this node's placement plan (actors/placement_keeper.hpp): computed at start and
// again after every membership change that alters what the planner reads (a node up, down or
// left, a node's announced memory or cores), from the config's models and their GGUF headers.
// Models placed by the plan follow it (actors/planned_shard.hpp): health hands each new plan to
// their start functions and restarts a planned shard whose assignment here changed. Logged.
#pragma once

#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/actor_status.hpp"
#include "actors/node_context.hpp"

namespace holo {

using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using member_changed_atom = caf::atom_constant<caf::atom("member_chg")>;
// (link_lost_atom, std::string node) from the transport: our connection to the node closed; it is
// marked down at once (a crashed process), and comes back up with its next heartbeat if alive.
using link_lost_atom = caf::atom_constant<caf::atom("link_lost")>;
using plan_query_atom = caf::atom_constant<caf::atom("plan_query")>;

// `watched`: registry names of the siblings to check.
caf::actor spawn_health(caf::actor_system& sys, node_context_ptr ctx, std::vector<std::string> watched);

}  // namespace holo
