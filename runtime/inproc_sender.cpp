#include "runtime/inproc_sender.hpp"

#include <array>
#include <memory>

#include <caf/all.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace holo {

namespace {

struct sender_state {
  std::unique_ptr<zmq::socket_t> push;  // closed with the state, on this actor's own thread
  static inline const char* name = "inproc_sender";
};

caf::behavior sender_actor(caf::stateful_actor<sender_state>* self, zmq::context_t* ctx, std::string address,
                           int hwm) {
  self->state.push = std::make_unique<zmq::socket_t>(*ctx, zmq::socket_type::push);
  self->state.push->set(zmq::sockopt::linger, 0);
  self->state.push->set(zmq::sockopt::sndhwm, hwm);
  self->state.push->connect(address);
  return {
      [=](bridge_out_atom, std::string& dest, std::string& payload) {
        std::array<zmq::const_buffer, 2> parts{zmq::buffer(dest), zmq::buffer(payload)};
        (void)zmq::send_multipart(*self->state.push, parts);
      },
  };
}

}  // namespace

caf::actor spawn_inproc_sender(caf::actor_system& sys, zmq::context_t& ctx, std::string inproc_address,
                               int queue_frames_max) {
  return sys.spawn<caf::detached>(sender_actor, &ctx, std::move(inproc_address), queue_frames_max);
}

}  // namespace holo
