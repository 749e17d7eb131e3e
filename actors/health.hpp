// health: knows whether this node is alive and making progress. Protocol:
//   (health_atom) -> node_health     asks every watched sibling for its status (500 ms each) and
//                                    reports "up" when all answered, "degraded" otherwise.
//   (status_atom) -> actor_status
// The cluster issue extends it with heartbeats to peers and the phi-accrual detector.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/actor_status.hpp"
#include "actors/node_context.hpp"

namespace holo {

using health_atom = caf::atom_constant<caf::atom("health")>;

struct node_health {
  std::string node;
  std::string cluster;
  std::string state;  // "up" or "degraded"
  std::int64_t uptime_ms = 0;
  std::vector<actor_status> actors;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_health& x) {
  return f(caf::meta::type_name("node_health"), x.node, x.cluster, x.state, x.uptime_ms, x.actors);
}

// `watched`: registry names of the siblings to check.
caf::actor spawn_health(caf::actor_system& sys, node_context_ptr ctx, std::vector<std::string> watched);

}  // namespace holo
