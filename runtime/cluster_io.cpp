#include "runtime/cluster_io.hpp"

#include <cstring>

#include <map>
#include <vector>

#include <caf/all.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "runtime/inproc_sender.hpp"
#include "runtime/keys.hpp"
#include "runtime/zap.hpp"

namespace holo {

namespace {

std::atomic<std::uint64_t> next_io_id{0};

// The host part of tcp://HOST:PORT (IPv6 in brackets), or "" for non-tcp transports.
std::string endpoint_host(const std::string& ep) {
  if (ep.rfind("tcp://", 0) != 0) return "";
  auto rest = ep.substr(6);
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    return close == std::string::npos ? rest : rest.substr(1, close - 1);
  }
  return rest.substr(0, rest.rfind(':'));
}

}  // namespace

bool is_loopback_endpoint(const std::string& ep) {
  if (ep.rfind("ipc://", 0) == 0 || ep.rfind("inproc://", 0) == 0) return true;
  auto host = endpoint_host(ep);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

using io_clock = std::chrono::steady_clock;

// A DEALER to one peer, and how its sends have been going.
struct peer_link {
  std::unique_ptr<zmq::socket_t> socket;
  std::unique_ptr<zmq::socket_t> monitor;  // PAIR receiving the DEALER's connect/disconnect events
  std::string endpoint;
  std::string public_key;
  std::optional<io_clock::time_point> failing_since;  // first failed send of the current streak
  io_clock::time_point created = io_clock::now();
};

// libzmq 4.3 gives up on a connection for good after some handshake failures (a peer that spoke
// NULL to our CURVE, say), so a link that has refused every frame for this long is rebuilt.
constexpr auto link_rebuild_after = std::chrono::seconds(2);

struct cluster_io::sockets {
  zmq::context_t* ctx = nullptr;
  std::unique_ptr<zmq::socket_t> router;
  std::unique_ptr<zmq::socket_t> pull;
  std::map<std::string, peer_link> dealers;  // by peer name
  std::optional<zap_handler> zap;  // with CURVE; created before the ROUTER binds (ZAP fails open)
  std::string inproc_address;
};

result<std::unique_ptr<cluster_io>> cluster_io::start(caf::actor_system& sys, zmq::context_t& ctx,
                                                      cluster_io_options opts, caf::actor owner) {
  if (!opts.curve) {
    if (!is_loopback_endpoint(opts.bind_endpoint))
      return status::invalid_argument("refusing to bind " + opts.bind_endpoint +
                                      " without CURVE keys: off loopback every link must be encrypted "
                                      "(make keys with `holo keygen`, see docs/security.md)");
    for (auto& p : opts.peers)
      if (!is_loopback_endpoint(p.endpoint))
        return status::invalid_argument("refusing to connect to " + p.name + " at " + p.endpoint +
                                        " without CURVE keys (see docs/security.md)");
  } else {
    for (auto& p : opts.peers)
      if (p.public_key.size() != 40)
        return status::invalid_argument("peer " + p.name + " has no CURVE public key in the configuration");
  }
  std::unique_ptr<cluster_io> io(new cluster_io());
  io->opts_ = std::move(opts);
  io->owner_ = std::move(owner);
  io->sockets_ = std::make_unique<sockets>();
  auto& s = *io->sockets_;
  auto& o = io->opts_;
  s.ctx = &ctx;
  s.inproc_address = "inproc://holo-cluster-" + std::to_string(next_io_id++);
  if (o.curve) {
    zap_policy policy;
    for (auto& [key, name] : o.allowed) {
      auto k = decode_key(key);
      if (!k) return status::invalid_argument("public key of " + name + ": " + k.error().message());
      policy.allow(*k, name, "holo-cluster");
      policy.allow(*k, name, "holo-client");
    }
    for (auto& [key, name] : o.allowed_clients) {
      auto k = decode_key(key);
      if (!k) return status::invalid_argument("public key of client " + name + ": " + k.error().message());
      policy.allow(*k, "client:" + name, "holo-client");
    }
    auto z = zap_handler::create(ctx, std::move(policy));
    if (!z) return z.error();
    s.zap.emplace(std::move(z).value());
    // Runs on the I/O thread: tell the owner (for the log) without blocking on anything.
    s.zap->set_observer([owner = io->owner_](const zap_request& req, const zap_reply& rep) {
      if (!rep.admitted())
        caf::anon_send(owner, cluster_rejected_atom::value, req.address, rep.status_text);
    });
  }
  try {
    s.router = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::router);
    s.router->set(zmq::sockopt::linger, 0);
    s.router->set(zmq::sockopt::maxmsgsize, o.frame_bytes_max);
    s.router->set(zmq::sockopt::rcvhwm, o.peer_queue_frames_max * 4);
    if (o.curve) {
      s.router->set(zmq::sockopt::curve_server, 1);
      s.router->set(zmq::sockopt::curve_secretkey, o.curve->secret_key);
      s.router->set(zmq::sockopt::zap_domain, "holo-cluster");
    }
    s.router->bind(o.bind_endpoint);
    s.pull = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pull);
    s.pull->set(zmq::sockopt::linger, 0);
    s.pull->bind(s.inproc_address);
    for (auto& p : o.peers) {
      peer_link link;
      link.endpoint = p.endpoint;
      link.public_key = p.public_key;
      link.socket = io->make_dealer(link);
      link.monitor = io->make_monitor(*link.socket, p.name);
      s.dealers.emplace(p.name, std::move(link));
    }
  } catch (const zmq::error_t& e) {
    return status::unavailable("cluster endpoint " + o.bind_endpoint + ": " + e.what());
  }
  io->sender_ = spawn_inproc_sender(sys, ctx, s.inproc_address, o.peer_queue_frames_max * 4);
  io->thread_ = std::thread([raw = io.get()] { raw->run(); });
  return io;
}

std::unique_ptr<zmq::socket_t> cluster_io::make_dealer(const peer_link& link) {
  auto& o = opts_;
  auto d = std::make_unique<zmq::socket_t>(*sockets_->ctx, zmq::socket_type::dealer);
  d->set(zmq::sockopt::routing_id, o.self);
  // A short linger lets a last `leave` reach the peer on a clean stop, without holding the process
  // on a dead peer.
  d->set(zmq::sockopt::linger, 200);
  // Queue nothing for a peer that is not connected: its frames come back as undeliverable, so
  // requests fail fast and heartbeats never pile up and arrive in a burst.
  d->set(zmq::sockopt::immediate, 1);
  d->set(zmq::sockopt::sndhwm, o.peer_queue_frames_max);
  d->set(zmq::sockopt::maxmsgsize, o.frame_bytes_max);
  d->set(zmq::sockopt::reconnect_ivl, o.reconnect_ms);
  d->set(zmq::sockopt::reconnect_ivl_max, o.reconnect_max_ms);
  if (o.curve) {
    d->set(zmq::sockopt::curve_serverkey, link.public_key);
    d->set(zmq::sockopt::curve_publickey, o.curve->public_key);
    d->set(zmq::sockopt::curve_secretkey, o.curve->secret_key);
  }
  d->connect(link.endpoint);
  return d;
}

// A PAIR socket that receives the DEALER's handshake-succeeded and disconnected events: a peer
// process that dies closes its sockets, and this notices it in microseconds instead of the
// phi-accrual detector's second.
std::unique_ptr<zmq::socket_t> cluster_io::make_monitor(zmq::socket_t& dealer, const std::string& peer) {
  static std::atomic<std::uint64_t> next{0};
  auto address = "inproc://holo-link-" + peer + "-" + std::to_string(next++);
  if (zmq_socket_monitor(dealer.handle(), address.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
    return nullptr;
  auto m = std::make_unique<zmq::socket_t>(*sockets_->ctx, zmq::socket_type::pair);
  m->set(zmq::sockopt::linger, 0);
  m->connect(address);
  return m;
}

cluster_io::~cluster_io() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
  if (sender_) caf::anon_send_exit(sender_, caf::exit_reason::user_shutdown);
}

void cluster_io::run() {
  auto& s = *sockets_;
  auto& c = *counters_;
  bool curve = opts_.curve.has_value();
  std::vector<zmq::pollitem_t> items{{s.router->handle(), 0, ZMQ_POLLIN, 0}, {s.pull->handle(), 0, ZMQ_POLLIN, 0}};
  if (s.zap) items.push_back({s.zap->socket().handle(), 0, ZMQ_POLLIN, 0});
  std::vector<zmq::message_t> parts;
  auto forward_out = [&] {
    parts.clear();
    if (!zmq::recv_multipart(*s.pull, std::back_inserter(parts), zmq::recv_flags::dontwait)) return false;
    if (parts.size() != 2) return true;
    auto peer = parts[0].to_string();
    auto it = s.dealers.find(peer);
    if (it == s.dealers.end()) {
      ++c.dropped_unknown_peer;
      caf::anon_send(owner_, cluster_undeliverable_atom::value, std::move(peer), parts[1].to_string());
      return true;
    }
    auto bytes = parts[1].size();
    auto& link = it->second;
    std::string copy_for_failure;
    bool sent = false;
    try {
      // Keep the payload in case it must go back to the owner; zmq consumes the message.
      copy_for_failure = parts[1].to_string();
      sent = link.socket->send(parts[1], zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t&) {
      sent = false;
    }
    if (sent) {
      ++c.frames_out;
      c.bytes_out += bytes;
      link.failing_since.reset();
    } else {
      ++c.undeliverable;
      auto now = io_clock::now();
      if (!link.failing_since) link.failing_since = now;
      if (now - *link.failing_since > link_rebuild_after && now - link.created > link_rebuild_after) {
        link.monitor.reset();
        link.socket = make_dealer(link);
        link.monitor = make_monitor(*link.socket, peer);
        link.created = now;
        link.failing_since.reset();
        ++c.links_rebuilt;
      }
      caf::anon_send(owner_, cluster_undeliverable_atom::value, std::move(peer), std::move(copy_for_failure));
    }
    return true;
  };
  const std::size_t fixed = items.size();
  std::vector<std::string> monitored;  // peer of items[fixed + i]
  auto rebuild_items = [&] {
    items.resize(fixed);
    monitored.clear();
    for (auto& [name, link] : s.dealers)
      if (link.monitor) {
        items.push_back({link.monitor->handle(), 0, ZMQ_POLLIN, 0});
        monitored.push_back(name);
      }
  };
  auto read_monitor = [&](const std::string& peer) {
    auto it = s.dealers.find(peer);
    if (it == s.dealers.end() || !it->second.monitor) return;
    for (int n = 0; n < 16; ++n) {
      parts.clear();
      if (!zmq::recv_multipart(*it->second.monitor, std::back_inserter(parts), zmq::recv_flags::dontwait)) return;
      if (parts.empty() || parts[0].size() < 6) continue;
      std::uint16_t event = 0;
      std::memcpy(&event, parts[0].data(), sizeof(event));
      if (event == ZMQ_EVENT_DISCONNECTED) caf::anon_send(owner_, cluster_link_atom::value, peer, false);
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) caf::anon_send(owner_, cluster_link_atom::value, peer, true);
    }
  };
  rebuild_items();
  auto rebuilt = c.links_rebuilt.load();
  while (running_) {
    try {
      if (c.links_rebuilt.load() != rebuilt) {  // a DEALER and its monitor were replaced
        rebuilt = c.links_rebuilt.load();
        rebuild_items();
      }
      zmq::poll(items, std::chrono::milliseconds(50));
      for (std::size_t i = fixed; i < items.size(); ++i)
        if (items[i].revents & ZMQ_POLLIN) read_monitor(monitored[i - fixed]);
      for (int n = 0; n < 256 && (items[0].revents & ZMQ_POLLIN); ++n) {
        parts.clear();
        if (!zmq::recv_multipart(*s.router, std::back_inserter(parts), zmq::recv_flags::dontwait)) break;
        if (parts.size() != 2) {
          ++c.dropped_malformed;
          continue;
        }
        std::string peer;
        if (curve) {
          // The name ZAP gave this client's key: the only identity we trust off loopback.
          const char* uid = parts[1].gets("User-Id");
          peer = uid ? uid : "";
        } else {
          peer = parts[0].to_string();
        }
        ++c.frames_in;
        c.bytes_in += parts[1].size();
        caf::anon_send(owner_, cluster_in_atom::value, std::move(peer), parts[1].to_string());
      }
      for (int n = 0; n < 256 && (items[1].revents & ZMQ_POLLIN); ++n)
        if (!forward_out()) break;
      if (s.zap && (items[2].revents & ZMQ_POLLIN)) {
        s.zap->handle_ready();
        c.rejected_handshakes = s.zap->rejected();
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
    }
  }
  // Flush what the owner queued before stopping (a last `leave`), without waiting for more.
  try {
    while (forward_out()) {
    }
  } catch (const zmq::error_t&) {
  }
  s.router.reset();
  s.pull.reset();
  for (auto& [name, link] : s.dealers) link.monitor.reset();
  s.dealers.clear();
  s.zap.reset();  // last: a CURVE server without its ZAP handler would admit anyone
}

}  // namespace holo
