#include "actors/transport_bench.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>
#include <thread>

#include <caf/all.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "actors/node_context.hpp"
#include "actors/transport.hpp"
#include "runtime/cluster_messages.hpp"
#include "runtime/actor_scheduler.hpp"
#include "runtime/errors.hpp"
#include "runtime/free_port.hpp"
#include "runtime/keys.hpp"
#include "runtime/supervisor.hpp"
#include "runtime/wire.hpp"

namespace holo {

namespace {

using clock_type = std::chrono::steady_clock;
// Round trips per turn of a row: long enough that switching rows costs nothing measurable, short
// enough that every row meets each of the host's phases.
constexpr std::size_t rtt_block = 100;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[idx];
}

// "tcp://127.0.0.1:PORT" on a port nothing listens on now.
result<std::string> loopback_endpoint() {
  auto port = free_loopback_port();
  if (!port) return port.error();
  return "tcp://127.0.0.1:" + std::to_string(*port);
}

// Each row is a path a message takes: set up once, then asked for round trips in blocks that
// alternate with the other rows' (so every row's round trips sample the same minutes of a host
// whose speed drifts), then for its one-way rate, one row after the other.
class bench_path {
 public:
  virtual ~bench_path() = default;
  // One request and its answer; false when the answer did not come.
  virtual bool round_trip() = 0;
  // One-way messages per second under the window (transport_bench_options), acks counted.
  virtual double one_way() = 0;
  // What the row adds beyond the figures (holo: node A's frame counters).
  virtual void annotate(transport_bench_row&) {}
};

// ---- raw ZeroMQ: the baseline ----------------------------------------------------------------------
class raw_path final : public bench_path {
 public:
  static result<std::unique_ptr<bench_path>> make(const transport_bench_options& o, bool curve) {
    auto ep = loopback_endpoint();
    if (!ep) return ep.error();
    return std::unique_ptr<bench_path>(new raw_path(o, curve, *ep));
  }
  ~raw_path() override {
    stop_ = true;
    server_.join();
  }
  bool round_trip() override {
    zmq::message_t reply;
    (void)d_.send(zmq::buffer(rt_));
    return d_.recv(reply).has_value();
  }
  double one_way() override {
    zmq::message_t reply;
    std::size_t acked = 0;
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < o_.one_way_messages; ++i) {
      while (i - acked >= o_.window) {
        (void)d_.recv(reply);
        acked += o_.ack_every;
      }
      (void)d_.send(zmq::buffer(ow_));
    }
    while (acked + o_.ack_every <= o_.one_way_messages) {
      (void)d_.recv(reply);
      acked += o_.ack_every;
    }
    return static_cast<double>(acked) / std::chrono::duration<double>(clock_type::now() - t0).count();
  }

 private:
  raw_path(const transport_bench_options& o, bool curve, const std::string& ep) : o_(o) {
    std::optional<curve_keypair> server_keys, client_keys;
    if (curve) {
      server_keys = *generate_keypair();
      client_keys = *generate_keypair();
    }
    // The echo side: answers each frame of the round-trip phase, acks every ack_every one-way frames.
    server_ = std::thread([this, curve, ep, server_keys] {
      zmq::socket_t r(ctx_, zmq::socket_type::router);
      r.set(zmq::sockopt::linger, 0);
      r.set(zmq::sockopt::rcvtimeo, 100);
      if (curve) {  // no ZAP handler: CURVE alone, the encryption without the admission check
        r.set(zmq::sockopt::curve_server, 1);
        r.set(zmq::sockopt::curve_secretkey, server_keys->secret_z85);
      }
      r.bind(ep);
      std::uint64_t count = 0;
      std::vector<zmq::message_t> parts;
      while (!stop_) {
        parts.clear();
        if (!zmq::recv_multipart(r, std::back_inserter(parts))) continue;
        if (parts.size() != 2) continue;
        if (parts[1].size() > 0 && static_cast<const char*>(parts[1].data())[0] == 'r') {
          zmq::send_multipart(r, parts);
        } else if (++count % o_.ack_every == 0) {
          std::array<zmq::const_buffer, 2> ack{zmq::buffer(parts[0].data(), parts[0].size()), zmq::str_buffer("a")};
          zmq::send_multipart(r, ack);
        }
      }
    });
    d_.set(zmq::sockopt::linger, 0);
    if (curve) {
      d_.set(zmq::sockopt::curve_serverkey, server_keys->public_z85);
      d_.set(zmq::sockopt::curve_publickey, client_keys->public_z85);
      d_.set(zmq::sockopt::curve_secretkey, client_keys->secret_z85);
    }
    d_.connect(ep);
    rt_.assign(o.payload_bytes, 'x');
    rt_[0] = 'r';
    ow_.assign(o.payload_bytes, 'x');
    round_trip();  // warms up the connection (waits for the server to bind and the handshake)
  }

  transport_bench_options o_;
  // One context per side, as two nodes (two processes) have: each its own ZeroMQ I/O thread. With
  // one shared context a single I/O thread would carry both ends of the TCP connection, a shortcut
  // two nodes never get (and the holo rows below do not: two actor systems, two contexts).
  zmq::context_t ctx_, client_ctx_;
  zmq::socket_t d_{client_ctx_, zmq::socket_type::dealer};
  std::atomic<bool> stop_{false};
  std::thread server_;
  std::string rt_, ow_;
};

// ---- two in-process nodes --------------------------------------------------------------------------
struct bench_node {
  zmq::context_t zmq{1};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  // This node's own caller. Every message to this node's actors comes from it, never from the
  // other node's: CAF 0.17 runs a woken receiver on the *sender's* scheduler, so an exit sent from
  // node A's actor ran node B's transport on A's worker while B's system was being torn down
  // ("pure virtual method called", 2 of 27 runs with --coalesce-us 0 on a busy host).
  std::optional<caf::scoped_actor> self;
  caf::actor transport;

  ~bench_node() {
    if (self && transport) (*self)->send_exit(transport, caf::exit_reason::user_shutdown);
  }
};

node_context_ptr make_context(const config::cluster_config& cluster, const std::string& self, zmq::context_t& z,
                              const std::optional<curve_keypair>& keys) {
  auto ctx = std::make_shared<node_context>();
  ctx->cluster = cluster;
  ctx->node = *cluster.find_node(self);
  ctx->zmq = &z;
  if (keys) ctx->curve = node_context::curve_keys{keys->public_z85, keys->secret_z85};
  return ctx;
}

// The receiving actor on node B: answers pings (round trips); counts one-way pongs and acks every
// ack_every of them with a pong of its own (a one-way send back through the transport).
caf::behavior bench_echo(caf::event_based_actor* self, std::size_t ack_every) {
  auto count = std::make_shared<std::uint64_t>(0);
  return {
      [=](wire::ping& p) { return wire::pong{p.seq, std::move(p.payload)}; },
      [=](wire::pong&) {
        if (++*count % ack_every != 0) return;
        self->send(transport_door(self->system()), remote_send_atom::value, std::string("a"), std::string("benchsink"),
                   caf::make_message(wire::pong{*count, {}}));
      },
  };
}

// The one-way sender on node A, an actor as a node's senders are: `window` messages at the start,
// then `ack_every` more per ack, each refill sent in one run of the behaviour (so it leaves as one
// batch when the run ends: runtime/after_job.hpp). Counts acks in `acked` and tells `report` when
// the last one came. (No receive timeout here: CAF would set and cancel one per message on its
// clock thread; the bench's thread watches `acked` instead.)
caf::behavior bench_sender(caf::event_based_actor* self, transport_bench_options o, std::string payload,
                           std::shared_ptr<std::atomic<std::uint64_t>> acked, caf::actor report) {
  auto sent = std::make_shared<std::uint64_t>(0);
  auto door = transport_door(self->system());
  auto refill = [=] {
    while (*sent < o.one_way_messages && *sent - acked->load() < o.window) {
      self->send(door, remote_send_atom::value, std::string("b"), std::string("bench"),
                 caf::make_message(wire::pong{*sent, payload}));
      ++*sent;
    }
  };
  auto finish = [=] {
    self->send(report, caf::ok_atom::value);
    self->quit();
  };
  return {
      [=](caf::ok_atom) {
        if (o.ack_every > o.one_way_messages) return finish();  // no ack will come
        refill();
      },
      [=](wire::pong&) {
        auto n = *acked += o.ack_every;
        if (n + o.ack_every > o.one_way_messages) return finish();
        refill();
      },
  };
}

// Node A sends to node B's echo actor through A's transport door, as a node's actors do.
class holo_path final : public bench_path {
 public:
  static result<std::unique_ptr<bench_path>> make(const transport_bench_options& o, bool curve) {
    std::optional<curve_keypair> ka, kb;
    if (curve) {
      ka = *generate_keypair();
      kb = *generate_keypair();
    }
    config::cluster_config cluster;
    cluster.name = "bench";
    if (o.coalesce_us >= 0) cluster.transport.coalesce_us = o.coalesce_us;
    for (auto [name, keys] : {std::pair{"a", &ka}, std::pair{"b", &kb}}) {
      config::node_config n;
      n.name = name;
      auto ep = loopback_endpoint();
      if (!ep) return ep.error();
      n.cluster_endpoint = *ep;
      if (*keys) n.public_key = (*keys)->public_z85;
      cluster.nodes.push_back(n);
    }
    std::unique_ptr<holo_path> p(new holo_path(o));
    if (auto st = p->start(cluster, ka, kb); !st.ok()) return st;
    return std::unique_ptr<bench_path>(std::move(p));
  }
  ~holo_path() override {
    if (echo_ && b_.self) (*b_.self)->send_exit(echo_, caf::exit_reason::user_shutdown);
    if (a_.sys) a_.sys->registry().erase(caf::atom("benchsink"));
    // Each bench_node then stops its own transport (and its scoped actor goes before its system).
  }
  bool round_trip() override {
    bool ok = false;
    (*a_.self)->request(door_, caf::infinite, remote_request_atom::value, std::string("b"), std::string("bench"),
                      std::int64_t{5000}, caf::make_message(wire::ping{UINT64_MAX, payload_}))
        .receive([&](wire::pong&) { ok = true; }, [&](caf::error&) {});
    return ok;
  }
  double one_way() override {
    auto& self = *a_.self;
    auto acked_count = std::make_shared<std::atomic<std::uint64_t>>(0);
    auto sender = a_.sys->spawn(bench_sender, o_, payload_, acked_count, caf::actor_cast<caf::actor>(self.ptr()));
    a_.sys->registry().put(caf::atom("benchsink"), caf::actor_cast<caf::strong_actor_ptr>(sender));
    bool done = false, stalled = false;
    auto t0 = clock_type::now();
    self->send(sender, caf::ok_atom::value);
    // Stalled: no ack for 5 s (a lost frame; the figure would not be a rate).
    std::uint64_t last = 0;
    auto last_change = clock_type::now();
    while (!done && !stalled) {
      self->receive([&](caf::ok_atom) { done = true; }, caf::after(std::chrono::milliseconds(200)) >> [] {});
      if (auto n = acked_count->load(); n != last) {
        last = n;
        last_change = clock_type::now();
      } else if (!done && clock_type::now() - last_change > std::chrono::seconds(5)) {
        stalled = true;
        self->send_exit(sender, caf::exit_reason::user_shutdown);
      }
    }
    std::uint64_t acked = acked_count->load();
    double rate = static_cast<double>(acked) / std::chrono::duration<double>(clock_type::now() - t0).count();
    if (stalled) {  // an ack never came: say what the transports saw, the figure is not a rate
      for (auto* n : {&a_, &b_})
        (*n->self)->request(n->transport, std::chrono::seconds(1), transport_stats_atom::value)
            .receive(
                [&](transport_stats& s) {
                  std::fprintf(stderr,
                               "%s: one-way stalled after %lu acks; transport frames in %lu out %lu dropped %lu "
                               "undeliverable %lu\n",
                               name_.c_str(), (unsigned long)acked, (unsigned long)s.frames_in,
                               (unsigned long)s.frames_out, (unsigned long)s.dropped_frames,
                               (unsigned long)s.undeliverable);
                },
                [&](caf::error&) {});
    }
    return rate;
  }
  // What the coalescing did, from node A's counters (both phases: the round trips are a few
  // frames next to the one-way stream).
  void annotate(transport_bench_row& row) override {
    (*a_.self)->request(a_.transport, std::chrono::seconds(1), transport_stats_atom::value)
        .receive(
            [&](transport_stats& s) {
              row.frames_out = s.frames_out;
              row.batches_out = s.batches_out;
            },
            [&](caf::error&) {});
  }

 private:
  explicit holo_path(const transport_bench_options& o) : o_(o) {
    payload_.assign(o.payload_bytes - std::min<std::size_t>(o.payload_bytes, 16), 'x');
  }
  status start(const config::cluster_config& cluster, const std::optional<curve_keypair>& ka,
               const std::optional<curve_keypair>& kb) {
    name_ = ka ? "holo + curve" : "holo";
    for (auto* n : {&a_, &b_}) {
      n->cfg.set("scheduler.max-threads", 2);
      use_actor_scheduler(n->cfg);  // what a node runs
      register_error_category(n->cfg);
      n->sys = std::make_unique<caf::actor_system>(n->cfg);
    }
    a_.transport = spawn_transport(*a_.sys, make_context(cluster, "a", a_.zmq, ka));
    b_.transport = spawn_transport(*b_.sys, make_context(cluster, "b", b_.zmq, kb));
    a_.sys->registry().put(caf::atom("transport"), caf::actor_cast<caf::strong_actor_ptr>(a_.transport));
    b_.sys->registry().put(caf::atom("transport"), caf::actor_cast<caf::strong_actor_ptr>(b_.transport));
    echo_ = b_.sys->spawn(bench_echo, o_.ack_every);
    b_.sys->registry().put(caf::atom("bench"), caf::actor_cast<caf::strong_actor_ptr>(echo_));
    for (auto* n : {&a_, &b_}) n->self.emplace(*n->sys);
    // Both transports initialised (their doors registered) before the door is looked up.
    for (auto* n : {&a_, &b_})
      (*n->self)->request(n->transport, std::chrono::seconds(5), sup::ready_atom::value)
          .receive([](caf::ok_atom) {}, [](caf::error&) {});
    // What the node's actors use: the transport's door, which encodes on the caller's thread.
    door_ = transport_door(*a_.sys);
    (*a_.self)->send(a_.transport, peer_state_atom::value, std::string("b"), true);
    (*b_.self)->send(b_.transport, peer_state_atom::value, std::string("a"), true);
    // Wait until the link is up (the first request may meet a connection still handshaking).
    for (int i = 0; i < 200; ++i) {
      if (round_trip()) return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status::unavailable(name_ + ": node B's echo did not answer within 4 s");
  }

  transport_bench_options o_;
  std::string name_, payload_;
  bench_node a_, b_;
  caf::actor echo_, door_;
};

// ---- the ceiling: the same two measurements between two actors of one actor system -----------------
// No transport at all (no encoding, no ZeroMQ, no second system): what CAF's mailboxes and
// scheduler alone cost on this host, the bound any CAF-based transport works under.
class caf_local_path final : public bench_path {
 public:
  explicit caf_local_path(const transport_bench_options& o) : o_(o), sys_(config()), self_(sys_) {
    auto sink = caf::actor_cast<caf::actor>(self_.ptr());
    echo_ = sys_.spawn([=, ack_every = o.ack_every](caf::event_based_actor* me) -> caf::behavior {
      auto count = std::make_shared<std::uint64_t>(0);
      return {
          [](wire::ping& p) { return wire::pong{p.seq, std::move(p.payload)}; },
          [=](wire::pong&) {
            if (++*count % ack_every == 0) me->send(sink, wire::pong{*count, {}});
          },
      };
    });
    payload_.assign(o.payload_bytes - std::min<std::size_t>(o.payload_bytes, 16), 'x');
  }
  ~caf_local_path() override { self_->send_exit(echo_, caf::exit_reason::user_shutdown); }
  bool round_trip() override {
    bool ok = false;
    self_->request(echo_, caf::infinite, wire::ping{0, payload_}).receive([&](wire::pong&) { ok = true; },
                                                                          [](caf::error&) {});
    return ok;
  }
  double one_way() override {
    std::size_t acked = 0;
    auto wait_ack = [&] { self_->receive([&](wire::pong&) { acked += o_.ack_every; }); };
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < o_.one_way_messages; ++i) {
      while (i - acked >= o_.window) wait_ack();
      self_->send(echo_, wire::pong{i, payload_});
    }
    while (acked + o_.ack_every <= o_.one_way_messages) wait_ack();
    return static_cast<double>(acked) / std::chrono::duration<double>(clock_type::now() - t0).count();
  }

 private:
  caf::actor_system_config& config() {
    cfg_.set("scheduler.max-threads", 2);
    use_actor_scheduler(cfg_);
    return cfg_;
  }
  transport_bench_options o_;
  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  caf::scoped_actor self_;
  caf::actor echo_;
  std::string payload_;
};

}  // namespace


const std::vector<std::string>& transport_bench_row_keys() {
  static const std::vector<std::string> keys{"raw", "holo", "raw-curve", "holo-curve", "caf-local"};
  return keys;
}

result<std::vector<transport_bench_row>> run_transport_bench(const transport_bench_options& opts) {
  auto wanted = [&](std::size_t i) {
    const auto& key = transport_bench_row_keys()[i];
    return opts.only.empty() || std::find(opts.only.begin(), opts.only.end(), key) != opts.only.end();
  };
  // The rows always sit at the same index (baselines refer to them); one left out keeps its name.
  std::vector<transport_bench_row> rows{{"raw zeromq"}, {"holo"}, {"raw zmq + curve"}, {"holo + curve"}, {"caf local"}};
  std::vector<std::unique_ptr<bench_path>> paths(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i].ran = wanted(i);
    if (!rows[i].ran) continue;
    auto path = i == 0   ? raw_path::make(opts, false)
                : i == 1 ? holo_path::make(opts, false)
                : i == 2 ? raw_path::make(opts, true)
                : i == 3 ? holo_path::make(opts, true)
                         : result<std::unique_ptr<bench_path>>(std::make_unique<caf_local_path>(opts));
    if (!path) return path.error();
    paths[i] = std::move(*path);
  }
  // Round trips in blocks, the rows taking turns: a ratio to raw compares the same minutes.
  std::vector<std::vector<double>> rtts(rows.size());
  for (std::size_t done = 0; done < opts.round_trips;) {
    const std::size_t block = std::min<std::size_t>(rtt_block, opts.round_trips - done);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (!paths[i]) continue;
      for (std::size_t k = 0; k < block; ++k) {
        auto t0 = clock_type::now();
        if (!paths[i]->round_trip()) break;  // no answer: the row's figures say so (fewer samples)
        rtts[i].push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
      }
    }
    done += block;
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!paths[i]) continue;
    rows[i].rtt_p50_us = percentile(rtts[i], 0.5);
    rows[i].rtt_p99_us = percentile(rtts[i], 0.99);
    rows[i].one_way_msgs_per_s = paths[i]->one_way();
    paths[i]->annotate(rows[i]);
    paths[i].reset();  // its threads gone before the next row's one-way phase
  }
  rows[1].baseline = 0;
  rows[3].baseline = 2;
  rows[2].baseline = 2;
  return rows;
}

namespace {

// One table line; the ratios are "-" where the row's raw baseline was not run.
std::string format_row(const std::string& name, double p50, double p99, double tput, std::optional<double> ratio,
                       std::optional<double> share) {
  char r[32] = "-", sh[32] = "-", line[256];
  if (ratio) std::snprintf(r, sizeof r, "%.2f", *ratio);
  if (share) std::snprintf(sh, sizeof sh, "%.0f%%", *share);
  std::snprintf(line, sizeof line, "%-16s %12.1f %12.1f %16.0f %10s %10s\n", name.c_str(), p50, p99, tput, r, sh);
  return line;
}

}  // namespace

std::string format_transport_bench(const std::vector<transport_bench_row>& rows, const transport_bench_options& o) {
  std::ostringstream os;
  char line[256];
  os << "transport: " << o.payload_bytes << "-byte messages over TCP loopback, " << o.round_trips
     << " round trips, " << o.one_way_messages << " one-way (window " << o.window << ")\n";
  std::snprintf(line, sizeof line, "%-16s %12s %12s %16s %10s %10s\n", "", "rtt p50 us", "rtt p99 us",
                "one-way msg/s", "p50 x raw", "tput % raw");
  os << line;
  for (auto& r : rows) {
    if (!r.ran) continue;
    const auto& raw = rows[r.baseline];
    std::optional<double> ratio, share;
    if (raw.ran && raw.rtt_p50_us > 0) ratio = r.rtt_p50_us / raw.rtt_p50_us;
    if (raw.ran && raw.one_way_msgs_per_s > 0) share = 100.0 * r.one_way_msgs_per_s / raw.one_way_msgs_per_s;
    os << format_row(r.name, r.rtt_p50_us, r.rtt_p99_us, r.one_way_msgs_per_s, ratio, share);
  }
  // How the holo rows' frames left node A: what a change to the coalescing shows first.
  for (auto& r : rows)
    if (r.ran && r.frames_out > 0) {
      std::snprintf(line, sizeof line, "%s: node A sent %llu frames, %llu ZeroMQ messages of several frames\n",
                    r.name.c_str(), static_cast<unsigned long long>(r.frames_out),
                    static_cast<unsigned long long>(r.batches_out));
      os << line;
    }
  return os.str();
}

std::string format_transport_summary(const std::vector<std::vector<transport_bench_row>>& rounds) {
  std::ostringstream os;
  if (rounds.empty()) return "";
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  char line[256];
  os << "median over " << rounds.size()
     << " rounds (each ratio against the same round's raw ZeroMQ with the same mechanism)\n";
  std::snprintf(line, sizeof line, "%-16s %12s %12s %16s %10s %10s\n", "", "rtt p50 us", "rtt p99 us",
                "one-way msg/s", "p50 x raw", "tput % raw");
  os << line;
  for (std::size_t r = 0; r < rounds.front().size(); ++r) {
    std::vector<double> p50, p99, tput, ratio, share;
    for (auto& round : rounds) {
      if (r >= round.size() || !round[r].ran) continue;
      auto& row = round[r];
      auto& raw = round[row.baseline];
      p50.push_back(row.rtt_p50_us);
      p99.push_back(row.rtt_p99_us);
      tput.push_back(row.one_way_msgs_per_s);
      if (raw.ran && raw.rtt_p50_us > 0) ratio.push_back(row.rtt_p50_us / raw.rtt_p50_us);
      if (raw.ran && raw.one_way_msgs_per_s > 0) share.push_back(100.0 * row.one_way_msgs_per_s / raw.one_way_msgs_per_s);
    }
    if (p50.empty()) continue;
    auto opt_median = [&](const std::vector<double>& v) { return v.empty() ? std::nullopt : std::optional<double>(median(v)); };
    os << format_row(rounds.front()[r].name, median(p50), median(p99), median(tput), opt_median(ratio),
                     opt_median(share));
  }
  return os.str();
}

}  // namespace holo
