// The message catalogue: every message that may cross from one node to another, defined once.
// Each struct's field list (HOLO_WIRE_FIELDS) gives both its CAF inspect and its wire encoding
// (runtime/wire_codec.hpp); `wire_id` is its number on the wire and must never be reused or
// renumbered; `wire_name` is its CAF type name. docs/protocol.md lists them for readers.
//
// To add a message: define the struct here with a new wire_id, add it to `catalogue` below, give
// it a handler in the receiving actor. Nothing else: the transport routes any catalogue type.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/wire_codec.hpp"

namespace holo::wire {

// ---- nested value types (no wire_id: only inside messages) --------------------------------------
struct gpu_info {
  static constexpr const char* wire_name = "holo_gpu_info";
  std::string name;
  std::uint64_t memory_bytes = 0;
  HOLO_WIRE_FIELDS(name, memory_bytes)
};

struct actor_status {
  static constexpr const char* wire_name = "holo_actor_status";
  std::string name;
  std::string state;  // "running", "unresponsive", "restarting", or a role's own word
  HOLO_WIRE_FIELDS(name, state)
};

struct member_info {
  static constexpr const char* wire_name = "holo_member_info";
  std::string node;
  std::string state;  // joining, up, suspect, down, left
  std::uint64_t incarnation = 0;
  std::int64_t last_heard_ms = -1;  // -1: never
  double phi = 0;
  std::vector<std::string> roles;
  std::int64_t cores = 0;
  std::uint64_t memory_bytes = 0;
  std::vector<gpu_info> gpus;
  HOLO_WIRE_FIELDS(node, state, incarnation, last_heard_ms, phi, roles, cores, memory_bytes, gpus)
};

// ---- membership (health actor to health actor) --------------------------------------------------
// Every heartbeat_interval_ms to every peer. `state` is the sender's own verdict on its actors
// ("up" or "degraded"), so a node whose actors stop answering is suspected even while its
// transport still beats.
struct heartbeat {
  static constexpr std::uint16_t wire_id = 1;
  static constexpr const char* wire_name = "holo_heartbeat";
  std::string node;
  std::uint64_t incarnation = 0;  // the sender's start time (ns since epoch): a restart is newer
  std::uint64_t seq = 0;
  std::string state;
  HOLO_WIRE_FIELDS(node, incarnation, seq, state)
};

// Sent to a peer when its heartbeat is first heard (and in answer to a new incarnation).
struct node_announce {
  static constexpr std::uint16_t wire_id = 2;
  static constexpr const char* wire_name = "holo_node_announce";
  std::string node;
  std::uint64_t incarnation = 0;
  std::vector<std::string> roles;
  std::int64_t cores = 0;
  std::uint64_t memory_bytes = 0;
  std::vector<gpu_info> gpus;
  std::vector<std::string> models;
  HOLO_WIRE_FIELDS(node, incarnation, roles, cores, memory_bytes, gpus, models)
};

// A clean stop: peers mark the node `left` at once instead of waiting for the detector.
struct node_leave {
  static constexpr std::uint16_t wire_id = 3;
  static constexpr const char* wire_name = "holo_node_leave";
  std::string node;
  std::uint64_t incarnation = 0;
  HOLO_WIRE_FIELDS(node, incarnation)
};

// ---- health (any actor to a node's health actor) ---------------------------------------------------
// Request: is the node up and do all its actors answer? Reply: node_health.
struct health_query {
  static constexpr std::uint16_t wire_id = 4;
  static constexpr const char* wire_name = "holo_health_query";
  std::string from;  // who asks (for logs)
  HOLO_WIRE_FIELDS(from)
};

struct node_health {
  static constexpr std::uint16_t wire_id = 5;
  static constexpr const char* wire_name = "holo_node_health";
  std::string node;
  std::string cluster;
  std::string state;  // "up" or "degraded"
  std::int64_t uptime_ms = 0;
  std::vector<actor_status> actors;
  HOLO_WIRE_FIELDS(node, cluster, state, uptime_ms, actors)
};

// Request: the sender's view of the cluster. Reply: membership_view.
struct membership_query {
  static constexpr std::uint16_t wire_id = 6;
  static constexpr const char* wire_name = "holo_membership_query";
  std::string from;
  HOLO_WIRE_FIELDS(from)
};

struct membership_view {
  static constexpr std::uint16_t wire_id = 7;
  static constexpr const char* wire_name = "holo_membership_view";
  std::string node;  // whose view
  std::vector<member_info> members;
  HOLO_WIRE_FIELDS(node, members)
};

// ---- transport diagnostics and benchmarks --------------------------------------------------------
struct ping {
  static constexpr std::uint16_t wire_id = 8;
  static constexpr const char* wire_name = "holo_ping";
  std::uint64_t seq = 0;
  std::string payload;
  HOLO_WIRE_FIELDS(seq, payload)
};

struct pong {
  static constexpr std::uint16_t wire_id = 9;
  static constexpr const char* wire_name = "holo_pong";
  std::uint64_t seq = 0;
  std::string payload;
  HOLO_WIRE_FIELDS(seq, payload)
};

using catalogue = std::tuple<heartbeat, node_announce, node_leave, health_query, node_health,
                             membership_query, membership_view, ping, pong>;

}  // namespace holo::wire
