#include "runtime/zmq_bridge.hpp"

#include "runtime/inproc_sender.hpp"

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <chrono>
#include <vector>

#include <caf/all.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace holo {

namespace {

std::atomic<std::uint64_t> next_bridge_id{0};

}  // namespace

result<std::unique_ptr<router_bridge>> router_bridge::start(caf::actor_system& sys, zmq::context_t& ctx,
                                                            bridge_options opts, caf::actor owner) {
  std::unique_ptr<router_bridge> b(new router_bridge());
  b->opts_ = std::move(opts);
  b->owner_ = std::move(owner);
  b->inproc_address_ = "inproc://holo-bridge-" + std::to_string(next_bridge_id++);
  // Both sockets are created here and handed to the I/O thread, which is their only user from then
  // on (a handover with a happens-before edge, as ZeroMQ allows).
  auto router = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::router);
  auto pull = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pull);
  try {
    router->set(zmq::sockopt::linger, 0);
    router->set(zmq::sockopt::router_mandatory, 1);
    router->set(zmq::sockopt::maxmsgsize, b->opts_.frame_bytes_max);
    router->set(zmq::sockopt::sndhwm,
                b->opts_.peer_queue_frames > 0 ? b->opts_.peer_queue_frames : b->opts_.send_queue_frames_max);
    router->set(zmq::sockopt::rcvhwm, b->opts_.send_queue_frames_max);
    if (b->opts_.socket_send_buffer_bytes > 0) router->set(zmq::sockopt::sndbuf, b->opts_.socket_send_buffer_bytes);
    if (!b->opts_.curve_secret_key.empty()) {
      router->set(zmq::sockopt::curve_server, 1);
      router->set(zmq::sockopt::curve_secretkey, b->opts_.curve_secret_key);
      router->set(zmq::sockopt::zap_domain, b->opts_.zap_domain);
    }
    router->bind(b->opts_.endpoint);
    pull->set(zmq::sockopt::linger, 0);
    pull->set(zmq::sockopt::rcvhwm, b->opts_.send_queue_frames_max);
    pull->bind(b->inproc_address_);
  } catch (const zmq::error_t& e) {
    return status::unavailable("cannot bind " + b->opts_.endpoint + ": " + e.what());
  }
  b->sender_ = spawn_inproc_sender(sys, ctx, b->inproc_address_, b->opts_.send_queue_frames_max);
  auto* raw = b.get();
  b->io_thread_ = std::thread([raw, r = router.release(), p = pull.release()] {
    std::unique_ptr<zmq::socket_t> router(r), pull(p);
    raw->run(router.get(), pull.get());
  });
  return b;
}

router_bridge::~router_bridge() {
  running_ = false;
  if (io_thread_.joinable()) io_thread_.join();
  if (sender_) caf::anon_send_exit(sender_, caf::exit_reason::user_shutdown);
}

void router_bridge::run(void* router_socket, void* pull_socket) {
  auto& router = *static_cast<zmq::socket_t*>(router_socket);
  auto& pull = *static_cast<zmq::socket_t*>(pull_socket);
  std::vector<zmq::pollitem_t> items{{router.handle(), 0, ZMQ_POLLIN, 0}, {pull.handle(), 0, ZMQ_POLLIN, 0}};
  std::vector<zmq::message_t> parts;
  auto& c = *counters_;
  // Frames for peers whose queue is full, oldest first, and their bytes.
  struct backlog {
    std::deque<std::string> frames;
    std::size_t bytes = 0;
  };
  std::map<std::string, backlog> backlogs;
  enum class sent { ok, full, gone };
  auto send_one = [&](const std::string& peer, const std::string& payload) {
    try {
      std::array<zmq::const_buffer, 2> msg{zmq::buffer(peer), zmq::buffer(payload)};
      if (!zmq::send_multipart(router, msg, zmq::send_flags::dontwait)) return sent::full;
      ++c.frames_out;
      c.bytes_out += payload.size();
      return sent::ok;
    } catch (const zmq::error_t&) {
      return sent::gone;  // EHOSTUNREACH: the peer disconnected
    }
  };
  auto drop_peer = [&](const std::string& peer) {
    auto it = backlogs.find(peer);
    if (it != backlogs.end()) {
      c.dropped_unroutable += it->second.frames.size();
      backlogs.erase(it);
    }
    caf::anon_send(owner_, bridge_gone_atom::value, peer);
  };
  auto enqueue = [&](const std::string& peer, std::string payload) {
    auto& b = backlogs[peer];
    if (b.frames.empty()) {
      ++c.congestions;
      caf::anon_send(owner_, bridge_congested_atom::value, peer, true);
    }
    b.bytes += payload.size();
    b.frames.push_back(std::move(payload));
    if (b.bytes > opts_.peer_backlog_bytes_max) drop_peer(peer);  // it stopped reading
  };
  auto retry_backlogs = [&] {
    for (auto it = backlogs.begin(); it != backlogs.end();) {
      auto& [peer, b] = *it;
      sent r = sent::ok;
      while (!b.frames.empty() && (r = send_one(peer, b.frames.front())) == sent::ok) {
        b.bytes -= b.frames.front().size();
        b.frames.pop_front();
      }
      if (r == sent::gone) {
        c.dropped_unroutable += b.frames.size();
        caf::anon_send(owner_, bridge_gone_atom::value, peer);
        it = backlogs.erase(it);
      } else if (b.frames.empty()) {
        caf::anon_send(owner_, bridge_congested_atom::value, peer, false);
        it = backlogs.erase(it);
      } else {
        ++it;
      }
    }
  };
  while (running_) {
    try {
      // The timeout bounds how long ~router_bridge waits for this thread, and how soon a backlog
      // is retried.
      zmq::poll(items, std::chrono::milliseconds(backlogs.empty() ? 50 : 5));
      if (!backlogs.empty()) retry_backlogs();
      // Drain in bounded batches so neither direction starves the other.
      for (int n = 0; n < 256 && (items[0].revents & ZMQ_POLLIN); ++n) {
        parts.clear();
        auto got = zmq::recv_multipart(router, std::back_inserter(parts), zmq::recv_flags::dontwait);
        if (!got) break;
        if (parts.size() != 2) {  // a DEALER sends exactly one payload frame
          ++c.dropped_malformed;
          continue;
        }
        ++c.frames_in;
        c.bytes_in += parts[1].size();
        std::string user;
        try {
          if (const char* u = parts[1].gets("User-Id")) user = u;
        } catch (const zmq::error_t&) {
          // no metadata: not a CURVE connection
        }
        caf::anon_send(owner_, bridge_in_atom::value, parts[0].to_string(), std::move(user), parts[1].to_string());
      }
      for (int n = 0; n < 256 && (items[1].revents & ZMQ_POLLIN); ++n) {
        parts.clear();
        auto got = zmq::recv_multipart(pull, std::back_inserter(parts), zmq::recv_flags::dontwait);
        if (!got) break;
        if (parts.size() != 2) continue;
        auto peer = parts[0].to_string();
        auto payload = parts[1].to_string();
        if (auto it = backlogs.find(peer); it != backlogs.end()) {
          enqueue(peer, std::move(payload));  // keep the order: behind what waits already
          continue;
        }
        switch (send_one(peer, payload)) {
          case sent::ok: break;
          case sent::full: enqueue(peer, std::move(payload)); break;
          case sent::gone:
            ++c.dropped_unroutable;
            caf::anon_send(owner_, bridge_gone_atom::value, peer);
            break;
        }
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
    }
  }
}

}  // namespace holo
