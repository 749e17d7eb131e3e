// model_stage: a pipeline stage after the head, for a model split by layers across nodes
// ([[placement]] stages; docs/architecture.md "Pipeline shards"). It holds a contiguous range of
// the model's layers (the last stage also the output norm and head), one KV cache per (head node,
// head session slot), and runs each batch of hidden states the head sends through them. Protocol:
//
//   (wire::stage_forward) -> wire::stage_output
//       a middle stage runs its layers and delegates the same request to the next stage (so the
//       answer goes straight back to the head); the last one answers, with the logits of the
//       batch's last row when asked -- or, when the request carries a sample block, with the id
//       it draws from them (one sampler per sequence, kept while the parameters stay the same). Errors (as the request's answer, the head's step fails and
//       its router moves the generation): unavailable (still loading, failed to load),
//       invalid_argument (another model, a frame of the wrong size), out_of_range (positions this
//       stage never saw: it restarted; beyond the context), resource_exhausted (too many sequences).
//   (status_atom) -> actor_status ("loading", "ready", "failed");  (sup::ready_atom) -> ok at once
//   (mailbox_atom) -> std::uint64_t
//
// The actor is spawned detached (a thread of its own): a batch's layers run inside the handler
// without holding a scheduler thread. It loads on a background thread, retrying with backoff.
// Registered under the model's shard name (shard_actor_name) like the head, so each stage finds
// the next as (next_node, that name). It is no serving target: it sends routers no shard_load.
#pragma once

#include <cstdint>
#include <utility>

#include <caf/fwd.hpp>

#include "actors/model_shard.hpp"
#include "actors/node_context.hpp"
#include "runtime/status.hpp"

namespace holo {

namespace gpu {
struct load_options;
struct sampling_params;
}  // namespace gpu
namespace wire {
struct sampling_wire;
}  // namespace wire

// The engine's load options for a shard or stage of `spec`: threads, backend, context, batch, and
// for a pipeline stage (the head included) the layer range, chosen once the GGUF's block count is
// known (stage_layer_range).
void set_load_options(const shard_spec& spec, gpu::load_options& o);

// The layers [first, last) that stage `spec.stage_index` of `spec.stage_count` holds in a model of
// `n_layer` blocks: the configured counts (which must add up to n_layer), or an even split.
result<std::pair<std::int32_t, std::int32_t>> stage_layer_range(const shard_spec& spec, std::int32_t n_layer);

// A request's sampling parameters as the engine takes them, and back (the head sends them to the
// last stage, which samples): float <-> double is exact both ways, so the draw is the same.
gpu::sampling_params sampling_of(const wire::sampling_wire& w);
wire::sampling_wire sampling_to_wire(const gpu::sampling_params& p);

// The wall clock in ns since the Unix epoch: what stages stamp their hops with (stage_hop).
std::int64_t unix_now_ns();

caf::actor spawn_model_stage(caf::actor_system& sys, node_context_ptr ctx, shard_spec spec);

}  // namespace holo
