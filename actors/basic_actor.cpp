#include "actors/basic_actor.hpp"

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

struct basic_state {
  std::string role;
  static inline const char* name = "basic_actor";
};

caf::behavior basic_actor(caf::stateful_actor<basic_state>* self, node_context_ptr ctx, std::string role) {
  self->state.role = role;
  ctx->log.child(role).debug("started");
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{self->state.role, "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
  };
}

}  // namespace

caf::actor spawn_basic_actor(caf::actor_system& sys, node_context_ptr ctx, std::string role) {
  return sys.spawn(basic_actor, std::move(ctx), std::move(role));
}

}  // namespace holo
