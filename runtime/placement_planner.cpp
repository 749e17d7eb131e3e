#include "runtime/placement_planner.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace holo {
namespace {

constexpr std::int32_t n_layers_max = 1024;  // the largest models today have ~130
// Speeds become integers in parts per million of the fastest up node (see the header's
// "Determinism"); a node slower than that counts as 1 ppm.
constexpr double speed_scale_ppm = 1e6;
// Stages between the first and the last whose order is searched for the lowest latency: 6! = 720
// orders at most per (set, first, last).
constexpr std::size_t middle_stages_permuted_max = 6;

constexpr int device_ram = -1;  // a device index: -1 the node's RAM, N >= 0 cuda:N

struct node_state {
  std::string name;
  std::uint64_t ram_free_bytes = 0;
  std::vector<std::uint64_t> gpu_free_bytes;
  std::int64_t speed_ppm = 1;
};

// Which devices a model may use: `any` (GPUs by index, then RAM), or only `device`.
struct backend_filter {
  bool any = true;
  int device = device_ram;
};

struct model_sizes {
  std::uint64_t per_layer_bytes = 0;  // one block's weights (rounded up) + its KV cache
  std::uint64_t whole_bytes = 0;      // one copy of every tensor + the whole KV cache
  std::uint64_t first_bytes = 0;      // the first stage's extra: embeddings
  std::uint64_t last_bytes = 0;       // the last stage's extra: head, or the tied embeddings again
};

// A pipeline in the making: nodes (indices into the node list, which is sorted by name) in stage
// order and the layers of each.
struct split {
  std::vector<std::size_t> order;
  std::vector<std::int32_t> layers;
  std::int64_t bottleneck_layers = 0;  // the slowest stage's layers / speed, as a fraction
  std::int64_t bottleneck_speed = 1;
  std::int64_t latency_us = 0;         // sum over consecutive stages
};

std::string gib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / double(1ull << 30));
  return buf;
}

std::string device_name(int device) {
  return device == device_ram ? "cpu" : "cuda:" + std::to_string(device);
}

std::uint64_t need_bytes(std::uint64_t b, const planner_limits& lim) {
  // b * percent / 100 without overflowing for any realistic b.
  return b + b / 100 * lim.headroom_percent + b % 100 * lim.headroom_percent / 100 +
         lim.shard_overhead_bytes;
}

result<backend_filter> parse_backend(const std::string& s) {
  if (s == "auto") return backend_filter{};
  if (s == "cpu") return backend_filter{false, device_ram};
  const std::string prefix = "cuda:";
  if (s.size() > prefix.size() && s.size() <= prefix.size() + 4 && s.compare(0, 5, prefix) == 0 &&
      std::all_of(s.begin() + 5, s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return backend_filter{false, std::stoi(s.substr(5))};
  }
  return status::invalid_argument("backend '" + s + "' is not auto, cpu or cuda:N");
}

// The devices of `n` the filter allows, in order of preference: GPUs by index, then RAM.
std::vector<int> allowed_devices(const node_state& n, const backend_filter& f) {
  std::vector<int> out;
  for (int g = 0; g < static_cast<int>(n.gpu_free_bytes.size()); ++g) {
    if (f.any || f.device == g) out.push_back(g);
  }
  if (f.any || f.device == device_ram) out.push_back(device_ram);
  return out;
}

std::uint64_t& free_bytes(node_state& n, int device) {
  return device == device_ram ? n.ram_free_bytes : n.gpu_free_bytes[device];
}
std::uint64_t free_bytes(const node_state& n, int device) {
  return device == device_ram ? n.ram_free_bytes : n.gpu_free_bytes[device];
}

// The most one shard can have on `n`: its largest allowed device.
std::uint64_t best_free(const node_state& n, const backend_filter& f) {
  std::uint64_t best = 0;
  for (int d : allowed_devices(n, f)) best = std::max(best, free_bytes(n, d));
  return best;
}

// The preferred allowed device with `need` bytes free, or nullopt.
std::optional<int> pick_device(const node_state& n, const backend_filter& f, std::uint64_t need) {
  for (int d : allowed_devices(n, f)) {
    if (free_bytes(n, d) >= need) return d;
  }
  return std::nullopt;
}

model_sizes sizes_of(const planner_model& m) {
  const auto n = static_cast<std::uint64_t>(m.n_layers);
  model_sizes s;
  s.per_layer_bytes = (m.layer_bytes_total + n - 1) / n + m.kv_bytes_per_layer;
  s.whole_bytes = m.layer_bytes_total + n * m.kv_bytes_per_layer + m.embd_bytes + m.head_bytes;
  s.first_bytes = m.embd_bytes;
  s.last_bytes = m.head_bytes != 0 ? m.head_bytes : m.embd_bytes;
  return s;
}

// The most layers (0 .. n_layers) a stage with `extra` bytes besides its layers fits in `cap`.
std::int32_t max_layers(std::uint64_t cap, std::uint64_t extra, const model_sizes& s,
                        std::int32_t n_layers, const planner_limits& lim) {
  std::int32_t lo = 0, hi = n_layers;  // invariant: the answer is in [lo, hi] (lo when nothing fits)
  while (lo < hi) {
    const std::int32_t mid = lo + (hi - lo + 1) / 2;
    if (need_bytes(extra + s.per_layer_bytes * static_cast<std::uint64_t>(mid), lim) <= cap) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Deals `n_layers` to stages with speeds `speed` and caps `cap`: one each, then one at a time to
// the stage whose time (layers + 1) / speed would be smallest, ties to the lower index (the lower
// name: callers pass nodes in name order). nullopt when the caps cannot take them all.
std::optional<std::vector<std::int32_t>> deal_layers(const std::vector<std::int64_t>& speed,
                                                     const std::vector<std::int32_t>& cap,
                                                     std::int32_t n_layers) {
  const std::size_t n = speed.size();
  std::int64_t cap_sum = 0;
  for (auto c : cap) {
    if (c < 1) return std::nullopt;
    cap_sum += c;
  }
  if (cap_sum < n_layers || static_cast<std::int64_t>(n) > n_layers) return std::nullopt;
  std::vector<std::int32_t> layers(n, 1);
  for (std::int32_t left = n_layers - static_cast<std::int32_t>(n); left > 0; --left) {
    std::size_t best = n;
    for (std::size_t i = 0; i < n; ++i) {
      if (layers[i] >= cap[i]) continue;
      if (best == n || (layers[i] + 1) * speed[best] < (layers[best] + 1) * speed[i]) best = i;
    }
    ++layers[best];
  }
  return layers;
}

class latency_table {
 public:
  latency_table(const std::vector<planner_link>& links) {
    for (const auto& l : links) {
      const auto us = static_cast<std::int64_t>(std::llround(l.latency_ms * 1000.0));
      auto& slot = us_[std::minmax(l.a, l.b)];
      slot = std::max(slot, us);  // a pair listed twice counts as its worse figure
      unknown_us_ = std::max(unknown_us_, us);
    }
  }
  bool any() const { return !us_.empty(); }
  std::int64_t us(const std::string& a, const std::string& b) const {
    auto it = us_.find(std::minmax(a, b));
    return it == us_.end() ? unknown_us_ : it->second;
  }

 private:
  std::map<std::pair<std::string, std::string>, std::int64_t> us_;
  std::int64_t unknown_us_ = 0;
};

// Everything one model's placement reads; `nodes` are the up nodes, sorted by name.
struct planning {
  const planner_model& model;
  const model_sizes sizes;
  const backend_filter filter;
  std::vector<node_state>& nodes;
  const latency_table& latency;
  const planner_limits& limits;
};

// <0, 0, >0 as a's bottleneck is smaller than, equal to, larger than b's.
std::int64_t compare_bottleneck(const split& a, const split& b) {
  return a.bottleneck_layers * b.bottleneck_speed - b.bottleneck_layers * a.bottleneck_speed;
}

// a better than b: smaller bottleneck, then lower latency, then the node names (indices are in
// name order, so comparing them compares the names).
bool better(const split& a, const split& b) {
  if (auto c = compare_bottleneck(a, b); c != 0) return c < 0;
  if (a.latency_us != b.latency_us) return a.latency_us < b.latency_us;
  return a.order < b.order;
}

// The best split over exactly the nodes `set` (ascending), any of them first and last, if it beats
// `best` (which it then replaces).
void best_split_over(const planning& p, const std::vector<std::size_t>& set, std::optional<split>& best) {
  std::vector<std::int64_t> speed;
  for (auto i : set) speed.push_back(p.nodes[i].speed_ppm);
  for (std::size_t f = 0; f < set.size(); ++f) {
    for (std::size_t l = 0; l < set.size(); ++l) {
      if (f == l) continue;
      std::vector<std::int32_t> cap;
      for (std::size_t k = 0; k < set.size(); ++k) {
        const std::uint64_t extra = (k == f ? p.sizes.first_bytes : 0) + (k == l ? p.sizes.last_bytes : 0);
        cap.push_back(max_layers(best_free(p.nodes[set[k]], p.filter), extra, p.sizes,
                                 p.model.n_layers, p.limits));
      }
      auto dealt = deal_layers(speed, cap, p.model.n_layers);
      if (!dealt) continue;
      split s;
      std::size_t slow = 0;
      for (std::size_t k = 1; k < set.size(); ++k) {
        if ((*dealt)[k] * speed[slow] > (*dealt)[slow] * speed[k]) slow = k;
      }
      s.bottleneck_layers = (*dealt)[slow];
      s.bottleneck_speed = speed[slow];
      if (best && compare_bottleneck(s, *best) > 0) continue;  // no stage order can make it better
      std::vector<std::size_t> middle;  // positions in `set`, ascending
      for (std::size_t k = 0; k < set.size(); ++k) {
        if (k != f && k != l) middle.push_back(k);
      }
      // Without latencies every order costs 0 and the first (by name) wins: nothing to search.
      const bool permute = middle.size() <= middle_stages_permuted_max && p.latency.any();
      do {
        std::vector<std::size_t> pos{f};
        pos.insert(pos.end(), middle.begin(), middle.end());
        pos.push_back(l);
        s.order.clear();
        s.layers.clear();
        s.latency_us = 0;
        for (std::size_t k = 0; k < pos.size(); ++k) {
          s.order.push_back(set[pos[k]]);
          s.layers.push_back((*dealt)[pos[k]]);
          if (k > 0) s.latency_us += p.latency.us(p.nodes[set[pos[k - 1]]].name, p.nodes[set[pos[k]]].name);
        }
        if (!best || better(s, *best)) best = s;
      } while (permute && std::next_permutation(middle.begin(), middle.end()));
    }
  }
}

// C(n, k), or `limit + 1` when it exceeds `limit`.
std::size_t choose_capped(std::size_t n, std::size_t k, std::size_t limit) {
  k = std::min(k, n - k);
  unsigned long long c = 1;
  for (std::size_t i = 0; i < k; ++i) {
    c = c * (n - i) / (i + 1);  // C(n, i + 1); exact, and increasing while i < n / 2
    if (c > limit) return limit + 1;
  }
  return static_cast<std::size_t>(c);
}

// The fewest-stage pipeline (see the header), or nullopt when all up nodes cannot hold it.
std::optional<split> plan_split(const planning& p) {
  // Nodes that can hold one middle stage of one layer; by free memory, most first.
  std::vector<std::size_t> pool;
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    if (max_layers(best_free(p.nodes[i], p.filter), 0, p.sizes, 1, p.limits) >= 1) pool.push_back(i);
  }
  std::stable_sort(pool.begin(), pool.end(), [&](std::size_t a, std::size_t b) {
    return best_free(p.nodes[a], p.filter) > best_free(p.nodes[b], p.filter);
  });
  // The fewest stages: if any set of s nodes holds it, the s largest do (each is at least as big).
  std::size_t stages = 0;
  std::optional<split> best;
  for (std::size_t s = 2; s <= pool.size() && !best; ++s) {
    std::vector<std::size_t> largest(pool.begin(), pool.begin() + s);
    std::sort(largest.begin(), largest.end());
    best_split_over(p, largest, best);
    stages = s;
  }
  if (!best || choose_capped(pool.size(), stages, p.limits.node_sets_max) > p.limits.node_sets_max) {
    return best;
  }
  // Every set of that size, for the fastest (combinations of `pool` in name order).
  std::sort(pool.begin(), pool.end());
  std::vector<std::size_t> pick(stages);
  for (std::size_t k = 0; k < stages; ++k) pick[k] = k;
  for (;;) {
    std::vector<std::size_t> set;
    for (auto k : pick) set.push_back(pool[k]);
    best_split_over(p, set, best);
    std::size_t k = stages;
    while (k > 0 && pick[k - 1] == pool.size() - stages + (k - 1)) --k;
    if (k == 0) break;
    ++pick[k - 1];
    for (std::size_t j = k; j < stages; ++j) pick[j] = pick[j - 1] + 1;
  }
  return best;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

model_plan refused(const planner_model& m, std::string why) {
  model_plan plan;
  plan.model = m.name;
  plan.kind = placement_kind::refused;
  plan.why = std::move(why);
  return plan;
}

std::optional<std::size_t> find_node(const std::vector<node_state>& nodes, const std::string& name) {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), name,
                             [](const node_state& n, const std::string& v) { return n.name < v; });
  if (it == nodes.end() || it->name != name) return std::nullopt;
  return static_cast<std::size_t>(it - nodes.begin());
}

model_plan place_pinned(const planning& p) {
  const std::uint64_t need = need_bytes(p.sizes.whole_bytes, p.limits);
  std::vector<std::size_t> up;
  std::vector<std::string> not_up;
  for (const auto& name : p.model.pinned_nodes) {
    auto i = find_node(p.nodes, name);
    if (!i) {
      not_up.push_back(name);
      continue;
    }
    if (std::find(up.begin(), up.end(), *i) != up.end()) continue;  // listed twice: one replica
    if (!pick_device(p.nodes[*i], p.filter, need)) {
      const auto& n = p.nodes[*i];
      std::string on = p.filter.any ? "" : " " + device_name(p.filter.device);
      if (allowed_devices(n, p.filter).empty()) {
        return refused(p.model, "pinned to " + name + on + ", which has no " + device_name(p.filter.device));
      }
      return refused(p.model, "pinned to " + name + on + ", which has " + gib(best_free(n, p.filter)) +
                                  " free; needs " + gib(need));
    }
    up.push_back(*i);
  }
  if (up.empty()) return refused(p.model, "pinned to " + join_names(p.model.pinned_nodes) + "; none is up");
  model_plan plan;
  plan.model = p.model.name;
  plan.kind = placement_kind::whole;
  plan.why = "pinned, needs " + gib(need) + " each:";
  for (auto i : up) {
    const int d = *pick_device(p.nodes[i], p.filter, need);
    plan.why += (plan.replicas.empty() ? " " : ", ") + p.nodes[i].name + " " + device_name(d) + " (" +
                gib(free_bytes(p.nodes[i], d)) + " free)";
    free_bytes(p.nodes[i], d) -= need;
    plan.replicas.push_back({p.nodes[i].name, device_name(d), need});
  }
  if (!not_up.empty()) plan.why += "; not up: " + join_names(not_up);
  return plan;
}

// Whole replicas on the fastest nodes that hold one, or nullopt when none does.
std::optional<model_plan> place_whole(const planning& p) {
  const std::uint64_t need = need_bytes(p.sizes.whole_bytes, p.limits);
  std::vector<std::size_t> fit;
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    if (pick_device(p.nodes[i], p.filter, need)) fit.push_back(i);
  }
  if (fit.empty()) return std::nullopt;
  std::stable_sort(fit.begin(), fit.end(), [&](std::size_t a, std::size_t b) {
    return p.nodes[a].speed_ppm > p.nodes[b].speed_ppm;  // stable: equal speeds stay in name order
  });
  const auto wanted = static_cast<std::size_t>(p.model.replicas_wanted);
  fit.resize(std::min(fit.size(), wanted));
  model_plan plan;
  plan.model = p.model.name;
  plan.kind = placement_kind::whole;
  if (wanted == 1) {
    plan.why = "fits on ";
  } else if (fit.size() == wanted) {
    plan.why = std::to_string(wanted) + " replicas, needs " + gib(need) + " each: ";
  } else {
    plan.why = std::to_string(fit.size()) + " of " + std::to_string(wanted) +
               " replicas wanted (only " + std::to_string(fit.size()) + " up node" +
               (fit.size() == 1 ? " holds" : "s hold") + " it), needs " + gib(need) + " each: ";
  }
  for (auto i : fit) {
    const int d = *pick_device(p.nodes[i], p.filter, need);
    plan.why += (plan.replicas.empty() ? "" : ", ") + p.nodes[i].name + " " + device_name(d) + " (" +
                gib(free_bytes(p.nodes[i], d)) + " free" + (wanted == 1 ? ", needs " + gib(need) : "") + ")";
    free_bytes(p.nodes[i], d) -= need;
    plan.replicas.push_back({p.nodes[i].name, device_name(d), need});
  }
  return plan;
}

model_plan refuse_unplaceable(const planning& p) {
  const std::uint64_t need = need_bytes(p.sizes.whole_bytes, p.limits);
  if (p.nodes.empty()) return refused(p.model, "needs " + gib(need) + "; no node is up");
  std::uint64_t largest = 0, total = 0;
  for (const auto& n : p.nodes) {
    largest = std::max(largest, best_free(n, p.filter));
    total += best_free(n, p.filter);
  }
  std::string why = "needs " + gib(need) + "; ";
  if (p.nodes.size() == 1) {
    why += "the only up node, " + p.nodes[0].name + ", has " + gib(largest) + " free";
  } else {
    why += "the largest node has " + gib(largest) + " free and all " + std::to_string(p.nodes.size()) +
           " up nodes together " + gib(total);
  }
  if (!p.filter.any) why += " (backend " + device_name(p.filter.device) + " only)";
  if (total >= need) {
    why += "; split, it still does not fit (each stage adds its overhead, the first holds the "
           "embeddings, the last the head, each at least one of " +
           std::to_string(p.model.n_layers) + " layers)";
  }
  return refused(p.model, why);
}

model_plan place_split(const planning& p, const split& s) {
  model_plan plan;
  plan.model = p.model.name;
  plan.kind = placement_kind::pipeline;
  std::uint64_t largest = 0;
  for (const auto& n : p.nodes) largest = std::max(largest, best_free(n, p.filter));
  plan.why = "fits on no single node (needs " + gib(need_bytes(p.sizes.whole_bytes, p.limits)) +
             ", the largest has " + gib(largest) + " free): " + std::to_string(s.order.size()) +
             " stages,";
  std::int32_t first = 0;
  for (std::size_t k = 0; k < s.order.size(); ++k) {
    auto& node = p.nodes[s.order[k]];
    const std::uint64_t extra = (k == 0 ? p.sizes.first_bytes : 0) +
                                (k + 1 == s.order.size() ? p.sizes.last_bytes : 0);
    const std::uint64_t need =
        need_bytes(extra + p.sizes.per_layer_bytes * static_cast<std::uint64_t>(s.layers[k]), p.limits);
    const auto d = pick_device(node, p.filter, need);
    assert(d && "max_layers capped the stage by this node's largest device");
    free_bytes(node, *d) -= need;
    plan.stages.push_back({node.name, device_name(*d), first, s.layers[k], need});
    plan.why += " " + node.name + " " + device_name(*d) + " layers " + std::to_string(first) + "-" +
                std::to_string(first + s.layers[k] - 1) + " (" + gib(need) + ")";
    first += s.layers[k];
  }
  if (p.model.replicas_wanted > 1) {
    plan.why += "; one pipeline, not the " + std::to_string(p.model.replicas_wanted) + " replicas wanted";
  }
  return plan;
}

status validate(const std::vector<planner_model>& models, const std::vector<planner_node>& nodes,
                const std::vector<planner_link>& links) {
  std::set<std::string> names;
  for (const auto& n : nodes) {
    if (n.name.empty()) return status::invalid_argument("a node has no name");
    if (!names.insert(n.name).second) return status::invalid_argument("node " + n.name + " is listed twice");
    if (n.up && !(std::isfinite(n.speed) && n.speed > 0)) {
      return status::invalid_argument("node " + n.name + ": speed must be > 0");
    }
  }
  for (const auto& m : models) {
    if (m.n_layers < 1 || m.n_layers > n_layers_max) {
      return status::invalid_argument("model " + m.name + ": n_layers must be 1.." + std::to_string(n_layers_max));
    }
    if (m.replicas_wanted < 1) return status::invalid_argument("model " + m.name + ": replicas_wanted must be >= 1");
    if (auto f = parse_backend(m.backend); !f) return f.error().with_context("model " + m.name);
  }
  for (const auto& l : links) {
    if (!(std::isfinite(l.latency_ms) && l.latency_ms >= 0)) {
      return status::invalid_argument("link " + l.a + "-" + l.b + ": latency_ms must be >= 0");
    }
  }
  return ok_status();
}

}  // namespace

std::string_view to_string(placement_kind k) {
  switch (k) {
    case placement_kind::whole: return "whole";
    case placement_kind::pipeline: return "pipeline";
    case placement_kind::refused: return "refused";
  }
  return "unknown";
}

result<std::vector<model_plan>> plan_placement(const std::vector<planner_model>& models,
                                               const std::vector<planner_node>& nodes,
                                               const std::vector<planner_link>& links,
                                               const planner_limits& limits) {
  HOLO_TRY(validate(models, nodes, links));
  double fastest = 0;
  for (const auto& n : nodes) {
    if (n.up) fastest = std::max(fastest, n.speed);
  }
  std::vector<node_state> up;
  for (const auto& n : nodes) {
    if (!n.up) continue;
    const auto ppm = static_cast<std::int64_t>(std::llround(n.speed / fastest * speed_scale_ppm));
    up.push_back({n.name, n.free_memory_bytes, n.gpu_free_bytes, std::max<std::int64_t>(ppm, 1)});
  }
  std::sort(up.begin(), up.end(), [](const node_state& a, const node_state& b) { return a.name < b.name; });
  const latency_table latency(links);

  std::vector<model_plan> plans;
  for (const auto& m : models) {
    const planning p{m, sizes_of(m), *parse_backend(m.backend), up, latency, limits};
    if (!m.pinned_nodes.empty()) {
      plans.push_back(place_pinned(p));
    } else if (auto whole = place_whole(p)) {
      plans.push_back(std::move(*whole));
    } else if (auto s = plan_split(p)) {
      plans.push_back(place_split(p, *s));
    } else {
      plans.push_back(refuse_unplaceable(p));
    }
  }
  return plans;
}

}  // namespace holo
