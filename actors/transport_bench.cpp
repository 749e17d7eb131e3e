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
using ack_atom = caf::atom_constant<caf::atom("bench_ack")>;

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

// ---- raw ZeroMQ: the baseline ----------------------------------------------------------------------
result<transport_bench_row> bench_raw(const transport_bench_options& o, bool curve) {
  transport_bench_row row{curve ? "raw zmq + curve" : "raw zeromq"};
  auto endpoint = loopback_endpoint();
  if (!endpoint) return endpoint.error();
  const std::string& ep = *endpoint;
  // One context per side, as two nodes (two processes) have: each its own ZeroMQ I/O thread. With
  // one shared context a single I/O thread would carry both ends of the TCP connection, a shortcut
  // two nodes never get (and the holo rows below do not: two actor systems, two contexts).
  zmq::context_t ctx, client_ctx;
  std::atomic<bool> stop{false};
  std::optional<curve_keypair> server_keys, client_keys;
  if (curve) {
    server_keys = *generate_keypair();
    client_keys = *generate_keypair();
  }
  // The echo side: answers each frame of the round-trip phase, acks every ack_every one-way frames.
  std::thread server([&] {
    zmq::socket_t r(ctx, zmq::socket_type::router);
    r.set(zmq::sockopt::linger, 0);
    r.set(zmq::sockopt::rcvtimeo, 100);
    if (curve) {  // no ZAP handler: CURVE alone, the encryption without the admission check
      r.set(zmq::sockopt::curve_server, 1);
      r.set(zmq::sockopt::curve_secretkey, server_keys->secret_z85);
    }
    r.bind(ep);
    std::uint64_t count = 0;
    std::vector<zmq::message_t> parts;
    while (!stop) {
      parts.clear();
      if (!zmq::recv_multipart(r, std::back_inserter(parts))) continue;
      if (parts.size() != 2) continue;
      if (parts[1].size() > 0 && static_cast<const char*>(parts[1].data())[0] == 'r') {
        zmq::send_multipart(r, parts);
      } else if (++count % o.ack_every == 0) {
        std::array<zmq::const_buffer, 2> ack{zmq::buffer(parts[0].data(), parts[0].size()), zmq::str_buffer("a")};
        zmq::send_multipart(r, ack);
      }
    }
  });
  zmq::socket_t d(client_ctx, zmq::socket_type::dealer);
  d.set(zmq::sockopt::linger, 0);
  if (curve) {
    d.set(zmq::sockopt::curve_serverkey, server_keys->public_z85);
    d.set(zmq::sockopt::curve_publickey, client_keys->public_z85);
    d.set(zmq::sockopt::curve_secretkey, client_keys->secret_z85);
  }
  d.connect(ep);
  std::string rt(o.payload_bytes, 'x');
  rt[0] = 'r';
  std::string ow(o.payload_bytes, 'x');
  zmq::message_t reply;
  (void)d.send(zmq::buffer(rt));  // warm up the connection
  (void)d.recv(reply);
  std::vector<double> rtts;
  rtts.reserve(o.round_trips);
  for (std::size_t i = 0; i < o.round_trips; ++i) {
    auto t0 = clock_type::now();
    (void)d.send(zmq::buffer(rt));
    (void)d.recv(reply);
    rtts.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  row.rtt_p50_us = percentile(rtts, 0.5);
  row.rtt_p99_us = percentile(rtts, 0.99);
  std::size_t acked = 0;
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < o.one_way_messages; ++i) {
    while (i - acked >= o.window) {
      (void)d.recv(reply);
      acked += o.ack_every;
    }
    (void)d.send(zmq::buffer(ow));
  }
  while (acked + o.ack_every <= o.one_way_messages) {
    (void)d.recv(reply);
    acked += o.ack_every;
  }
  row.one_way_msgs_per_s = static_cast<double>(acked) / std::chrono::duration<double>(clock_type::now() - t0).count();
  stop = true;
  server.join();
  return row;
}

// ---- two in-process nodes --------------------------------------------------------------------------
struct bench_node {
  zmq::context_t zmq{1};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor transport;
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

// ---- the ceiling: the same two measurements between two actors of one actor system -----------------
// No transport at all (no encoding, no ZeroMQ, no second system): what CAF's mailboxes and
// scheduler alone cost on this host, the bound any CAF-based transport works under.
transport_bench_row bench_caf_local(const transport_bench_options& o) {
  transport_bench_row row{"caf local"};
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  use_actor_scheduler(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto sink = caf::actor_cast<caf::actor>(self.ptr());
  auto echo = sys.spawn([=, ack_every = o.ack_every](caf::event_based_actor* me) -> caf::behavior {
    auto count = std::make_shared<std::uint64_t>(0);
    return {
        [](wire::ping& p) { return wire::pong{p.seq, std::move(p.payload)}; },
        [=](wire::pong&) {
          if (++*count % ack_every == 0) me->send(sink, wire::pong{*count, {}});
        },
    };
  });
  std::string payload(o.payload_bytes - std::min<std::size_t>(o.payload_bytes, 16), 'x');
  std::vector<double> rtts;
  rtts.reserve(o.round_trips);
  for (std::size_t i = 0; i < o.round_trips; ++i) {
    auto t0 = clock_type::now();
    self->request(echo, caf::infinite, wire::ping{i, payload}).receive([](wire::pong&) {}, [](caf::error&) {});
    rtts.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  row.rtt_p50_us = percentile(rtts, 0.5);
  row.rtt_p99_us = percentile(rtts, 0.99);
  std::size_t acked = 0;
  auto wait_ack = [&] { self->receive([&](wire::pong&) { acked += o.ack_every; }); };
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < o.one_way_messages; ++i) {
    while (i - acked >= o.window) wait_ack();
    self->send(echo, wire::pong{i, payload});
  }
  while (acked + o.ack_every <= o.one_way_messages) wait_ack();
  row.one_way_msgs_per_s = static_cast<double>(acked) / std::chrono::duration<double>(clock_type::now() - t0).count();
  self->send_exit(echo, caf::exit_reason::user_shutdown);
  return row;
}

result<transport_bench_row> bench_holo(const transport_bench_options& o, bool curve) {
  transport_bench_row row{curve ? "holo + curve" : "holo"};
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
  bench_node a, b;
  for (auto* n : {&a, &b}) {
    n->cfg.set("scheduler.max-threads", 2);
    use_actor_scheduler(n->cfg);  // what a node runs
    register_error_category(n->cfg);
    n->sys = std::make_unique<caf::actor_system>(n->cfg);
  }
  a.transport = spawn_transport(*a.sys, make_context(cluster, "a", a.zmq, ka));
  b.transport = spawn_transport(*b.sys, make_context(cluster, "b", b.zmq, kb));
  a.sys->registry().put(caf::atom("transport"), caf::actor_cast<caf::strong_actor_ptr>(a.transport));
  b.sys->registry().put(caf::atom("transport"), caf::actor_cast<caf::strong_actor_ptr>(b.transport));
  auto echo = b.sys->spawn(bench_echo, o.ack_every);
  b.sys->registry().put(caf::atom("bench"), caf::actor_cast<caf::strong_actor_ptr>(echo));
  caf::scoped_actor self{*a.sys};
  // Both transports initialised (their doors registered) before the door is looked up.
  for (auto* t : {&a.transport, &b.transport})
    self->request(*t, std::chrono::seconds(5), sup::ready_atom::value).receive([](caf::ok_atom) {}, [](caf::error&) {});
  // What the node's actors use: the transport's door, which encodes on the caller's thread.
  auto door = transport_door(*a.sys);
  self->send(a.transport, peer_state_atom::value, std::string("b"), true);
  self->send(b.transport, peer_state_atom::value, std::string("a"), true);
  std::string payload(o.payload_bytes - std::min<std::size_t>(o.payload_bytes, 16), 'x');
  auto ask = [&](std::uint64_t seq) {
    bool ok = false;
    self->request(door, caf::infinite, remote_request_atom::value, std::string("b"),
                  std::string("bench"), std::int64_t{5000}, caf::make_message(wire::ping{seq, payload}))
        .receive([&](wire::pong&) { ok = true; }, [&](caf::error&) {});
    return ok;
  };
  // Wait until the link is up (the first request may meet a connection still handshaking).
  for (int i = 0; i < 200 && !ask(UINT64_MAX); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<double> rtts;
  rtts.reserve(o.round_trips);
  for (std::size_t i = 0; i < o.round_trips; ++i) {
    auto t0 = clock_type::now();
    if (!ask(UINT64_MAX)) break;
    rtts.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  row.rtt_p50_us = percentile(rtts, 0.5);
  row.rtt_p99_us = percentile(rtts, 0.99);
  auto acked_count = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto sender = a.sys->spawn(bench_sender, o, payload, acked_count, caf::actor_cast<caf::actor>(self.ptr()));
  a.sys->registry().put(caf::atom("benchsink"), caf::actor_cast<caf::strong_actor_ptr>(sender));
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
  row.one_way_msgs_per_s = static_cast<double>(acked) / std::chrono::duration<double>(clock_type::now() - t0).count();
  // What the coalescing did, from node A's counters (both phases: the round trips are a few
  // frames next to the one-way stream).
  self->request(a.transport, std::chrono::seconds(1), transport_stats_atom::value)
      .receive(
          [&](transport_stats& s) {
            row.frames_out = s.frames_out;
            row.batches_out = s.batches_out;
          },
          [&](caf::error&) {});
  if (stalled) {  // an ack never came: say what the transports saw, the figure is not a rate
    for (auto* t : {&a.transport, &b.transport})
      self->request(*t, std::chrono::seconds(1), transport_stats_atom::value)
          .receive([&](transport_stats& s) {
                     std::fprintf(stderr, "%s: one-way stalled after %lu acks; transport frames in %lu out %lu dropped %lu undeliverable %lu\n", row.name.c_str(), (unsigned long)acked,
                                  (unsigned long)s.frames_in, (unsigned long)s.frames_out,
                                  (unsigned long)s.dropped_frames, (unsigned long)s.undeliverable);
                   },
                   [&](caf::error&) {});
  }
  for (auto* n : {&a, &b}) self->send_exit(n->transport, caf::exit_reason::user_shutdown);
  self->send_exit(echo, caf::exit_reason::user_shutdown);
  a.sys->registry().erase(caf::atom("benchsink"));
  return row;
}

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
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!wanted(i)) {
      rows[i].ran = false;
      continue;
    }
    auto row = i == 0   ? bench_raw(opts, false)
               : i == 1 ? bench_holo(opts, false)
               : i == 2 ? bench_raw(opts, true)
               : i == 3 ? bench_holo(opts, true)
                        : result<transport_bench_row>(bench_caf_local(opts));
    if (!row) return row.error();
    rows[i] = std::move(*row);
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
