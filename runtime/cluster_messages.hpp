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
  // Free device memory when the node started (before its own shards allocated), from NVML; 0:
  // unknown (the planner then uses memory_bytes).
  std::uint64_t free_bytes = 0;
  HOLO_WIRE_FIELDS(name, memory_bytes, free_bytes)
};

// A node's heartbeat round trip to a peer, in whole milliseconds rounded down (LAN links are 0):
// what every node's placement planner reads as that link's latency.
struct link_latency {
  static constexpr const char* wire_name = "holo_link_latency";
  std::string node;
  double ms = 0;
  HOLO_WIRE_FIELDS(node, ms)
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
  double rtt_ms = -1;  // the viewing node's heartbeat round trip to it (smoothed); -1: not measured
  double speed = 0;    // as announced (node_announce::speed)
  std::uint64_t memory_free_bytes = 0;  // as announced (node_announce::memory_free_bytes)
  std::vector<link_latency> links;      // as announced (node_announce::links)
  HOLO_WIRE_FIELDS(node, state, incarnation, last_heard_ms, phi, roles, cores, memory_bytes, gpus, rtt_ms, speed,
                   memory_free_bytes, links)
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
  // The echo of the recipient's last heartbeat: its seq + 1 (0: none heard yet) and how long the
  // sender held it, in us; the recipient's round trip is now - its send time - hold.
  std::uint64_t echo_seq = 0;
  std::int64_t echo_hold_us = 0;
  HOLO_WIRE_FIELDS(node, incarnation, seq, state, echo_seq, echo_hold_us)
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
  // Relative decode speed for the placement planner: memory read GB/s measured at start (shard
  // nodes), or the config's hardware.speed hint; 0: unknown (the planner uses cores).
  double speed = 0;
  // RAM the node can give to models (runtime/memory_available.hpp: MemAvailable + the node's own
  // anonymous memory), re-announced when it drifts; the hardware.memory_gib hint when given; 0:
  // unknown (the planner then uses memory_bytes, the total).
  std::uint64_t memory_free_bytes = 0;
  // Its measured round trips to its peers (whole ms, re-announced when one moves by >= 1 ms and
  // 25%): announced so that every node plans with the same link table, not only its own links.
  std::vector<link_latency> links;
  HOLO_WIRE_FIELDS(node, incarnation, roles, cores, memory_bytes, gpus, models, speed, memory_free_bytes, links)
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


// ---- serving (actors/router.hpp, actors/model_shard.hpp) ----------------------------------------
// A generation's life between a router and a model shard. `request_id` is the client's id prefixed
// with the client's identity (unique in the cluster); `attempt` numbers the dispatches of one
// request, so events of an abandoned attempt are recognised and dropped.

struct sampling_wire {
  double temperature = 0.8;
  std::int32_t top_k = 40;
  double top_p = 0.95;
  double min_p = 0.05;
  double repeat_penalty = 1.0;
  std::int32_t repeat_last_n = 64;
  double frequency_penalty = 0;
  double presence_penalty = 0;
  std::uint64_t seed = 0;
  std::int32_t max_tokens = -1;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  static constexpr const char* wire_name = "holo_sampling_wire";
  HOLO_WIRE_FIELDS(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, frequency_penalty,
                   presence_penalty, seed, max_tokens, stop, ignore_eos)
};

// router -> shard: start (or resume) a generation. With `delivered` non-empty the shard rebuilds the
// state the request had after those tokens (same prompt, same seed) and generates from index
// delivered.size(): the failover path.
struct gen_start {
  static constexpr std::uint16_t wire_id = 10;
  static constexpr const char* wire_name = "holo_gen_start";
  std::string request_id;
  std::uint32_t attempt = 0;
  std::string router_node;
  std::string prompt;                       // used when roles is empty
  std::vector<std::string> roles;           // chat messages, rendered with the model's template
  std::vector<std::string> contents;
  sampling_wire sampling;
  std::uint64_t request_key = 0;
  std::int64_t max_prompt_tokens = 0;       // 0: no cap but the context
  std::vector<std::int32_t> delivered;      // tokens the client already has
  HOLO_WIRE_FIELDS(request_id, attempt, router_node, prompt, roles, contents, sampling, request_key,
                   max_prompt_tokens, delivered)
};

// router -> shard: stop a generation (the client cancelled or left, or the router moved it).
struct gen_cancel {
  static constexpr std::uint16_t wire_id = 11;
  static constexpr const char* wire_name = "holo_gen_cancel";
  std::string request_id;
  std::uint32_t attempt = 0;
  HOLO_WIRE_FIELDS(request_id, attempt)
};

// shard -> router: token `index` of a generation and the text it released.
struct gen_token {
  static constexpr std::uint16_t wire_id = 12;
  static constexpr const char* wire_name = "holo_gen_token";
  std::string request_id;
  std::uint32_t attempt = 0;
  std::int64_t index = 0;
  std::int32_t token = 0;
  std::string text;
  HOLO_WIRE_FIELDS(request_id, attempt, index, token, text)
};

// shard -> router: the generation ended.
struct gen_end {
  static constexpr std::uint16_t wire_id = 13;
  static constexpr const char* wire_name = "holo_gen_end";
  std::string request_id;
  std::uint32_t attempt = 0;
  std::string reason;        // length, eog, stop, context, cancelled
  std::string text;          // text held back to the end
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;  // in the whole request, delivered ones included
  std::string node;
  double prefill_ms = 0;     // engine time of this attempt's steps up to its first token
  double decode_ms = 0;      // engine time of this attempt's steps after its first token
  HOLO_WIRE_FIELDS(request_id, attempt, reason, text, prompt_tokens, generated_tokens, node, prefill_ms, decode_ms)
};

// shard -> router: the generation cannot go on here. `retry`: another replica may succeed (the
// shard is restarting or full); otherwise the request itself is at fault (prompt too long).
struct gen_failed {
  static constexpr std::uint16_t wire_id = 14;
  static constexpr const char* wire_name = "holo_gen_failed";
  std::string request_id;
  std::uint32_t attempt = 0;
  std::uint8_t code = 0;     // holo::status_code
  std::string message;
  bool retry = false;
  HOLO_WIRE_FIELDS(request_id, attempt, code, message, retry)
};

// shard -> every router, every 500 ms and on change: what the shard can take.
struct shard_load {
  static constexpr std::uint16_t wire_id = 15;
  static constexpr const char* wire_name = "holo_shard_load";
  std::string node;
  std::string model;
  std::string state;          // loading, ready, failed
  std::int64_t active = 0;    // generations being decoded
  std::int64_t queued = 0;    // accepted, waiting for a slot
  std::int64_t slots = 0;     // generations decoded at once
  double tokens_per_second = 0;  // decode rate over the last interval, all generations together
  std::uint64_t incarnation = 0; // the shard's start time: a restarted shard has lost its requests
  HOLO_WIRE_FIELDS(node, model, state, active, queued, slots, tokens_per_second, incarnation)
};

// router -> shard, a request: "do you still run this generation?" Asked when a dispatched
// generation has been silent for a while; a frame lost under backpressure (a start, the last
// token, the end) then costs seconds, not the stall timeout.
struct gen_probe {
  static constexpr std::uint16_t wire_id = 16;
  static constexpr const char* wire_name = "holo_gen_probe";
  std::string request_id;
  std::uint32_t attempt = 0;
  HOLO_WIRE_FIELDS(request_id, attempt)
};

struct gen_probe_reply {
  static constexpr std::uint16_t wire_id = 17;
  static constexpr const char* wire_name = "holo_gen_probe_reply";
  std::string request_id;
  bool known = false;  // queued or running here
  HOLO_WIRE_FIELDS(request_id, known)
};

// client_api -> another node's client_api, a request: a shell frame for that node (`actors n2`,
// `kill n2/s:0`, `drain n2`), served there as if its own client had sent it (the admin key is
// checked again there). The reply is the frame that node's client would have got.
struct client_relay {
  static constexpr std::uint16_t wire_id = 18;
  static constexpr const char* wire_name = "holo_client_relay";
  std::string frame;
  HOLO_WIRE_FIELDS(frame)
};

struct client_relay_reply {
  static constexpr std::uint16_t wire_id = 19;
  static constexpr const char* wire_name = "holo_client_relay_reply";
  std::string frame;
  HOLO_WIRE_FIELDS(frame)
};

// ---- pipeline stages: one model split by layers across nodes (docs/architecture.md) -------------

// What one stage did with a batch: for per-hop metrics and `holo bench`.
struct stage_hop {
  static constexpr const char* wire_name = "holo_stage_hop";
  std::string node;
  double compute_ms = 0;        // its layers (and, last, the logits or the sample)
  std::uint64_t bytes_in = 0;   // the frame's activations it received
  // Its wall clock (ns since the Unix epoch) when its handler took the frame and when it passed
  // it on or answered: with the head's own, each link's transit time (as exact as the nodes'
  // clocks agree; on one machine, exact).
  std::int64_t arrived_unix_ns = 0;
  std::int64_t left_unix_ns = 0;
  HOLO_WIRE_FIELDS(node, compute_ms, bytes_in, arrived_unix_ns, left_unix_ns)
};

// head shard -> next stage, a request; each stage runs its layers on the batch and delegates the
// request to the next (same request: its answer goes straight back to the head), the last answers
// with stage_output.
struct stage_forward {
  static constexpr std::uint16_t wire_id = 20;
  static constexpr const char* wire_name = "holo_stage_forward";
  std::string model;          // the model's name: every stage checks it holds that model
  std::string head_node;      // with slot, whose sequence: a stage keeps one KV cache per pair
  std::uint32_t slot = 0;     // the head's session index
  std::int64_t pos0 = 0;      // positions pos0 .. pos0 + n_tokens - 1
  std::int32_t n_tokens = 0;
  bool want_logits = false;   // the batch ends the call: the last stage returns its last row's logits
  std::string hidden;         // (n_tokens, n_embd) F32 as the head's memory holds them (little-endian)
  std::vector<stage_hop> hops;  // appended by each stage on the way
  std::vector<std::string> route;  // the nodes of stages 1 .. n-1 for this batch, chosen by the head
  // With want_logits: the last stage samples that row itself and answers with the token, not the
  // logits (the request's sampling parameters, key and token index fix the draw; `history` is the
  // penalty window, the last repeat_last_n ids, empty when no penalty is on).
  bool sample = false;
  sampling_wire sampling;     // stop strings and max_tokens not sent: the head applies them
  std::uint64_t request_key = 0;
  std::uint64_t token_index = 0;
  std::vector<std::int32_t> history;
  HOLO_WIRE_FIELDS(model, head_node, slot, pos0, n_tokens, want_logits, hidden, hops, route, sample, sampling,
                   request_key, token_index, history)
};

// last stage -> head (through the chain of delegated requests): the batch went through every layer.
struct stage_output {
  static constexpr std::uint16_t wire_id = 21;
  static constexpr const char* wire_name = "holo_stage_output";
  std::string logits;           // (n_vocab,) F32 when the forward wanted logits unsampled, else empty
  std::vector<stage_hop> hops;  // every stage after the head, in order
  std::int32_t token = -1;      // the sampled id when the forward asked for a sample
  HOLO_WIRE_FIELDS(logits, hops, token)
};

using catalogue = std::tuple<heartbeat, node_announce, node_leave, health_query, node_health,
                             membership_query, membership_view, ping, pong, gen_start, gen_cancel,
                             gen_token, gen_end, gen_failed, shard_load, gen_probe,
                             gen_probe_reply, client_relay, client_relay_reply, stage_forward,
                             stage_output>;

}  // namespace holo::wire
