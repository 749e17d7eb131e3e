#include "test/streams.hpp"

#include <set>

#include <zmq.hpp>

namespace holo::test {

using clock_type = std::chrono::steady_clock;

double stream_record::worst_gap_ms() const {
  double worst = 0;
  auto prev = sent;
  for (auto t : arrivals) {
    worst = std::max(worst, std::chrono::duration<double, std::milli>(t - prev).count());
    prev = t;
  }
  return worst;
}

struct stream_set::impl {
  zmq::context_t ctx{1};
  std::map<std::string, std::unique_ptr<zmq::socket_t>> socks;
  std::set<std::string> paused;
  bool small = false;

  zmq::socket_t& sock(const std::string& ep) {
    auto& s = socks[ep];
    if (!s) {
      s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
      s->set(zmq::sockopt::linger, 0);
      s->set(zmq::sockopt::sndtimeo, 2000);
      s->set(zmq::sockopt::rcvhwm, small ? 1 : 0);
      if (small) s->set(zmq::sockopt::rcvbuf, 1024);
      s->connect(ep);
    }
    return *s;
  }
};

stream_set::stream_set(bool small_buffers) : impl_(std::make_unique<impl>()) { impl_->small = small_buffers; }
stream_set::~stream_set() = default;

void stream_set::start(const std::string& endpoint, const proto::generate_request& req) {
  auto& r = streams_[req.id];
  r.id = req.id;
  r.endpoint = endpoint;
  r.sent = clock_type::now();
  send_raw(endpoint, proto::encode_generate(req));
}

void stream_set::send_raw(const std::string& endpoint, const std::string& frame) {
  // A fresh DEALER has no connection yet: the send waits for one (sndtimeo), a few times.
  for (int attempt = 0; attempt < 5; ++attempt)
    if (impl_->sock(endpoint).send(zmq::buffer(frame), zmq::send_flags::none)) return;
  throw std::runtime_error("cannot send to " + endpoint + " (no connection in 10 s)");
}

void stream_set::disconnect(const std::string& endpoint) { impl_->socks.erase(endpoint); }

void stream_set::pause_reading(const std::string& endpoint, bool paused) {
  if (paused) impl_->paused.insert(endpoint);
  else impl_->paused.erase(endpoint);
}

void stream_set::pump(std::chrono::milliseconds d) {
  std::vector<zmq::pollitem_t> items;
  std::vector<zmq::socket_t*> socks;
  for (auto& [ep, s] : impl_->socks) {
    if (impl_->paused.count(ep)) continue;
    items.push_back({s->handle(), 0, ZMQ_POLLIN, 0});
    socks.push_back(s.get());
  }
  if (items.empty()) {
    struct timespec ts{0, static_cast<long>(d.count()) * 1000000L};
    nanosleep(&ts, nullptr);
    return;
  }
  zmq::poll(items, d);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!(items[i].revents & ZMQ_POLLIN)) continue;
    zmq::message_t msg;
    // A slow client (small buffers) takes one event per pump.
    for (int taken = 0; (!impl_->small || taken < 1) && socks[i]->recv(msg, zmq::recv_flags::dontwait); ++taken) {
      auto frame = msg.to_string();
      auto ev = proto::decode_stream_event(frame);
      auto id = ev ? (ev->what == proto::stream_event::kind::token ? ev->token.id
                      : ev->what == proto::stream_event::kind::done ? ev->done.id
                                                                    : ev->token.id)
                   : std::string();
      auto it = streams_.find(id);
      if (!ev || it == streams_.end()) {
        others_.push_back(frame);
        continue;
      }
      auto& r = it->second;
      r.arrivals.push_back(clock_type::now());
      ++r.events;
      if (r.done) r.violations.push_back("event after done");
      switch (ev->what) {
        case proto::stream_event::kind::token: {
          auto& t = ev->token;
          if (t.index != static_cast<std::int64_t>(r.tokens.size()))
            r.violations.push_back("index " + std::to_string(t.index) + " where " + std::to_string(r.tokens.size()) +
                                   " was expected");
          r.tokens.insert(r.tokens.end(), t.tokens.begin(), t.tokens.end());
          r.text += t.text;
          r.max_tokens_per_event = std::max<std::int64_t>(r.max_tokens_per_event, static_cast<std::int64_t>(t.tokens.size()));
          break;
        }
        case proto::stream_event::kind::done:
          r.done = true;
          r.final = ev->done;
          r.text += ev->done.text;
          if (!ev->done.tokens.empty()) r.tokens = ev->done.tokens;
          break;
        case proto::stream_event::kind::error:
          r.done = true;
          r.error = ev->error_code + ": " + ev->error_message;
          break;
      }
    }
  }
}

bool stream_set::run(std::chrono::milliseconds timeout) {
  return pump_until(timeout, [&] {
    for (auto& [id, r] : streams_)
      if (!r.done) return false;
    return true;
  });
}

}  // namespace holo::test
