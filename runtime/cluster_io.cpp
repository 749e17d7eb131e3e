#include "runtime/cluster_io.hpp"

#include <algorithm>
#include <cstring>

#include <map>
#include <mutex>
#include <vector>

#include <poll.h>
#include <pthread.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/all.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "runtime/after_job.hpp"
#include "runtime/keys.hpp"
#include "runtime/wire_batch.hpp"
#include "runtime/zap.hpp"

namespace holo {

namespace {

// The host part of tcp://HOST:PORT (IPv6 in brackets), or "" for non-tcp transports.
std::string endpoint_host(const std::string& ep) {
  if (ep.rfind("tcp://", 0) != 0) return "";
  auto rest = ep.substr(6);
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    return close == std::string::npos ? rest : rest.substr(1, close - 1);
  }
  return rest.substr(0, rest.rfind(':'));
}

}  // namespace

bool is_loopback_endpoint(const std::string& ep) {
  if (ep.rfind("ipc://", 0) == 0 || ep.rfind("inproc://", 0) == 0) return true;
  auto host = endpoint_host(ep);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

using io_clock = std::chrono::steady_clock;

// A DEALER to one peer, and how its sends have been going.
struct peer_link {
  std::unique_ptr<zmq::socket_t> socket;
  std::unique_ptr<zmq::socket_t> monitor;  // PAIR receiving the DEALER's connect/disconnect events
  std::string endpoint;
  std::string public_key;
  std::optional<io_clock::time_point> failing_since;  // first failed send of the current streak
  io_clock::time_point created = io_clock::now();
  bool rebuild_wanted = false;  // set by send(), acted on by the I/O thread (which owns `monitor`)
  // Coalescing (cluster_io.hpp): frames of a burst wait here, as one batch, for the next flush.
  std::string batch;
  std::size_t batch_frames = 0;
  io_clock::time_point last_send{};  // the last send() to this peer that found no batch waiting
};

// libzmq 4.3 gives up on a connection for good after some handshake failures (a peer that spoke
// NULL to our CURVE, say), so a link that has refused every frame for this long is rebuilt.
constexpr auto link_rebuild_after = std::chrono::seconds(2);

// Threads: `router`, `zap` and every link's `monitor` belong to the I/O thread. The DEALERs are
// used by send() on any thread and rebuilt/closed by the I/O thread, always under `dealers_mtx`.
struct cluster_io::sockets {
  zmq::context_t* ctx = nullptr;
  std::unique_ptr<zmq::socket_t> router;
  std::mutex dealers_mtx;
  std::map<std::string, peer_link> dealers;  // by peer name; guarded by dealers_mtx
  bool closed = false;                       // guarded by dealers_mtx: send() refuses from now on
  std::atomic<bool> rebuild_wanted{false};   // some link's rebuild_wanted is set
  int wake_fd = -1;  // timerfd: send() started a batch, the I/O thread flushes it when this fires
  std::atomic<bool> batch_armed{false};  // wake_fd is armed; the I/O thread looks at it even when busy
  io_clock::time_point armed_due{};      // when it fires; guarded by dealers_mtx
  ~sockets() {
    if (wake_fd >= 0) ::close(wake_fd);
  }
  std::optional<zap_handler> zap;  // with CURVE; created before the ROUTER binds (ZAP fails open)
};

// Held by after_job entries (they may outlive the cluster_io): stop() clears `io` under `mtx`, so a
// flush either finishes first or finds nothing to flush.
struct cluster_io::flush_handle {
  std::mutex mtx;
  cluster_io* io = nullptr;
};

result<std::unique_ptr<cluster_io>> cluster_io::start(caf::actor_system& sys, zmq::context_t& ctx,
                                                      cluster_io_options opts, caf::actor owner) {
  if (!opts.curve) {
    if (!is_loopback_endpoint(opts.bind_endpoint))
      return status::invalid_argument("refusing to bind " + opts.bind_endpoint +
                                      " without CURVE keys: off loopback every link must be encrypted "
                                      "(make keys with `holo keygen`, see docs/security.md)");
    for (auto& p : opts.peers)
      if (!is_loopback_endpoint(p.endpoint))
        return status::invalid_argument("refusing to connect to " + p.name + " at " + p.endpoint +
                                        " without CURVE keys (see docs/security.md)");
  } else {
    for (auto& p : opts.peers)
      if (p.public_key.size() != 40)
        return status::invalid_argument("peer " + p.name + " has no CURVE public key in the configuration");
  }
  std::unique_ptr<cluster_io> io(new cluster_io());
  io->opts_ = std::move(opts);
  io->owner_ = std::move(owner);
  io->sockets_ = std::make_unique<sockets>();
  io->flush_handle_ = std::make_shared<flush_handle>();
  io->flush_handle_->io = io.get();
  io->flush_ref_ = io->flush_handle_;
  auto& s = *io->sockets_;
  auto& o = io->opts_;
  s.ctx = &ctx;
  if (o.curve) {
    zap_policy policy;
    for (auto& [key, name] : o.allowed) {
      auto k = decode_key(key);
      if (!k) return status::invalid_argument("public key of " + name + ": " + k.error().message());
      policy.allow(*k, name, "holo-cluster");
      policy.allow(*k, name, "holo-client");
    }
    for (auto& [key, name] : o.allowed_clients) {
      auto k = decode_key(key);
      if (!k) return status::invalid_argument("public key of client " + name + ": " + k.error().message());
      policy.allow(*k, "client:" + name, "holo-client");
    }
    auto z = zap_handler::create(ctx, std::move(policy));
    if (!z) return z.error();
    s.zap.emplace(std::move(z).value());
    // Runs on the I/O thread: tell the owner (for the log) without blocking on anything.
    s.zap->set_observer([owner = io->owner_](const zap_request& req, const zap_reply& rep) {
      if (!rep.admitted())
        caf::anon_send(owner, cluster_rejected_atom::value, req.address, rep.status_text);
    });
  }
  try {
    s.router = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::router);
    s.router->set(zmq::sockopt::linger, 0);
    s.router->set(zmq::sockopt::maxmsgsize, o.frame_bytes_max);
    s.router->set(zmq::sockopt::rcvhwm, o.peer_queue_frames_max * 4);
    if (o.curve) {
      s.router->set(zmq::sockopt::curve_server, 1);
      s.router->set(zmq::sockopt::curve_secretkey, o.curve->secret_key);
      s.router->set(zmq::sockopt::zap_domain, "holo-cluster");
    }
    s.router->bind(o.bind_endpoint);
    for (auto& p : o.peers) {
      peer_link link;
      link.endpoint = p.endpoint;
      link.public_key = p.public_key;
      link.socket = io->make_dealer(link);
      link.monitor = io->make_monitor(*link.socket, p.name);
      s.dealers.emplace(p.name, std::move(link));
    }
  } catch (const zmq::error_t& e) {
    return status::unavailable("cluster endpoint " + o.bind_endpoint + ": " + e.what());
  }
  s.wake_fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (s.wake_fd < 0) return status::unavailable("cannot create the I/O thread's batch timer (timerfd)");
  (void)sys;  // kept in the signature: the I/O thread reaches actors through owner and deliver_inline
  io->thread_ = std::thread([raw = io.get()] {
    // Named for `top -H` and perf: "io:" and the node's name (Linux keeps 15 characters).
    pthread_setname_np(pthread_self(), ("io:" + raw->opts_.self).substr(0, 15).c_str());
    raw->run();
  });
  return io;
}

std::unique_ptr<zmq::socket_t> cluster_io::make_dealer(const peer_link& link) {
  auto& o = opts_;
  auto d = std::make_unique<zmq::socket_t>(*sockets_->ctx, zmq::socket_type::dealer);
  d->set(zmq::sockopt::routing_id, o.self);
  // A short linger lets a last `leave` reach the peer on a clean stop, without holding the process
  // on a dead peer.
  d->set(zmq::sockopt::linger, 200);
  // Queue nothing for a peer that is not connected: send() refuses its frames at once, so
  // requests fail fast and heartbeats never pile up and arrive in a burst.
  d->set(zmq::sockopt::immediate, 1);
  // Four times the queue we promise: a ZeroMQ pipe's reader returns credit in batches of half the
  // HWM, so the writer can see up to HWM/2 frames as queued that the wire already took. At 2x, a
  // sender encoding on its own thread (the transport's door) still saw frames refused inside a
  // window of 640 (docs/benchmarks.md, transport); at 4x none in the runs measured.
  d->set(zmq::sockopt::sndhwm, 4 * o.peer_queue_frames_max);
  d->set(zmq::sockopt::maxmsgsize, o.frame_bytes_max);
  d->set(zmq::sockopt::reconnect_ivl, o.reconnect_ms);
  d->set(zmq::sockopt::reconnect_ivl_max, o.reconnect_max_ms);
  if (o.curve) {
    d->set(zmq::sockopt::curve_serverkey, link.public_key);
    d->set(zmq::sockopt::curve_publickey, o.curve->public_key);
    d->set(zmq::sockopt::curve_secretkey, o.curve->secret_key);
  }
  d->connect(link.endpoint);
  return d;
}

// A PAIR socket that receives the DEALER's handshake-succeeded and disconnected events: a peer
// process that dies closes its sockets, and this notices it in microseconds instead of the
// phi-accrual detector's second.
std::unique_ptr<zmq::socket_t> cluster_io::make_monitor(zmq::socket_t& dealer, const std::string& peer) {
  static std::atomic<std::uint64_t> next{0};
  auto address = "inproc://holo-link-" + peer + "-" + std::to_string(next++);
  if (zmq_socket_monitor(dealer.handle(), address.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
    return nullptr;
  auto m = std::make_unique<zmq::socket_t>(*sockets_->ctx, zmq::socket_type::pair);
  m->set(zmq::sockopt::linger, 0);
  m->connect(address);
  return m;
}

cluster_io::~cluster_io() { stop(); }

void cluster_io::stop() {
  if (flush_handle_) {
    std::lock_guard<std::mutex> guard{flush_handle_->mtx};
    flush_handle_->io = nullptr;
  }
  running_ = false;
  if (thread_.joinable()) thread_.join();
  opts_.deliver_inline = nullptr;
  opts_.on_tick = nullptr;
  opts_.on_batch_end = nullptr;
}

namespace {

// One non-blocking send on a DEALER; false when ZeroMQ refuses (not connected, queue full).
bool send_now(zmq::socket_t& socket, std::string_view bytes) {
  try {
    zmq::message_t msg(bytes.data(), bytes.size());
    return socket.send(msg, zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

}  // namespace

// Under dealers_mtx: puts `frames` frames (`bytes`, one frame or a batch) on the link's DEALER and
// keeps the counters and the refusal streak.
bool cluster_io::put_on_wire(peer_link& link, std::string_view bytes, std::size_t frames) {
  auto& c = *counters_;
  if (send_now(*link.socket, bytes)) {
    c.frames_out += frames;
    c.bytes_out += bytes.size();
    if (frames > 1) ++c.batches_out;
    link.failing_since.reset();
    return true;
  }
  c.undeliverable += frames;
  auto now = io_clock::now();
  if (!link.failing_since) link.failing_since = now;
  if (now - *link.failing_since > link_rebuild_after && now - link.created > link_rebuild_after) {
    link.rebuild_wanted = true;  // the I/O thread owns the monitor socket: it rebuilds (within 50 ms)
    sockets_->rebuild_wanted = true;
  }
  return false;
}

// Under dealers_mtx: sends the link's waiting batch (a batch of one as the frame alone).
bool cluster_io::flush_batch(peer_link& link) {
  if (link.batch_frames == 0) return true;
  bool ok = link.batch_frames == 1 ? put_on_wire(link, wire::only_frame_of_batch(link.batch), 1)
                                   : put_on_wire(link, link.batch, link.batch_frames);
  link.batch.clear();
  if (link.batch.capacity() > 2 * opts_.batch_bytes_max) std::string().swap(link.batch);
  link.batch_frames = 0;
  return ok;
}

// Under dealers_mtx: makes the batch timer fire within `wait_us`. One timer serves all peers. It is
// brought forward for a batch that must leave sooner, never pushed back: re-arming it later for
// every new batch would let a stream of batches to one peer postpone another peer's batch for as
// long as the stream lasts.
void cluster_io::arm_batch_timer(int wait_us) {
  auto& s = *sockets_;
  auto due = io_clock::now() + std::chrono::microseconds(wait_us);
  if (s.batch_armed.load() && s.armed_due <= due) return;
  s.armed_due = due;
  s.batch_armed.store(true);
  itimerspec when{};
  when.it_value.tv_sec = wait_us / 1000000;
  when.it_value.tv_nsec = static_cast<long>(wait_us % 1000000) * 1000;
  ::timerfd_settime(s.wake_fd, 0, &when, nullptr);
}

bool cluster_io::send(const std::string& peer, std::string_view frame) {
  auto& s = *sockets_;
  const bool job_flushes = after_job::available();  // this thread's actor job will flush (below)
  {
    std::lock_guard<std::mutex> guard{s.dealers_mtx};
    auto it = s.closed ? s.dealers.end() : s.dealers.find(peer);
    if (it == s.dealers.end()) {
      ++counters_->dropped_unknown_peer;
      return false;
    }
    auto& link = it->second;
    // The clock only matters when no batch is waiting (a frame joins a waiting batch regardless):
    // a long stream then sends one frame alone per batch, after each flush, and reads the clock
    // once per batch instead of once per frame.
    bool idle = false;
    if (link.batch_frames == 0) {
      auto now = io_clock::now();
      idle = now - link.last_send >= std::chrono::microseconds(opts_.coalesce_idle_us);
      link.last_send = now;
    }
    // Alone and at once: the first frame after a quiet spell (a request, a heartbeat, a token),
    // every frame while the link refuses (so the caller hears of it now), and large frames.
    bool alone = opts_.coalesce_wait_us <= 0 || link.failing_since.has_value() ||
                 frame.size() + wire::batch_prefix_bytes + 1 > opts_.batch_bytes_max;
    if (link.batch_frames == 0 && (idle || alone)) return put_on_wire(link, frame, 1);
    // Part of a burst: joins the batch the I/O thread sends when it wakes. A full batch (bytes or
    // frames) goes out from this thread first, so a batch never outgrows its bounds.
    if (link.batch_frames > 0 &&
        (alone || link.batch.size() + wire::batch_prefix_bytes + frame.size() > opts_.batch_bytes_max ||
         link.batch_frames >= static_cast<std::size_t>(opts_.peer_queue_frames_max))) {
      if (!flush_batch(link)) {
        ++counters_->undeliverable;
        return false;
      }
      if (alone) return put_on_wire(link, frame, 1);
    }
    wire::append_to_batch(link.batch, frame);
    if (++link.batch_frames == 1) {
      // The batch's deadline: frames that come within it join; then the I/O thread sends every
      // waiting batch. On a worker of the node's scheduler the batch leaves sooner, when the
      // sending actor's job ends (a burst sent in one run of a behaviour goes out together, at
      // once: after_job below), and the timer is only the bound (job_flush_bound_us).
      arm_batch_timer(job_flushes ? std::max(opts_.coalesce_wait_us, opts_.job_flush_bound_us) : opts_.coalesce_wait_us);
    }
  }
  if (job_flushes) after_job::defer(&cluster_io::flush_deferred, flush_ref_);
  return true;
}

void cluster_io::flush_deferred(void* handle) {
  auto& h = *static_cast<flush_handle*>(handle);
  std::lock_guard<std::mutex> guard{h.mtx};
  if (h.io) h.io->flush_waiting();
}

// Any thread: sends every waiting batch now (the timer, if armed, then finds nothing).
void cluster_io::flush_waiting() {
  auto& s = *sockets_;
  std::lock_guard<std::mutex> guard{s.dealers_mtx};
  if (s.closed) return;
  for (auto& [name, link] : s.dealers)
    if (link.batch_frames > 0) flush_batch(link);
}

// I/O thread: sends every waiting batch.
void cluster_io::flush_batches() {
  auto& s = *sockets_;
  std::uint64_t expirations = 0;
  s.batch_armed.store(false);  // before the flush: a batch started after it arms the timer again
  (void)!::read(s.wake_fd, &expirations, sizeof expirations);
  flush_waiting();
}

// I/O thread: replaces the DEALER (and its monitor) of every link that send() found refusing.
void cluster_io::rebuild_failing_links() {
  auto& s = *sockets_;
  std::lock_guard<std::mutex> guard{s.dealers_mtx};
  for (auto& [name, link] : s.dealers) {
    if (!link.rebuild_wanted) continue;
    link.monitor.reset();
    link.socket = make_dealer(link);
    link.monitor = make_monitor(*link.socket, name);
    link.created = io_clock::now();
    link.failing_since.reset();
    link.rebuild_wanted = false;
    ++counters_->links_rebuilt;
  }
}

namespace {

bool socket_readable(void* socket) {  // ZMQ_EVENTS: libzmq processes the socket's commands first
  int events = 0;
  std::size_t len = sizeof events;
  return zmq_getsockopt(socket, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

// zmq_poll for the I/O thread, without what it costs on every wake-up here: a poll(2) with a zero
// timeout before each blocking one and a ZMQ_EVENTS query of every socket on both sides of it (each
// query is a getpid and a poll(2) inside libzmq). A socket's ZMQ_FD is an edge ("something
// changed"), not a level; its edge is only lost when an operation on the socket consumed it. So:
// a socket this thread drained (its last recv said EAGAIN, or ZMQ_EVENTS said nothing to read:
// `quiet`) will fire its fd on the next arrival and is not asked before sleeping; any other is
// asked (ZMQ_EVENTS) and, if readable, no sleep happens, else it is quiet from then on. After
// waking, a socket whose fd fired is reported ready without asking: the caller's recv
// (non-blocking) finds out. Plain fds (the batch timer) are polled as they are; when
// a socket is ready at once they are looked at only if `plain_fds_too` (a batch is waiting), with a
// zero timeout. Sets each item's revents; returns how many are ready.
int wait_ready(std::vector<zmq::pollitem_t>& items, std::vector<char>& quiet, std::vector<pollfd>& fds,
               int timeout_ms, bool plain_fds_too) {
  int ready = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& it = items[i];
    it.revents = 0;
    if (!it.socket || quiet[i]) continue;
    if (socket_readable(it.socket)) {
      it.revents = ZMQ_POLLIN;
      ++ready;
    } else {
      quiet[i] = 1;
    }
  }
  if (ready && !plain_fds_too) return ready;
  fds.resize(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    fds[i] = {items[i].fd, POLLIN, 0};
    if (items[i].socket) {
      std::size_t len = sizeof fds[i].fd;
      zmq_getsockopt(items[i].socket, ZMQ_FD, &fds[i].fd, &len);
      if (ready) fds[i].fd = -1;  // known already: only the plain fds are wanted now
    }
  }
  int n = ::poll(fds.data(), fds.size(), ready ? 0 : timeout_ms);
  if (n <= 0) return ready;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLERR | POLLHUP))) {
      items[i].revents = ZMQ_POLLIN;
      ++ready;
    }
  return ready;
}

}  // namespace

// The execution unit the I/O thread hands to deliver_inline: a scheduled actor that a delivery
// wakes (its mailbox was empty) lands here instead of in the scheduler, and goes there at flush(),
// after the batch of frames. Messages are in the mailboxes already; only the wake-up waits.
class cluster_io::deferred_scheduling final : public caf::execution_unit {
 public:
  explicit deferred_scheduling(caf::actor_system* sys) : caf::execution_unit(sys) {}
  ~deferred_scheduling() override { flush(); }
  void exec_later(caf::resumable* job) override { jobs_.push_back(job); }
  void flush() {
    for (caf::resumable* job : jobs_) system().scheduler().enqueue(job);  // takes the reference CAF added
    jobs_.clear();
  }

 private:
  std::vector<caf::resumable*> jobs_;
};

void cluster_io::run() {
  auto& s = *sockets_;
  auto& c = *counters_;
  deferred_scheduling batch(&owner_->home_system());
  bool curve = opts_.curve.has_value();
  // 0: the ROUTER, 1: the batch timer (timerfd), 2: the ZAP socket (with CURVE), then the link monitors.
  std::vector<zmq::pollitem_t> items{{s.router->handle(), 0, ZMQ_POLLIN, 0}, {nullptr, s.wake_fd, ZMQ_POLLIN, 0}};
  if (s.zap) items.push_back({s.zap->socket().handle(), 0, ZMQ_POLLIN, 0});
  std::vector<zmq::message_t> parts;
  std::vector<pollfd> pollfds;
  std::vector<char> quiet;  // per item: this thread drained the socket (wait_ready)
  const std::size_t fixed = items.size();
  std::vector<std::string> monitored;  // peer of items[fixed + i]
  auto rebuild_items = [&] {
    items.resize(fixed);
    monitored.clear();
    for (auto& [name, link] : s.dealers)
      if (link.monitor) {
        items.push_back({link.monitor->handle(), 0, ZMQ_POLLIN, 0});
        monitored.push_back(name);
      }
    quiet.assign(items.size(), 0);  // new sockets: ask each before the first sleep
  };
  // True when it drained the monitor (its last recv found nothing).
  auto read_monitor = [&](const std::string& peer) {
    auto it = s.dealers.find(peer);
    if (it == s.dealers.end() || !it->second.monitor) return true;
    for (int n = 0; n < 16; ++n) {
      parts.clear();
      if (!zmq::recv_multipart(*it->second.monitor, std::back_inserter(parts), zmq::recv_flags::dontwait)) return true;
      if (parts.empty() || parts[0].size() < 6) continue;
      std::uint16_t event = 0;
      std::memcpy(&event, parts[0].data(), sizeof(event));
      if (event == ZMQ_EVENT_DISCONNECTED) caf::anon_send(owner_, cluster_link_atom::value, peer, false);
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) caf::anon_send(owner_, cluster_link_atom::value, peer, true);
    }
    return false;
  };
  rebuild_items();
  const auto tick = std::chrono::milliseconds(std::max(1, opts_.tick_ms));
  auto next_tick = io_clock::now() + tick;
  while (running_) {
    try {
      if (opts_.on_tick && io_clock::now() >= next_tick) {
        opts_.on_tick();
        next_tick = io_clock::now() + tick;
      }
      if (s.rebuild_wanted.exchange(false)) {  // send() found links refusing for too long
        rebuild_failing_links();
        rebuild_items();
      }
      wait_ready(items, quiet, pollfds, static_cast<int>(opts_.on_tick ? tick.count() : 50),
                 s.batch_armed.load(std::memory_order_relaxed));
      if (items[1].revents & ZMQ_POLLIN) flush_batches();
      for (std::size_t i = fixed; i < items.size(); ++i)
        if (items[i].revents & ZMQ_POLLIN) quiet[i] = read_monitor(monitored[i - fixed]);
      if (items[0].revents & ZMQ_POLLIN) quiet[0] = 0;
      for (int n = 0; n < 256 && (items[0].revents & ZMQ_POLLIN); ++n) {
        parts.clear();
        if (!zmq::recv_multipart(*s.router, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
          quiet[0] = 1;
          break;
        }
        if (parts.size() != 2) {
          ++c.dropped_malformed;
          continue;
        }
        std::string peer;
        if (curve) {
          // The name ZAP gave this client's key: the only identity we trust off loopback.
          const char* uid = parts[1].gets("User-Id");
          peer = uid ? uid : "";
        } else {
          peer = parts[0].to_string();
        }
        c.bytes_in += parts[1].size();
        auto deliver = [&](std::string_view frame) {
          ++c.frames_in;
          if (opts_.deliver_inline && opts_.deliver_inline(peer, frame, &batch)) return;
          caf::anon_send(owner_, cluster_in_atom::value, peer, std::string(frame));
        };
        auto message = parts[1].to_string_view();
        if (!wire::is_batch(message)) {
          deliver(message);
        } else {
          ++c.batches_in;
          if (!wire::for_each_batched_frame(message, deliver)) ++c.dropped_malformed;
        }
        // The actors this message woke go to the scheduler now, not after the next recv (which
        // costs libzmq a poll and a getpid even when it finds nothing): a request's target starts
        // a few microseconds sooner, and a burst, which arrives as one batch, still wakes its
        // actor once.
        if (opts_.on_batch_end) opts_.on_batch_end();
        batch.flush();  // also before anything else can wait: the next poll may sleep
      }
      if (s.zap && (items[2].revents & ZMQ_POLLIN)) {
        s.zap->handle_ready();  // reads until nothing is left
        quiet[2] = 1;
        c.rejected_handshakes = s.zap->rejected();
      }
    } catch (const zmq::error_t& e) {
      quiet.assign(items.size(), 0);
      if (opts_.on_batch_end) opts_.on_batch_end();
      batch.flush();
      if (e.num() == ETERM) break;
    }
  }
  s.router.reset();
  {
    // What send() queued goes into the DEALERs; their linger lets a last `leave` out.
    std::lock_guard<std::mutex> guard{s.dealers_mtx};
    for (auto& [name, link] : s.dealers) flush_batch(link);
    s.closed = true;
    for (auto& [name, link] : s.dealers) link.monitor.reset();
    s.dealers.clear();
  }
  s.zap.reset();  // last: a CURVE server without its ZAP handler would admit anyone
}

}  // namespace holo
