#include "runtime/client.hpp"

#include <random>

#include <zmq.hpp>

namespace holo {

using clock_type = std::chrono::steady_clock;

struct client::impl {
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::dealer};
  std::string endpoint;
  std::uint64_t next_id = 0;
  std::string id_prefix;

  // A fresh DEALER attaches its connection asynchronously, so a send right after connect may find
  // no pipe yet: wait for one up to the deadline instead of failing at once.
  status send(const std::string& frame, clock_type::time_point deadline) {
    try {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      sock.set(zmq::sockopt::sndtimeo, static_cast<int>(std::max<std::int64_t>(left.count(), 1)));
      if (!sock.send(zmq::buffer(frame), zmq::send_flags::none))
        return status::unavailable("cannot queue the request to " + endpoint);
      return {};
    } catch (const zmq::error_t& e) {
      return status::unavailable(std::string("ZeroMQ: ") + e.what());
    }
  }

  result<std::string> receive(clock_type::time_point deadline) {
    try {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      std::vector<zmq::pollitem_t> items{{sock.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, std::max(left, std::chrono::milliseconds(0)));
      if (!(items[0].revents & ZMQ_POLLIN))
        return status::deadline_exceeded("no answer from " + endpoint + " (is the node running?)");
      zmq::message_t msg;
      if (!sock.recv(msg, zmq::recv_flags::dontwait)) return status::unavailable("receive failed");
      return msg.to_string();
    } catch (const zmq::error_t& e) {
      return status::unavailable(std::string("ZeroMQ: ") + e.what());
    }
  }
};

client::client(std::string endpoint, std::optional<client_keys> keys) : impl_(std::make_unique<impl>()) {
  impl_->endpoint = std::move(endpoint);
  impl_->sock.set(zmq::sockopt::linger, 0);
  if (keys) {
    impl_->sock.set(zmq::sockopt::curve_serverkey, keys->server_public_key);
    impl_->sock.set(zmq::sockopt::curve_publickey, keys->public_key);
    impl_->sock.set(zmq::sockopt::curve_secretkey, keys->secret_key);
  }
  impl_->sock.connect(impl_->endpoint);
  std::random_device rd;
  impl_->id_prefix = "c" + std::to_string(rd() % 1000000) + "-";
}

client::~client() = default;

result<std::string> client::roundtrip(const std::string& frame, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  HOLO_TRY(impl_->send(frame, deadline));
  return impl_->receive(deadline);
}

template <class T, class Encode, class Decode>
result<T> client::call(std::chrono::milliseconds timeout, Encode encode, Decode decode) {
  auto deadline = clock_type::now() + timeout;
  auto id = impl_->id_prefix + std::to_string(impl_->next_id++);
  HOLO_TRY(impl_->send(encode(id), deadline));
  for (;;) {
    auto frame = impl_->receive(deadline);
    if (!frame) return frame.error();
    result<T> r = decode(*frame, id);
    // A late reply to an earlier, timed-out request is skipped, not taken for this one.
    if (!r && r.error().message().find("another request id") != std::string::npos) continue;
    return r;
  }
}

result<proto::health_reply> client::health(std::chrono::milliseconds timeout, const std::string& node) {
  return call<proto::health_reply>(
      timeout,
      [&](const std::string& id) {
        return node.empty() ? proto::encode_health_request(id) : proto::encode_health_request(id, node);
      },
      [](std::string_view f, std::string_view id) { return proto::decode_health_reply(f, id); });
}

result<proto::nodes_reply> client::nodes(std::chrono::milliseconds timeout) {
  return call<proto::nodes_reply>(
      timeout, [](const std::string& id) { return proto::encode_nodes_request(id); },
      [](std::string_view f, std::string_view id) { return proto::decode_nodes_reply(f, id); });
}

}  // namespace holo
