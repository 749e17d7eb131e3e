// client_api: the node's door for clients. Owns a router_bridge bound to the node's client_endpoint
// (a ZeroMQ ROUTER; clients are DEALERs) and turns client frames into actor requests:
//   {"kind": "health"} -> (health_atom) to the health actor -> health reply
// Anything malformed, oversized, of an unknown version or kind gets an "error" reply naming the
// problem and is counted; the node keeps serving. The serving issue adds generate/cancel/resume.
// The shell's kinds (actors, requests, trace, placement, kill, drain, checkpoint, backup) go to
// actors/admin_api.hpp after the admin key check; refusals are counted and reported by `health`.
// If the endpoint cannot be bound the actor exits with an error, so the node fails to start with a
// clear message instead of running deaf.
#pragma once

#include <caf/fwd.hpp>

#include "actors/node_context.hpp"

namespace holo {

caf::actor spawn_client_api(caf::actor_system& sys, node_context_ptr ctx);

}  // namespace holo
