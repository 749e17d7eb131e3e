#include "actors/placement_keeper.hpp"

#include <utility>

namespace holo {

placement_keeper::placement_keeper(std::string self_node, sizes_reader read)
    : self_(std::move(self_node)), read_(std::move(read)) {}

bool placement_keeper::update(const config::cluster_config& cfg, const std::vector<wire::member_info>& members,
                              std::int64_t now_unix_ms) {
  std::string trigger = latest_.revision == 0 ? std::string("node start") : describe_member_changes(last_members_, members);
  if (trigger.empty()) return false;
  last_members_ = members;
  recompute(cfg, members);
  ++latest_.revision;
  latest_.computed_unix_ms = now_unix_ms;
  latest_.trigger = std::move(trigger);
  return true;
}

void placement_keeper::recompute(const config::cluster_config& cfg, const std::vector<wire::member_info>& members) {
  // Models whose sizes are known are planned together, in config order; the others are refused
  // here and slotted back into their places.
  std::vector<planner_model> models;
  std::vector<model_plan> unread(cfg.models.size());
  std::vector<bool> known(cfg.models.size(), false);
  for (std::size_t i = 0; i < cfg.models.size(); ++i) {
    const auto& m = cfg.models[i];
    auto it = sizes_.find(m.name);
    if (it == sizes_.end()) {
      auto s = read_(model_path(cfg, m));
      if (!s) {
        unread[i].model = m.name;
        unread[i].why = s.error().code() == status_code::not_found
                            ? "no GGUF on node " + self_ + " to size it: " + s.error().message()
                            : "cannot size it on node " + self_ + ": " + s.error().to_string();
        continue;
      }
      it = sizes_.emplace(m.name, *s).first;
    }
    known[i] = true;
    models.push_back(make_planner_model(cfg, m, it->second));
  }
  auto planned = plan_placement(models, make_planner_nodes(members), make_planner_links(members));
  latest_.plans.clear();
  std::size_t next = 0;
  for (std::size_t i = 0; i < cfg.models.size(); ++i) {
    if (!known[i]) {
      latest_.plans.push_back(std::move(unread[i]));
      continue;
    }
    if (planned) {
      latest_.plans.push_back(std::move((*planned)[next++]));
    } else {
      model_plan p;  // malformed input (a bug of ours or a config the planner rejects): say so
      p.model = cfg.models[i].name;
      p.why = "planner input rejected: " + planned.error().message();
      latest_.plans.push_back(std::move(p));
    }
  }
}

local_assignment assignment_of(const placement_snapshot& s, const std::string& model, const std::string& node) {
  local_assignment a;
  for (const auto& p : s.plans) {
    if (p.model != model) continue;
    for (const auto& r : p.replicas)
      if (r.node == node) {
        a.what = local_assignment::kind::whole;
        a.backend = r.backend;
      }
    for (std::size_t k = 0; k < p.stages.size(); ++k)
      if (p.stages[k].node == node) {
        a.what = local_assignment::kind::stage;
        a.backend = p.stages[k].backend;
        a.stage_index = static_cast<std::int32_t>(k);
        a.stage_count = static_cast<std::int32_t>(p.stages.size());
        for (const auto& st : p.stages) {
          a.stage_layers.push_back(st.n_layers);
          a.stage_nodes.push_back(st.node);
        }
      }
  }
  return a;
}

std::string placement_text(const model_plan& p) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  for (const auto& r : p.replicas) add(r.node + " " + r.backend + " " + human_bytes(r.need_bytes));
  for (const auto& s : p.stages)
    add(s.node + " " + s.backend + " layers " + std::to_string(s.first_layer) + "-" +
        std::to_string(s.first_layer + s.n_layers - 1) + " " + human_bytes(s.need_bytes));
  return out.empty() ? std::string("-") : out;
}

proto::table placement_keeper::table(std::int64_t now_unix_ms) const {
  proto::table t;
  t.node = self_;
  t.columns = {"model", "kind", "placement", "why", "revision", "age_ms", "trigger"};
  const auto age = latest_.revision == 0 ? std::int64_t{-1} : now_unix_ms - latest_.computed_unix_ms;
  for (const auto& p : latest_.plans)
    t.rows.push_back({p.model, std::string(to_string(p.kind)), placement_text(p), p.why,
                      static_cast<std::int64_t>(latest_.revision), age, latest_.trigger});
  return t;
}

std::string placement_keeper::summary() const {
  std::string out;
  for (const auto& p : latest_.plans)
    out += (out.empty() ? "" : "; ") + p.model + ": " + std::string(to_string(p.kind)) + " " + placement_text(p);
  return out.empty() ? std::string("no models configured") : out;
}

}  // namespace holo
