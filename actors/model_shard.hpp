// model_shard: one model on one node, serving several generations at once. Protocol:
//
//   (wire::gen_start)   from a router (through the transport): queue a generation (or resume one:
//                       gen_start::delivered). Answered with a stream of wire::gen_token, then one
//                       wire::gen_end or wire::gen_failed, sent to router_node/router.
//   (wire::gen_cancel)  stop a generation; it ends with gen_end reason "cancelled".
//   (shard_info_atom)   -> wire::shard_load           this shard's load, for local callers
//   (status_atom)       -> actor_status
//   (sup::ready_atom)   -> ok (at once: the model loads afterwards, reported as state "loading")
//   (shard_crash_atom)  fault injection for tests and the shell's `kill`: the shard fails with an
//                       error, as a crash would, and its supervisor restarts it
//
// Scheduling: a detached actor (its own thread: engine steps take milliseconds and must not hold a
// scheduler worker). Work advances in `step` messages, each one bounded step (gpu/generation.hpp)
// of every active generation in turn, so one long prompt or generation cannot starve the others,
// and new requests, cancels and status queries are handled between steps. At most `parallel`
// generations are active; up to `queue` more wait; beyond that a request fails with `retry` so the
// router places it elsewhere. A generation moved here from a dead replica (it has delivered tokens:
// its client is mid-stream) goes to the front of the queue and may exceed `parallel` up to twice it,
// so a failover never waits behind fresh requests. Every 500 ms (and when a generation starts or ends) the shard sends a
// wire::shard_load to the router of every node.
//
// Failure: a load error leaves the shard in state "failed" (reported, requests refused with retry)
// and it retries the load with backoff. An engine error fails that generation (gen_failed with retry:
// the router resumes it elsewhere). A crash (an exception, shard_crash_atom) ends the actor; its
// supervisor restarts it; the routers see its new incarnation and resume its requests elsewhere.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/node_context.hpp"

namespace holo {

using shard_info_atom = caf::atom_constant<caf::atom("shard_info")>;
using shard_crash_atom = caf::atom_constant<caf::atom("shard_crsh")>;

struct shard_spec {
  std::size_t model_index = 0;  // in cluster.models: names the shard on every node alike
  std::string model;            // the model's name
  std::string path;             // resolved GGUF path or ollama:NAME:TAG
  std::int32_t ctx_size = 0;    // KV positions per generation; 0: min(model's, 4096)
  std::int32_t batch_max = 512;
  int threads = 0;
  std::int64_t parallel = 4;
  std::int64_t queue = 64;
};

// The registry name of the shard of model `model_index` on any node ("s:3"): at most 10 characters,
// as CAF's registry wants.
std::string shard_actor_name(std::size_t model_index);

caf::actor spawn_model_shard(caf::actor_system& sys, node_context_ptr ctx, shard_spec spec);

}  // namespace holo
