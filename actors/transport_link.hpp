// transport_link: the part of the transport that every thread may touch, so that a cluster message
// costs no actor hop of its own on either end.
//
//   caller's thread:  (remote_send / remote_request) -> the door actor -> encode -> cluster_io::send
//   I/O thread:       frame -> decode -> the target's mailbox (send, request) or the caller's (answer)
//   replying actor's thread: its answer -> the reply sink -> encode -> cluster_io::send
//
// The door and the reply sink are two tiny CAF actors that are never scheduled: their `enqueue`
// does the work on the thread that sends to them (CAF's own actor proxies work that way). The
// transport actor keeps what needs an actor: supervision, status and counters, peer up/down.
//
// Ordering: frames from one peer reach a local actor in arrival order (one I/O thread delivers
// them all); messages one thread sends to one peer leave in the order they were sent (a mutex per
// socket in cluster_io). Requests in flight are bounded (`pending_requests_max` sent,
// `served_requests_max` being answered here); beyond that a request fails at once with
// `unavailable`. Request timeouts are kept by the I/O thread's tick (20 ms granularity).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/mailbox_element.hpp>

namespace holo::wire {
class element_pool;  // runtime/element_pool.hpp
}

namespace holo {

class cluster_io;

struct transport_link_limits {
  std::size_t pending_requests_max = 16384;  // our requests awaiting a peer's answer
  std::size_t served_requests_max = 4096;    // peers' requests awaiting a local actor's answer
  std::chrono::milliseconds local_answer_timeout{30000};  // then the peer gets an error answer
};

class transport_link : public std::enable_shared_from_this<transport_link> {
 public:
  // Always owned by a shared_ptr (the door and the reply sink refer to it).
  transport_link(caf::actor_system& sys, std::string self_name, transport_link_limits limits = {});
  ~transport_link();
  transport_link(const transport_link&) = delete;
  transport_link& operator=(const transport_link&) = delete;

  // ---- wiring (the transport actor) ----
  // Hands over the started cluster_io (its deliver_inline/on_tick call on_frame()/on_tick() through
  // a plain pointer: stop() joins the I/O thread before the link can go away).
  void attach(std::unique_ptr<cluster_io> io);
  cluster_io* io() const { return io_.get(); }
  // Stops the I/O thread (never call it from there) and fails every request still waiting for a
  // peer with node_unreachable. Sends fail from then on.
  void stop();
  // The door: an actor handle taking remote_send_atom / remote_request_atom (transport.hpp) and
  // handing anything else on to `transport`. Made once; the link does not keep it alive.
  caf::actor make_door(const caf::actor& transport);

  // ---- any thread ----
  // remote_send: encodes and queues; to this node's own name, delivers locally (sender kept).
  void send(const caf::strong_actor_ptr& sender, const std::string& node, const std::string& actor,
            const caf::message& msg);
  // remote_request: `req` is the request's mailbox element (its sender, id and stages get the
  // answer); content (remote_request_atom, node, actor, timeout_ms, msg).
  void request(caf::mailbox_element& req);

  // ---- the transport actor ----
  void set_peer(const std::string& node, bool up);  // down: its pending requests fail at once

  // ---- the I/O thread ----
  // Always true: dealt with. `host` (cluster_io's deferred scheduling) goes to every enqueue.
  bool on_frame(const std::string& peer, std::string_view frame, caf::execution_unit* host = nullptr);
  void on_tick();                                                    // expires timed-out requests
  void on_batch_end();  // the batch of inbound frames is done: forget the target looked up for it

  // ---- counters ----
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::size_t pending_requests() const;

  // An answer on its way: the reply sink's enqueue calls this (public for that class only).
  void answer_served(std::uint64_t local_id, caf::mailbox_element& reply);

 private:
  struct pending_request {
    caf::strong_actor_ptr source;
    caf::message_id mid;
    caf::mailbox_element::forwarding_stack stages;
    std::string node;
    std::chrono::steady_clock::time_point deadline;
  };
  struct served_request {
    std::string peer;
    std::string their_actor;  // who asked (to_actor of the answer)
    std::string our_actor;    // who answers (from_actor of the answer)
    std::uint64_t correlation = 0;
    std::chrono::steady_clock::time_point since;
  };

  static void respond(pending_request& p, caf::message answer, caf::execution_unit* host = nullptr);
  void error_frame(const std::string& peer, std::string_view their_actor, std::string_view our_actor,
                   std::uint64_t correlation, int code, const std::string& text);
  void serve(const std::string& peer, std::string_view their_actor, std::string_view our_actor,
             std::uint64_t correlation, std::uint16_t type, std::string_view body, caf::execution_unit* host);
  void complete(const std::string& peer, std::uint64_t correlation, bool is_error, std::uint16_t type,
                std::string_view body, caf::execution_unit* host);
  caf::strong_actor_ptr local_actor(std::string_view name) const;
  // local_actor for the I/O thread: the last name looked up is remembered until on_batch_end, so a
  // burst for one actor costs one registry lookup (a shared lock and a hash) instead of one per
  // frame. An actor re-registered under the name meanwhile gets the batch's frames one batch later
  // at most, as if they had arrived just before the change.
  const caf::strong_actor_ptr& io_actor(std::string_view name);

  caf::actor_system& sys_;
  const std::string self_;
  const transport_link_limits limits_;
  std::unique_ptr<cluster_io> io_;  // set by attach(), before any other thread uses the link
  caf::strong_actor_ptr sink_;      // the reply sink: sender of every request we deliver locally
  std::atomic<std::uint64_t> dropped_{0};
  std::string io_cached_name_;  // I/O thread only: io_actor's cache
  caf::strong_actor_ptr io_cached_actor_;
  // I/O thread only (closed by the destructor, after stop()): the elements inbound messages are
  // decoded into, recycled (runtime/element_pool.hpp).
  wire::element_pool* io_pool_;

  mutable std::mutex pending_mtx_;  // guards up_peers_, pending_
  std::set<std::string> up_peers_;
  std::unordered_map<std::uint64_t, pending_request> pending_;
  std::atomic<std::uint64_t> next_correlation_{1};

  std::mutex served_mtx_;  // guards served_
  std::unordered_map<std::uint64_t, served_request> served_;
  std::atomic<std::uint64_t> next_served_{1};
};

}  // namespace holo
