// What every actor of a node may read about the node it runs in: its configuration, its logger, the
// ZeroMQ context, when it started. Built once by run_node and shared read-only (shared_ptr<const>),
// so restarting an actor hands it the same context. Owned by run_node, which outlives every actor.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/cluster_messages.hpp"
#include "runtime/config.hpp"
#include "runtime/logging.hpp"

namespace zmq {
class context_t;
}

namespace holo {

struct plan_box;  // actors/placement_keeper.hpp

struct node_context {
  config::cluster_config cluster;
  config::node_config node;
  log::logger log;
  zmq::context_t* zmq = nullptr;
  // This node's CURVE keys, read at start from keys.public_key / keys.secret_key_file; unset means
  // loopback-only links without encryption.
  struct curve_keys {
    std::string public_key;
    std::string secret_key;
  };
  std::optional<curve_keys> curve;
  bool client_curve = false;  // the client endpoint is a CURVE server admitting listed keys only
  // The shell's admin key (64 hex characters), read at start from admin.key_file; empty when none is
  // configured: then every admin client kind is refused (actors/admin_api.hpp).
  std::string admin_key;
  std::uint64_t incarnation = 0;  // start time in ns: a restarted node is newer
  // What the node announces: the config's hardware hints where given, else what it measured.
  std::int64_t hardware_cores = 0;
  std::uint64_t hardware_memory_bytes = 0;
  // RAM for models as measured at start (runtime/memory_available.hpp), or the memory_gib hint;
  // health re-measures it while running when memory_free_measured (no hint).
  std::uint64_t hardware_memory_free_bytes = 0;
  bool memory_free_measured = false;
  std::vector<wire::gpu_info> hardware_gpus;
  double hardware_speed = 0;  // memory read GB/s (shard nodes), or the hint; 0: unknown
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // The latest placement plan (written by health, read by planned shards); set by run_node.
  std::shared_ptr<plan_box> plan;
};

using node_context_ptr = std::shared_ptr<const node_context>;

}  // namespace holo
