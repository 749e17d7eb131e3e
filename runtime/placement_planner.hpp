// The placement planner: which nodes hold which model, and how. For each model it decides between
// whole-model replicas and a pipeline split by layers across nodes, from the model's sizes and each
// node's free memory (RAM and per-GPU), measured speed and link latency. Pure: plain structs in, a
// plan out; no CAF, no sockets, no clock, no I/O. Each node's health actor fills the inputs from the
// configuration, GGUF metadata and the membership view (actors/placement_inputs.hpp) and recomputes
// the plan when nodes join or leave (actors/placement_keeper.hpp); the plan is shown, not yet acted
// on (docs/architecture.md "Pipeline placement (planner)").
//
// Rules, in the order they are applied to each model:
// - Memory a shard needs for `b` bytes of weights + KV cache: b + b * headroom_percent / 100 +
//   shard_overhead_bytes (planner_limits). A shard lives on one device of a node: a GPU if one
//   holds it (the lowest-numbered one that does), else the node's RAM. A GPU shard uses no RAM.
// - Nodes not `up` are ignored. Models are placed in the given order, and what an earlier model's
//   shards need is subtracted from their devices before the next model is placed: list the models
//   that matter most first.
// - Pinned (`pinned_nodes` not empty): one whole replica on each pinned node that is up, as given,
//   `replicas_wanted` ignored. If any up pinned node cannot hold it the model is refused, nothing
//   is moved elsewhere. If no pinned node is up it is refused. Pinned models are never split.
// - A model that fits whole on one up node is never split (a split only adds network hops to every
//   token): `replicas_wanted` replicas on distinct nodes, fastest first (ties by name); fewer when
//   fewer nodes can hold it, and `why` says so.
// - Otherwise one pipeline over the FEWEST nodes that together hold it (fewer hops), one stage per
//   node. Among the node sets of that size the planner takes the one with the smallest bottleneck
//   (max over stages of layers / speed: the pipeline's token rate when it is kept full), then the
//   lowest total link latency along the stage order, then the names. Layers are dealt one at a time
//   to the stage whose time (layers / speed) stays smallest, within its memory, each stage getting
//   at least one: proportional to speed where memory allows, the rest redistributed. The first
//   stage also holds the token embeddings, the last the output head (the embeddings again when the
//   model ties them: `head_bytes == 0`). A split model gets one pipeline, not replicas of it.
// - Refused when even all up nodes together cannot hold it; `why` names the bytes needed and
//   available.
//
// Determinism: the same inputs give the same plan on every node, whatever the order of `nodes` and
// `links`, on x86 and ARM alike: nodes are sorted by name, speeds are quantized to parts per
// million of the fastest up node and latencies to microseconds, and every decision after that is
// integer arithmetic (no floating-point tie can round differently under FMA contraction).
//
// Cost: the node sets of the chosen size are all tried while there are at most node_sets_max of
// them; past that only the nodes with the most free memory are used (still the fewest stages, not
// necessarily the fastest). The stage order between first and last is searched exhaustively when
// latencies are given, up to 8 stages, and taken by name beyond. A cluster of a few nodes plans in
// microseconds; 12 nodes and a 6-stage split (924 sets, every order) about 15 ms at -O2.
//
// Thread-safety: none needed; plan_placement is a function of its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/status.hpp"

namespace holo {

struct planner_model {
  std::string name;
  std::int32_t n_layers = 0;               // transformer blocks; 1 .. 1024
  // All blocks' weights together. Blocks are taken to be the same size (true of the dense models
  // the engine loads); a stage of n blocks counts ceil(layer_bytes_total / n_layers) * n.
  std::uint64_t layer_bytes_total = 0;
  std::uint64_t embd_bytes = 0;            // token embeddings: the first stage (or a whole replica)
  std::uint64_t head_bytes = 0;            // output norm + output matrix: the last stage; 0 when
                                           // tied to the embeddings, and then the last stage of a
                                           // split holds a second copy of embd_bytes
  std::uint64_t kv_bytes_per_layer = 0;    // KV cache of one block at context_length x parallel
  std::int32_t replicas_wanted = 1;        // whole replicas when it fits on one node; >= 1
  std::vector<std::string> pinned_nodes;   // config [[placement]] nodes: whole replicas exactly here
  std::string backend = "auto";            // config [[placement]] backend: auto, cpu or cuda:N
};

struct planner_node {
  std::string name;
  std::uint64_t free_memory_bytes = 0;          // RAM usable for weights and KV
  std::vector<std::uint64_t> gpu_free_bytes;    // per CUDA device, index = N of cuda:N
  double speed = 0;                             // relative decode throughput, > 0 when up (any
                                                // unit, the same for all: e.g. memory GB/s)
  bool up = true;
};

// Measured round trip or one-way latency between two nodes (either direction: symmetric). A pair
// not listed counts as the largest latency listed (unmeasured links are not preferred), or 0 when
// none is listed. Only used to order stages and to choose between equally fast node sets.
struct planner_link {
  std::string a;
  std::string b;
  double latency_ms = 0;                        // finite, >= 0
};

struct planner_limits {
  // Activations, compute buffers, allocator slack: what a shard needs beyond weights and KV, in
  // percent of them. 10%, as the engine's own `auto` backend choice leaves (docs/engine.md).
  std::uint32_t headroom_percent = 10;
  // Fixed cost of each shard whatever its size: logits and scratch buffers, and on a GPU a share of
  // the CUDA context (about 300 MiB per process). Counted per stage, so it also prices each split.
  std::uint64_t shard_overhead_bytes = std::uint64_t{512} << 20;
  // Node sets tried when choosing a split (see "Cost" above): C(12, 6) = 924 fits.
  std::size_t node_sets_max = 1024;
};

enum class placement_kind { whole, pipeline, refused };

struct model_plan {
  struct replica {
    std::string node;
    std::string backend;                        // "cpu" or "cuda:N"
    std::uint64_t need_bytes = 0;               // counted against that device
  };
  struct stage {
    std::string node;
    std::string backend;                        // "cpu" or "cuda:N"
    std::int32_t first_layer = 0;
    std::int32_t n_layers = 0;
    std::uint64_t need_bytes = 0;               // counted against that device
  };

  std::string model;
  placement_kind kind = placement_kind::refused;
  std::vector<replica> replicas;                // whole: pinned order, else fastest first
  std::vector<stage> stages;                    // pipeline: in pipeline order, layers ascending
  std::string why;                              // one line for a human, always set
};

std::string_view to_string(placement_kind k);

// One plan per model, in the order of `models`. A model that cannot be placed is a plan of kind
// refused (with `why`), not an error: the others are still placed. The status is invalid_argument
// only for malformed input (a node name empty or repeated, an up node's speed not > 0, a model with
// n_layers out of range, replicas_wanted < 1 or an unknown backend, a negative latency), naming it.
result<std::vector<model_plan>> plan_placement(const std::vector<planner_model>& models,
                                               const std::vector<planner_node>& nodes,
                                               const std::vector<planner_link>& links = {},
                                               const planner_limits& limits = {});

}  // namespace holo
