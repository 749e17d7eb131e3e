// placement_keeper: a node's latest placement plan, and when and why it was computed. Owned by the
// health actor (actors/health.hpp), which feeds it its membership view after every change; the
// plan is recomputed only when something the planner reads changed (a node up, down or left, a
// node's announced memory or cores: placement_inputs.hpp describe_member_changes), so heartbeats
// and suspicions cost nothing. Served to operators as the `plan` table (actors/admin_api.hpp).
//
// Models whose [[placement]] gives neither nodes nor stages follow the plan (plan_box below,
// actors/planned_shard.hpp); for pinned models it is only shown (docs/architecture.md "Pipeline
// placement (planner)").
//
// Models' sizes are read from their GGUF headers (placement_inputs.hpp) at the first computation
// and kept; a model whose file cannot be read here is retried at each recomputation and shown as
// refused with the reason ("no GGUF on this node ...") meanwhile.
//
// Not thread-safe: one owner. No CAF.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "actors/placement_inputs.hpp"
#include "runtime/admin_protocol.hpp"

namespace holo {

struct placement_snapshot {
  std::vector<model_plan> plans;     // one per configured model, in config order
  std::uint64_t revision = 0;        // 1 for the first plan, +1 per recomputation; 0: none yet
  std::int64_t computed_unix_ms = 0;
  std::string trigger;               // why it was recomputed: "node start", "n2 down", ...
};

class placement_keeper {
 public:
  // How a model's sizes are read; read_model_sizes unless a test says otherwise.
  using sizes_reader = std::function<result<model_sizes>(const std::string& path_or_ref)>;

  explicit placement_keeper(std::string self_node, sizes_reader read = read_model_sizes);

  // Recomputes the plan from `cfg` and `members` when this is the first call or the members differ
  // from the last call's in what the planner reads; returns whether it did.
  bool update(const config::cluster_config& cfg, const std::vector<wire::member_info>& members,
              std::int64_t now_unix_ms);

  const placement_snapshot& latest() const { return latest_; }

  // The `plan` reply: one row per model -- model, kind, placement (replicas, or stages with their
  // layer ranges, each with its node, backend and bytes), why -- and the plan's revision, age and
  // trigger on every row.
  proto::table table(std::int64_t now_unix_ms) const;

  // One line per model for the log: "tiny: whole n1/cpu", "big: pipeline n1/cpu 0-1, n2/cpu 2-3".
  std::string summary() const;

 private:
  void recompute(const config::cluster_config& cfg, const std::vector<wire::member_info>& members);

  std::string self_;
  sizes_reader read_;
  std::map<std::string, model_sizes> sizes_;  // by model name, once read
  std::vector<wire::member_info> last_members_;
  placement_snapshot latest_;
};

// What the plan gives one node for one model: nothing, a whole replica, or one stage of a pipeline
// (with every stage's layer count and node, as a pinned `stages` placement would give them).
struct local_assignment {
  enum class kind { none, whole, stage };
  kind what = kind::none;
  std::string backend = "auto";
  std::int32_t stage_index = 0;
  std::int32_t stage_count = 0;
  std::vector<std::int64_t> stage_layers;
  std::vector<std::string> stage_nodes;
  bool operator==(const local_assignment&) const = default;
};
local_assignment assignment_of(const placement_snapshot& s, const std::string& model, const std::string& node);

// The latest plan, shared between the health actor (which writes it after each recomputation) and
// the shard supervisor's start functions (which read it when they start a planned shard). Models
// without a [[placement]] follow it; the others keep their pinned placement.
struct plan_box {
  std::mutex mu;
  placement_snapshot latest;  // under mu
  // Under mu. Planned shards load nothing until the plan is settled: every configured peer heard
  // from (or a few seconds passed), so a starting node that still sees only itself does not load
  // every model.
  bool settled = false;
  // Under mu: what `node` should run for `model` now (nothing until settled).
  local_assignment wanted(const std::string& model, const std::string& node) const {
    return settled ? assignment_of(latest, model, node) : local_assignment{};
  }
  // The same, recorded as what the model's planned shard runs (its start function calls this).
  local_assignment start(const std::string& model, const std::string& node) {
    std::lock_guard<std::mutex> lk(mu);
    return started[model] = wanted(model, node);
  }
  // Under mu: what each planned shard on this node was started with.
  std::map<std::string, local_assignment> started;
};

// The placement column of the `plan` table for one model: "n1 cpu 519.0 MiB, n2 cpu 519.0 MiB"
// (whole), "n1 cpu layers 0-1 2.7 GiB, n2 cpu layers 2-3 2.7 GiB" (pipeline, inclusive ranges),
// "-" (refused).
std::string placement_text(const model_plan& p);

}  // namespace holo
