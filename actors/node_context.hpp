// What every actor of a node may read about the node it runs in: its configuration, its logger, the
// ZeroMQ context, when it started. Built once by run_node and shared read-only (shared_ptr<const>),
// so restarting an actor hands it the same context. Owned by run_node, which outlives every actor.
#pragma once

#include <chrono>
#include <memory>

#include "runtime/config.hpp"
#include "runtime/logging.hpp"

namespace zmq {
class context_t;
}

namespace holo {

struct node_context {
  config::cluster_config cluster;
  config::node_config node;
  log::logger log;
  zmq::context_t* zmq = nullptr;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

using node_context_ptr = std::shared_ptr<const node_context>;

}  // namespace holo
