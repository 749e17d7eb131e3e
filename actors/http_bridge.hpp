// The HTTP gateway's bridge from a plain (httplib worker) thread to the router actor: one
// router_call per HTTP request, owning a CAF scoped actor that speaks to the router exactly as
// client_api does -- (client_frame_atom, peer, owner, frame) with the same generate/cancel/models
// frames (docs/protocol.md), so HTTP clients get the same admission limits, placement, failover
// and exactly-once streams -- and receives the router's (client_out_atom, peer, frame) events (the
// router answers the actor that sent a peer's frame; actors/router.hpp).
//
// Threads: a router_call is used by one thread at a time (the httplib worker serving the request).
// Lifetime: its destructor tells the router the peer is gone (client_gone), after a cancel when a
// generation it started has not ended -- which is how a client that disconnects cancels its
// generation. No CAF in this header: the HTTP side compiles without it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/fwd.hpp>

#include "runtime/status.hpp"

namespace holo::http {

class router_call {
 public:
  // `peer` must be unique per call (the router keys streams by it); `owner` is the authenticated
  // client ("http" or "http:KEYNAME"), the router's scope for ids and per-client limits.
  router_call(caf::actor_system& sys, std::string peer, std::string owner);
  ~router_call();
  router_call(const router_call&) = delete;
  router_call& operator=(const router_call&) = delete;

  // Sends one client frame to this node's router. unavailable when there is no router (restarting).
  // `generation_id`: the id of a generate frame (cancelled if the call ends before its end).
  status send(const std::string& frame, const std::string& generation_id = "");
  // The next frame the router sent this peer, waiting at most `timeout`: nullopt when none came;
  // unavailable when the router died meanwhile (its generations are gone with it).
  result<std::optional<std::string>> next(std::chrono::milliseconds timeout);
  // The generation ended (done or error): nothing to cancel any more.
  void ended();
  bool running() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace holo::http
