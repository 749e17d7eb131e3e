// holo::metrics: the node's Prometheus metrics (docs/metrics.md lists every one with its meaning).
//
// One registry per process, created by init() before the actor system starts, with every family
// created there once (metrics.cpp, `catalogue`: name, help, type, labels, buckets). A node is one
// process, so the registry is process-wide on purpose: any actor or thread (the router, the shards'
// engine threads, supervisors' observers) counts with a plain function call, without a message and
// without a lock beyond prometheus-cpp's atomics and its per-family label map. This header keeps
// prometheus-cpp out of everything that includes it.
//
// Every function may be called from any thread. Before init() (unit tests, `holo run`) they do
// nothing and scrape() answers "". Label values come from configuration (model and node names,
// actor ids) or from a small fixed set (outcomes, states, directions): never from request ids,
// prompts or other client input, so the number of series stays bounded.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace holo::metrics {

struct node_identity {
  std::string node;
  std::string cluster;
  std::string version;
  bool backup_enabled = false;      // this node runs scheduled backups
  double backup_interval_seconds = 0;  // the schedule's period (hourly, daily, weekly)
};

// Creates the registry and every family; sets holo_build_info, holo_node_up and the backup
// schedule. Every series carries the constant label node=NAME. Called once per process.
void init(const node_identity& id);
bool enabled();
// The whole registry in the Prometheus text exposition format (version 0.0.4).
std::string scrape();

// The model label of a request whose model is unknown (a client's string never becomes a label).
inline constexpr const char* unknown_model = "_unknown";

// ---- requests (router) ---------------------------------------------------------------------------
// outcome: the done reason ("stop", "length", "cancelled") or the error code's name ("unavailable",
// "not_found", "resource_exhausted", ...).
void count_request(const std::string& model, const std::string& outcome);
void count_routing_decision(const std::string& model, const std::string& target_node);
void count_generated_tokens(const std::string& model, std::uint64_t n);
void count_prompt_tokens(const std::string& model, std::uint64_t n);
void observe_time_to_first_token(const std::string& model, double seconds);
void observe_inter_token_latency(const std::string& model, double seconds);
void observe_request_duration(const std::string& model, double seconds);
void observe_queue_time(const std::string& model, double seconds);

// ---- pipeline heads (actors/model_shard.cpp) ------------------------------------------------------
// One link of a batch's trip through a pipeline: `bytes` from `from` to `to`, the compute time of
// the stage on `to` (0 for the link back to the head, which carries the token or the logits), and
// the link's transit time from the two nodes' wall clocks (< 0: not known).
struct pipeline_hop {
  std::string from;
  std::string to;
  double compute_seconds = 0;
  std::uint64_t bytes = 0;
  double link_seconds = -1;
};
// A batch the head sent through its later stages: the head's wait for the answer, and each link.
void observe_pipeline_batch(const std::string& model, double round_trip_seconds, const std::vector<pipeline_hop>& hops);

// ---- supervision -------------------------------------------------------------------------------
void count_restart(const std::string& supervisor, const std::string& actor);

// ---- store (the store, sync and backup actors call these) -----------------------------------------
void observe_store_write(double seconds, bool ok);  // every write; a failure counts too
void set_store_degraded(bool degraded);             // the store cannot write to its backend
void set_store_sync_lag(double seconds);            // age of the oldest outbox row not yet synced
void set_backup_last_success(double unix_seconds);  // end of the newest verified backup
// What /health reports for the store: the degraded flag set above (false until the store says).
bool store_degraded();

// ---- sampled by the metrics actor (actors/metrics.cpp) ----------------------------------------------
struct transport_totals {
  std::uint64_t frames_in = 0, frames_out = 0, bytes_in = 0, bytes_out = 0;
  std::uint64_t dropped_frames = 0, undeliverable = 0, rejected_handshakes = 0, pending_requests = 0;
  std::uint64_t batches_in = 0, batches_out = 0;
};
// Mirrors the transport's own counters: a counter grows by what they grew since the last call, and
// by their whole value after the transport restarted (its counters began again at zero).
void set_transport(const transport_totals& t);
// This node's membership view: (member, state) for every member, itself included.
void set_membership(const std::vector<std::pair<std::string, std::string>>& members);

struct shard_sample {
  std::string model;
  std::string state;  // loading, ready, failed, stuck, unresponsive
  double tokens_per_second = 0;
  std::int64_t active = 0, queued = 0;
};
void set_shards(const std::vector<shard_sample>& shards);
void set_node_healthy(bool healthy);

struct gpu_sample {
  std::string device;  // "0", "1": the NVML index
  std::string name;    // "NVIDIA H100 80GB HBM3"
  double utilization_ratio = 0;  // 0..1 over the driver's last sample period
  double memory_used_bytes = 0;
  double memory_total_bytes = 0;
};
// Only called where NVML is present: without a GPU the per-device series do not exist at all.
void set_gpus(const std::vector<gpu_sample>& gpus);

}  // namespace holo::metrics
