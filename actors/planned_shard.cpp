#include "actors/planned_shard.hpp"

#include <caf/all.hpp>

#include "actors/actor_status.hpp"
#include "actors/model_stage.hpp"
#include "actors/placement_keeper.hpp"
#include "actors/transport.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/errors.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

caf::behavior vacant_shard(caf::event_based_actor* self, node_context_ptr ctx, shard_spec spec) {
  auto refuse = [ctx, spec] {
    return status_to_error(status::unavailable("the plan puts no shard of " + spec.model + " on " + ctx->node.name));
  };
  return {
      [](sup::ready_atom) { return caf::ok_atom::value; },
      [spec](status_atom) { return actor_status{shard_actor_name(spec.model_index), "vacant"}; },
      [self](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [ctx, spec](shard_info_atom) {
        wire::shard_load l;
        l.node = ctx->node.name;
        l.model = spec.model;
        l.state = "vacant";
        return l;
      },
      [self, ctx, spec](wire::gen_start& r) {
        // A router that still thought a shard ran here: tell it to place the generation elsewhere.
        auto t = transport_door(self->system());
        if (!t) return;
        self->send(t, remote_send_atom::value, r.router_node, std::string(names::router),
                   caf::make_message(wire::gen_failed{r.request_id, r.attempt,
                                                      static_cast<std::uint8_t>(status_code::unavailable),
                                                      "the plan moved " + spec.model + " off " + ctx->node.name, true}));
      },
      [refuse](wire::stage_forward&) -> caf::result<wire::stage_output> { return refuse(); },
  };
}

}  // namespace

bool follows_plan(const config::cluster_config& cfg, const config::model_config& m) {
  bool planned = false;
  for (auto& p : cfg.placements) {
    if (cfg.find_model(p.model) != &m) continue;
    if (!p.nodes.empty() || !p.stages.empty()) return false;  // pinned somewhere
    planned = true;
  }
  return planned;
}

caf::actor spawn_planned_shard(caf::actor_system& sys, node_context_ptr ctx, shard_spec spec) {
  const local_assignment a = ctx->plan ? ctx->plan->start(spec.model, ctx->node.name) : local_assignment{};
  spec.backend = a.backend;
  switch (a.what) {
    case local_assignment::kind::whole:
      return spawn_model_shard(sys, ctx, std::move(spec));
    case local_assignment::kind::stage:
      spec.stage_index = a.stage_index;
      spec.stage_count = a.stage_count;
      spec.stage_layers = a.stage_layers;
      spec.stage_nodes.clear();
      for (auto& n : a.stage_nodes) spec.stage_nodes.push_back({n});
      if (a.stage_index == 0) return spawn_model_shard(sys, ctx, std::move(spec));
      return spawn_model_stage(sys, ctx, std::move(spec));
    case local_assignment::kind::none:
      break;
  }
  return sys.spawn(vacant_shard, std::move(ctx), std::move(spec));
}

}  // namespace holo
