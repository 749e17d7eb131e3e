#include "runtime/client.hpp"

#include <cerrno>
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

  // A signal (Ctrl-C in `holo generate`) interrupts the poll with EINTR: wait on to the deadline.
  result<std::string> receive(clock_type::time_point deadline) {
    try {
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
        std::vector<zmq::pollitem_t> items{{sock.handle(), 0, ZMQ_POLLIN, 0}};
        try {
          zmq::poll(items, std::max(left, std::chrono::milliseconds(0)));
        } catch (const zmq::error_t& e) {
          if (e.num() == EINTR) continue;
          throw;
        }
        if (!(items[0].revents & ZMQ_POLLIN))
          return status::deadline_exceeded("no answer from " + endpoint + " (is the node running?)");
        zmq::message_t msg;
        if (!sock.recv(msg, zmq::recv_flags::dontwait)) return status::unavailable("receive failed");
        return msg.to_string();
      }
    } catch (const zmq::error_t& e) {
      return status::unavailable(std::string("ZeroMQ: ") + e.what());
    }
  }
};

namespace {

// An error event as a status: the node's code where it is one a caller can act on.
status status_from_error_event(const std::string& code, const std::string& message) {
  constexpr status_code known[] = {status_code::invalid_argument, status_code::not_found, status_code::out_of_range,
                                   status_code::resource_exhausted, status_code::unavailable};
  for (auto c : known)
    if (code == to_string(c)) return {c, message.empty() ? "node answered " + code : message};
  return status::failed_precondition("node answered " + code + ": " + message);
}

bool is_stream_kind(std::string_view kind) { return kind == "token" || kind == "done" || kind == "error"; }

}  // namespace

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

result<std::string> client::request(const std::function<std::string(const std::string& id)>& encode,
                                    std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  auto id = impl_->id_prefix + std::to_string(impl_->next_id++);
  HOLO_TRY(impl_->send(encode(id), deadline));
  for (;;) {
    auto frame = impl_->receive(deadline);
    if (!frame) return frame.error();
    // A late reply to an earlier, timed-out request is skipped, not taken for this one.
    if (auto h = proto::decode_request_header(*frame); h && h->id == id) return frame;
  }
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

result<proto::done_event> client::generate(const proto::generate_request& req, const token_callback& on_token,
                                           std::chrono::milliseconds idle_timeout,
                                           const std::atomic<bool>* cancel_requested) {
  HOLO_TRY(impl_->send(proto::encode_generate(req), clock_type::now() + idle_timeout));
  // A generate whose id is in flight re-attaches from token 0, so 0 is right in both cases.
  return follow(req.id, 0, on_token, idle_timeout, cancel_requested);
}

result<proto::done_event> client::resume(const std::string& id, std::int64_t from_index,
                                         const token_callback& on_token, std::chrono::milliseconds idle_timeout,
                                         const std::atomic<bool>* cancel_requested) {
  HOLO_TRY(impl_->send(proto::encode_resume(id, from_index), clock_type::now() + idle_timeout));
  return follow(id, from_index, on_token, idle_timeout, cancel_requested);
}

status client::cancel(const std::string& id) {
  return impl_->send(proto::encode_cancel(id), clock_type::now() + std::chrono::seconds(1));
}

result<proto::done_event> client::follow(const std::string& id, std::int64_t next_index,
                                         const token_callback& on_token, std::chrono::milliseconds idle_timeout,
                                         const std::atomic<bool>* cancel_requested) {
  // Short polls so that a cancel request is seen promptly while the node is silent (queued, prefill).
  constexpr auto poll_slice = std::chrono::milliseconds(100);
  bool cancel_sent = false;
  auto idle_deadline = clock_type::now() + idle_timeout;
  for (;;) {
    if (!cancel_sent && cancel_requested && cancel_requested->load()) {
      HOLO_TRY(cancel(id));
      cancel_sent = true;
    }
    auto frame = impl_->receive(std::min(idle_deadline, clock_type::now() + poll_slice));
    if (!frame) {
      if (frame.error().code() != status_code::deadline_exceeded) return frame.error();
      if (clock_type::now() < idle_deadline) continue;
      return status::deadline_exceeded("no event of generation '" + id + "' from " + impl_->endpoint + " for " +
                                       std::to_string(idle_timeout.count()) + " ms");
    }
    auto ev = proto::decode_stream_event(*frame);
    if (!ev) {
      // A late reply to another request (a timed-out health, say) is skipped, not taken for ours.
      auto h = proto::decode_request_header(*frame);
      if (h && (h->id != id || !is_stream_kind(h->kind))) continue;
      return status::invalid_argument("malformed event of generation '" + id + "': " + ev.error().message());
    }
    switch (ev->what) {
      case proto::stream_event::kind::token: {
        const auto& t = ev->token;
        if (t.id != id) continue;
        idle_deadline = clock_type::now() + idle_timeout;
        if (t.index != next_index)
          return status::data_loss("generation '" + id + "': expected token index " + std::to_string(next_index) +
                                   ", got " + std::to_string(t.index));
        next_index += static_cast<std::int64_t>(t.tokens.size());
        if (!cancel_sent && on_token && !on_token(t)) {
          HOLO_TRY(cancel(id));
          cancel_sent = true;
        }
        continue;
      }
      case proto::stream_event::kind::done:
        if (ev->done.id != id) continue;
        return std::move(ev->done);
      case proto::stream_event::kind::error:
        // An empty id: the node could not read our frame's id, so the error is ours.
        if (!ev->token.id.empty() && ev->token.id != id) continue;
        return status_from_error_event(ev->error_code, ev->error_message);
    }
  }
}

result<std::vector<proto::model_info>> client::models(std::chrono::milliseconds timeout) {
  return call<std::vector<proto::model_info>>(
      timeout, [](const std::string& id) { return proto::encode_models_request(id); },
      [](std::string_view f, std::string_view id) -> result<std::vector<proto::model_info>> {
        if (auto ev = proto::decode_stream_event(f); ev && ev->what == proto::stream_event::kind::error && ev->token.id == id)
          return status_from_error_event(ev->error_code, ev->error_message);
        return proto::decode_models_reply(f, id);
      });
}

}  // namespace holo
