// The status query every actor of a node answers: (status_atom) -> actor_status. The health actor
// uses it to tell a node whose actors all make progress from one where some are stuck.
#pragma once

#include <caf/atom.hpp>

#include "runtime/cluster_messages.hpp"

namespace holo {

using status_atom = caf::atom_constant<caf::atom("status")>;
using actor_status = wire::actor_status;
// (mailbox_atom) -> std::uint64_t: how many messages wait in the actor's mailbox, read inside the
// actor (CAF's mailbox is single-consumer). For the shell's `actors`; an actor that does not answer
// it shows "-" there.
using mailbox_atom = caf::atom_constant<caf::atom("mailbox")>;

// Registry names (CAF atoms, at most 10 characters) under which the node supervisor registers each
// child while it runs. Look a sibling up by name at the moment of sending: a restarted child has a
// new handle. Remote actors are addressed as node/name with the same names.
namespace names {
inline constexpr const char* transport = "transport";
inline constexpr const char* transport_door = "tr_door";  // see transport_door() in transport.hpp
inline constexpr const char* health = "health";
inline constexpr const char* store = "store";
inline constexpr const char* sync = "sync";
inline constexpr const char* backup = "backup";
inline constexpr const char* router = "router";
inline constexpr const char* shards = "shards";
inline constexpr const char* client_api = "client_api";
inline constexpr const char* metrics = "metrics";
}  // namespace names

}  // namespace holo
