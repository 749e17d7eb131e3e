// run_node: one Holobionte node in this process. Builds the actor system and the node's supervision
// tree (docs/architecture.md), waits until every actor has started, then serves until SIGINT or
// SIGTERM, and stops the tree in reverse start order within `shutdown_timeout`.
//
// Returns the process exit code: 0 after a clean stop, 1 when the tree failed to start or escalated
// (too many restarts) or the stop overran its bound. Called once, from main's thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "runtime/config.hpp"
#include "runtime/logging.hpp"

namespace holo {

struct node_options {
  config::cluster_config cluster;
  config::node_config node;
  std::shared_ptr<const log::sink> log_sink;
  std::chrono::milliseconds shutdown_timeout{10000};
  std::size_t worker_threads = 0;  // 0: CAF's default (max(cores, 4))
};

int run_node(node_options opts);

}  // namespace holo
