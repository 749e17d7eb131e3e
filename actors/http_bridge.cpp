#include "actors/http_bridge.hpp"

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/router.hpp"
#include "runtime/serving_protocol.hpp"

namespace holo::http {

struct router_call::impl {
  explicit impl(caf::actor_system& sys) : self(sys) {}
  caf::scoped_actor self;
  caf::actor router;
  std::string peer;
  std::string owner;
  std::string generation;  // the id of a generation to cancel if we leave before it ends
  bool router_down = false;
};

router_call::router_call(caf::actor_system& sys, std::string peer, std::string owner)
    : impl_(std::make_unique<impl>(sys)) {
  impl_->peer = std::move(peer);
  impl_->owner = std::move(owner);
}

router_call::~router_call() {
  auto& i = *impl_;
  if (!i.router || i.router_down) return;
  if (!i.generation.empty())
    i.self->send(i.router, client_frame_atom::value, i.peer, i.owner, proto::encode_cancel(i.generation));
  // Also after a normal end: the router forgets this peer (and which actor serves it).
  i.self->send(i.router, client_gone_atom::value, i.peer);
}

status router_call::send(const std::string& frame, const std::string& generation_id) {
  auto& i = *impl_;
  if (!i.router) {
    i.router = caf::actor_cast<caf::actor>(i.self->system().registry().get(caf::atom_from_string(names::router)));
    if (!i.router) return status::unavailable("the router of this node is restarting; retry");
    i.self->monitor(i.router);
  }
  if (i.router_down) return status::unavailable("the router of this node restarted; retry");
  if (!generation_id.empty()) i.generation = generation_id;
  i.self->send(i.router, client_frame_atom::value, i.peer, i.owner, frame);
  return {};
}

result<std::optional<std::string>> router_call::next(std::chrono::milliseconds timeout) {
  auto& i = *impl_;
  if (i.router_down) return status::unavailable("the router of this node restarted; the generation is lost");
  std::optional<std::string> frame;
  bool down = false;
  bool waiting = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Loop: a frame for an earlier peer of this actor cannot come (one peer per call), but an
  // unrelated message is skipped by receive; re-wait for the time left.
  while (waiting) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    i.self->receive(
        [&](client_out_atom, std::string& peer, std::string& f) {
          if (peer == i.peer) {
            frame = std::move(f);
            waiting = false;
          }
        },
        [&](caf::down_msg& dm) {
          if (dm.source == i.router.address()) {
            down = true;
            waiting = false;
          }
        },
        caf::after(left) >> [&] { waiting = false; });
    if (waiting && std::chrono::steady_clock::now() >= deadline) waiting = false;
  }
  if (down) {
    i.router_down = true;
    return status::unavailable("the router of this node restarted; the generation is lost");
  }
  return frame;
}

void router_call::ended() { impl_->generation.clear(); }

bool router_call::running() const { return !impl_->generation.empty(); }

}  // namespace holo::http
