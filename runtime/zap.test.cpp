#define BOOST_TEST_MODULE zap
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "runtime/keys.hpp"
#include "runtime/zap.hpp"

using namespace std::chrono_literals;
using holo::zap_policy;
using holo::zap_reply;
using holo::zap_request;

namespace {

constexpr auto case_timeout = 1000ms;  // how long a refused peer gets to (wrongly) deliver

holo::curve_keypair keypair() {
  auto kp = holo::generate_keypair();
  BOOST_REQUIRE_MESSAGE(kp.ok(), (kp.ok() ? "" : kp.error().to_string()));
  return *kp;
}

zap_policy::public_key raw(const std::string& z85) {
  auto k = holo::decode_key(z85);
  BOOST_REQUIRE(k.ok());
  return *k;
}

zap_request curve_request(const zap_policy::public_key& key, std::string domain = "holo") {
  zap_request r{"1.0", "7", std::move(domain), "127.0.0.1", "", "CURVE", {}};
  r.credentials.emplace_back(reinterpret_cast<const char*>(key.data()), key.size());
  return r;
}

// ---- monitor events, to see what each side of a refused handshake observes ----------------------
struct event {
  std::uint16_t id;
  std::uint32_t value;
};

std::string event_name(const event& e) {
  auto proto = [](std::uint32_t v) -> std::string {
    switch (v) {
      case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: return "ZMTP_MECHANISM_MISMATCH";
      case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: return "ZMTP_CRYPTOGRAPHIC";
      case ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND: return "ZMTP_UNEXPECTED_COMMAND";
      case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO: return "ZMTP_MALFORMED_COMMAND_HELLO";
      case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME: return "ZMTP_MALFORMED_COMMAND_WELCOME";
      case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR: return "ZMTP_MALFORMED_COMMAND_ERROR";
      case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE: return "ZMTP_KEY_EXCHANGE";
      default: return std::to_string(v);
    }
  };
  switch (e.id) {
    case ZMQ_EVENT_CONNECTED: return "CONNECTED";
    case ZMQ_EVENT_CONNECT_DELAYED: return "CONNECT_DELAYED";
    case ZMQ_EVENT_CONNECT_RETRIED: return "CONNECT_RETRIED";
    case ZMQ_EVENT_LISTENING: return "LISTENING";
    case ZMQ_EVENT_ACCEPTED: return "ACCEPTED";
    case ZMQ_EVENT_CLOSED: return "CLOSED";
    case ZMQ_EVENT_DISCONNECTED: return "DISCONNECTED";
    case ZMQ_EVENT_MONITOR_STOPPED: return "MONITOR_STOPPED";
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return "HANDSHAKE_FAILED_NO_DETAIL";
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return "HANDSHAKE_SUCCEEDED";
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: return "HANDSHAKE_FAILED_PROTOCOL(" + proto(e.value) + ")";
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return "HANDSHAKE_FAILED_AUTH(" + std::to_string(e.value) + ")";
    default: return "event " + std::to_string(e.id);
  }
}

// Watches a socket's events. Must be destroyed BEFORE the watched socket: libzmq 4.3.4's I/O thread
// sends monitor events blocking, so a watched socket that outlives its monitor's reader hangs the
// whole context on its next event (found the hard way); the destructor stops the monitor first.
class monitor {
 public:
  monitor(zmq::context_t& ctx, zmq::socket_t& watched, const std::string& name)
      : watched_(watched.handle()), endpoint_("inproc://monitor-" + name), pair_(ctx, zmq::socket_type::pair) {
    BOOST_REQUIRE(zmq_socket_monitor(watched_, endpoint_.c_str(), ZMQ_EVENT_ALL) == 0);
    pair_.set(zmq::sockopt::linger, 0);
    pair_.connect(endpoint_);
  }
  ~monitor() { zmq_socket_monitor(watched_, nullptr, 0); }
  monitor(const monitor&) = delete;
  monitor& operator=(const monitor&) = delete;
  std::vector<event> drain() {
    std::vector<event> out;
    for (;;) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(pair_, std::back_inserter(parts), zmq::recv_flags::dontwait)) break;
      if (parts.size() != 2 || parts[0].size() != 6) continue;
      event e{};
      std::memcpy(&e.id, parts[0].data(), 2);
      std::memcpy(&e.value, static_cast<const char*>(parts[0].data()) + 2, 4);
      out.push_back(e);
    }
    return out;
  }

 private:
  void* watched_;
  std::string endpoint_;
  zmq::socket_t pair_;
};

bool saw(const std::vector<event>& events, std::uint16_t id, std::optional<std::uint32_t> value = {}) {
  for (auto& e : events)
    if (e.id == id && (!value || e.value == *value)) return true;
  return false;
}

std::string describe(const std::vector<event>& events) {
  std::string s;
  for (auto& e : events) s += (s.empty() ? "" : ", ") + event_name(e);
  return s.empty() ? "(none)" : s;
}

// ---- the ZAP handler on its own thread, as the transport's I/O thread will run it ----------------
class zap_thread {
 public:
  zap_thread(zmq::context_t& ctx, zap_policy policy) {
    auto bound = ready_.get_future();
    thread_ = std::thread([this, &ctx, policy = std::move(policy)]() mutable {
      auto h = holo::zap_handler::create(ctx, std::move(policy));
      if (!h) {
        ready_.set_value(h.error());
        return;
      }
      h->set_observer([this](const zap_request& rq, const zap_reply& rp) {
        std::lock_guard lock(mutex_);
        seen_.push_back(rq.mechanism + " domain='" + rq.domain + "' -> " + rp.status_code + " " + rp.status_text);
      });
      ready_.set_value(holo::ok_status());
      std::vector<zmq::pollitem_t> items{{h->socket().handle(), 0, ZMQ_POLLIN, 0}};
      while (!stop_) {
        zmq::poll(items, 20ms);
        if (items[0].revents & ZMQ_POLLIN) h->handle_ready();
        admitted_ = h->admitted();
        rejected_ = h->rejected();
      }
    });  // the handler (and its socket) dies on this thread, before the context
    auto s = bound.get();
    BOOST_REQUIRE_MESSAGE(s.ok(), s.to_string());
  }
  ~zap_thread() {
    stop_ = true;
    thread_.join();
  }
  std::uint64_t admitted() const { return admitted_; }
  std::uint64_t rejected() const { return rejected_; }
  std::vector<std::string> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::promise<holo::status> ready_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> admitted_{0};
  std::atomic<std::uint64_t> rejected_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> seen_;
};

// One zmq context, a CURVE ROUTER server, and client keys: a listed one ("nodo-a") and an unlisted one.
struct server_fixture {
  zmq::context_t ctx;
  holo::curve_keypair server_keys = keypair();
  holo::curve_keypair listed = keypair();
  holo::curve_keypair unlisted = keypair();
  std::optional<zap_thread> zap;
  std::optional<zmq::socket_t> server;
  std::optional<monitor> server_monitor;
  std::string endpoint;
  int clients_ = 0;
  int servers_ = 0;

  zap_policy policy() {
    zap_policy p;
    p.allow(raw(listed.public_z85), "nodo-a");
    return p;
  }

  // `curve`: a CURVE server with the server keys; `domain`: its zap_domain (nullopt: not set).
  void start_server(bool curve, std::optional<std::string> domain) {
    server_monitor.reset();  // before its socket, see `monitor`
    server.emplace(ctx, zmq::socket_type::router);
    server->set(zmq::sockopt::linger, 0);
    if (curve) {
      server->set(zmq::sockopt::curve_server, 1);
      server->set(zmq::sockopt::curve_secretkey, server_keys.secret_z85);
    }
    if (domain) server->set(zmq::sockopt::zap_domain, *domain);
    server_monitor.emplace(ctx, *server, "server-" + std::to_string(++servers_));
    server->bind("tcp://127.0.0.1:*");
    endpoint = server->get(zmq::sockopt::last_endpoint);
  }

  // A DEALER that says "hello". `server_public` empty: a NULL (plain) client.
  zmq::socket_t client(const std::string& server_public, const holo::curve_keypair* keys) {
    zmq::socket_t c(ctx, zmq::socket_type::dealer);
    c.set(zmq::sockopt::linger, 0);
    c.set(zmq::sockopt::routing_id, "client-" + std::to_string(++clients_));
    if (!server_public.empty()) {
      c.set(zmq::sockopt::curve_serverkey, server_public);
      c.set(zmq::sockopt::curve_publickey, keys->public_z85);
      c.set(zmq::sockopt::curve_secretkey, keys->secret_z85);
    }
    return c;
  }

  // The frames the server receives within `timeout` (empty: nothing came).
  std::vector<zmq::message_t> receive(std::chrono::milliseconds timeout = case_timeout) {
    std::vector<zmq::message_t> parts;
    std::vector<zmq::pollitem_t> items{{server->handle(), 0, ZMQ_POLLIN, 0}};
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (parts.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) break;
      zmq::poll(items, left);
      if (items[0].revents & ZMQ_POLLIN)
        (void)zmq::recv_multipart(*server, std::back_inserter(parts), zmq::recv_flags::dontwait);
    }
    return parts;
  }

  ~server_fixture() {
    server_monitor.reset();
    server.reset();
    zap.reset();
  }
};

// Sends "hello" from a fresh client and reports what the server received, with both sides' events.
struct attempt {
  std::vector<zmq::message_t> received;
  std::vector<event> client_events;
  std::vector<event> server_events;
};

attempt try_client(server_fixture& f, const std::string& server_public, const holo::curve_keypair* keys,
                   const std::string& label) {
  auto c = f.client(server_public, keys);
  monitor cm(f.ctx, c, "client-" + std::to_string(f.clients_));
  c.connect(f.endpoint);
  BOOST_CHECK(c.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait));  // queued even if refused
  attempt a;
  a.received = f.receive();
  std::this_thread::sleep_for(50ms);  // let the last monitor events arrive
  a.client_events = cm.drain();
  a.server_events = f.server_monitor->drain();
  BOOST_TEST_MESSAGE(label << ": delivered=" << !a.received.empty() << "\n  client events: "
                           << describe(a.client_events) << "\n  server events: " << describe(a.server_events));
  return a;
}

}  // namespace

// ---- decisions and framing, no sockets --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(policy_admits_only_listed_curve_keys) {
  auto a = keypair(), b = keypair();
  zap_policy p;
  p.allow(raw(a.public_z85), "nodo-a");
  BOOST_CHECK_EQUAL(p.size(), 1u);

  auto r = p.decide(curve_request(raw(a.public_z85)));
  BOOST_CHECK_EQUAL(r.status_code, "200");
  BOOST_CHECK_EQUAL(r.user_id, "nodo-a");
  BOOST_CHECK(r.admitted());

  r = p.decide(curve_request(raw(b.public_z85)));
  BOOST_CHECK_EQUAL(r.status_code, "400");
  BOOST_CHECK(r.user_id.empty());
  BOOST_CHECK(!r.admitted());

  for (const char* mech : {"NULL", "PLAIN", "GSSAPI", ""}) {
    zap_request q{"1.0", "1", "holo", "127.0.0.1", "", mech, {}};
    if (std::string(mech) == "PLAIN") q.credentials = {"user", "password"};
    BOOST_CHECK_EQUAL(p.decide(q).status_code, "400");
  }

  auto bad_version = curve_request(raw(a.public_z85));
  bad_version.version = "2.0";
  BOOST_CHECK_EQUAL(p.decide(bad_version).status_code, "500");
  auto no_key = curve_request(raw(a.public_z85));
  no_key.credentials.clear();
  BOOST_CHECK_EQUAL(p.decide(no_key).status_code, "500");
  auto short_key = curve_request(raw(a.public_z85));
  short_key.credentials[0].pop_back();
  BOOST_CHECK_EQUAL(p.decide(short_key).status_code, "500");
  auto two_keys = curve_request(raw(a.public_z85));
  two_keys.credentials.push_back(two_keys.credentials[0]);
  BOOST_CHECK_EQUAL(p.decide(two_keys).status_code, "500");
}

BOOST_AUTO_TEST_CASE(policy_domains) {
  auto node = keypair(), client = keypair();
  zap_policy p;
  p.allow(raw(node.public_z85), "nodo-b");                           // any domain
  p.allow(raw(client.public_z85), "client:alice", "holo-clients");   // only the client ROUTER
  BOOST_CHECK_EQUAL(p.decide(curve_request(raw(node.public_z85), "holo-cluster")).user_id, "nodo-b");
  BOOST_CHECK_EQUAL(p.decide(curve_request(raw(node.public_z85), "")).user_id, "nodo-b");
  BOOST_CHECK_EQUAL(p.decide(curve_request(raw(client.public_z85), "holo-clients")).user_id, "client:alice");
  BOOST_CHECK_EQUAL(p.decide(curve_request(raw(client.public_z85), "holo-cluster")).status_code, "400");
  BOOST_CHECK_EQUAL(p.decide(curve_request(raw(client.public_z85), "")).status_code, "400");
  // A domain-specific entry wins over an any-domain one for the same key.
  p.allow(raw(node.public_z85), "nodo-b-as-client", "holo-clients");
  BOOST_CHECK_EQUAL(p.decide(curve_request(raw(node.public_z85), "holo-clients")).user_id, "nodo-b-as-client");
  BOOST_CHECK_EQUAL(p.decide(curve_request(raw(node.public_z85), "holo-cluster")).user_id, "nodo-b");
}

BOOST_AUTO_TEST_CASE(parse_checks_shape_and_limits) {
  auto frames_of = [](std::vector<std::string> v) {
    std::vector<zmq::message_t> f;
    for (auto& s : v) f.emplace_back(s.data(), s.size());
    return f;
  };
  auto f = frames_of({"1.0", "id", "holo", "10.0.0.1", "peer", "CURVE", std::string(32, 'k')});
  auto r = holo::parse_zap_request(f);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(r->version, "1.0");
  BOOST_CHECK_EQUAL(r->request_id, "id");
  BOOST_CHECK_EQUAL(r->domain, "holo");
  BOOST_CHECK_EQUAL(r->address, "10.0.0.1");
  BOOST_CHECK_EQUAL(r->identity, "peer");
  BOOST_CHECK_EQUAL(r->mechanism, "CURVE");
  BOOST_REQUIRE_EQUAL(r->credentials.size(), 1u);
  BOOST_CHECK_EQUAL(r->credentials[0], std::string(32, 'k'));

  f = frames_of({"1.0", "id", "holo", "10.0.0.1", "peer", "NULL"});  // NULL has no credentials
  BOOST_CHECK(holo::parse_zap_request(f).ok());
  f = frames_of({"1.0", "id", "holo", "10.0.0.1", "peer"});
  BOOST_CHECK(holo::parse_zap_request(f).error().code() == holo::status_code::invalid_argument);
  f = frames_of(std::vector<std::string>(holo::zap_frames_max + 1, "x"));
  BOOST_CHECK(!holo::parse_zap_request(f).ok());
  f = frames_of({"1.0", "id", std::string(holo::zap_frame_bytes_max + 1, 'd'), "a", "p", "CURVE"});
  BOOST_CHECK(!holo::parse_zap_request(f).ok());
}

BOOST_AUTO_TEST_CASE(handler_answers_rfc27_and_survives_garbage) {
  zmq::context_t ctx;
  auto a = keypair();
  zap_policy p;
  p.allow(raw(a.public_z85), "nodo-a");
  auto h = holo::zap_handler::create(ctx, p);
  BOOST_REQUIRE(h.ok());
  BOOST_CHECK(holo::zap_handler::create(ctx, p).error().code() == holo::status_code::already_exists);

  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo, 1000);
  req.connect(holo::zap_endpoint);
  auto round_trip = [&](const std::vector<std::string>& frames) {
    std::vector<zmq::const_buffer> bufs;
    for (auto& s : frames) bufs.push_back(zmq::buffer(s));
    BOOST_REQUIRE(zmq::send_multipart(req, bufs));
    std::vector<zmq::pollitem_t> items{{h->socket().handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1000ms);
    h->handle_ready();
    std::vector<zmq::message_t> reply;
    BOOST_REQUIRE(zmq::recv_multipart(req, std::back_inserter(reply)));
    std::vector<std::string> out;
    for (auto& m : reply) out.push_back(m.to_string());
    return out;
  };
  auto key = raw(a.public_z85);
  std::string key_bytes(reinterpret_cast<const char*>(key.data()), key.size());
  auto ok = round_trip({"1.0", "42", "holo", "127.0.0.1", "", "CURVE", key_bytes});
  BOOST_CHECK((ok == std::vector<std::string>{"1.0", "42", "200", "OK", "nodo-a", ""}));
  auto garbage = round_trip({"junk", "43"});  // too few frames: still answered, with 500
  BOOST_REQUIRE_EQUAL(garbage.size(), 6u);
  BOOST_CHECK_EQUAL(garbage[1], "43");
  BOOST_CHECK_EQUAL(garbage[2], "500");
  auto null = round_trip({"1.0", "44", "holo", "127.0.0.1", "", "NULL"});
  BOOST_CHECK_EQUAL(null[2], "400");
  BOOST_CHECK_EQUAL(h->admitted(), 1u);
  BOOST_CHECK_EQUAL(h->rejected(), 2u);
  BOOST_CHECK_EQUAL(h->malformed(), 1u);
}

// ---- real CURVE handshakes over tcp (libzmq 4.3.4) -----------------------------------------------

BOOST_FIXTURE_TEST_CASE(a_listed_key_is_delivered_with_its_user_id, server_fixture) {
  zap.emplace(ctx, policy());
  start_server(true, "holo");
  auto a = try_client(*this, server_keys.public_z85, &listed, "listed key");
  BOOST_REQUIRE_EQUAL(a.received.size(), 2u);  // [routing id, payload]
  BOOST_CHECK_EQUAL(a.received[1].to_string(), "hello");
  BOOST_CHECK_EQUAL(std::string(a.received[1].gets("User-Id")), "nodo-a");
  BOOST_CHECK_EQUAL(std::string(a.received[1].gets("Peer-Address")), "127.0.0.1");
  // The routing-id frame the ROUTER makes up carries no metadata: read it from a payload frame.
  BOOST_CHECK(zmq_msg_gets(a.received[0].handle(), "User-Id") == nullptr);
  BOOST_CHECK_EQUAL(zap->admitted(), 1u);
  BOOST_CHECK_EQUAL(zap->rejected(), 0u);
  BOOST_CHECK(saw(a.server_events, ZMQ_EVENT_HANDSHAKE_SUCCEEDED));
  BOOST_CHECK(saw(a.client_events, ZMQ_EVENT_HANDSHAKE_SUCCEEDED));
  for (auto& s : zap->seen()) BOOST_TEST_MESSAGE("  zap: " << s);
}

BOOST_FIXTURE_TEST_CASE(an_unlisted_key_is_refused, server_fixture) {
  zap.emplace(ctx, policy());
  start_server(true, "holo");
  auto a = try_client(*this, server_keys.public_z85, &unlisted, "unlisted key");
  BOOST_CHECK(a.received.empty());
  BOOST_CHECK_GE(zap->rejected(), 1u);
  BOOST_CHECK_EQUAL(zap->admitted(), 0u);
  BOOST_TEST_MESSAGE("  ZAP rejections after " << case_timeout.count() << " ms: " << zap->rejected());
  BOOST_CHECK(saw(a.server_events, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400));
  BOOST_CHECK(saw(a.client_events, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400));
  for (auto& s : zap->seen()) BOOST_TEST_MESSAGE("  zap: " << s);
}

BOOST_FIXTURE_TEST_CASE(a_refused_client_does_not_retry_until_reconnected, server_fixture) {
  zap.emplace(ctx, policy());
  start_server(true, "holo");
  auto c = client(server_keys.public_z85, &unlisted);
  {
    monitor cm(ctx, c, "retry");
    c.connect(endpoint);
    BOOST_CHECK(receive().empty());
    auto events = cm.drain();
    BOOST_TEST_MESSAGE("refused client over " << case_timeout.count() << " ms: " << describe(events));
    // A 400 is a protocol error to libzmq: the DEALER drops that endpoint for good.
    BOOST_CHECK_EQUAL(zap->rejected(), 1u);
    BOOST_CHECK(!saw(events, ZMQ_EVENT_CONNECT_RETRIED));
  }
  // Only an explicit disconnect + connect tries again (a fresh ZAP request).
  c.disconnect(endpoint);
  c.connect(endpoint);
  BOOST_CHECK(receive(500ms).empty());
  BOOST_CHECK_EQUAL(zap->rejected(), 2u);
}

BOOST_FIXTURE_TEST_CASE(a_null_client_is_refused_before_zap, server_fixture) {
  zap.emplace(ctx, policy());
  start_server(true, "holo");
  auto a = try_client(*this, "", nullptr, "NULL client to CURVE server");
  BOOST_CHECK(a.received.empty());
  BOOST_CHECK_EQUAL(zap->rejected(), 0u);  // a mechanism mismatch: ZAP is never asked
  BOOST_CHECK(saw(a.server_events, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH));
  BOOST_CHECK(saw(a.client_events, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH));
  BOOST_CHECK(!saw(a.client_events, ZMQ_EVENT_CONNECT_RETRIED));  // a protocol error: no retry
}

BOOST_FIXTURE_TEST_CASE(a_wrong_server_key_is_refused, server_fixture) {
  zap.emplace(ctx, policy());
  start_server(true, "holo");
  auto impostor = keypair();
  auto a = try_client(*this, impostor.public_z85, &listed, "wrong server key");
  BOOST_CHECK(a.received.empty());
  BOOST_CHECK_EQUAL(zap->rejected(), 0u);
  BOOST_CHECK_EQUAL(zap->admitted(), 0u);
  BOOST_CHECK(saw(a.server_events, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC));
  // The client only sees the server hang up, takes it for a network fault and keeps retrying.
  BOOST_CHECK(saw(a.client_events, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL));
  BOOST_CHECK(saw(a.client_events, ZMQ_EVENT_CONNECT_RETRIED));
}

BOOST_FIXTURE_TEST_CASE(zap_is_consulted_for_curve_without_zap_domain, server_fixture) {
  zap.emplace(ctx, policy());
  start_server(true, std::nullopt);
  auto refused = try_client(*this, server_keys.public_z85, &unlisted, "unlisted key, no zap_domain");
  BOOST_CHECK(refused.received.empty());
  BOOST_CHECK_GE(zap->rejected(), 1u);
  auto admitted = try_client(*this, server_keys.public_z85, &listed, "listed key, no zap_domain");
  BOOST_REQUIRE_EQUAL(admitted.received.size(), 2u);
  BOOST_CHECK_EQUAL(std::string(admitted.received[1].gets("User-Id")), "nodo-a");
  auto seen = zap->seen();
  BOOST_REQUIRE(!seen.empty());
  BOOST_CHECK(seen.front().find("domain=''") != std::string::npos);
  for (auto& s : seen) BOOST_TEST_MESSAGE("  zap: " << s);
}

BOOST_FIXTURE_TEST_CASE(a_null_server_consults_zap_only_with_a_domain, server_fixture) {
  zap.emplace(ctx, policy());
  start_server(false, std::nullopt);
  auto without = try_client(*this, "", nullptr, "NULL client to NULL server without zap_domain");
  BOOST_CHECK_EQUAL(without.received.size(), 2u);  // ZAP never asked: plain NULL is open
  BOOST_CHECK_EQUAL(zap->rejected(), 0u);

  start_server(false, "holo");
  auto with_domain = try_client(*this, "", nullptr, "NULL client to NULL server with zap_domain");
  BOOST_CHECK(with_domain.received.empty());
  BOOST_CHECK_GE(zap->rejected(), 1u);
  auto seen = zap->seen();
  BOOST_REQUIRE(!seen.empty());
  BOOST_CHECK(seen.front().rfind("NULL", 0) == 0);
  BOOST_CHECK(saw(with_domain.server_events, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400));
}

BOOST_FIXTURE_TEST_CASE(without_a_handler_curve_admits_anyone, server_fixture) {
  // No zap_handler bound on this context: libzmq 4.3.4 fails open.
  start_server(true, "holo");
  auto a = try_client(*this, server_keys.public_z85, &unlisted, "unlisted key, no ZAP handler");
  BOOST_REQUIRE_EQUAL(a.received.size(), 2u);
  // No ZAP reply, no User-Id: the property is absent (zmq_msg_gets gives NULL, cppzmq's gets throws),
  // which lets the transport drop such messages on a CURVE socket as a second line of defence.
  BOOST_CHECK(zmq_msg_gets(a.received[1].handle(), "User-Id") == nullptr);
  BOOST_CHECK_THROW(a.received[1].gets("User-Id"), zmq::error_t);
}
