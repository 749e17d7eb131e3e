#include "runtime/zmq_bridge.hpp"

#include "runtime/inproc_sender.hpp"

#include <atomic>
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
    router->set(zmq::sockopt::sndhwm, b->opts_.send_queue_frames_max);
    router->set(zmq::sockopt::rcvhwm, b->opts_.send_queue_frames_max);
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
  while (running_) {
    try {
      // The timeout bounds how long ~router_bridge waits for this thread.
      zmq::poll(items, std::chrono::milliseconds(50));
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
        caf::anon_send(owner_, bridge_in_atom::value, parts[0].to_string(), parts[1].to_string());
      }
      for (int n = 0; n < 256 && (items[1].revents & ZMQ_POLLIN); ++n) {
        parts.clear();
        auto got = zmq::recv_multipart(pull, std::back_inserter(parts), zmq::recv_flags::dontwait);
        if (!got) break;
        try {
          auto bytes = parts.size() == 2 ? parts[1].size() : 0;
          if (zmq::send_multipart(router, parts, zmq::send_flags::dontwait)) {
            ++c.frames_out;
            c.bytes_out += bytes;
          } else {
            ++c.dropped_unroutable;  // the peer's queue is full
          }
        } catch (const zmq::error_t&) {
          ++c.dropped_unroutable;  // EHOSTUNREACH: the peer disconnected
        }
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
    }
  }
}

}  // namespace holo
