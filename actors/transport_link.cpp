#include "actors/transport_link.hpp"

#include <algorithm>
#include <vector>

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/transport.hpp"
#include "runtime/cluster_io.hpp"
#include "runtime/element_pool.hpp"
#include "runtime/errors.hpp"
#include "runtime/status.hpp"
#include "runtime/wire.hpp"

namespace holo {

namespace {

using clock_type = std::chrono::steady_clock;

// The transport's door: what local actors send remote_send / remote_request to. Never scheduled:
// enqueue() encodes and queues the frame on the sender's own thread, which saves the hop through
// the transport actor's mailbox (docs/benchmarks.md, transport). Anything else goes on to the
// transport actor itself.
class door_actor final : public caf::monitorable_actor {
 public:
  door_actor(caf::actor_config& cfg, std::shared_ptr<transport_link> link, caf::actor_addr transport)
      : caf::monitorable_actor(cfg), link_(std::move(link)), transport_(std::move(transport)) {}

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) override {
    if (!what) return;
    auto& c = what->content();
    // Matched by the signature's type token (one number, all of these types are CAF built-ins)
    // and the atom's value: match_elements costs four virtual calls per message.
    static constexpr auto send_token = caf::make_type_token<remote_send_atom, std::string, std::string, caf::message>();
    static constexpr auto request_token =
        caf::make_type_token<remote_request_atom, std::string, std::string, std::int64_t, caf::message>();
    static_assert(caf::type_nr<remote_send_atom>::value != 0 && caf::type_nr<caf::message>::value != 0,
                  "the door's type tokens need built-in types only");
    auto token = c.type_token();
    if (token == send_token && c.get_as<caf::atom_value>(0) == remote_send_atom::value) {
      link_->send(what->sender, c.get_as<std::string>(1), c.get_as<std::string>(2), c.get_as<caf::message>(3));
      return;
    }
    if (token == request_token && c.get_as<caf::atom_value>(0) == remote_request_atom::value) {
      link_->request(*what);
      return;
    }
    if (auto t = caf::actor_cast<caf::strong_actor_ptr>(transport_)) {
      t->enqueue(std::move(what), host);
      return;
    }
    // The transport is gone: a request still gets an answer, as from any dead actor.
    if (what->mid.is_request() && what->sender)
      what->sender->enqueue(caf::make_mailbox_element(nullptr, what->mid.response_id(), {},
                                                      caf::make_error(caf::sec::request_receiver_down)),
                            host);
  }

  const char* name() const override { return "transport_door"; }

 private:
  std::shared_ptr<transport_link> link_;
  caf::actor_addr transport_;
};

// The sender of every request a peer makes of a local actor: the actor's answer (or CAF's error
// when the actor is gone) arrives here, on the answering thread, and leaves as a response frame.
class reply_sink final : public caf::monitorable_actor {
 public:
  reply_sink(caf::actor_config& cfg, std::weak_ptr<transport_link> link)
      : caf::monitorable_actor(cfg), link_(std::move(link)) {}

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    if (!what || !what->mid.is_response()) return;  // only answers are expected here
    if (auto l = link_.lock()) l->answer_served(what->mid.request_id().integer_value(), *what);
  }

  const char* name() const override { return "transport_reply_sink"; }

 private:
  std::weak_ptr<transport_link> link_;
};

// Each thread encodes its outbound frames into one buffer it keeps (cluster_io::send copies the
// frame into the socket's message), so a send allocates nothing for the encoding.
std::string& frame_buffer() {
  thread_local std::string buffer;
  if (buffer.capacity() > (1u << 20)) std::string().swap(buffer);  // after a large frame, let it go
  return buffer;
}

caf::message error_message(errc code, std::string text = {}) {
  return caf::make_message(make_error(code, std::move(text)));
}

}  // namespace

transport_link::transport_link(caf::actor_system& sys, std::string self_name, transport_link_limits limits)
    : sys_(sys), self_(std::move(self_name)), limits_(limits), io_pool_(wire::element_pool::create()) {}

transport_link::~transport_link() {
  stop();
  io_pool_->close();  // the I/O thread has stopped: nothing takes from it any more
}

void transport_link::attach(std::unique_ptr<cluster_io> io) {
  io_ = std::move(io);
  caf::actor_config cfg;
  sink_ = caf::make_actor<reply_sink, caf::strong_actor_ptr>(sys_.next_actor_id(), sys_.node(), &sys_, cfg,
                                                             weak_from_this());
}

void transport_link::stop() {
  if (io_) io_->stop();
  std::vector<pending_request> doomed;
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    for (auto& [corr, p] : pending_) doomed.push_back(std::move(p));
    pending_.clear();
    up_peers_.clear();
  }
  for (auto& p : doomed) respond(p, error_message(errc::node_unreachable, "the transport stopped"));
}

caf::actor transport_link::make_door(const caf::actor& transport) {
  caf::actor_config cfg;
  return caf::make_actor<door_actor, caf::actor>(sys_.next_actor_id(), sys_.node(), &sys_, cfg, shared_from_this(),
                                                 transport.address());
}

caf::strong_actor_ptr transport_link::local_actor(std::string_view name) const {
  if (name.empty() || name.size() > 10) return nullptr;  // a CAF atom holds 10 characters
  return sys_.registry().get(caf::atom_from_string(name));
}

const caf::strong_actor_ptr& transport_link::io_actor(std::string_view name) {
  if (!io_cached_actor_ || name != io_cached_name_) {
    io_cached_actor_ = local_actor(name);
    io_cached_name_.assign(name);
  }
  return io_cached_actor_;
}

void transport_link::on_batch_end() {
  io_cached_actor_ = nullptr;
  io_cached_name_.clear();
}

void transport_link::respond(pending_request& p, caf::message answer, caf::execution_unit* host) {
  if (!p.mid.is_request()) return;  // sent, not requested: nobody waits for an answer
  if (p.stages.empty()) {
    if (p.source) p.source->enqueue(caf::make_mailbox_element(nullptr, p.mid.response_id(), {}, std::move(answer)), host);
    return;
  }
  auto next = std::move(p.stages.back());
  p.stages.pop_back();
  if (next) next->enqueue(caf::make_mailbox_element(std::move(p.source), p.mid, std::move(p.stages), std::move(answer)), host);
}

// ---- outbound --------------------------------------------------------------------------------------

void transport_link::send(const caf::strong_actor_ptr& sender, const std::string& node, const std::string& actor,
                          const caf::message& msg) {
  if (node == self_) {
    // To this node: delivered here, so callers need not care where an actor lives.
    if (auto t = local_actor(actor)) t->enqueue(caf::make_mailbox_element(sender, caf::make_message_id(), {}, msg), nullptr);
    return;
  }
  auto& frame = frame_buffer();
  if (!wire::encode_frame_to(frame, wire::frame_kind::send, self_, "anon", node, actor, 0, msg).ok())
    return;  // not a catalogue message: the sender's bug, and nobody to tell
  if (io_) io_->send(node, frame);  // a refusal (link down, queue full) is counted by cluster_io
}

void transport_link::request(caf::mailbox_element& req) {
  auto& c = req.content();
  const auto& node = c.get_as<std::string>(1);
  const auto& actor = c.get_as<std::string>(2);
  auto timeout = std::chrono::milliseconds(std::max<std::int64_t>(1, c.get_as<std::int64_t>(3)));
  const auto& msg = c.get_as<caf::message>(4);
  pending_request p{req.sender, req.mid, req.stages, node, clock_type::now() + timeout};
  if (node == self_) {
    auto t = local_actor(actor);
    if (!t) return respond(p, error_message(errc::unknown_actor, node + "/" + actor));
    // Delegated: the local actor answers the caller directly.
    t->enqueue(caf::make_mailbox_element(std::move(p.source), p.mid, std::move(p.stages), msg), nullptr);
    return;
  }
  auto corr = next_correlation_.fetch_add(1, std::memory_order_relaxed);
  auto& frame = frame_buffer();
  if (auto st = wire::encode_frame_to(frame, wire::frame_kind::request, self_, names::transport, node, actor, corr, msg);
      !st.ok())
    return respond(p, error_message(errc::not_serializable, st.message()));
  {
    std::unique_lock<std::mutex> lock{pending_mtx_};
    if (!up_peers_.count(node)) {
      lock.unlock();
      return respond(p, error_message(errc::node_unreachable, node + " is not up"));
    }
    if (pending_.size() >= limits_.pending_requests_max) {
      lock.unlock();
      return respond(p, caf::make_message(status_to_error(status::unavailable(
                            "too many requests waiting for peers (pending_requests_max = " +
                            std::to_string(limits_.pending_requests_max) + ")"))));
    }
    // Registered before the frame leaves: the answer may arrive before send() returns.
    pending_.emplace(corr, std::move(p));
  }
  if (io_ && io_->send(node, frame)) return;
  pending_request refused;
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    auto it = pending_.find(corr);
    if (it == pending_.end()) return;  // already failed by set_peer or stop
    refused = std::move(it->second);
    pending_.erase(it);
  }
  respond(refused, error_message(errc::node_unreachable, node + ": link not up"));
}

void transport_link::error_frame(const std::string& peer, std::string_view their_actor, std::string_view our_actor,
                                 std::uint64_t correlation, int code, const std::string& text) {
  wire::envelope e;
  e.kind = wire::frame_kind::error;
  e.from_node = self_;
  e.from_actor = our_actor.empty() ? std::string_view("transport") : our_actor;
  e.to_node = peer;
  e.to_actor = their_actor;
  e.correlation = correlation;
  e.body = wire::encode(wire::remote_error{static_cast<std::uint8_t>(code), text});
  if (io_) io_->send(peer, wire::encode_envelope(e));
}

void transport_link::answer_served(std::uint64_t local_id, caf::mailbox_element& reply) {
  served_request s;
  {
    std::lock_guard<std::mutex> guard{served_mtx_};
    auto it = served_.find(local_id);
    if (it == served_.end()) return;  // answered after its timeout: the peer was told already
    s = std::move(it->second);
    served_.erase(it);
  }
  auto& c = reply.content();
  if (c.match_elements<caf::error>()) {
    error_frame(s.peer, s.their_actor, s.our_actor, s.correlation, static_cast<int>(status_code::unavailable),
                sys_.render(c.get_as<caf::error>(0)));
    return;
  }
  auto& frame = frame_buffer();
  if (!wire::encode_frame_to(frame, wire::frame_kind::response, self_, s.our_actor, s.peer, s.their_actor,
                             s.correlation, reply.move_content_to_message())
           .ok()) {
    error_frame(s.peer, s.their_actor, s.our_actor, s.correlation, static_cast<int>(status_code::internal),
                "reply is not a wire message");
    return;
  }
  if (io_) io_->send(s.peer, frame);
}

// ---- the I/O thread --------------------------------------------------------------------------------

bool transport_link::on_frame(const std::string& peer, std::string_view frame, caf::execution_unit* host) {
  auto e = wire::decode_envelope_view(frame);
  // The envelope must name the peer that the link authenticated, and this node.
  if (!e || e->from_node != peer || e->to_node != self_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  switch (e->kind) {
    case wire::frame_kind::send: {
      const auto& target = io_actor(e->to_actor);
      // As anon_send: a thread-safe enqueue with no sender.
      auto element = target ? wire::decode_to_mailbox(e->type, e->body, nullptr, caf::make_message_id(), io_pool_)
                            : result<caf::mailbox_element_ptr>(status::not_found("no such actor"));
      if (!element) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      target->enqueue(std::move(*element), host);
      return true;
    }
    case wire::frame_kind::request:
      serve(peer, e->from_actor, e->to_actor, e->correlation, e->type, e->body, host);
      return true;
    case wire::frame_kind::response:
    case wire::frame_kind::error:
      complete(peer, e->correlation, e->kind == wire::frame_kind::error, e->type, e->body, host);
      return true;
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void transport_link::serve(const std::string& peer, std::string_view their_actor, std::string_view our_actor,
                           std::uint64_t correlation, std::uint16_t type, std::string_view body,
                           caf::execution_unit* host) {
  auto id = next_served_.fetch_add(1, std::memory_order_relaxed);
  // A request from the reply sink: the target's answer goes straight back out on its own thread.
  auto element = wire::decode_to_mailbox(type, body, sink_, caf::make_message_id(id), io_pool_);
  if (!element) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    error_frame(peer, their_actor, our_actor, correlation, static_cast<int>(status_code::invalid_argument),
                element.error().message());
    return;
  }
  const auto& target = io_actor(our_actor);
  if (!target) {
    error_frame(peer, their_actor, our_actor, correlation, static_cast<int>(status_code::not_found),
                "no actor '" + std::string(our_actor) + "' on " + self_);
    return;
  }
  {
    std::unique_lock<std::mutex> lock{served_mtx_};
    if (served_.size() >= limits_.served_requests_max) {
      lock.unlock();
      error_frame(peer, their_actor, our_actor, correlation, static_cast<int>(status_code::unavailable),
                  "too many requests being answered on " + self_ + " (served_requests_max = " +
                      std::to_string(limits_.served_requests_max) + ")");
      return;
    }
    served_.emplace(id, served_request{peer, std::string(their_actor), std::string(our_actor), correlation,
                                       clock_type::now()});
  }
  target->enqueue(std::move(*element), host);
}

void transport_link::complete(const std::string& peer, std::uint64_t correlation, bool is_error,
                              std::uint16_t type, std::string_view body, caf::execution_unit* host) {
  pending_request p;
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    auto it = pending_.find(correlation);
    if (it == pending_.end()) return;  // timed out already, or a duplicate
    if (it->second.node != peer) {     // an answer to a request we never made of that peer
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    p = std::move(it->second);
    pending_.erase(it);
  }
  if (is_error) {
    wire::remote_error re;
    bool ok = false;
    try {
      auto oh = msgpack::unpack(body.data(), body.size());
      ok = wire::unpack_value(oh.get(), re);
    } catch (const std::exception&) {
    }
    if (!ok) return respond(p, error_message(errc::bad_frame, "undecodable error reply"), host);
    auto code = static_cast<status_code>(re.code);
    return respond(p, error_message(code == status_code::not_found ? errc::unknown_actor : errc::remote_failure,
                                    re.message), host);
  }
  auto msg = wire::decode_message(type, body);
  respond(p, msg ? std::move(*msg) : error_message(errc::bad_frame, msg.error().message()), host);
}

void transport_link::on_tick() {
  auto now = clock_type::now();
  std::vector<pending_request> expired;
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : expired) respond(p, error_message(errc::remote_timeout));
  std::vector<served_request> unanswered;
  {
    std::lock_guard<std::mutex> guard{served_mtx_};
    for (auto it = served_.begin(); it != served_.end();) {
      if (now - it->second.since > limits_.local_answer_timeout) {
        unanswered.push_back(std::move(it->second));
        it = served_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : unanswered)
    error_frame(s.peer, s.their_actor, s.our_actor, s.correlation, static_cast<int>(status_code::deadline_exceeded),
                s.our_actor + " on " + self_ + " gave no answer within " +
                    std::to_string(limits_.local_answer_timeout.count()) + " ms");
}

// ---- the transport actor ---------------------------------------------------------------------------

void transport_link::set_peer(const std::string& node, bool up) {
  std::vector<pending_request> doomed;
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    if (up) {
      up_peers_.insert(node);
      return;
    }
    up_peers_.erase(node);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.node == node) {
        doomed.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : doomed) respond(p, error_message(errc::node_unreachable, node + " went down"));
}

std::size_t transport_link::pending_requests() const {
  std::lock_guard<std::mutex> guard{pending_mtx_};
  return pending_.size();
}

}  // namespace holo
