#include "actors/node.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <pthread.h>
#include <thread>
#include <unistd.h>

#include <caf/all.hpp>
#include <zmq.hpp>

#include "actors/actor_status.hpp"
#include "actors/backup.hpp"
#include "actors/basic_actor.hpp"
#include "actors/client_api.hpp"
#include "actors/health.hpp"
#include "actors/http_gateway.hpp"
#include "actors/metrics.hpp"
#include "actors/model_shard.hpp"
#include "actors/model_stage.hpp"
#include "actors/placement_keeper.hpp"
#include "actors/planned_shard.hpp"
#include "actors/router.hpp"
#include "actors/store.hpp"
#include "actors/sync.hpp"
#include "actors/transport.hpp"
#include "gpu/devices.hpp"
#include "runtime/actor_scheduler.hpp"
#include "runtime/admin_key.hpp"
#include "runtime/cluster_io.hpp"
#include "runtime/errors.hpp"
#include "runtime/keys.hpp"
#include "runtime/memory_available.hpp"
#include "runtime/memory_bandwidth.hpp"
#include "runtime/metrics.hpp"
#include "runtime/nvml.hpp"
#include "runtime/sd_notify.hpp"
#include "runtime/wire.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/version.hpp"

namespace holo {

namespace {

using signal_atom = caf::atom_constant<caf::atom("signal")>;

sup::child_spec child(std::string id, std::function<caf::actor(caf::actor_system&)> start,
                      std::chrono::milliseconds shutdown = std::chrono::milliseconds(5000)) {
  sup::child_spec c;
  c.registered_as = caf::atom_from_string(id);
  c.id = std::move(id);
  c.start = std::move(start);
  c.shutdown_timeout = shutdown;
  return c;
}

// One model shard per model placed on this node, named after the model's index in the config.
std::vector<sup::child_spec> shard_children(const node_context_ptr& ctx) {
  std::vector<sup::child_spec> cs;
  auto& cl = ctx->cluster;
  for (std::size_t i = 0; i < cl.models.size(); ++i) {
    auto& m = cl.models[i];
    bool here = false;
    std::string backend = "auto";
    shard_spec spec;
    for (auto& p : cl.placements) {
      if (cl.find_model(p.model) != &m) continue;
      for (auto& n : p.nodes)
        if (n == ctx->node.name) here = true, backend = p.backend;
      auto pipeline = [&](std::int32_t index) {
        here = true, backend = p.backend;
        spec.stage_index = index;
        spec.stage_count = static_cast<std::int32_t>(p.stages.size());
        spec.stage_layers.clear();
        spec.stage_nodes.clear();
        for (auto& s : p.stages) {
          spec.stage_layers.push_back(s.layers);
          spec.stage_nodes.push_back({s.node});
          spec.stage_nodes.back().insert(spec.stage_nodes.back().end(), s.standby.begin(), s.standby.end());
        }
        spec.stage_spares = p.spares;
      };
      for (std::size_t k = 0; k < p.stages.size(); ++k) {
        auto& sb = p.stages[k].standby;
        if (p.stages[k].node != ctx->node.name && std::find(sb.begin(), sb.end(), ctx->node.name) == sb.end()) continue;
        pipeline(static_cast<std::int32_t>(k));
      }
      if (std::find(p.spares.begin(), p.spares.end(), ctx->node.name) != p.spares.end()) pipeline(-1);
    }
    const bool planned = follows_plan(cl, m) && ctx->node.has_role("shard");
    if (!here && !planned) continue;
    spec.backend = backend;
    spec.model_index = i;
    spec.model = m.name;
    spec.path = m.path.rfind("ollama:", 0) == 0 ? m.path : cl.resolve_path(m.path);
    spec.ctx_size = static_cast<std::int32_t>(m.context_length);
    spec.threads = static_cast<int>(ctx->node.engine_threads);
    spec.parallel = m.parallel;
    spec.queue = m.queue;
    spec.step_timeout_ms = m.step_timeout_ms;
    if (planned)  // no [[placement]]: whatever the plan puts here, restarted when that changes
      cs.push_back(child(shard_actor_name(i), [ctx, spec](caf::actor_system& sys) { return spawn_planned_shard(sys, ctx, spec); }));
    else if (spec.stage_count > 0 && spec.stage_index != 0)  // a later stage or a spare: no serving target
      cs.push_back(child(shard_actor_name(i), [ctx, spec](caf::actor_system& sys) { return spawn_model_stage(sys, ctx, spec); }));
    else
      cs.push_back(child(shard_actor_name(i), [ctx, spec](caf::actor_system& sys) { return spawn_model_shard(sys, ctx, spec); }));
  }
  return cs;
}

// The node's tree, in start order (stopped in reverse): transport first so peers can reach the
// node, health before the actors it watches report, store before the router that journals to it,
// shards before the router places on them, client_api last so no client arrives before the node
// can serve it.
std::vector<sup::child_spec> node_children(const node_context_ptr& ctx,
                                          std::function<void(const sup::child_event&)> observer) {
  std::vector<sup::child_spec> cs;
  std::vector<std::string> watched;
  auto basic = [&](const char* role) {
    watched.push_back(role);
    cs.push_back(child(role, [ctx, r = std::string(role)](caf::actor_system& sys) {
      return spawn_basic_actor(sys, ctx, r);
    }));
  };
  auto& node = ctx->node;
  cs.push_back(child(names::transport, [ctx](caf::actor_system& sys) { return spawn_transport(sys, ctx); }));
  watched.push_back(names::transport);
  cs.push_back(child(names::health, [] (caf::actor_system&) { return caf::actor{}; }));  // filled below
  auto health_index = cs.size() - 1;
  if (node.has_role("store")) {
    // The store actor (actors/store.hpp): its own thread, so the database never blocks the others.
    // run_node checked its options before the tree starts.
    watched.push_back(names::store);
    cs.push_back(child(names::store, [ctx](caf::actor_system& sys) {
      auto o = store_options_from_config(ctx->cluster, ctx->node);
      return spawn_store(sys, o ? *o : store_actor_options{}, ctx->log.child(names::store));
    }));
  }
  if (node.has_role("sync")) {
    // Ships the store's outbox to the central PostgreSQL (actors/sync.hpp); after the store actor,
    // which takes its acks. run_node checked its options before the tree starts.
    watched.push_back(names::sync);
    cs.push_back(child(names::sync, [ctx](caf::actor_system& sys) {
      auto o = sync_options_from_config(ctx->cluster, ctx->node);
      return spawn_sync(sys, o ? *o : sync_actor_options{}, ctx->log.child(names::sync));
    }));
  }
  if (node.has_role("backup") && ctx->cluster.backup.enabled) {
    // Scheduled, encrypted archives of this node's SQLite store (actors/backup.hpp); run_node checked
    // its options before the tree starts.
    watched.push_back(names::backup);
    cs.push_back(child(names::backup, [ctx](caf::actor_system& sys) {
      auto o = backup_options_from_config(ctx->cluster, ctx->node);
      return spawn_backup(sys, ctx, o ? *o : backup_actor_options{});
    }));
  } else if (node.has_role("backup")) {
    basic(names::backup);
  }
  if (node.has_role("shard")) {
    watched.push_back(names::shards);
    sup::flags shard_flags;
    shard_flags.observer = observer;
    auto sc = sup::supervisor_child(names::shards, shard_flags, shard_children(ctx));
    sc.registered_as = caf::atom_from_string(names::shards);
    cs.push_back(sc);
  }
  if (node.has_role("router")) {
    watched.push_back(names::router);
    cs.push_back(child(names::router, [ctx](caf::actor_system& sys) { return spawn_router(sys, ctx); }));
  }
  if (ctx->cluster.metrics.enabled && !node.metrics_endpoint.empty()) {
    watched.push_back(names::metrics);
    cs.push_back(child(names::metrics, [ctx](caf::actor_system& sys) { return spawn_metrics(sys, ctx); }));
  }
  if (!node.client_endpoint.empty()) {
    watched.push_back(names::client_api);
    cs.push_back(child(names::client_api,
                       [ctx](caf::actor_system& sys) { return spawn_client_api(sys, ctx); }));
  }
  if (node.has_role("router") && !node.http_endpoint.empty()) {
    watched.push_back(http_gateway_name);
    cs.push_back(child(http_gateway_name, [ctx](caf::actor_system& sys) { return spawn_http_gateway(sys, ctx); }));
  }
  // Under systemd (Type=notify): READY=1 once the node serves, then the watchdog (actors/metrics.hpp).
  if (sd::notify_socket_present())
    cs.push_back(child("sd_notify", [ctx](caf::actor_system& sys) { return spawn_systemd_notifier(sys, ctx); }));
  cs[health_index].start = [ctx, watched](caf::actor_system& sys) { return spawn_health(sys, ctx, watched); };
  return cs;
}

// Signals are blocked in every thread (set before any thread starts) and taken by one sigwait
// thread, which turns them into messages to main's scoped actor. SIGUSR2 only wakes it to exit.
class signal_listener {
 public:
  explicit signal_listener(caf::actor target) {
    thread_ = std::thread([target = std::move(target), this] {
      sigset_t set = handled();
      for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGUSR2 && stopping_) return;
        if (sig != SIGUSR2) caf::anon_send(target, signal_atom::value, sig);
      }
    });
  }
  ~signal_listener() {
    stopping_ = true;
    pthread_kill(thread_.native_handle(), SIGUSR2);
    thread_.join();
  }
  static sigset_t handled() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR2);
    return set;
  }
  static void block_in_this_thread() {
    sigset_t set = handled();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

 private:
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Waits for the root supervisor's down message, up to `timeout`. Returns its reason, or nullopt.
std::optional<caf::error> await_down(caf::scoped_actor& self, const caf::actor& root,
                                     std::chrono::milliseconds timeout) {
  std::optional<caf::error> reason;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reason) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    self->receive(
        [&](caf::down_msg& dm) {
          if (dm.source == root.address()) reason = dm.reason;
        },
        [&](signal_atom, int) { /* a second signal while stopping: keep waiting, bounded */ },
        caf::after(left) >> [] {});
  }
  return reason;
}

// Keys, incarnation and the hardware the node announces. Fails (a configuration problem: exit 2) when
// the keys are unreadable, unsafe, or do not match.
status load_identity(node_context& ctx) {
  auto& node = ctx.node;
  ctx.incarnation = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  if (!node.secret_key_file.empty()) {
    auto secret = read_secret_key_file(ctx.cluster.resolve_path(node.secret_key_file));
    if (!secret) return secret.error();
    auto pub = public_from_secret(*secret);
    if (!pub) return pub.error();
    if (!node.public_key.empty() && node.public_key != *pub)
      return status::invalid_argument("keys.public_key of node " + node.name + " does not match its secret key file " +
                                      node.secret_key_file + " (its public key is " + *pub + ")");
    ctx.curve = node_context::curve_keys{*pub, *secret};
  } else if (!node.public_key.empty()) {
    return status::invalid_argument("node " + node.name + " has keys.public_key but no keys.secret_key_file");
  }
  // Off loopback clients must authenticate; on loopback it is the operator's choice.
  ctx.client_curve = !node.client_endpoint.empty() &&
                     (!is_loopback_endpoint(node.client_endpoint) || node.client_auth == "curve");
  if (ctx.client_curve && !ctx.curve)
    return status::invalid_argument("node " + node.name + " requires CURVE clients (client_auth = \"curve\" or a " +
                                    "non-loopback client_endpoint) but has no keys (see docs/security.md)");
  if (!ctx.curve)
    for (auto* ep : {&node.cluster_endpoint, &node.client_endpoint})
      if (!ep->empty() && !is_loopback_endpoint(*ep))
        return status::invalid_argument("refusing to bind " + *ep + " without CURVE keys: off loopback every link must be " +
                                        "encrypted (make keys with `holo keygen`, see docs/security.md)");
  if (auto st = http_bind_allowed(ctx.cluster, node); !st.ok()) return st;
  if (!ctx.cluster.admin.key_file.empty()) {
    // A missing key file leaves the admin commands off (fail closed) and says so; an unsafe or
    // malformed one stops the node, as ssh refuses a private key others may read.
    auto key = read_admin_key_file(ctx.cluster.resolve_path(ctx.cluster.admin.key_file));
    if (key) ctx.admin_key = *key;
    else if (key.error().code() == status_code::not_found)
      ctx.log.warn("no admin key: the shell's admin commands are refused", {{"error", key.error().message()}});
    else return key.error();
  }
  ctx.hardware_cores = node.cores.value_or(static_cast<std::int64_t>(std::thread::hardware_concurrency()));
  auto pages = sysconf(_SC_PHYS_PAGES);
  auto page = sysconf(_SC_PAGE_SIZE);
  ctx.hardware_memory_bytes = node.memory_gib ? static_cast<std::uint64_t>(*node.memory_gib * (1ull << 30))
                                              : static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
  // A hint is what the operator grants the node, taken as given; else what is free now.
  ctx.hardware_memory_free_bytes = ctx.hardware_memory_bytes;
  if (!node.memory_gib)
    if (auto usable = usable_memory_bytes(ctx.hardware_memory_bytes)) {
      ctx.hardware_memory_free_bytes = *usable;
      ctx.memory_free_measured = true;
    }
  // Only a node that may hold shards is worth the ~0.2 s of measuring.
  if (node.speed) ctx.hardware_speed = *node.speed;
  else if (node.has_role("shard"))
    ctx.hardware_speed = measure_read_bandwidth_gbs(static_cast<int>(std::max<std::int64_t>(1, node.engine_threads > 0 ? node.engine_threads : ctx.hardware_cores)));
  if (!node.gpus.empty()) {
    for (auto& g : node.gpus) {
      auto bytes = static_cast<std::uint64_t>(g.memory_gib * (1ull << 30));
      ctx.hardware_gpus.push_back({g.name, bytes, bytes});
    }
  } else if (auto devices = gpu::list_cuda_devices(); !devices.empty()) {
    // Free device memory now, before this node's shards allocate (a desktop's display, another
    // program's CUDA context): from NVML, matched by PCI bus id; unknown (0) without NVML.
    auto lib = nvml::library::open();
    for (auto& d : devices)
      ctx.hardware_gpus.push_back({d.name, d.memory_bytes, lib ? lib->free_bytes(d.pci_bus_id).value_or(0) : 0});
  }
  return {};
}

}  // namespace

int run_node(node_options opts) {
  signal_listener::block_in_this_thread();
  auto ctx_mut = std::make_shared<node_context>();
  ctx_mut->plan = std::make_shared<plan_box>();
  ctx_mut->cluster = std::move(opts.cluster);
  ctx_mut->node = std::move(opts.node);
  ctx_mut->log = log::logger(opts.log_sink, "node");
  auto log = ctx_mut->log;
  auto& node = ctx_mut->node;

  if (auto st = load_identity(*ctx_mut); !st.ok()) {
    log.error("cannot start", {{"error", st.message()}});
    return 2;
  }
  std::error_code ec;
  auto data_dir = ctx_mut->cluster.resolve_path(node.data_dir);
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    log.error("cannot create the data folder", {{"path", data_dir}, {"error", ec.message()}});
    return 1;
  }

  if (node.has_role("store")) {
    if (auto so = store_options_from_config(ctx_mut->cluster, node); !so) {
      log.error("cannot start", {{"error", so.error().message()}});
      return 2;
    }
  }
  if (node.has_role("sync")) {
    if (auto yo = sync_options_from_config(ctx_mut->cluster, node); !yo) {
      log.error("cannot start", {{"error", yo.error().message()}});
      return 2;
    }
  }
  if (node.has_role("backup") && ctx_mut->cluster.backup.enabled) {
    if (auto bo = backup_options_from_config(ctx_mut->cluster, node); !bo) {
      log.error("cannot start", {{"error", bo.error().message()}});
      return 2;
    }
  }
  // Before any actor: every actor and thread may count from its first moment (runtime/metrics.hpp).
  if (ctx_mut->cluster.metrics.enabled) {
    auto& b = ctx_mut->cluster.backup;
    metrics::init({node.name, ctx_mut->cluster.name, std::string(version_string()), b.enabled && node.has_role("backup"),
                   b.schedule == "hourly" ? 3600.0 : b.schedule == "weekly" ? 7 * 86400.0 : 86400.0});
  }
  // Declared before the actor system: sockets live in actors, and the context must outlive them.
  zmq::context_t zmq_ctx(1);
  ctx_mut->zmq = &zmq_ctx;
  node_context_ptr ctx = ctx_mut;

  caf::actor_system_config cfg;
  sup::register_error_category(cfg);
  register_error_category(cfg);
  wire::register_types(cfg);
  if (opts.worker_threads > 0) cfg.set("scheduler.max-threads", opts.worker_threads);
  // Work sharing, not CAF's default work stealing, whose idle workers sleep in long slices: round
  // trips between nodes halved (about 900 -> 400 us on the 2-core CI machine), and token streaming
  // is latency-bound. Plus the end-of-job flush of batched frames (runtime/actor_scheduler.hpp).
  use_actor_scheduler(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  log.info("starting", {{"node", node.name}, {"cluster", ctx->cluster.name},
                        {"version", std::string(version_string())}, {"config", ctx->cluster.source_path}});
  sup::flags root_flags;
  root_flags.observer = [log = ctx->log.child("supervisor")](const sup::child_event& e) {
    using act = sup::child_event::action;
    auto what = e.taken == act::restarted ? "restarting" : e.taken == act::escalated ? "too many restarts: escalating" : "not restarting";
    log.warn(std::string("child exited: ") + what, {{"supervisor", e.supervisor}, {"child", e.child}, {"reason", e.reason}});
    if (e.taken == act::restarted) metrics::count_restart(e.supervisor, e.child);
  };
  auto root = sup::spawn_supervisor(sys, "node_supervisor", root_flags, node_children(ctx, root_flags.observer));
  // The shell's `actors` asks the root supervisor for the tree (actors/admin_api.hpp).
  sys.registry().put(caf::atom("node_sup"), root);
  self->monitor(root);
  signal_listener signals(caf::actor_cast<caf::actor>(self));

  bool ready = false;
  self->request(root, std::chrono::seconds(60), sup::ready_atom::value)
      .receive([&](caf::ok_atom) { ready = true; },
               [&](caf::error& e) { log.error("node failed to start", {{"error", sys.render(e)}}); });
  if (!ready) {
    self->send_exit(root, caf::exit_reason::user_shutdown);
    await_down(self, root, opts.shutdown_timeout);
    return 1;
  }
  log.info("ready", {{"node", node.name},
                     {"client_endpoint", node.client_endpoint.empty() ? std::string("none") : node.client_endpoint},
                     {"cluster_endpoint", node.cluster_endpoint}});

  int exit_code = 0;
  bool running = true;
  while (running) {
    self->receive(
        [&](caf::down_msg& dm) {
          if (dm.source != root.address()) return;
          log.error("node supervisor stopped: giving up", {{"reason", sys.render(dm.reason)}});
          exit_code = 1;
          running = false;
          root = caf::actor{};
        },
        [&](signal_atom, int sig) {
          (void)sd::notify("STOPPING=1");
          log.info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"},
                                {"timeout_ms", static_cast<std::int64_t>(opts.shutdown_timeout.count())}});
          running = false;
        });
  }
  if (root) {
    auto t0 = std::chrono::steady_clock::now();
    self->send_exit(root, caf::exit_reason::user_shutdown);
    auto reason = await_down(self, root, opts.shutdown_timeout);
    if (!reason) {
      log.error("stop overran its bound; exiting anyway",
                {{"timeout_ms", static_cast<std::int64_t>(opts.shutdown_timeout.count())}});
      // Bounded stop is the promise: leave without waiting for actors that ignore their exit.
      std::fflush(nullptr);
      std::_Exit(1);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    log.info("stopped cleanly", {{"node", node.name}, {"stop_ms", static_cast<std::int64_t>(ms)}});
  }
  sys.registry().erase(caf::atom("node_sup"));
  return exit_code;
}

}  // namespace holo
