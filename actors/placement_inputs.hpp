// placement_inputs: the placement planner's inputs (runtime/placement_planner.hpp) as a node has
// them -- each configured model's sizes from its GGUF header, each member's memory and speed from
// the membership view -- and what changed between two views that the planner reads.
//
// Models: the GGUF is mapped and its header parsed (hyper-parameters and tensor infos); no page of
// the data section is read, so a 40 GB model costs what its header costs. Sizes are the tensors'
// byte sizes as stored (quantized blocks included), split the way the engine loads a layer range
// (gpu/model_weights.hpp): blk.N.* per layer, token_embd (+ rope_freqs) with the first stage,
// output_norm + output with the last. KV bytes are the engine's own formula
// (gpu::kv_cache::bytes_for: K and V in F16) at the model's context length x `parallel` sessions.
//
// Nodes: RAM and GPU memory as announced (the config's hints where given, else measured), with
// nothing subtracted for what is loaded today: the plan is the cluster's placement from scratch.
// Speed is what the node announced (memory read GB/s measured at start, or the hardware.speed
// hint), else its core count (the planner only compares speeds, so any unit shared by all nodes
// works). Links: the round trips every node announced (make_planner_links).
//
// Pure functions of their arguments (read_model_sizes reads the file); safe from any thread. No CAF.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cluster_messages.hpp"
#include "runtime/config.hpp"
#include "runtime/placement_planner.hpp"
#include "runtime/status.hpp"

namespace holo {

// A model's sizes as the planner counts them, independent of context length and parallelism.
struct model_sizes {
  std::int32_t n_layers = 0;
  std::uint64_t layer_bytes_total = 0;    // every blk.N.* tensor
  std::uint64_t embd_bytes = 0;           // token_embd.weight, rope_freqs.weight; output_norm too when tied
  std::uint64_t head_bytes = 0;           // output_norm.weight + output.weight; 0 when tied (no output.weight)
  std::uint64_t kv_bytes_per_position = 0;  // one layer, one session, one position: K + V in F16
  std::int32_t n_ctx_train = 0;           // the model's own context length (0: not given)
};

// Reads `path_or_ref` (a GGUF path or "ollama:NAME[:TAG]") without loading weights. not_found when
// the file is missing (a node that lacks the file lacks the model); the reader's and
// read_model_config's errors otherwise (invalid_argument, data_loss, unimplemented).
result<model_sizes> read_model_sizes(const std::string& path_or_ref);

// The GGUF path of configured model `m` as a shard would open it: "ollama:..." as given, else
// resolved against the config file's folder.
std::string model_path(const config::cluster_config& cfg, const config::model_config& m);

// KV cache positions of one session of `m`: context_length, or the engine's default when 0
// (min(the model's own, 4096); 4096 when the model gives none).
std::int64_t context_positions(const config::model_config& m, const model_sizes& s);

// The planner's model for configured model `m`: sizes, KV at context_positions x m.parallel, and
// the config's [[placement]] entries for it: `nodes` become pins (a model with several entries
// gets every node they name), `backend` is taken from the first entry. A `stages` entry pins
// nothing: the plan shows what the planner would choose. replicas_wanted is the largest
// `replicas` of its [[placement]] entries (1 unless a planned placement asks for more).
planner_model make_planner_model(const config::cluster_config& cfg, const config::model_config& m,
                                 const model_sizes& s);

// Whether the planner counts a member as up: "up" or "suspect" (a suspect node is probably alive;
// moving its shards on every suspicion would make the plan flap). joining, down, left: not up.
bool planner_counts_up(const wire::member_info& m);

// One planner node per member: RAM = memory_free_bytes (what the node announced it can give to
// models: measured free memory, or its hint; capped by memory_bytes; memory_bytes when none was
// announced), one GPU entry per announced GPU with its free bytes likewise (in order: index = N of
// cuda:N), speed = the announced speed (memory read GB/s measured at node start, or
// the `hardware.speed` hint) when there is one, else cores (1 when unknown), up per planner_counts_up.
std::vector<planner_node> make_planner_nodes(const std::vector<wire::member_info>& members);

// The links every up member announced (its heartbeat round trips to its peers, in whole
// milliseconds rounded down -- LAN links, well under 1 ms and noisy, all count as 0 and never
// reorder a plan; slower links, Wi-Fi or WAN, do), between up members only. Read from the
// announces, not from this node's own measures, so that every node plans with the same table and
// they agree on which node holds which stage. A pair announced by both ends counts as the worse
// figure (the planner's rule), a pair nobody announced as the slowest listed.
std::vector<planner_link> make_planner_links(const std::vector<wire::member_info>& members);

// What changed between two views in what the planner reads, for a human: "n2 down", "n3 up",
// "n1 memory 4.0 GiB -> 8.0 GiB, cores 2 -> 4", "n3 announced memory 4.0 GiB, cores 8, gpus 0" (a
// node up by heartbeat before its announce), joined by ", ". Empty when nothing the planner reads changed
// (an up node becoming suspect, a phi or last-heard change, anything about a node that is not up
// in either view). A member missing from a view counts as not up there.
std::string describe_member_changes(const std::vector<wire::member_info>& before,
                                    const std::vector<wire::member_info>& after);

// "512 B", "3.4 MiB", "2.7 GiB": one decimal from KiB up.
std::string human_bytes(std::uint64_t bytes);

}  // namespace holo
