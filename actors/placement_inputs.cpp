#include "actors/placement_inputs.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "gpu/gguf.hpp"
#include "gpu/kv_cache.hpp"
#include "gpu/model_config.hpp"
#include "gpu/ollama_store.hpp"

namespace holo {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string gib_text(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / double(std::uint64_t{1} << 30));
  return buf;
}

// The planner-relevant resources of a member that changed, as text: "n1 memory 4.0 GiB -> 8.0 GiB,
// cores 2 -> 4"; "n3 announced memory 4.0 GiB, cores 8, gpus 0" for a node first heard by heartbeat
// (nothing known) and now announced; "" when nothing changed.
std::string resources_diff(const wire::member_info& a, const wire::member_info& b) {
  bool gpus_same = a.gpus.size() == b.gpus.size();
  for (std::size_t i = 0; gpus_same && i < a.gpus.size(); ++i)
    gpus_same = a.gpus[i].memory_bytes == b.gpus[i].memory_bytes && a.gpus[i].free_bytes == b.gpus[i].free_bytes;
  const bool cores_same = std::max<std::int64_t>(a.cores, 1) == std::max<std::int64_t>(b.cores, 1);
  const bool speed_same = a.speed == b.speed;
  const bool free_same = a.memory_free_bytes == b.memory_free_bytes;
  bool links_same = a.links.size() == b.links.size();
  for (std::size_t i = 0; links_same && i < a.links.size(); ++i)
    links_same = a.links[i].node == b.links[i].node && a.links[i].ms == b.links[i].ms;
  if (a.memory_bytes == b.memory_bytes && free_same && cores_same && gpus_same && speed_same && links_same) return "";
  if (a.memory_bytes == 0 && a.cores == 0 && a.gpus.empty())
    return b.node + " announced memory " + gib_text(b.memory_bytes) + ", cores " + std::to_string(b.cores) + ", gpus " +
           std::to_string(b.gpus.size());
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? b.node + " " : ", ") + s; };
  if (a.memory_bytes != b.memory_bytes) add("memory " + gib_text(a.memory_bytes) + " -> " + gib_text(b.memory_bytes));
  if (!free_same) add("free memory " + gib_text(a.memory_free_bytes) + " -> " + gib_text(b.memory_free_bytes));
  if (!cores_same) add("cores " + std::to_string(a.cores) + " -> " + std::to_string(b.cores));
  if (!gpus_same) add("gpus " + std::to_string(a.gpus.size()) + " -> " + std::to_string(b.gpus.size()));
  if (!links_same) {
    std::string text = "links";
    for (const auto& l : b.links) text += " " + l.node + "=" + std::to_string(static_cast<long long>(l.ms)) + "ms";
    add(text);
  }
  if (!speed_same) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "speed %.3g -> %.3g", a.speed, b.speed);
    add(buf);
  }
  return out;
}

}  // namespace

result<model_sizes> read_model_sizes(const std::string& path_or_ref) {
  auto path = gpu::resolve_model_path(path_or_ref);
  if (!path) return path.error();
  auto file = gpu::gguf_file::open(*path);
  if (!file) return file.error();
  auto cfg = gpu::read_model_config(*file);
  if (!cfg) return cfg.error().with_context(*path);
  model_sizes s;
  s.n_layers = cfg->n_layer;
  s.n_ctx_train = cfg->n_ctx_train;
  s.kv_bytes_per_position = gpu::kv_cache::bytes_for({1, cfg->n_head_kv, cfg->head_dim, 1});
  std::uint64_t output_norm = 0;
  for (const gpu::gguf_tensor& t : file->tensors()) {
    const auto bytes = static_cast<std::uint64_t>(t.data.size());
    if (starts_with(t.name, "blk.")) s.layer_bytes_total += bytes;
    else if (t.name == "output.weight") s.head_bytes += bytes;
    else if (t.name == "output_norm.weight") output_norm += bytes;
    else s.embd_bytes += bytes;  // token_embd, rope_freqs: loaded with the first layers
  }
  // Tied: the planner's head_bytes must be 0 (the last stage then counts the embeddings again);
  // output_norm, a few KiB, rides with the embeddings.
  if (s.head_bytes == 0) s.embd_bytes += output_norm;
  else s.head_bytes += output_norm;
  return s;
}

std::string model_path(const config::cluster_config& cfg, const config::model_config& m) {
  return gpu::is_ollama_ref(m.path) ? m.path : cfg.resolve_path(m.path);
}

std::int64_t context_positions(const config::model_config& m, const model_sizes& s) {
  if (m.context_length > 0) return m.context_length;
  return s.n_ctx_train > 0 ? std::min<std::int64_t>(s.n_ctx_train, 4096) : 4096;
}

planner_model make_planner_model(const config::cluster_config& cfg, const config::model_config& m,
                                 const model_sizes& s) {
  planner_model pm;
  pm.name = m.name;
  pm.n_layers = s.n_layers;
  pm.layer_bytes_total = s.layer_bytes_total;
  pm.embd_bytes = s.embd_bytes;
  pm.head_bytes = s.head_bytes;
  pm.kv_bytes_per_layer = s.kv_bytes_per_position * static_cast<std::uint64_t>(context_positions(m, s)) *
                          static_cast<std::uint64_t>(std::max<std::int64_t>(m.parallel, 1));
  bool backend_set = false;
  for (const auto& p : cfg.placements) {
    if (cfg.find_model(p.model) != &m) continue;
    if (!backend_set) pm.backend = p.backend, backend_set = true;
    pm.replicas_wanted = std::max(pm.replicas_wanted, static_cast<std::int32_t>(p.replicas));
    for (const auto& n : p.nodes)
      if (std::find(pm.pinned_nodes.begin(), pm.pinned_nodes.end(), n) == pm.pinned_nodes.end())
        pm.pinned_nodes.push_back(n);
  }
  return pm;
}

bool planner_counts_up(const wire::member_info& m) { return m.state == "up" || m.state == "suspect"; }

std::vector<planner_node> make_planner_nodes(const std::vector<wire::member_info>& members) {
  std::vector<planner_node> out;
  out.reserve(members.size());
  for (const auto& m : members) {
    planner_node n;
    n.name = m.node;
    // Free memory as announced (measured, or the hint), never more than the total; a node that
    // announced none (an older build) is planned by its total.
    n.free_memory_bytes = m.memory_free_bytes > 0 ? std::min(m.memory_free_bytes, m.memory_bytes) : m.memory_bytes;
    for (const auto& g : m.gpus)
      n.gpu_free_bytes.push_back(g.free_bytes > 0 ? std::min(g.free_bytes, g.memory_bytes) : g.memory_bytes);
    // Measured (or hinted) read bandwidth when the node announced one, else its core count.
    n.speed = m.speed > 0 ? m.speed : static_cast<double>(std::max<std::int64_t>(m.cores, 1));
    n.up = planner_counts_up(m);
    out.push_back(std::move(n));
  }
  return out;
}

std::vector<planner_link> make_planner_links(const std::vector<wire::member_info>& members) {
  std::map<std::string, bool> up;
  for (const auto& m : members) up[m.node] = planner_counts_up(m);
  std::vector<planner_link> out;
  for (const auto& m : members) {
    if (!up[m.node]) continue;
    for (const auto& l : m.links)
      if (l.node != m.node && up.count(l.node) && up[l.node] && std::isfinite(l.ms) && l.ms >= 0)
        out.push_back({m.node, l.node, std::floor(l.ms)});
  }
  return out;
}

std::string describe_member_changes(const std::vector<wire::member_info>& before,
                                    const std::vector<wire::member_info>& after) {
  std::map<std::string, const wire::member_info*> old;
  for (const auto& m : before) old[m.node] = &m;
  std::string out;
  auto add = [&](const std::string& s) {
    if (!s.empty()) out += (out.empty() ? "" : ", ") + s;
  };
  for (const auto& m : after) {
    auto it = old.find(m.node);
    const wire::member_info* was = it == old.end() ? nullptr : it->second;
    const bool up_before = was && planner_counts_up(*was), up_now = planner_counts_up(m);
    if (up_before != up_now) add(m.node + " " + m.state);
    else if (up_now) add(resources_diff(*was, m));
    if (was) old.erase(it);
  }
  for (const auto& [name, was] : old)
    if (planner_counts_up(*was)) add(name + " gone");
  return out;
}

std::string human_bytes(std::uint64_t bytes) {
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace holo
