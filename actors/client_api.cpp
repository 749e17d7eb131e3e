#include "actors/client_api.hpp"

#include <memory>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/admin_api.hpp"
#include "actors/model_shard.hpp"
#include "actors/router.hpp"
#include "actors/transport.hpp"
#include "runtime/client_protocol.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/version.hpp"
#include "runtime/zmq_bridge.hpp"

namespace holo {

namespace {

constexpr auto local_timeout = std::chrono::milliseconds(2000);
constexpr std::int64_t remote_timeout_ms = 2000;

struct client_api_state {
  std::unique_ptr<router_bridge> bridge;
  std::uint64_t rejected_frames = 0;
  std::uint64_t admin_refusals = 0;  // shell frames refused for want of the admin key (health reports it)
  static inline const char* name = "client_api";
};

using client_api_actor = caf::stateful_actor<client_api_state>;

caf::actor sibling(client_api_actor* self, const char* name) {
  return caf::actor_cast<caf::actor>(self->system().registry().get(caf::atom_from_string(name)));
}

proto::health_reply to_proto(const wire::node_health& h) {
  proto::health_reply r;
  r.node = h.node;
  r.cluster = h.cluster;
  r.state = h.state;
  r.uptime_ms = h.uptime_ms;
  r.version = std::string(version_string());
  for (auto& a : h.actors) r.actors.push_back({a.name, a.state});
  return r;
}

// {"kind": "health"} for this node, or with "node" for another one (asked through the transport).
void handle_health(client_api_actor* self, node_context_ptr ctx, const std::string& peer,
                   const proto::request_header& req) {
  auto sender = self->state.bridge->sender();
  // What the shell needs beside the health: where /metrics is, and this node's refusal count.
  std::string metrics_endpoint;
  if (auto* n = ctx->cluster.find_node(req.node.empty() ? ctx->node.name : req.node); n && ctx->cluster.metrics.enabled)
    metrics_endpoint = n->metrics_endpoint;
  const std::int64_t refusals = req.node.empty() ? static_cast<std::int64_t>(self->state.admin_refusals) : -1;
  auto reply_error = [=](status_code code, const std::string& msg) {
    self->send(sender, bridge_out_atom::value, peer, proto::encode_error(req.id, code, msg));
  };
  auto on_health = [=](wire::node_health& h) {
    auto r = to_proto(h);
    r.metrics_endpoint = metrics_endpoint;
    r.admin_refusals = refusals;
    self->send(sender, bridge_out_atom::value, peer, proto::encode_health_reply(req.id, r));
  };
  auto on_error = [=](caf::error& e) { reply_error(status_code::unavailable, self->system().render(e)); };
  // Capture handles and values only: the continuation may run after a restart of this actor.
  if (req.node.empty()) {
    auto health = sibling(self, names::health);
    if (!health) return reply_error(status_code::unavailable, "health actor is restarting");
    self->request(health, local_timeout, wire::health_query{"client"}).then(on_health, on_error);
    return;
  }
  auto transport = transport_door(self->system());
  if (!transport) return reply_error(status_code::unavailable, "transport is restarting");
  self->request(transport, local_timeout + std::chrono::milliseconds(500), remote_request_atom::value, req.node,
                std::string(names::health), remote_timeout_ms, caf::make_message(wire::health_query{"client"}))
      .then(on_health, on_error);
}

void handle_nodes(client_api_actor* self, const std::string& peer, const proto::request_header& req) {
  auto sender = self->state.bridge->sender();
  auto health = sibling(self, names::health);
  auto transport = sibling(self, names::transport);
  if (!health || !transport) {
    self->send(sender, bridge_out_atom::value, peer,
               proto::encode_error(req.id, status_code::unavailable, "health or transport is restarting"));
    return;
  }
  auto fail = [=](caf::error& e) {
    self->send(sender, bridge_out_atom::value, peer,
               proto::encode_error(req.id, status_code::unavailable, self->system().render(e)));
  };
  self->request(health, local_timeout, wire::membership_query{"client"})
      .then(
          [=](wire::membership_view& v) {
            self->request(transport, local_timeout, transport_stats_atom::value)
                .then(
                    [=](transport_stats& ts) {
                      proto::nodes_reply r;
                      r.node = v.node;
                      for (auto& m : v.members)
                        r.members.push_back({m.node, m.state, m.incarnation, m.last_heard_ms, m.phi, m.roles, m.cores,
                                             m.memory_bytes, static_cast<std::int64_t>(m.gpus.size()), m.rtt_ms,
                                             m.memory_free_bytes});
                      r.links = {ts.frames_in, ts.frames_out, ts.dropped_frames, ts.undeliverable,
                                 ts.rejected_handshakes};
                      self->send(sender, bridge_out_atom::value, peer, proto::encode_nodes_reply(req.id, r));
                    },
                    fail);
          },
          fail);
}

// The shell's kinds (actors/admin_api.hpp): authorized here (refusals counted), served on this node
// or relayed to the node the frame names.
void handle_admin(client_api_actor* self, node_context_ptr ctx, const std::string& peer,
                  const proto::request_header& req, const std::string& frame) {
  auto sender = self->state.bridge->sender();
  admin::reply_fn reply = [self, sender, peer](std::string f) {
    self->send(sender, bridge_out_atom::value, peer, std::move(f));
  };
  if (auto s = admin::authorize(*ctx, req, frame); !s.ok()) {
    ++self->state.admin_refusals;
    ctx->log.child(names::client_api).warn("refused a shell command", {{"kind", req.kind}, {"error", s.message()}});
    return reply(proto::encode_error(req.id, s.code(), s.message()));
  }
  if (!req.node.empty() && req.node != ctx->node.name) return admin::relay(self, req.node, req.id, frame, reply);
  admin::serve(self, ctx, req, frame, reply);
}

// A shell frame relayed by another node (wire::client_relay): served here, answered with the frame
// this node's own client would have got. A relayed frame is never relayed again.
caf::result<wire::client_relay_reply> handle_relay(client_api_actor* self, node_context_ptr ctx, std::string& frame) {
  auto hdr = proto::decode_request_header(frame);
  if (!hdr) return wire::client_relay_reply{proto::encode_error("", hdr.error().code(), hdr.error().message())};
  if (!admin::serves(hdr->kind) || (!hdr->node.empty() && hdr->node != ctx->node.name))
    return wire::client_relay_reply{
        proto::encode_error(hdr->id, status_code::invalid_argument, "node " + ctx->node.name + " cannot serve this relayed frame")};
  if (auto s = admin::authorize(*ctx, *hdr, frame); !s.ok()) {
    ++self->state.admin_refusals;
    return wire::client_relay_reply{proto::encode_error(hdr->id, s.code(), s.message())};
  }
  auto rp = self->make_response_promise<wire::client_relay_reply>();
  admin::serve(self, ctx, *hdr, frame, [rp](std::string f) mutable { rp.deliver(wire::client_relay_reply{std::move(f)}); });
  return rp;
}

caf::behavior client_api(client_api_actor* self, node_context_ptr ctx) {
  auto log = ctx->log.child(names::client_api);
  bridge_options opts;
  opts.endpoint = ctx->node.client_endpoint;
  opts.frame_bytes_max = static_cast<std::int64_t>(proto::client_frame_bytes_max);
  // A client that reads slowly fills this many frames, then gets coalesced token events.
  opts.peer_queue_frames = static_cast<int>(ctx->node.client_queue_frames);
  opts.socket_send_buffer_bytes = static_cast<int>(ctx->node.client_send_buffer_bytes);
  if (ctx->client_curve) {
    // The transport (started earlier) owns the ZAP handler that admits the listed client keys.
    opts.curve_secret_key = ctx->curve->secret_key;
    opts.zap_domain = "holo-client";
  }
  auto b = router_bridge::start(self->system(), *ctx->zmq, opts, caf::actor_cast<caf::actor>(self));
  if (!b) {
    log.error("cannot open the client endpoint", {{"error", b.error().to_string()}});
    self->quit(caf::make_error(caf::sec::cannot_open_port));
    return {};
  }
  self->state.bridge = std::move(b).value();
  log.info("listening for clients", {{"endpoint", opts.endpoint}, {"curve", ctx->client_curve}});
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{names::client_api, "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](wire::client_relay& r) { return handle_relay(self, ctx, r.frame); },
      [=](bridge_in_atom, std::string& peer, std::string& user, std::string& frame) {
        auto hdr = proto::decode_request_header(frame);
        auto reject = [&](const std::string& id, status_code code, const std::string& msg) {
          ++self->state.rejected_frames;
          log.debug("rejected a client frame", {{"error", msg}});
          self->send(self->state.bridge->sender(), bridge_out_atom::value, peer, proto::encode_error(id, code, msg));
        };
        if (!hdr) return reject("", hdr.error().code(), hdr.error().message());
        if (hdr->kind == "health") return handle_health(self, ctx, peer, *hdr);
        if (hdr->kind == "nodes") return handle_nodes(self, peer, *hdr);
        if (admin::serves(hdr->kind)) return handle_admin(self, ctx, peer, *hdr, frame);
        if (hdr->kind == "generate" || hdr->kind == "cancel" || hdr->kind == "resume" || hdr->kind == "models") {
          auto router = sibling(self, names::router);
          if (!router)
            return reject(hdr->id, status_code::unavailable,
                          ctx->node.has_role("router") ? "router is restarting" : "this node does not route requests");
          self->send(router, client_frame_atom::value, peer, user.empty() ? std::string("anon") : user, frame);
          return;
        }
        reject(hdr->id, status_code::invalid_argument, "unknown kind '" + hdr->kind + "'");
      },
      [=](client_out_atom, std::string& peer, std::string& frame) {
        self->send(self->state.bridge->sender(), bridge_out_atom::value, peer, std::move(frame));
      },
      [=](bridge_gone_atom, std::string& peer) {
        if (auto router = sibling(self, names::router)) self->send(router, client_gone_atom::value, peer);
      },
      [=](bridge_congested_atom, std::string& peer, bool congested) {
        if (auto router = sibling(self, names::router)) self->send(router, client_congested_atom::value, peer, congested);
      },
  };
}

}  // namespace

caf::actor spawn_client_api(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(client_api, std::move(ctx));
}

}  // namespace holo
