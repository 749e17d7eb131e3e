// planned_shard: the shard of a model whose [[placement]] gives neither `nodes` nor `stages`
// (`[[placement]] model = "m"` alone), which goes where the placement plan puts it (actors/placement_keeper.hpp; docs/architecture.md "Pipeline
// placement (planner)"). Every node with the shard role has one child `s:N` for each such model;
// its start function reads this node's assignment from the plan and spawns what it says:
//
//   a whole replica        -> model_shard (spec as a pinned replica's)
//   stage 0 of a pipeline  -> model_shard holding the first layers (the head), stages as planned
//   stage k > 0            -> model_stage with the planned layer counts
//   nothing (or the plan is not settled yet) -> a vacant shard: answers status "vacant", refuses
//                             generations and stage frames with `unavailable`, loads nothing
//
// The health actor restarts the child (terminate_child + restart_child on the shards supervisor)
// when this node's assignment changes, so the child always runs what the latest plan says; the
// router sees a replica come and go through its shard_load reports, and generations on a shard
// that stops fail over as after any shard restart.
#pragma once

#include <caf/fwd.hpp>

#include "actors/model_shard.hpp"
#include "actors/node_context.hpp"

namespace holo {

// `base`: model index, name, path, context, threads, parallel, queue and step timeout as for a pinned
// shard; the plan supplies backend and the pipeline fields.
caf::actor spawn_planned_shard(caf::actor_system& sys, node_context_ptr ctx, shard_spec base);

// Whether model `m` follows the plan: a [[placement]] names it with neither `nodes` nor `stages`
// (and no other pins it). A model no placement names is loaded nowhere.
bool follows_plan(const config::cluster_config& cfg, const config::model_config& m);

}  // namespace holo
