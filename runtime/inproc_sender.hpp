// The outbound half of a ZeroMQ bridge: a detached actor (so it keeps one thread for its whole life
// and may own a socket) holding a PUSH socket connected to an I/O thread's inproc PULL. Any actor
// sends it (bridge_out_atom, std::string destination, std::string payload); it pushes the two frames.
// It blocks only when the I/O thread is `queue_frames_max` frames behind: that is the back-pressure.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

namespace zmq {
class context_t;
}

namespace holo {

using bridge_out_atom = caf::atom_constant<caf::atom("bridge_out")>;

caf::actor spawn_inproc_sender(caf::actor_system& sys, zmq::context_t& ctx, std::string inproc_address,
                               int queue_frames_max);

}  // namespace holo
