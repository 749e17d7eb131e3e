// The membership view: which configured nodes are up, as this node sees them. A pure state machine
// fed by the health actor -- heartbeats, announces and leaves from the wire, and a periodic tick --
// that answers with the state changes to publish. No CAF, no sockets, no clock of its own: every
// call takes `now` (steady_clock), so tests drive it with a synthetic clock.
//
// States per peer:
//   joining  configured, never heard from
//   up       heard from recently, and it reports itself "up"
//   suspect  phi >= suspect_phi, or the peer reports anything but "up" (e.g. "degraded": its
//            transport beats but its actors do not answer)
//   down     phi >= down_phi
//   left     it said goodbye (node_leave); only a heartbeat/announce with a NEWER incarnation
//            brings it back
//
// Transitions (each returned as a `change`):
//   joining -> up | suspect             first heartbeat or announce (suspect if it reports degraded)
//   up -> suspect                       tick: phi >= suspect_phi; or a heartbeat reporting non-"up"
//   suspect -> down                     tick: phi >= down_phi (a tick may return up->suspect and
//                                       suspect->down together when phi jumped past both)
//   up | suspect -> down                on_link_lost: the connection to it closed
//   suspect | down -> up                a heartbeat (same incarnation) reporting "up"
//   any -> left                         node_leave with the known or a newer incarnation
//   any -> up (rejoin/restart)          a heartbeat or announce with a NEWER incarnation: the peer
//                                       restarted, its detector and node info are reset. When it
//                                       was already up this is reported as a change with from == to
//                                       == up and the new incarnation: whatever was in flight on
//                                       the old incarnation is lost.
// Ignored (no change): messages with an OLDER incarnation than known (stale, counted), heartbeats
// and announces for a `left` node with the same incarnation (stale, counted), names not in the
// configuration (counted), messages that claim to come from this node itself (counted as
// self_conflicts: two nodes configured with one name, or a forged sender).
// joining and down never time out by themselves; there is nothing to measure until a peer speaks.
//
// The node itself is in the view (is_self, always up, never changed by messages); set_self gives
// it an incarnation and node info.
//
// Thread-safety: none; one owner (the health actor). Allocates only in view() and when returning
// changes; each member's detector allocates once, at construction.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/phi_accrual.hpp"

namespace holo {

enum class member_state : std::uint8_t { joining, up, suspect, down, left };

// "joining", "up", "suspect", "down", "left" (the words wire::member_info.state uses).
std::string_view to_string(member_state s);

// What a node says about itself in its announce (mirrors wire::node_announce).
struct node_info {
  struct gpu {
    std::string name;
    std::uint64_t memory_bytes = 0;
    std::uint64_t free_bytes = 0;
    bool operator==(const gpu&) const = default;
  };
  std::vector<std::string> roles;
  std::int64_t cores = 0;
  std::uint64_t memory_bytes = 0;
  std::uint64_t memory_free_bytes = 0;
  std::vector<gpu> gpus;
  std::vector<std::string> models;
  double speed = 0;
  struct link {
    std::string node;
    double ms = 0;
    bool operator==(const link&) const = default;
  };
  std::vector<link> links;
  bool operator==(const node_info&) const = default;
};

class membership {
 public:
  using clock = phi_accrual::clock;
  using time_point = phi_accrual::time_point;

  struct params {
    double suspect_phi = 4;  // up -> suspect at phi >= this
    double down_phi = 8;     // suspect -> down at phi >= this; raised to suspect_phi if lower
    phi_accrual::params detector{};
  };

  struct member {
    std::string name;
    member_state state = member_state::joining;
    std::uint64_t incarnation = 0;                // 0 until heard from
    std::optional<time_point> last_heartbeat;     // last heartbeat or announce; empty: never
    std::optional<time_point> since;              // when `state` was entered; empty: from the start
    phi_accrual detector;
    std::string reported_state;                   // the peer's own word from its last heartbeat
    node_info info;
    bool info_known = false;                      // an announce of this incarnation was received
    bool is_self = false;
  };

  struct change {
    std::string node;
    member_state from = member_state::joining;
    member_state to = member_state::joining;
    std::uint64_t incarnation = 0;
    bool operator==(const change&) const = default;
  };

  // `peers` are the other configured node names; `self` and duplicates among them are skipped.
  membership(std::string self, std::vector<std::string> peers, params p);
  membership(std::string self, std::vector<std::string> peers);  // default params

  // Gives this node's own entry its incarnation and info (shown in view()).
  void set_self(std::uint64_t incarnation, node_info info);

  std::vector<change> on_heartbeat(std::string_view name, std::uint64_t incarnation,
                                   std::string_view reported_state, time_point now);
  std::vector<change> on_announce(std::string_view name, std::uint64_t incarnation, node_info info,
                                  time_point now);
  std::vector<change> on_leave(std::string_view name, std::uint64_t incarnation, time_point now);
  // The transport saw our connection to the peer close (its process died: the kernel closed its
  // sockets). Far quicker than phi, and as sure for a crash: up|suspect -> down at once. A live
  // peer whose link merely blipped comes back up with its next heartbeat.
  std::vector<change> on_link_lost(std::string_view name, time_point now);
  // Re-evaluates phi for every up or suspect peer. Call it often (every heartbeat interval or so):
  // detection latency is the phi crossing time plus up to one tick period.
  std::vector<change> tick(time_point now);

  // Every configured node, self first, then peers in configuration order.
  std::vector<member> view() const;
  // The member named `name`, or nullptr; valid until the next non-const call.
  const member* find(std::string_view name) const;
  const std::string& self() const { return members_.front().name; }
  const params& parameters() const { return params_; }

  std::uint64_t unknown_ignored() const { return unknown_ignored_; }
  std::uint64_t stale_ignored() const { return stale_ignored_; }
  std::uint64_t self_conflicts() const { return self_conflicts_; }

 private:
  // Returns the peer `name`, or nullptr after counting why it is ignored (unknown or self).
  member* peer(std::string_view name);
  // Applies the incarnation rules; returns false (and counts it) when the message is stale.
  bool accept_incarnation(member& m, std::uint64_t incarnation, bool& restarted);
  void move(member& m, member_state to, time_point now, bool restarted, std::vector<change>& out);

  params params_;
  std::vector<member> members_;                           // [0] is self
  std::map<std::string, std::size_t, std::less<>> index_;  // name -> position in members_
  std::uint64_t unknown_ignored_ = 0;
  std::uint64_t stale_ignored_ = 0;
  std::uint64_t self_conflicts_ = 0;
};

}  // namespace holo
