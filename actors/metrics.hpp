// metrics: the node's observability endpoint and its systemd link.
//
// spawn_metrics: one HTTP server (cpp-httplib, its own small thread pool) on the node's
// `metrics_endpoint` serving
//   GET /metrics  the process's registry (runtime/metrics.hpp) in Prometheus' text format;
//   GET /health   a JSON report of the node (below): 200 when healthy, 503 when not.
// Every second the actor assesses the node (assess_node), refreshes the sampled metrics
// (membership, shards, transport counters, GPUs through NVML when present) and publishes the
// report the HTTP threads serve. A report older than 5 s is served as unhealthy: a node whose
// actors no longer progress cannot look healthy. The HTTP threads never talk to actors.
// Protocol: (sup::ready_atom) -> ok once the port is bound; (status_atom) -> actor_status.
// Failure: a port it cannot bind fails its start (and so the node's, as a client endpoint would).
//
// spawn_systemd_notifier: when NOTIFY_SOCKET is set (a systemd service with Type=notify), sends
// READY=1 once the node serves (every actor answers and every model placed here is loaded), then
// WATCHDOG=1 at a quarter of WATCHDOG_USEC while the node's actors answer and no shard is stuck.
// A stuck node stops petting the watchdog, and systemd restarts it after WatchdogSec.
#pragma once

#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/node_context.hpp"

namespace holo {

// What the node is doing, as /health reports it.
struct node_report {
  struct model_entry {
    std::string model;
    std::string shard;  // registry name, "s:N"
    std::string state;  // loading, ready, failed, stuck, unresponsive, restarting
    std::int64_t active = 0, queued = 0;
    double tokens_per_second = 0;
  };
  std::string node, cluster;
  std::string node_state;     // the health actor's verdict: "up" or "degraded" ("unresponsive": no answer)
  std::int64_t uptime_ms = 0;
  std::vector<std::pair<std::string, std::string>> actors;   // (name, state)
  std::vector<std::pair<std::string, std::string>> members;  // (member, state) in this node's view
  std::vector<model_entry> models;
  std::string store = "absent";  // absent (no store role), ok, degraded, down
  std::vector<std::string> problems;  // why it is not healthy; empty when healthy

  bool actors_answer() const { return node_state == "up"; }
  bool models_loaded() const;   // every shard placed here is ready
  bool any_stuck() const;
  bool healthy() const { return problems.empty(); }
  std::string to_json() const;
};

// Asks the node's actors (health, shards, store) and calls `done` once with the report, within
// about 2 s whatever they do. Runs in `self`'s context; `done` is called from it too.
void assess_node(caf::event_based_actor* self, node_context_ptr ctx, std::function<void(node_report)> done);

caf::actor spawn_metrics(caf::actor_system& sys, node_context_ptr ctx);
caf::actor spawn_systemd_notifier(caf::actor_system& sys, node_context_ptr ctx);

}  // namespace holo
