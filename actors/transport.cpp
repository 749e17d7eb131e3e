#include "actors/transport.hpp"

#include <map>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/health.hpp"
#include "actors/transport_link.hpp"
#include "runtime/cluster_io.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/errors.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/wire.hpp"

namespace holo {

namespace {

struct transport_state {
  // Shared with the door, the reply sink and the I/O thread (actors/transport_link.hpp).
  std::shared_ptr<transport_link> link;
  caf::actor door;
  std::map<std::string, std::uint64_t> rejections_by_address;  // for rate-limited logging
  static inline const char* name = "transport";

  ~transport_state() {
    if (!link) return;
    // The I/O thread stops before anything it uses goes; waiting requests fail at once.
    link->stop();
    auto& reg = link_system->registry();
    if (reg.get<caf::actor>(caf::atom_from_string(names::transport_door)) == door)
      reg.erase(caf::atom_from_string(names::transport_door));
  }
  caf::actor_system* link_system = nullptr;
};

using transport_actor = caf::stateful_actor<transport_state>;

cluster_io_options io_options(const node_context& ctx) {
  cluster_io_options o;
  o.self = ctx.node.name;
  o.bind_endpoint = ctx.node.cluster_endpoint;
  for (auto& n : ctx.cluster.nodes)
    if (n.name != ctx.node.name) o.peers.push_back({n.name, n.cluster_endpoint, n.public_key});
  if (ctx.curve) o.curve = curve_identity{ctx.curve->public_key, ctx.curve->secret_key};
  for (auto& n : ctx.cluster.nodes)
    if (!n.public_key.empty()) o.allowed.emplace_back(n.public_key, n.name);
  for (auto& c : ctx.cluster.clients) o.allowed_clients.emplace_back(c.public_key, c.name);
  o.coalesce_wait_us = static_cast<int>(ctx.cluster.transport.coalesce_us);
  o.coalesce_idle_us = std::min(o.coalesce_idle_us, o.coalesce_wait_us);
  return o;
}

caf::behavior transport(transport_actor* self, node_context_ptr ctx) {
  auto log = ctx->log.child(names::transport);
  auto link = std::make_shared<transport_link>(self->system(), ctx->node.name);
  auto opts = io_options(*ctx);
  // The I/O thread calls the link through a plain pointer: the link outlives it (stop() joins it).
  opts.deliver_inline = [raw = link.get()](const std::string& peer, std::string_view frame, caf::execution_unit* host) {
    return raw->on_frame(peer, frame, host);
  };
  opts.on_tick = [raw = link.get()] { raw->on_tick(); };
  opts.on_batch_end = [raw = link.get()] { raw->on_batch_end(); };
  auto io = cluster_io::start(self->system(), *ctx->zmq, std::move(opts), caf::actor_cast<caf::actor>(self));
  if (!io) {
    log.error("cannot open the cluster endpoint", {{"error", io.error().to_string()}});
    self->quit(make_error(errc::node_unreachable, io.error().message()));
    return {};
  }
  link->attach(std::move(io).value());
  auto& st = self->state;
  st.link = link;
  st.link_system = &self->system();
  st.door = link->make_door(caf::actor_cast<caf::actor>(self));
  self->system().registry().put(caf::atom_from_string(names::transport_door),
                                caf::actor_cast<caf::strong_actor_ptr>(st.door));
  log.info("cluster endpoint open", {{"endpoint", ctx->node.cluster_endpoint},
                                      {"peers", static_cast<std::int64_t>(ctx->cluster.nodes.size() - 1)},
                                      {"curve", ctx->curve.has_value()}});
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{names::transport, "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](cluster_link_atom, std::string& peer, bool up) {
        if (up) return;
        if (auto h = self->system().registry().get(caf::atom_from_string(names::health)))
          self->send(caf::actor_cast<caf::actor>(h), link_lost_atom::value, peer);
      },
      [=](cluster_rejected_atom, std::string& address, std::string& why) {
        // A refused peer retries every reconnect interval: log its first refusal, then every 100th.
        auto n = ++self->state.rejections_by_address[address];
        if (n == 1 || n % 100 == 0)
          log.warn("rejected a cluster handshake", {{"peer_address", address}, {"why", why}, {"times", n}});
      },
      // Callers that address the transport itself rather than its door get the same service,
      // one mailbox hop later.
      [=](remote_send_atom, std::string& node, std::string& actor, caf::message& msg) {
        self->state.link->send(self->current_sender(), node, actor, msg);
      },
      [=](remote_request_atom, std::string&, std::string&, std::int64_t, caf::message&) -> caf::result<caf::message> {
        self->state.link->request(*self->current_mailbox_element());
        // The link answers the caller itself; the promise only tells CAF not to answer for us.
        return self->make_response_promise();
      },
      [=](peer_state_atom, std::string& node, bool up) { self->state.link->set_peer(node, up); },
      [=](transport_stats_atom) {
        auto& l = *self->state.link;
        auto& c = l.io()->counters();
        transport_stats s;
        s.frames_in = c.frames_in;
        s.frames_out = c.frames_out;
        s.bytes_in = c.bytes_in;
        s.bytes_out = c.bytes_out;
        s.dropped_frames = l.dropped() + c.dropped_malformed + c.dropped_unknown_peer;
        s.undeliverable = c.undeliverable;
        s.rejected_handshakes = c.rejected_handshakes;
        s.pending_requests = l.pending_requests();
        s.batches_in = c.batches_in;
        s.batches_out = c.batches_out;
        return s;
      },
  };
}

}  // namespace

caf::actor spawn_transport(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(transport, std::move(ctx));
}

caf::actor transport_door(caf::actor_system& sys) {
  for (auto* name : {names::transport_door, names::transport})
    if (auto h = sys.registry().get(caf::atom_from_string(name))) return caf::actor_cast<caf::actor>(h);
  return {};
}

}  // namespace holo
