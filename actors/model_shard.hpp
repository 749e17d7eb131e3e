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
//   (shard_hang_atom, ms)  fault injection: the engine's next step does not return for `ms`
//   (shard_drain_atom, on) -> ok   maintenance: take no new generations (see below)
//   (mailbox_atom)      -> std::uint64_t  mailbox depth (the shell's `actors`)
//
// Scheduling: the engine runs on a worker thread the shard starts (the actor itself only queues
// commands for it and reports), so status queries and new requests are answered at once however
// long a step takes. The worker runs every active generation one bounded step at a time
// (gpu/generation.hpp), so one long prompt or generation cannot starve the others. At most
// `parallel` generations are active; up to `queue` more wait; beyond that a request fails with
// `retry` so the router places it elsewhere. A generation moved here from a dead replica (attempt >
// 1: its client has waited already, often mid-stream) goes to the front of the queue and may exceed
// `parallel` up to twice it, so a failover never waits behind fresh requests. Every 500 ms the
// shard sends a wire::shard_load to the router of every node.
//
// Failure: a load error leaves the shard in state "failed" (reported, requests refused with retry)
// and it retries the load with backoff. An engine error fails that generation (gen_failed with retry:
// the router resumes it elsewhere). A crash (an exception, shard_crash_atom) ends the actor; so
// does an engine step that runs past `step_timeout_ms` (the stuck worker thread is abandoned and
// stays silent). Its supervisor restarts it; the routers see its new incarnation and resume its
// requests elsewhere, or on the new shard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/node_context.hpp"

namespace holo {

using shard_info_atom = caf::atom_constant<caf::atom("shard_info")>;
using shard_crash_atom = caf::atom_constant<caf::atom("shard_crsh")>;
// (shard_hang_atom, std::int64_t ms): fault injection: the engine's next step takes `ms`.
using shard_hang_atom = caf::atom_constant<caf::atom("shard_hang")>;
// (shard_drain_atom, bool on) -> ok: maintenance (the shell's `drain`). While draining the shard
// takes no new generation (gen_start answers gen_failed with retry, so the router places it
// elsewhere) and reports state "draining" in shard_load, so every router skips it; generations it
// runs finish. Off again with false, or when the shard restarts.
using shard_drain_atom = caf::atom_constant<caf::atom("shard_drn")>;

struct shard_spec {
  std::size_t model_index = 0;  // in cluster.models: names the shard on every node alike
  std::string model;            // the model's name
  std::string path;             // resolved GGUF path or ollama:NAME:TAG
  std::int32_t ctx_size = 0;    // KV positions per generation; 0: min(model's, 4096)
  std::int32_t batch_max = 512;
  int threads = 0;
  std::string backend = "auto";  // the placement's: auto (a GPU when the model fits), cpu, cuda:N
  std::int64_t parallel = 4;
  std::int64_t queue = 64;
  std::int64_t step_timeout_ms = 60000;  // an engine step longer than this fails the shard
  // A pipeline (placement `stages`, actors/model_stage.hpp): this node's place in it. The head
  // (stage 0) is a model_shard holding the first layers, its sessions' tails asking the next
  // stage; later stages are model_stage actors. stage_count 0: the whole model here.
  std::int32_t stage_index = 0;
  std::int32_t stage_count = 0;
  std::vector<std::int64_t> stage_layers;  // every stage's layer count; all 0: split evenly
  // Every stage's nodes, the primary first, then its standbys. The head picks, per batch, the
  // first of each stage's that is not down and sends the route along (wire::stage_forward::route).
  std::vector<std::vector<std::string>> stage_nodes;
  // Nodes that load a later stage's layers on demand when none of that stage's nodes is up
  // ([[placement]] spares). On a spare itself stage_index is -1 until a head's route names it.
  std::vector<std::string> stage_spares;
};

// The registry name of the shard of model `model_index` on any node ("s:3"): at most 10 characters,
// as CAF's registry wants.
std::string shard_actor_name(std::size_t model_index);

caf::actor spawn_model_shard(caf::actor_system& sys, node_context_ptr ctx, shard_spec spec);

}  // namespace holo
