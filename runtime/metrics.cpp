#include "runtime/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <type_traits>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace holo::metrics {

namespace {

enum class kind { counter, gauge, histogram };

struct metric_def {
  const char* name;
  kind type;
  std::vector<std::string> labels;  // besides the constant `node`
  const char* help;
  std::vector<double> buckets = {};
};

// Bucket edges sit at the service-level objectives of docs/metrics.md, so that "the share of
// requests within the objective" is one bucket read, not an interpolation: time to first token
// 1 s (interactive) and 5 s (long prompts); inter-token latency 100 ms (faster than reading);
// queue time 1 s; end-to-end latency 30 s; store writes 10 ms.
const std::vector<metric_def>& catalogue() {
  static const std::vector<metric_def> defs = {
      {"holo_build_info", kind::gauge, {"version", "cluster"}, "Always 1; labels say the build's version and the cluster"},
      {"holo_node_up", kind::gauge, {}, "1 while the node process serves its metrics"},
      {"holo_node_healthy", kind::gauge, {}, "1 when the node's /health says healthy, else 0"},
      {"holo_member_up", kind::gauge, {"member"}, "1 when this node sees the member up (or itself), else 0"},
      {"holo_membership_members", kind::gauge, {"state"}, "Members of this node's membership view by state"},
      {"holo_requests_total", kind::counter, {"model", "outcome"}, "Generation requests ended, by model and outcome"},
      {"holo_prompt_tokens_total", kind::counter, {"model"}, "Prompt tokens of finished requests"},
      {"holo_generated_tokens_total", kind::counter, {"model"}, "Generated tokens streamed to clients"},
      {"holo_time_to_first_token_seconds", kind::histogram, {"model"}, "From acceptance to the first token",
       {0.1, 0.25, 0.5, 1, 2, 5, 10, 30}},
      {"holo_inter_token_latency_seconds", kind::histogram, {"model"}, "Between consecutive tokens of a stream",
       {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}},
      {"holo_request_duration_seconds", kind::histogram, {"model"}, "End-to-end: from acceptance to the done event",
       {0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}},
      {"holo_queue_time_seconds", kind::histogram, {"model"}, "From acceptance to the first dispatch to a shard",
       {0.001, 0.01, 0.05, 0.1, 0.25, 1, 5, 30}},
      {"holo_routing_decisions_total", kind::counter, {"model", "target"}, "Dispatches by model and target node"},
      {"holo_actor_restarts_total", kind::counter, {"supervisor", "actor"}, "Restarts of a supervised actor"},
      {"holo_transport_frames_total", kind::counter, {"direction"}, "Cluster frames received (in) and sent (out)"},
      {"holo_transport_bytes_total", kind::counter, {"direction"}, "Cluster frame payload bytes received and sent"},
      {"holo_transport_dropped_frames_total", kind::counter, {}, "Inbound cluster frames dropped: malformed, spoofed, misaddressed, no such actor"},
      {"holo_transport_undeliverable_frames_total", kind::counter, {}, "Outbound frames refused: peer not connected or its queue full"},
      {"holo_transport_rejected_handshakes_total", kind::counter, {}, "CURVE handshakes the ZAP handler refused"},
      {"holo_transport_pending_requests", kind::gauge, {}, "Remote requests awaiting an answer"},
      {"holo_transport_batches_total", kind::counter, {"direction"}, "ZeroMQ messages that carried several coalesced cluster frames, received (in) and sent (out)"},
      {"holo_store_write_seconds", kind::histogram, {}, "Latency of store writes (failed ones too)",
       {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}},
      {"holo_store_write_failures_total", kind::counter, {}, "Store writes that failed"},
      {"holo_store_degraded", kind::gauge, {}, "1 while the store cannot write to its backend"},
      {"holo_store_sync_lag_seconds", kind::gauge, {}, "Age of the oldest outbox entry not yet synced to PostgreSQL"},
      {"holo_backup_last_success_timestamp_seconds", kind::gauge, {}, "Unix time of the last successful backup (0: none)"},
      {"holo_backup_enabled", kind::gauge, {}, "1 when this node takes scheduled backups"},
      {"holo_backup_interval_seconds", kind::gauge, {}, "The backup schedule's period"},
      {"holo_engine_tokens_per_second", kind::gauge, {"model"}, "Decode rate of this node's shard, all generations together"},
      {"holo_shard_active_generations", kind::gauge, {"model"}, "Generations the shard decodes now"},
      {"holo_shard_queued_generations", kind::gauge, {"model"}, "Generations waiting for a slot"},
      {"holo_shard_ready", kind::gauge, {"model"}, "1 when the shard has its model loaded and is not stuck"},
      {"holo_shard_stuck", kind::gauge, {"model"}, "1 while an engine step has run past half its step timeout"},
      {"holo_pipeline_batches_total", kind::counter, {"model"}, "Batches a pipeline head sent through its later stages"},
      {"holo_pipeline_round_trip_seconds_total", kind::counter, {"model"}, "Head's wait for its later stages, all batches"},
      {"holo_pipeline_network_seconds_total", kind::counter, {"model"}, "Round trips less the stages' compute: links, queues, wake-ups"},
      {"holo_pipeline_stage_compute_seconds_total", kind::counter, {"model", "stage"}, "Compute time of each later stage (its node), as it reported"},
      {"holo_pipeline_link_bytes_total", kind::counter, {"model", "from", "to"}, "Activation and token/logit bytes over each pipeline link"},
      {"holo_pipeline_link_seconds_total", kind::counter, {"model", "from", "to"},
       "Transit time over each pipeline link (from the two nodes' wall clocks)"},
      {"holo_gpu_utilization_ratio", kind::gauge, {"device", "name"}, "GPU busy share over the driver's sample period (NVML)"},
      {"holo_gpu_memory_used_bytes", kind::gauge, {"device", "name"}, "GPU memory in use (NVML)"},
      {"holo_gpu_memory_total_bytes", kind::gauge, {"device", "name"}, "GPU memory in all (NVML)"},
  };
  return defs;
}

struct registry_state {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unordered_map<std::string, prometheus::Family<prometheus::Counter>*> counters;
  std::unordered_map<std::string, prometheus::Family<prometheus::Gauge>*> gauges;
  std::unordered_map<std::string, prometheus::Family<prometheus::Histogram>*> histograms;
  std::unordered_map<std::string, const metric_def*> defs;
  // Series already added, by name and label values: Family::Add builds the object before it looks
  // for an existing one, which would allocate a histogram per observed token.
  std::mutex mu;
  std::unordered_map<std::string, void*> series;  // under mu
  transport_totals last_transport;                // under mu
  std::atomic<bool> store_degraded{false};
};

// Set once by init() and never freed: the registry lives as long as the process, and the HTTP
// thread may scrape until the very end.
std::atomic<registry_state*> g_state{nullptr};

template <class T>
T* series(registry_state& s, prometheus::Family<T>& fam, const std::string& name,
          const std::vector<std::string>& values) {
  std::string key = name;
  for (auto& v : values) key += '\0' + v;
  std::lock_guard<std::mutex> lk(s.mu);
  if (auto it = s.series.find(key); it != s.series.end()) return static_cast<T*>(it->second);
  const auto& def = *s.defs.at(name);
  prometheus::Labels labels;
  for (std::size_t i = 0; i < def.labels.size() && i < values.size(); ++i) labels[def.labels[i]] = values[i];
  T* m = nullptr;
  if constexpr (std::is_same_v<T, prometheus::Histogram>)
    m = &fam.Add(labels, prometheus::Histogram::BucketBoundaries(def.buckets));
  else
    m = &fam.Add(labels);
  s.series.emplace(std::move(key), m);
  return m;
}

prometheus::Counter* counter(const std::string& name, const std::vector<std::string>& values = {}) {
  auto* s = g_state.load(std::memory_order_acquire);
  return s ? series(*s, *s->counters.at(name), name, values) : nullptr;
}
prometheus::Gauge* gauge(const std::string& name, const std::vector<std::string>& values = {}) {
  auto* s = g_state.load(std::memory_order_acquire);
  return s ? series(*s, *s->gauges.at(name), name, values) : nullptr;
}
prometheus::Histogram* histogram(const std::string& name, const std::vector<std::string>& values = {}) {
  auto* s = g_state.load(std::memory_order_acquire);
  return s ? series(*s, *s->histograms.at(name), name, values) : nullptr;
}

void inc(const std::string& name, const std::vector<std::string>& values, double by = 1) {
  if (auto* c = counter(name, values); c && by > 0) c->Increment(by);
}
void set(const std::string& name, const std::vector<std::string>& values, double v) {
  if (auto* g = gauge(name, values)) g->Set(v);
}
void observe(const std::string& name, const std::vector<std::string>& values, double v) {
  if (auto* h = histogram(name, values)) h->Observe(v);
}

}  // namespace

void init(const node_identity& id) {
  if (g_state.load()) return;
  auto s = std::make_unique<registry_state>();
  const prometheus::Labels constant{{"node", id.node}};
  for (auto& d : catalogue()) {
    s->defs[d.name] = &d;
    switch (d.type) {
      case kind::counter:
        s->counters[d.name] = &prometheus::BuildCounter().Name(d.name).Help(d.help).Labels(constant).Register(*s->registry);
        break;
      case kind::gauge:
        s->gauges[d.name] = &prometheus::BuildGauge().Name(d.name).Help(d.help).Labels(constant).Register(*s->registry);
        break;
      case kind::histogram:
        s->histograms[d.name] =
            &prometheus::BuildHistogram().Name(d.name).Help(d.help).Labels(constant).Register(*s->registry);
        break;
    }
  }
  g_state.store(s.release(), std::memory_order_release);
  set("holo_build_info", {id.version, id.cluster}, 1);
  set("holo_node_up", {}, 1);
  set("holo_node_healthy", {}, 0);
  // Series that exist from the start, so that dashboards and alerts see a zero rather than nothing.
  histogram("holo_store_write_seconds");
  counter("holo_store_write_failures_total");
  set("holo_store_degraded", {}, 0);
  set("holo_store_sync_lag_seconds", {}, 0);
  set("holo_backup_last_success_timestamp_seconds", {}, 0);
  set("holo_backup_enabled", {}, id.backup_enabled ? 1 : 0);
  set("holo_backup_interval_seconds", {}, id.backup_interval_seconds);
  set_transport({});
}

bool enabled() { return g_state.load(std::memory_order_acquire) != nullptr; }

std::string scrape() {
  auto* s = g_state.load(std::memory_order_acquire);
  if (!s) return {};
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, s->registry->Collect());
  return os.str();
}

void count_request(const std::string& model, const std::string& outcome) { inc("holo_requests_total", {model, outcome}); }
void count_routing_decision(const std::string& model, const std::string& target) {
  inc("holo_routing_decisions_total", {model, target});
}
void count_generated_tokens(const std::string& model, std::uint64_t n) {
  inc("holo_generated_tokens_total", {model}, static_cast<double>(n));
}
void observe_pipeline_batch(const std::string& model, double round_trip_seconds, const std::vector<pipeline_hop>& hops) {
  if (!enabled()) return;
  inc("holo_pipeline_batches_total", {model});
  inc("holo_pipeline_round_trip_seconds_total", {model}, round_trip_seconds);
  double compute = 0;
  for (const auto& h : hops) {
    compute += h.compute_seconds;
    if (h.compute_seconds > 0) inc("holo_pipeline_stage_compute_seconds_total", {model, h.to}, h.compute_seconds);
    inc("holo_pipeline_link_bytes_total", {model, h.from, h.to}, static_cast<double>(h.bytes));
    if (h.link_seconds >= 0) inc("holo_pipeline_link_seconds_total", {model, h.from, h.to}, h.link_seconds);
  }
  inc("holo_pipeline_network_seconds_total", {model}, std::max(0.0, round_trip_seconds - compute));
}
void count_prompt_tokens(const std::string& model, std::uint64_t n) {
  // Zero-token prompts still make the series exist.
  if (auto* c = counter("holo_prompt_tokens_total", {model})) c->Increment(static_cast<double>(n));
}
void observe_time_to_first_token(const std::string& model, double s) { observe("holo_time_to_first_token_seconds", {model}, s); }
void observe_inter_token_latency(const std::string& model, double s) { observe("holo_inter_token_latency_seconds", {model}, s); }
void observe_request_duration(const std::string& model, double s) { observe("holo_request_duration_seconds", {model}, s); }
void observe_queue_time(const std::string& model, double s) { observe("holo_queue_time_seconds", {model}, s); }

void count_restart(const std::string& supervisor, const std::string& actor) {
  inc("holo_actor_restarts_total", {supervisor, actor});
}

void observe_store_write(double seconds, bool ok) {
  observe("holo_store_write_seconds", {}, seconds);
  if (!ok) inc("holo_store_write_failures_total", {});
}
void set_store_degraded(bool degraded) {
  if (auto* s = g_state.load(std::memory_order_acquire)) s->store_degraded = degraded;
  set("holo_store_degraded", {}, degraded ? 1 : 0);
}
void set_store_sync_lag(double seconds) { set("holo_store_sync_lag_seconds", {}, seconds); }
void set_backup_last_success(double unix_seconds) { set("holo_backup_last_success_timestamp_seconds", {}, unix_seconds); }
bool store_degraded() {
  auto* s = g_state.load(std::memory_order_acquire);
  return s && s->store_degraded;
}

void set_transport(const transport_totals& t) {
  auto* s = g_state.load(std::memory_order_acquire);
  if (!s) return;
  transport_totals last;
  {
    std::lock_guard<std::mutex> lk(s->mu);
    last = s->last_transport;
    s->last_transport = t;
  }
  // A value below the last one means a new transport (restarted): its whole value is new.
  auto grow = [](std::uint64_t now, std::uint64_t before) {
    return static_cast<double>(now >= before ? now - before : now);
  };
  // Add(labels) with a zero increment still creates the series: every counter exists from start.
  counter("holo_transport_frames_total", {"in"})->Increment(grow(t.frames_in, last.frames_in));
  counter("holo_transport_frames_total", {"out"})->Increment(grow(t.frames_out, last.frames_out));
  counter("holo_transport_bytes_total", {"in"})->Increment(grow(t.bytes_in, last.bytes_in));
  counter("holo_transport_bytes_total", {"out"})->Increment(grow(t.bytes_out, last.bytes_out));
  counter("holo_transport_dropped_frames_total")->Increment(grow(t.dropped_frames, last.dropped_frames));
  counter("holo_transport_undeliverable_frames_total")->Increment(grow(t.undeliverable, last.undeliverable));
  counter("holo_transport_rejected_handshakes_total")->Increment(grow(t.rejected_handshakes, last.rejected_handshakes));
  set("holo_transport_pending_requests", {}, static_cast<double>(t.pending_requests));
  counter("holo_transport_batches_total", {"in"})->Increment(grow(t.batches_in, last.batches_in));
  counter("holo_transport_batches_total", {"out"})->Increment(grow(t.batches_out, last.batches_out));
}

void set_membership(const std::vector<std::pair<std::string, std::string>>& members) {
  std::map<std::string, int> by_state{{"joining", 0}, {"up", 0}, {"suspect", 0}, {"down", 0}, {"left", 0}};
  for (auto& [name, st] : members) {
    if (by_state.count(st)) ++by_state[st];
    set("holo_member_up", {name}, st == "up" ? 1 : 0);
  }
  for (auto& [st, n] : by_state) set("holo_membership_members", {st}, n);
}

void set_shards(const std::vector<shard_sample>& shards) {
  for (auto& s : shards) {
    set("holo_engine_tokens_per_second", {s.model}, s.tokens_per_second);
    set("holo_shard_active_generations", {s.model}, static_cast<double>(s.active));
    set("holo_shard_queued_generations", {s.model}, static_cast<double>(s.queued));
    set("holo_shard_ready", {s.model}, s.state == "ready" ? 1 : 0);
    set("holo_shard_stuck", {s.model}, s.state == "stuck" ? 1 : 0);
  }
}

void set_node_healthy(bool healthy) { set("holo_node_healthy", {}, healthy ? 1 : 0); }

void set_gpus(const std::vector<gpu_sample>& gpus) {
  for (auto& g : gpus) {
    set("holo_gpu_utilization_ratio", {g.device, g.name}, g.utilization_ratio);
    set("holo_gpu_memory_used_bytes", {g.device, g.name}, g.memory_used_bytes);
    set("holo_gpu_memory_total_bytes", {g.device, g.name}, g.memory_total_bytes);
  }
}

}  // namespace holo::metrics
