// The project's CAF error category ("holo"): the typed errors actors answer requests with, so a
// caller can tell "the node is down" from "it answered too late" from "no such actor there".
// Register the category once per actor system (register_error_category) so sys.render() names them.
#pragma once

#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "runtime/status.hpp"

namespace holo {

enum class errc : std::uint8_t {
  node_unreachable = 1,  // the node is down, left, never joined, or its link is not up
  remote_timeout,        // the remote request got no answer in time
  unknown_actor,         // the node has no actor of that name
  remote_failure,        // the remote actor answered with an error (the text says which)
  bad_frame,             // a frame could not be encoded or decoded
  not_serializable,      // the message is not in the wire catalogue
};

std::string to_string(errc x);
caf::error make_error(errc x, std::string context = {});
void register_error_category(caf::actor_system_config& cfg);

// A holo::status carried across an actor boundary, keeping its code readable on the other side.
caf::error status_to_error(const status& s);

}  // namespace holo
