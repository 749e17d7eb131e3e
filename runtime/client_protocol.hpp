// The client protocol as both ends see it (docs/protocol.md). A client is a ZeroMQ DEALER; every
// message is one frame holding one MessagePack map. Requests carry {"v": 1, "kind": K, "id": ID};
// replies carry the same kind and id, or kind "error" with a code and a message.
// This header is the one place where the protocol's names and limits are written down in code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/status.hpp"

namespace holo::proto {

inline constexpr std::int64_t version = 1;
inline constexpr std::size_t client_frame_bytes_max = 1 << 20;  // a request with a long prompt fits
inline constexpr std::size_t request_id_bytes_max = 128;

// MessagePack unpack limits for client frames (the library's defaults are 2^32-1 each).
struct unpack_limits {
  std::size_t array_elems_max = 4096;
  std::size_t map_entries_max = 256;
  std::size_t str_bytes_max = client_frame_bytes_max;
  std::size_t bin_bytes_max = client_frame_bytes_max;
  std::size_t ext_bytes_max = 0;
  std::size_t depth_max = 16;
};

struct actor_health {
  std::string name;
  std::string state;  // "running", "unresponsive", "restarting"
};

// Reply to {"kind": "health"}: is this node up, and is every actor of its tree answering?
struct health_reply {
  std::string node;
  std::string cluster;
  std::string state;    // "up" when every actor answered, else "degraded"
  std::string version;
  std::int64_t uptime_ms = 0;
  std::vector<actor_health> actors;
  std::string metrics_endpoint;     // host:port of the node's /metrics ("" when off)
  std::int64_t admin_refusals = -1; // admin/read-only frames refused for want of the admin key (-1: not known)
};

struct member_summary {
  std::string node;
  std::string state;  // joining, up, suspect, down, left
  std::uint64_t incarnation = 0;
  std::int64_t last_heard_ms = -1;
  double phi = 0;
  std::vector<std::string> roles;
  std::int64_t cores = 0;
  std::uint64_t memory_bytes = 0;
  std::int64_t gpus = 0;
  double rtt_ms = -1;  // heartbeat round trip from the answering node; -1: not measured
  std::uint64_t memory_free_bytes = 0;  // what it announced it can give to models; 0: unknown
};

struct link_counters {
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t dropped_frames = 0;
  std::uint64_t undeliverable = 0;
  std::uint64_t rejected_handshakes = 0;
};

// Reply to {"kind": "nodes"}: this node's view of the cluster and its link counters.
struct nodes_reply {
  std::string node;
  std::vector<member_summary> members;
  link_counters links;
};

// Encoders and decoders. Decoders validate types, sizes and the version; they never throw.
std::string encode_health_request(std::string_view id);
std::string encode_health_reply(std::string_view id, const health_reply& h);
std::string encode_error(std::string_view id, status_code code, std::string_view message);

std::string encode_nodes_request(std::string_view id);
std::string encode_nodes_reply(std::string_view id, const nodes_reply& r);
result<nodes_reply> decode_nodes_reply(std::string_view frame, std::string_view expected_id);
// {"kind": "health", "node": NODE}: the health of another node, asked through this one.
std::string encode_health_request(std::string_view id, std::string_view node);

// {"kind": "kill", "actor": NAME}: fault injection (tests, the shell). Reply {"kind": "ok"}.
// Kill is an admin kind: `admin_key` is the cluster's admin key (runtime/admin_key.hpp).
std::string encode_kill(std::string_view id, std::string_view actor, std::string_view admin_key = {});
result<std::string> decode_kill_target(std::string_view frame);
// The optional "hang_ms" of a kill (0 when absent): hang a shard's engine instead of crashing it.
std::int64_t decode_kill_hang_ms(std::string_view frame);
std::string encode_hang(std::string_view id, std::string_view actor, std::int64_t ms, std::string_view admin_key = {});
std::string encode_ok(std::string_view id, std::string_view what);

struct request_header {
  std::int64_t v = 0;
  std::string kind;
  std::string id;
  std::string node;  // optional "node" field: the target node of a forwarded request
};
// Reads the header of a client request (the fields every request has).
result<request_header> decode_request_header(std::string_view frame);
// Reads a reply: a health reply, or the error the server sent (as a status).
result<health_reply> decode_health_reply(std::string_view frame, std::string_view expected_id);

}  // namespace holo::proto
