// A minimal member of a node's tree: it answers the status query and nothing else. The roles that
// later work fills in (transport, store, sync, backup, router, metrics) start as this, so the
// supervision tree, the registry and the health checks are real from the first day.
#pragma once

#include <string>

#include <caf/fwd.hpp>

#include "actors/node_context.hpp"

namespace holo {

caf::actor spawn_basic_actor(caf::actor_system& sys, node_context_ptr ctx, std::string role);

}  // namespace holo
