// The cluster configuration: one TOML file describes the whole cluster; each node picks its own
// [[node]] section by name. Loading validates everything up front -- unknown keys, wrong types,
// missing required values, dangling references -- and reports each problem with the file, line and
// key (`config/local.toml:14:1: node[0].cores: expected an integer, got a string`), so a node never
// starts half-configured. Plain data: no CAF, safe to copy anywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/status.hpp"

namespace holo::config {

struct gpu_hint {
  std::string name;
  double memory_gib = 0;
};

// What a node is and where it listens. Endpoints are ZeroMQ addresses (tcp://host:port).
struct node_config {
  std::string name;
  std::string host = "127.0.0.1";           // where the launcher runs it; "127.0.0.1" = this machine
  std::string cluster_endpoint;              // ROUTER bound for peer nodes
  std::string client_endpoint;               // ROUTER bound for clients (empty: accepts no clients)
  std::string http_endpoint;                 // host:port of the HTTP gateway (empty: off)
  std::string metrics_endpoint;              // host:port of /metrics (empty: off)
  std::vector<std::string> roles;            // router, shard, store, sync, backup
  std::string data_dir;                      // SQLite file, logs, backups; relative to the config file
  // Hardware hints: what the operator says the node has (the node also measures what it can).
  std::optional<std::int64_t> cores;
  std::optional<double> memory_gib;
  std::vector<gpu_hint> gpus;
  // Relative decode speed for the placement planner (any unit, the same on every node); without
  // it a shard node measures its memory read bandwidth in GB/s at start.
  std::optional<double> speed;
  std::string public_key;                    // Z85 CURVE public key (40 chars)
  std::string secret_key_file;               // file holding the Z85 secret key, mode 0600
  // How clients must authenticate on client_endpoint: "curve" (only keys listed in [[client]] and
  // the nodes' own keys; needs this node's keys) or "none". Default: "curve" off loopback, else
  // "none".
  std::string client_auth;
  // Compute threads of each model shard's CPU backend; 0: every core the node has.
  std::int64_t engine_threads = 0;
  // Frames queued per client connection before its token events are coalesced (a slow reader).
  std::int64_t client_queue_frames = 1000;
  // The kernel send buffer of each client connection (SO_SNDBUF); 0: the OS default (autotuned).
  std::int64_t client_send_buffer_bytes = 0;

  bool has_role(const std::string& r) const;
};

struct model_config {
  std::string name;                           // how clients ask for it
  std::string path;                           // GGUF path, or "ollama:NAME:TAG"
  std::vector<std::string> aliases;
  std::string fallback;                       // smaller model to use when none of this one is up
  std::int64_t context_length = 0;            // 0: min(the model's own, 4096)
  std::int64_t parallel = 4;                  // generations one shard decodes at once (the rest queue)
  std::int64_t queue = 64;                    // generations one shard accepts beyond `parallel`
  std::int64_t step_timeout_ms = 60000;       // an engine step longer than this restarts the shard
};

// One stage of a model split by layers across nodes ([[placement]] stages = [{node, layers}, ...]).
struct stage_config {
  std::string node;
  std::int64_t layers = 0;                    // consecutive layers this stage holds; 0 on every
                                              // stage: split evenly (the GGUF's block count)
  std::vector<std::string> standby;           // nodes that load the same layers and take over when
                                              // `node` is down (not for the first stage: the head)
};

struct placement_config {
  std::string model;
  // Neither `nodes` nor `stages`: the model goes where the placement plan puts it, and moves when
  // the plan changes (actors/planned_shard.hpp).
  std::vector<std::string> nodes;             // nodes holding a whole replica
  std::vector<stage_config> stages;           // or: one pipeline, in order (first = head). Either
                                              // `nodes` or `stages`, not both
  std::vector<std::string> spares;            // pipeline only: nodes that load a later stage's
                                              // layers on demand when none of that stage's own
                                              // nodes is up (a cold standby for any stage)
  std::string backend = "auto";               // auto, cpu, cuda:N
  // A planned model only (neither nodes nor stages): how many whole replicas the plan keeps when it
  // fits on one node, on distinct nodes (a node's death then moves its streams to a replica that
  // is already loaded). A split model gets one pipeline whatever this says.
  std::int64_t replicas = 1;
};

struct canary_config {
  std::string model;                          // the name clients use
  std::string target;                         // the new version that gets `percent` of the traffic
  double percent = 0;
};

struct routing_config {
  std::string policy = "least_loaded";        // least_loaded, latency, affinity
  std::int64_t max_prompt_tokens = 8192;
  std::int64_t max_tokens = 4096;
  std::int64_t max_concurrent_per_client = 16;
  std::int64_t max_pending_requests = 256;
  // A dispatched generation that sends nothing for this long is moved to another replica (the
  // shard is stuck; a dead node is noticed sooner, by the health actor).
  std::int64_t stall_timeout_ms = 30000;
  // How long a finished or orphaned generation is kept for `resume` after its client left.
  std::int64_t resume_grace_ms = 60000;
  std::vector<canary_config> canaries;
};

// The store actor of nodes with the `store` role (actors/store.hpp, docs/storage.md).
struct persistence_config {
  std::string backend = "sqlite";             // sqlite (embedded) or postgres
  std::string sqlite_path;                    // default: <data_dir>/holo.sqlite
  std::string sqlite_synchronous = "full";    // full (survives power loss) or normal (survives a crash)
  std::string postgres_dsn;                   // or HOLO_POSTGRES_DSN in the environment
  std::int64_t checkpoint_every_tokens = 16;  // checkpoint a generation after this many new tokens
  std::int64_t checkpoint_every_ms = 1000;    // ... or this long after its last checkpoint (0: off)
  std::int64_t buffer_rows = 10000;           // rows the store buffers while committing or degraded
  std::int64_t reconnect_min_ms = 100;        // first reconnect delay, doubling up to
  std::int64_t reconnect_max_ms = 5000;
};

// The sync actor of nodes with the `sync` role (actors/sync.hpp, docs/storage.md "Sync format"):
// ships the node's outbox to a central PostgreSQL.
struct sync_config {
  std::string central_dsn;                    // or HOLO_SYNC_DSN in the environment
  std::string central_schema;                 // "": the DSN's default search_path
  std::int64_t interval_ms = 1000;            // pause between steps once caught up
  std::int64_t batch_rows = 500;              // outbox entries per central transaction
  std::int64_t reconnect_min_ms = 200;        // first reconnect delay, doubling up to
  std::int64_t reconnect_max_ms = 10000;
};

struct backup_config {
  bool enabled = false;
  std::string schedule = "daily";             // hourly, daily, weekly
  std::int64_t keep = 7;
  std::string dir;                            // default: <data_dir>/backups
  std::string key_file;
};

struct metrics_config {
  bool enabled = true;
};

// The shell's admin key (docs/shell.md): a secret token file (`holo keygen --admin FILE`, mode 0600)
// that every node of the cluster reads at start. Admin client kinds (kill, drain, checkpoint,
// backup) need it; the read-only shell kinds (actors, requests, trace) need it unless read_only.
struct admin_config {
  std::string key_file;    // relative to the config file; empty: no admin key, admin kinds refused
  bool read_only = false;  // allow actors/requests/trace without the key
};

struct health_config {
  std::int64_t heartbeat_interval_ms = 250;
  double phi_threshold = 8.0;
};

// Node-to-node links (runtime/cluster_io.hpp).
struct transport_config {
  // Frames sent to a peer within 20 us of the previous one are coalesced into one ZeroMQ message,
  // each waiting at most this long; the first after a quiet spell goes at once. 0: every frame alone.
  std::int64_t coalesce_us = 100;
};

// A client allowed on client endpoints that require CURVE (a shell, a gateway, a script).
struct client_config {
  std::string name;
  std::string public_key;  // Z85, 40 chars
};

// A bearer API key accepted by the HTTP gateways (`Authorization: Bearer KEY`). With none listed a
// gateway serves only on loopback, without authentication.
struct http_key_config {
  std::string name;      // who uses it (logs; the router scopes its requests as `http:NAME`)
  std::string key;       // the key itself, or
  std::string key_file;  // a file holding it (first line), read when the node starts
};

struct cluster_config {
  std::string source_path;                    // the file it was read from
  std::string base_dir;                       // its folder: relative paths are resolved against it
  std::string name = "holobionte";
  std::vector<node_config> nodes;
  std::vector<client_config> clients;
  std::vector<http_key_config> http_keys;
  std::vector<model_config> models;
  std::vector<placement_config> placements;
  routing_config routing;
  persistence_config persistence;
  sync_config sync;
  backup_config backup;
  metrics_config metrics;
  health_config health;
  transport_config transport;
  admin_config admin;

  const node_config* find_node(const std::string& name) const;
  const model_config* find_model(const std::string& name_or_alias) const;
  // `p` made absolute against base_dir (unless already absolute or empty).
  std::string resolve_path(const std::string& p) const;
};

// Parses and validates. On failure the status (invalid_argument) carries every problem found, one per
// line, each prefixed `FILE:LINE:COL: KEY: `.
result<cluster_config> load_file(const std::string& path);
result<cluster_config> load_string(const std::string& text, const std::string& source_name);

// The section of `node_name`; with an empty name, the only node if there is exactly one.
result<node_config> select_node(const cluster_config& cfg, const std::string& node_name);

}  // namespace holo::config
