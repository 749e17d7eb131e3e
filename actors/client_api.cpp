#include "actors/client_api.hpp"

#include <memory>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "runtime/supervisor.hpp"
#include "actors/health.hpp"
#include "runtime/client_protocol.hpp"
#include "runtime/version.hpp"
#include "runtime/zmq_bridge.hpp"

namespace holo {

namespace {

constexpr auto health_timeout = std::chrono::milliseconds(2000);

struct client_api_state {
  std::unique_ptr<router_bridge> bridge;
  std::uint64_t rejected_frames = 0;
  static inline const char* name = "client_api";
};

void reply(caf::stateful_actor<client_api_state>* self, const std::string& peer, std::string frame) {
  self->send(self->state.bridge->sender(), bridge_out_atom::value, peer, std::move(frame));
}

void handle_health(caf::stateful_actor<client_api_state>* self,
                   const std::string& peer, const std::string& id) {
  auto sender = self->state.bridge->sender();
  auto health = self->system().registry().get(caf::atom_from_string(names::health));
  if (!health) {
    self->send(sender, bridge_out_atom::value, peer,
               proto::encode_error(id, status_code::unavailable, "health actor is restarting"));
    return;
  }
  // Capture handles and values only: the continuation may run after a restart of this actor.
  self->request(caf::actor_cast<caf::actor>(health), health_timeout, health_atom::value)
      .then(
          [=](node_health& h) {
            proto::health_reply r;
            r.node = h.node;
            r.cluster = h.cluster;
            r.state = h.state;
            r.uptime_ms = h.uptime_ms;
            r.version = std::string(version_string());
            for (auto& a : h.actors) r.actors.push_back({a.name, a.state});
            self->send(sender, bridge_out_atom::value, peer, proto::encode_health_reply(id, r));
          },
          [=](caf::error& e) {
            self->send(sender, bridge_out_atom::value, peer,
                       proto::encode_error(id, status_code::unavailable,
                                           "health check failed: " + self->system().render(e)));
          });
}

caf::behavior client_api_actor(caf::stateful_actor<client_api_state>* self, node_context_ptr ctx) {
  auto log = ctx->log.child(names::client_api);
  bridge_options opts;
  opts.endpoint = ctx->node.client_endpoint;
  opts.frame_bytes_max = static_cast<std::int64_t>(proto::client_frame_bytes_max);
  auto b = router_bridge::start(self->system(), *ctx->zmq, opts, caf::actor_cast<caf::actor>(self));
  if (!b) {
    log.error("cannot open the client endpoint", {{"error", b.error().to_string()}});
    self->quit(caf::make_error(caf::sec::cannot_open_port));
    return {};
  }
  self->state.bridge = std::move(b).value();
  log.info("listening for clients", {{"endpoint", opts.endpoint}});
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{names::client_api, "running"}; },
      [=](bridge_in_atom, std::string& peer, std::string& frame) {
        auto hdr = proto::decode_request_header(frame);
        if (!hdr) {
          ++self->state.rejected_frames;
          log.debug("rejected a client frame", {{"error", hdr.error().message()}});
          reply(self, peer, proto::encode_error("", hdr.error().code(), hdr.error().message()));
          return;
        }
        if (hdr->kind == "health") {
          handle_health(self, peer, hdr->id);
          return;
        }
        ++self->state.rejected_frames;
        reply(self, peer,
              proto::encode_error(hdr->id, status_code::invalid_argument, "unknown kind '" + hdr->kind + "'"));
      },
  };
}

}  // namespace

caf::actor spawn_client_api(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(client_api_actor, std::move(ctx));
}

}  // namespace holo
