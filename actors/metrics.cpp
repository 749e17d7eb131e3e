#include "actors/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <httplib.h>

#include "actors/actor_status.hpp"
#include "actors/model_shard.hpp"
#include "actors/transport.hpp"
#include "runtime/metrics.hpp"
#include "runtime/nvml.hpp"
#include "runtime/sd_notify.hpp"
#include "runtime/supervisor.hpp"

namespace holo {

namespace {

using refresh_atom = caf::atom_constant<caf::atom("mx_tick")>;
using notify_tick_atom = caf::atom_constant<caf::atom("sd_tick")>;

using clock_type = std::chrono::steady_clock;
constexpr auto refresh_interval = std::chrono::milliseconds(1000);
constexpr auto ask_timeout = std::chrono::milliseconds(1500);  // health's own round takes up to 500 ms
constexpr auto report_stale_after = std::chrono::milliseconds(5000);

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// The shards this node should run: (model name, registry name), from the placements.
std::vector<std::pair<std::string, std::string>> local_shards(const node_context& ctx) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!ctx.node.has_role("shard")) return out;
  auto& cl = ctx.cluster;
  for (std::size_t i = 0; i < cl.models.size(); ++i) {
    bool here = false;
    for (auto& p : cl.placements)
      if (cl.find_model(p.model) == &cl.models[i])
      {
        for (auto& n : p.nodes) here = here || n == ctx.node.name;
        for (auto& s : p.stages) {  // a pipeline stage, or its standby
          here = here || s.node == ctx.node.name;
          for (auto& b : s.standby) here = here || b == ctx.node.name;
        }
      }
    if (here) out.emplace_back(cl.models[i].name, shard_actor_name(i));
  }
  return out;
}

caf::actor registered(caf::event_based_actor* self, const std::string& name) {
  return caf::actor_cast<caf::actor>(self->system().registry().get(caf::atom_from_string(name)));
}

// One assessment in progress: every answer (or timeout) fills its part; the last one finishes.
struct assessment {
  node_report report;
  std::size_t pending = 1;  // the starter's own share, released once every request is out
  std::function<void(node_report)> done;

  void done_one() {
    if (--pending > 0) return;
    auto& r = report;
    if (r.node_state != "up")
      r.problems.push_back(r.node_state == "unresponsive" ? "the health actor does not answer"
                                                          : "an actor of the node does not answer");
    for (auto& m : r.models)
      if (m.state != "ready") r.problems.push_back("model " + m.model + " (" + m.shard + ") is " + m.state);
    if (r.store == "down" || r.store == "degraded") r.problems.push_back("store is " + r.store);
    done(std::move(r));
  }
};

}  // namespace

bool node_report::models_loaded() const {
  for (auto& m : models)
    if (m.state != "ready") return false;
  return true;
}

bool node_report::any_stuck() const {
  for (auto& m : models)
    if (m.state == "stuck" || m.state == "unresponsive") return true;
  return false;
}

std::string node_report::to_json() const {
  std::string j = "{";
  j += "\"node\":" + json_string(node) + ",\"cluster\":" + json_string(cluster);
  j += ",\"healthy\":" + std::string(healthy() ? "true" : "false");
  j += ",\"state\":" + json_string(node_state) + ",\"uptime_ms\":" + std::to_string(uptime_ms);
  j += ",\"problems\":[";
  for (std::size_t i = 0; i < problems.size(); ++i) j += (i ? "," : "") + json_string(problems[i]);
  j += "],\"actors\":{";
  for (std::size_t i = 0; i < actors.size(); ++i)
    j += (i ? "," : "") + json_string(actors[i].first) + ":" + json_string(actors[i].second);
  j += "},\"membership\":{";
  for (std::size_t i = 0; i < members.size(); ++i)
    j += (i ? "," : "") + json_string(members[i].first) + ":" + json_string(members[i].second);
  j += "},\"models\":[";
  for (std::size_t i = 0; i < models.size(); ++i) {
    auto& m = models[i];
    char tps[32];
    std::snprintf(tps, sizeof tps, "%.3f", m.tokens_per_second);
    j += std::string(i ? "," : "") + "{\"model\":" + json_string(m.model) + ",\"shard\":" + json_string(m.shard) +
         ",\"state\":" + json_string(m.state) + ",\"active\":" + std::to_string(m.active) +
         ",\"queued\":" + std::to_string(m.queued) + ",\"tokens_per_second\":" + tps + "}";
  }
  j += "],\"store\":{\"status\":" + json_string(store) + "}}";
  return j;
}

void assess_node(caf::event_based_actor* self, node_context_ptr ctx, std::function<void(node_report)> done) {
  auto a = std::make_shared<assessment>();
  a->done = std::move(done);
  a->report.node = ctx->node.name;
  a->report.cluster = ctx->cluster.name;
  a->report.node_state = "unresponsive";
  a->report.uptime_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - ctx->started).count();
  // The health actor: every watched sibling answers (its own round), and the membership view.
  if (auto h = registered(self, names::health)) {
    a->pending += 2;
    self->request(h, ask_timeout, wire::health_query{ctx->node.name})
        .then(
            [a](wire::node_health& nh) {
              a->report.node_state = nh.state;
              for (auto& s : nh.actors) a->report.actors.emplace_back(s.name, s.state);
              a->done_one();
            },
            [a](caf::error&) { a->done_one(); });
    self->request(h, ask_timeout, wire::membership_query{ctx->node.name})
        .then(
            [a](wire::membership_view& v) {
              for (auto& m : v.members) a->report.members.emplace_back(m.node, m.state);
              a->done_one();
            },
            [a](caf::error&) { a->done_one(); });
  }
  // Each shard placed here: its state ("stuck" while an engine step overruns) and its load.
  for (auto& [model, shard] : local_shards(*ctx)) {
    auto idx = a->report.models.size();
    a->report.models.push_back({model, shard, "restarting"});
    auto s = registered(self, shard);
    if (!s) continue;  // between a crash and its restart
    a->pending += 2;
    self->request(s, ask_timeout, status_atom::value)
        .then(
            [a, idx](actor_status& st) {
              a->report.models[idx].state = st.state;
              a->done_one();
            },
            [a, idx](caf::error&) {
              a->report.models[idx].state = "unresponsive";
              a->done_one();
            });
    self->request(s, ask_timeout, shard_info_atom::value)
        .then(
            [a, idx](wire::shard_load& l) {
              auto& m = a->report.models[idx];
              m.active = l.active;
              m.queued = l.queued;
              m.tokens_per_second = l.tokens_per_second;
              a->done_one();
            },
            [a](caf::error&) { a->done_one(); });
  }
  // The store: the store actor's own word, and the degraded flag it sets through runtime/metrics.
  // STORE HOOK: the store actor answers (status_atom) with "running" or "ok" when it can write,
  // anything else ("degraded", "down") when it cannot; metrics::set_store_degraded(true) does too.
  if (ctx->node.has_role("store")) {
    a->report.store = "down";
    if (auto st = registered(self, names::store)) {
      a->pending += 1;
      self->request(st, ask_timeout, status_atom::value)
          .then(
              [a](actor_status& s) {
                bool ok = s.state == "running" || s.state == "ok" || s.state == "ready";
                a->report.store = !ok ? (s.state == "down" ? "down" : "degraded")
                                      : metrics::store_degraded() ? "degraded" : "ok";
                a->done_one();
              },
              [a](caf::error&) { a->done_one(); });
    }
  }
  a->done_one();
}

namespace {

// ---- the metrics actor -----------------------------------------------------------------------------

// What the HTTP threads serve: written by the actor, read by them.
struct published_report {
  std::mutex mu;
  std::string json;                    // under mu; empty before the first assessment
  bool healthy = false;                // under mu
  clock_type::time_point at;           // under mu
};

struct http_endpoint {
  httplib::Server server;
  std::thread thread;
  ~http_endpoint() {
    // stop() only stops a server that is listening: give a thread that was just started the moment
    // it needs to get there (bounded), else it would listen after our stop() and never return.
    for (int i = 0; i < 2000 && thread.joinable() && !server.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server.stop();
    if (thread.joinable()) thread.join();
  }
};

struct metrics_state {
  metrics_state() = default;  // not an aggregate (see notifier_state)
  std::shared_ptr<published_report> report = std::make_shared<published_report>();
  std::unique_ptr<http_endpoint> http;  // last declared of the owning parts... destroyed first below
  std::unique_ptr<nvml::library> gpus;
  bool assessing = false;
  static inline const char* name = "metrics";
  ~metrics_state() { http.reset(); }  // stop serving before the report it reads goes away
};

using metrics_actor = caf::stateful_actor<metrics_state>;

void serve(http_endpoint& ep, std::shared_ptr<published_report> report) {
  ep.server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics::scrape(), "text/plain; version=0.0.4; charset=utf-8");
  });
  ep.server.Get("/health", [report](const httplib::Request&, httplib::Response& res) {
    std::string body;
    bool healthy = false;
    clock_type::time_point at;
    {
      std::lock_guard<std::mutex> lk(report->mu);
      body = report->json;
      healthy = report->healthy;
      at = report->at;
    }
    auto age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - at).count();
    if (body.empty()) {
      body = "{\"healthy\":false,\"state\":\"starting\",\"problems\":[\"the node has not been assessed yet\"]}";
    } else if (age_ms > report_stale_after.count()) {
      // The actor did not refresh: the node's scheduler or its actors are stuck.
      healthy = false;
      body = "{\"healthy\":false,\"state\":\"stale\",\"problems\":[\"the last assessment is " +
             std::to_string(age_ms) + " ms old\"],\"last\":" + body + "}";
    }
    res.status = healthy ? 200 : 503;
    res.set_content(body, "application/json");
  });
}

void refresh(metrics_actor* self, const node_context_ptr& ctx) {
  auto& st = self->state;
  if (st.gpus) metrics::set_gpus(st.gpus->sample());
  if (auto t = registered(self, names::transport))
    self->request(t, ask_timeout, transport_stats_atom::value).then([](transport_stats& s) {
      metrics::set_transport({s.frames_in, s.frames_out, s.bytes_in, s.bytes_out, s.dropped_frames, s.undeliverable,
                              s.rejected_handshakes, s.pending_requests, s.batches_in, s.batches_out});
    }, [](caf::error&) {});
  if (st.assessing) return;  // the last one has not finished (bounded by ask_timeout)
  st.assessing = true;
  assess_node(self, ctx, [self, report = st.report](node_report r) {
    self->state.assessing = false;
    metrics::set_membership(r.members);
    std::vector<metrics::shard_sample> shards;
    for (auto& m : r.models) shards.push_back({m.model, m.state, m.tokens_per_second, m.active, m.queued});
    metrics::set_shards(shards);
    metrics::set_node_healthy(r.healthy());
    std::lock_guard<std::mutex> lk(report->mu);
    report->json = r.to_json();
    report->healthy = r.healthy();
    report->at = clock_type::now();
  });
}

// "HOST:PORT" -> (host, port); the config validated the form.
std::pair<std::string, int> split_host_port(const std::string& ep) {
  auto colon = ep.rfind(':');
  std::string host = ep.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, std::atoi(ep.c_str() + colon + 1)};
}

caf::behavior metrics_behavior(metrics_actor* self, node_context_ptr ctx) {
  auto log = ctx->log.child(names::metrics);
  auto& st = self->state;
  auto [host, port] = split_host_port(ctx->node.metrics_endpoint);
  st.http = std::make_unique<http_endpoint>();
  // Two threads: Prometheus and a load balancer may ask at once; nothing here is slow.
  st.http->server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  serve(*st.http, st.report);
  if (!st.http->server.bind_to_port(host.c_str(), port)) {
    log.error("cannot bind the metrics endpoint", {{"endpoint", ctx->node.metrics_endpoint}});
    st.http.reset();
    self->quit(caf::make_error(caf::sec::runtime_error, "cannot bind metrics endpoint " + ctx->node.metrics_endpoint));
    return {};
  }
  st.http->thread = std::thread([ep = st.http.get()] { ep->server.listen_after_bind(); });
  std::string why;
  st.gpus = nvml::library::open(&why);
  log.info("serving /metrics and /health",
           {{"endpoint", ctx->node.metrics_endpoint},
            {"gpus", st.gpus ? std::to_string(st.gpus->device_count()) + " (NVML)" : "none: " + why}});
  self->send(self, refresh_atom::value);
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{names::metrics, "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](refresh_atom) {
        self->delayed_send(self, refresh_interval, refresh_atom::value);
        refresh(self, ctx);
      },
  };
}

// ---- systemd readiness and watchdog ----------------------------------------------------------------

struct notifier_state {
  // Not an aggregate: CAF 0.17 constructs a state from the actor pointer when it can, and C++20's
  // parenthesized aggregate initialisation would turn that pointer into ready_sent = true.
  notifier_state() = default;
  bool ready_sent = false;
  bool assessing = false;
  bool last_pet_ok = true;
  static inline const char* name = "sd_notify";
};

using notifier_actor = caf::stateful_actor<notifier_state>;

caf::behavior notifier_behavior(notifier_actor* self, node_context_ptr ctx) {
  auto log = ctx->log.child("sd_notify");
  auto watchdog = sd::watchdog_interval();
  // A quarter of the watchdog period: one missed assessment still leaves a margin.
  auto period = std::chrono::milliseconds(500);
  if (watchdog)
    period = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog / 4),
                        std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
  log.info("systemd notify socket found", {{"watchdog_ms", watchdog ? static_cast<std::int64_t>(watchdog->count() / 1000) : 0}});
  self->send(self, notify_tick_atom::value);
  return {
      [=](sup::ready_atom) { return caf::ok_atom::value; },
      [=](status_atom) { return actor_status{"sd_notify", "running"}; },
      [=](mailbox_atom) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [=](notify_tick_atom) {
        self->delayed_send(self, period, notify_tick_atom::value);
        if (self->state.assessing) return;
        self->state.assessing = true;
        assess_node(self, ctx, [self, log, watchdog](node_report r) {
          auto& st = self->state;
          st.assessing = false;
          if (!st.ready_sent && r.actors_answer() && r.models_loaded()) {
            if (auto s = sd::notify("READY=1\nSTATUS=serving"); !s.ok())
              log.warn("cannot notify systemd", {{"error", s.message()}});
            else
              log.info("told systemd: ready");
            st.ready_sent = true;
          }
          if (!watchdog || !st.ready_sent) return;
          bool ok = r.actors_answer() && !r.any_stuck();
          if (ok) (void)sd::notify("WATCHDOG=1");
          if (ok != st.last_pet_ok) {
            st.last_pet_ok = ok;
            if (ok)
              log.info("petting the systemd watchdog again");
            else
              log.warn("not petting the systemd watchdog", {{"problems", r.problems.empty() ? "" : r.problems.front()}});
            (void)sd::notify(ok ? "STATUS=serving" : "STATUS=stuck: " + (r.problems.empty() ? "" : r.problems.front()));
          }
        });
      },
  };
}

}  // namespace

caf::actor spawn_metrics(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(metrics_behavior, std::move(ctx));
}

caf::actor spawn_systemd_notifier(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(notifier_behavior, std::move(ctx));
}

}  // namespace holo
