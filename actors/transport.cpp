#include "actors/transport.hpp"

#include <map>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/health.hpp"
#include "runtime/cluster_io.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/errors.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/wire.hpp"

namespace holo {

namespace {

using request_timeout_atom = caf::atom_constant<caf::atom("rq_timeout")>;

// How long a local actor may take to answer a request that came over the wire.
constexpr auto local_answer_timeout = std::chrono::seconds(30);

struct pending_request {
  caf::response_promise rp;
  std::string node;
};

// Shared between the transport actor and its inbound fast path on the I/O thread.
struct inbound_shared {
  // Frames handed to the transport actor and not yet dealt with. While it is non-zero the fast path
  // hands every frame over too, so that frames from a peer reach a local actor in arrival order
  // whichever path they take (the transport decrements it after its send/request to the target).
  std::atomic<std::int64_t> via_owner{0};
  std::atomic<std::uint64_t> dropped{0};  // by the fast path: spoofed, misaddressed, bad body, no actor
};

struct transport_state {
  std::shared_ptr<inbound_shared> inbound = std::make_shared<inbound_shared>();
  std::unique_ptr<cluster_io> io;  // last: its I/O thread (which uses `inbound`) stops first
  std::string self_name;
  std::unordered_map<std::uint64_t, pending_request> pending;
  std::uint64_t next_correlation = 1;
  std::set<std::string> up_peers;
  std::uint64_t dropped = 0;
  std::map<std::string, std::uint64_t> rejections_by_address;  // for rate-limited logging
  static inline const char* name = "transport";
};

using transport_actor = caf::stateful_actor<transport_state>;

// One `then` handler per catalogue type, each forwarding the reply as a caf::message.
template <class F, class... Ts>
auto catalogue_handlers(F f, std::tuple<Ts...>*) {
  return std::make_tuple([f](Ts& x) { f(caf::make_message(std::move(x))); }...);
}

// False when the link refused the frame (peer not connected, queue full); counted by cluster_io.
bool send_frame(transport_actor* self, const std::string& node, const wire::envelope& e) {
  return self->state.io->send(node, wire::encode_envelope(e));
}

// The inbound fast path, on the I/O thread: a one-way `send` frame that is well addressed is
// decoded there and enqueued straight into the target actor's mailbox, saving the hop through the
// transport actor. Everything else (requests, responses, bad frames) goes on to the transport.
std::function<bool(const std::string&, std::string_view)> inline_delivery(caf::actor_system& sys,
                                                                         std::string self_name,
                                                                         std::shared_ptr<inbound_shared> shared) {
  return [sys = &sys, self_name = std::move(self_name), shared](const std::string& peer, std::string_view frame) {
    auto hand_over = [&] {
      shared->via_owner.fetch_add(1, std::memory_order_acq_rel);
      return false;
    };
    if (shared->via_owner.load(std::memory_order_acquire) != 0) return hand_over();
    auto e = wire::decode_envelope(frame);
    if (!e || e->kind != wire::frame_kind::send) return hand_over();
    auto drop = [&] {
      shared->dropped.fetch_add(1, std::memory_order_relaxed);
      return true;
    };
    // The envelope must name the peer that the link authenticated, and this node.
    if (e->from_node != peer || e->to_node != self_name) return drop();
    auto msg = wire::decode_message(e->type, e->body);
    if (!msg) return drop();
    // A registry lookup per frame (a shared lock): actors re-register under the same name when they
    // restart, and a cache would need to learn of that.
    auto target = sys->registry().get(caf::atom_from_string(e->to_actor.substr(0, 10)));
    if (!target) return drop();
    // As anon_send: a thread-safe enqueue with no sender.
    caf::actor_cast<caf::abstract_actor*>(target)->enqueue(
        caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, std::move(*msg)), nullptr);
    return true;
  };
}

// The envelope of an answer to `req`: addresses swapped, correlation kept.
wire::envelope answer_to(const wire::envelope& req, wire::frame_kind kind, const std::string& self_name) {
  wire::envelope e;
  e.kind = kind;
  e.from_node = self_name;
  e.from_actor = req.to_actor;
  e.to_node = req.from_node;
  e.to_actor = req.from_actor;
  e.correlation = req.correlation;
  return e;
}

void send_error_frame(transport_actor* self, const wire::envelope& req, status_code code, std::string message) {
  auto e = answer_to(req, wire::frame_kind::error, self->state.self_name);
  e.body = wire::encode(wire::remote_error{static_cast<std::uint8_t>(code), std::move(message)});
  send_frame(self, req.from_node, e);
}

void fail_pending(transport_actor* self, std::uint64_t corr, caf::error err) {
  auto it = self->state.pending.find(corr);
  if (it == self->state.pending.end()) return;
  auto rp = std::move(it->second.rp);
  self->state.pending.erase(it);
  rp.deliver(std::move(err));
}

// A request from a peer: ask the local actor, send its answer back.
void serve_request(transport_actor* self, wire::envelope req, caf::message msg) {
  auto target = self->system().registry().get(caf::atom_from_string(req.to_actor));
  if (!target || req.to_actor.size() > 10) {
    send_error_frame(self, req, status_code::not_found, "no actor '" + req.to_actor + "' on " + self->state.self_name);
    return;
  }
  auto on_reply = [self, req](caf::message reply) {
    auto e = answer_to(req, wire::frame_kind::response, self->state.self_name);
    auto type = wire::encode_message(reply, e.body);
    if (!type) {
      send_error_frame(self, req, status_code::internal, "reply is not a wire message");
      return;
    }
    e.type = *type;
    send_frame(self, req.from_node, e);
  };
  auto on_error = [self, req](caf::error& err) {
    send_error_frame(self, req, status_code::unavailable, self->system().render(err));
  };
  auto handlers = catalogue_handlers(on_reply, static_cast<wire::catalogue*>(nullptr));
  // response_handle::then takes one handler; a reply may be any catalogue type, so install a whole
  // behavior (one case per type plus the error case) as the response handler.
  auto rh = self->request(caf::actor_cast<caf::actor>(target), local_answer_timeout, std::move(msg));
  std::apply([&](auto&... hs) { self->add_multiplexed_response_handler(rh.id(), caf::behavior{hs..., on_error}); },
             handlers);
}

void on_response(transport_actor* self, const wire::envelope& e) {
  auto it = self->state.pending.find(e.correlation);
  if (it == self->state.pending.end()) return;  // timed out already, or a duplicate
  auto rp = std::move(it->second.rp);
  self->state.pending.erase(it);
  if (e.kind == wire::frame_kind::error) {
    wire::remote_error re;
    auto oh = msgpack::unpack(e.body.data(), e.body.size());
    if (!wire::unpack_value(oh.get(), re)) {
      rp.deliver(make_error(errc::bad_frame, "undecodable error reply"));
      return;
    }
    auto code = static_cast<status_code>(re.code);
    rp.deliver(make_error(code == status_code::not_found ? errc::unknown_actor : errc::remote_failure, re.message));
    return;
  }
  auto msg = wire::decode_message(e.type, e.body);
  if (!msg) {
    rp.deliver(make_error(errc::bad_frame, msg.error().message()));
    return;
  }
  rp.deliver(std::move(*msg));
}

void on_frame(transport_actor* self, const std::string& peer, const std::string& frame) {
  auto& st = self->state;
  auto e = wire::decode_envelope(frame);
  if (!e) {
    ++st.dropped;
    return;
  }
  // The envelope must name the peer that the link authenticated, and this node.
  if (e->from_node != peer || e->to_node != st.self_name) {
    ++st.dropped;
    return;
  }
  if (e->kind == wire::frame_kind::response || e->kind == wire::frame_kind::error) {
    on_response(self, *e);
    return;
  }
  auto msg = wire::decode_message(e->type, e->body);
  if (!msg) {
    ++st.dropped;
    if (e->kind == wire::frame_kind::request)
      send_error_frame(self, *e, status_code::invalid_argument, msg.error().message());
    return;
  }
  if (e->kind == wire::frame_kind::request) {
    serve_request(self, std::move(*e), std::move(*msg));
    return;
  }
  auto target = self->system().registry().get(caf::atom_from_string(e->to_actor.substr(0, 10)));
  if (!target) {
    ++st.dropped;
    return;
  }
  self->send(caf::actor_cast<caf::actor>(target), std::move(*msg));
}

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
  return o;
}

caf::behavior transport(transport_actor* self, node_context_ptr ctx) {
  auto log = ctx->log.child(names::transport);
  self->state.self_name = ctx->node.name;
  auto opts = io_options(*ctx);
  opts.deliver_inline = inline_delivery(self->system(), ctx->node.name, self->state.inbound);
  auto io = cluster_io::start(self->system(), *ctx->zmq, std::move(opts), caf::actor_cast<caf::actor>(self));
  if (!io) {
    log.error("cannot open the cluster endpoint", {{"error", io.error().to_string()}});
    self->quit(make_error(errc::node_unreachable, io.error().message()));
    return {};
  }
  self->state.io = std::move(io).value();
  log.info("cluster endpoint open", {{"endpoint", ctx->node.cluster_endpoint},
                                      {"peers", static_cast<std::int64_t>(ctx->cluster.nodes.size() - 1)},
                                      {"curve", ctx->curve.has_value()}});
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{names::transport, "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](cluster_in_atom, std::string& peer, std::string& frame) {
        on_frame(self, peer, frame);
        self->state.inbound->via_owner.fetch_sub(1, std::memory_order_release);
      },
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
      [=](remote_send_atom, std::string& node, std::string& actor, caf::message& msg) {
        if (node == self->state.self_name) {
          // To this node: delivered here, so callers need not care where an actor lives.
          if (auto target = self->system().registry().get(caf::atom_from_string(actor.substr(0, 10))))
            self->send(caf::actor_cast<caf::actor>(target), std::move(msg));
          return;
        }
        wire::envelope e;
        e.kind = wire::frame_kind::send;
        e.from_node = self->state.self_name;
        e.from_actor = "anon";
        e.to_node = node;
        e.to_actor = actor;
        auto type = wire::encode_message(msg, e.body);
        if (!type) return;  // a programming error on the sender's side; nothing to answer
        e.type = *type;
        send_frame(self, node, e);
      },
      [=](remote_request_atom, std::string& node, std::string& actor, std::int64_t timeout_ms,
          caf::message& msg) -> caf::result<caf::message> {
        auto& st = self->state;
        if (node == st.self_name) {
          auto target = self->system().registry().get(caf::atom_from_string(actor.substr(0, 10)));
          if (!target) return make_error(errc::unknown_actor, node + "/" + actor);
          self->delegate(caf::actor_cast<caf::actor>(target), std::move(msg));
          return caf::delegated<caf::message>{};
        }
        if (!st.up_peers.count(node)) return make_error(errc::node_unreachable, node + " is not up");
        wire::envelope e;
        e.kind = wire::frame_kind::request;
        e.from_node = st.self_name;
        e.from_actor = names::transport;
        e.to_node = node;
        e.to_actor = actor;
        e.correlation = st.next_correlation++;
        auto type = wire::encode_message(msg, e.body);
        if (!type) return make_error(errc::not_serializable, type.error().message());
        e.type = *type;
        // Sent first: a refused frame fails the request at once. The answer cannot overtake the
        // bookkeeping below, since this actor handles it only after this handler returns.
        if (!send_frame(self, node, e)) return make_error(errc::node_unreachable, node + ": link not up");
        auto rp = self->make_response_promise();
        st.pending.emplace(e.correlation, pending_request{rp, node});
        self->delayed_send(self, std::chrono::milliseconds(timeout_ms), request_timeout_atom::value, e.correlation);
        return rp;
      },
      [=](request_timeout_atom, std::uint64_t corr) {
        fail_pending(self, corr, make_error(errc::remote_timeout));
      },
      [=](peer_state_atom, std::string& node, bool up) {
        auto& st = self->state;
        if (up) {
          st.up_peers.insert(node);
          return;
        }
        st.up_peers.erase(node);
        std::vector<std::uint64_t> doomed;
        for (auto& [corr, p] : st.pending)
          if (p.node == node) doomed.push_back(corr);
        for (auto corr : doomed) fail_pending(self, corr, make_error(errc::node_unreachable, node + " went down"));
      },
      [=](transport_stats_atom) {
        auto& c = self->state.io->counters();
        transport_stats s;
        s.frames_in = c.frames_in;
        s.frames_out = c.frames_out;
        s.bytes_in = c.bytes_in;
        s.bytes_out = c.bytes_out;
        s.dropped_frames = self->state.dropped + self->state.inbound->dropped.load() + c.dropped_malformed +
                           c.dropped_unknown_peer;
        s.undeliverable = c.undeliverable;
        s.rejected_handshakes = c.rejected_handshakes;
        s.pending_requests = self->state.pending.size();
        return s;
      },
  };
}

}  // namespace

caf::actor spawn_transport(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(transport, std::move(ctx));
}

}  // namespace holo
