// ZAP (ZeroMQ Authentication Protocol, RFC 27): who may complete a CURVE handshake with this node.
// CURVE alone encrypts but admits any client that knows the server's public key; libzmq asks a ZAP
// handler -- a REP socket bound to inproc://zeromq.zap.01 in the same zmq context -- to admit or
// refuse each handshake. This file holds the decision (zap_policy: the public keys listed in the
// cluster config, each with the name it authenticates as), the RFC 27 framing, and zap_handler,
// which owns the REP socket so the transport's I/O thread only adds one pollitem.
//
// Facts verified against libzmq 4.3.4 (Debian 12) by runtime/zap.test.cpp, real sockets over tcp
// (run it with --log_level=message to see every monitor event quoted here):
// - The handler is per zmq context: every CURVE *server* socket in that context (the cluster ROUTER
//   and the client ROUTER alike) consults it, WHETHER OR NOT zap_domain is set; the request's
//   domain field is the socket's zap_domain ("" if unset). CURVE *client* sockets (our DEALERs
//   connecting out) never consult it. A NULL-mechanism server consults it only when zap_domain is
//   set (the request then says mechanism "NULL", and zap_policy refuses it); without zap_domain a
//   NULL server admits anyone, ZAP or not.
// - FAIL-OPEN: when nothing is bound to inproc://zeromq.zap.01 (handler not yet created, or already
//   destroyed) a CURVE server admits EVERY client that knows its public key (ZMQ_ZAP_ENFORCE_DOMAIN,
//   which would close that hole, is a draft option Debian's libzmq lacks). So create the zap_handler
//   before binding any CURVE server socket and destroy it only after closing them. Such messages
//   carry no "User-Id" property, so dropping every message without one on a CURVE socket is a
//   cheap second line of defence.
// - Admitted (200): every payload frame from that peer carries the reply's user id as metadata:
//   `msg.gets("User-Id")` on the receiving ROUTER returns it (the node or client name), and
//   `msg.gets("Peer-Address")` the peer's IP. The routing-id frame the ROUTER prepends carries no
//   metadata -- read it from frame 1, not frame 0. cppzmq's message_t::gets THROWS zmq::error_t
//   when the property is absent; `zmq_msg_gets(msg.handle(), "User-Id")` returns nullptr instead.
//   The user id is per connection and cannot be forged by the peer: trust it, not a name in the
//   payload. Both monitors see ZMQ_EVENT_HANDSHAKE_SUCCEEDED.
// - Unlisted key (400): nothing is delivered (the client's send() succeeds and the message just
//   sits in its queue). Server monitor: HANDSHAKE_FAILED_AUTH value 400, DISCONNECTED. Client
//   monitor: HANDSHAKE_FAILED_AUTH value 400 (libzmq sends it an ERROR command), DISCONNECTED, and
//   then NOTHING: libzmq treats it as a protocol error and never reconnects that endpoint. One
//   refused connect() = exactly one ZAP request (rejected() == 1 after 1 s). A DEALER refused by a
//   peer whose key list is stale stays dead until the transport calls disconnect(ep) + connect(ep).
// - NULL client to a CURVE server: the handshake fails on a mechanism mismatch before ZAP is asked
//   (rejected() does not move); both monitors: HANDSHAKE_FAILED_PROTOCOL with
//   ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, DISCONNECTED; no retry. Nothing is delivered.
// - Client using a wrong server public key: the server cannot open the HELLO; server monitor:
//   HANDSHAKE_FAILED_PROTOCOL with ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC; ZAP is not asked; nothing
//   is delivered. The client sees only HANDSHAKE_FAILED_NO_DETAIL + DISCONNECTED, takes it for a
//   network fault and RETRIES every reconnect_ivl (100 ms) forever, one failed handshake each.
// - Socket monitors (zmq_socket_monitor): libzmq's I/O thread sends monitor events blocking, so a
//   monitored socket whose monitor PAIR has been closed hangs the whole context's I/O thread on its
//   next event. Stop the monitor (zmq_socket_monitor(s, nullptr, 0)) before closing its reader.
//
// Thread-safety: zap_policy is a plain value (copy it, const calls from any thread). zap_handler
// owns a zmq socket: create it, call it and destroy it on one thread (the I/O thread). The context
// must outlive it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "runtime/status.hpp"

namespace holo {

inline constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";
// RFC 27 requests have 6 frames plus the mechanism's credentials (CURVE 1, PLAIN 2); anything
// beyond these limits is malformed and answered 500 without being stored.
inline constexpr std::size_t zap_frames_max = 16;
inline constexpr std::size_t zap_frame_bytes_max = 1024;

// One ZAP request, frames as RFC 27 orders them.
struct zap_request {
  std::string version;                   // "1.0"
  std::string request_id;                // opaque, echoed in the reply
  std::string domain;                    // the server socket's zap_domain ("" when unset)
  std::string address;                   // the peer's IP address
  std::string identity;                  // the peer's routing id (may be empty)
  std::string mechanism;                 // "NULL", "PLAIN", "CURVE" (or "GSSAPI")
  std::vector<std::string> credentials;  // CURVE: the client's 32-byte public key
};

struct zap_reply {
  std::string status_code;  // "200" admitted, "400" refused, "500" malformed / internal
  std::string status_text;  // why, for logs (libzmq does not pass it to the peer)
  std::string user_id;      // on 200: who the peer is ("nodo2", "client:alice")
  bool admitted() const { return status_code == "200"; }
};

// Which CURVE public keys are admitted and as whom. A value type: build it from the config, copy it
// into the handler; replace it with zap_handler::set_policy when the config changes.
class zap_policy {
 public:
  using public_key = std::array<std::uint8_t, 32>;

  // Admits `key` as `user_id`. `domain` empty: in every ZAP domain; otherwise only in that one
  // (e.g. node keys on the cluster ROUTER's domain, client keys on the client ROUTER's). The same
  // key allowed twice in one domain keeps the last user id.
  void allow(public_key key, std::string user_id, std::string domain = {});

  // 200 only for mechanism "CURVE" with one 32-byte credential that is allowed in the request's
  // domain; 400 for NULL, PLAIN, other mechanisms and unknown keys; 500 for a version other than
  // "1.0" or CURVE credentials of the wrong shape. Never throws.
  zap_reply decide(const zap_request& request) const;

  std::size_t size() const { return allowed_.size(); }

 private:
  std::map<std::pair<std::string, public_key>, std::string> allowed_;  // (domain, key) -> user id
};

// Parses the frames of one request as received from the REP socket (the REP envelope already
// stripped). `invalid_argument` for fewer than 6 frames, more than zap_frames_max, or a frame
// longer than zap_frame_bytes_max. Takes the frames by reference (it reads them, does not keep them).
result<zap_request> parse_zap_request(std::vector<zmq::message_t>& frames);

// Sends the 6-frame RFC 27 reply (version "1.0", request_id, status_code, status_text, user_id,
// empty metadata) on `rep`, which must be the REP socket the request came from, in its "must send"
// state. `unavailable` when libzmq refuses the send (the handshake waiting on it then fails).
status send_zap_reply(zmq::socket_t& rep, const zap_request& request, const zap_reply& reply);

// Owns the REP socket bound to inproc://zeromq.zap.01 on one context. Usage on the I/O thread:
//   auto zap = zap_handler::create(ctx, policy);           // BEFORE binding CURVE server sockets
//   items.push_back({zap->socket().handle(), 0, ZMQ_POLLIN, 0});
//   ... if (items[k].revents & ZMQ_POLLIN) zap->handle_ready();
class zap_handler {
 public:
  using observer = std::function<void(const zap_request&, const zap_reply&)>;

  // Binds the REP socket. `already_exists` when another handler is bound on this context,
  // `unavailable` for other libzmq errors.
  static result<zap_handler> create(zmq::context_t& context, zap_policy policy);

  zap_handler(zap_handler&&) = default;
  zap_handler& operator=(zap_handler&&) = default;

  // Answers every request waiting on the socket (never blocks). Requests that do not parse get a
  // 500 reply, so the REP socket never stalls.
  void handle_ready();

  zmq::socket_t& socket() { return rep_; }
  void set_policy(zap_policy policy) { policy_ = std::move(policy); }
  // Called after each decision, on the calling thread: for logs and metrics. The request's
  // credentials hold the peer's public key (or a PLAIN password): log the decision, not them.
  void set_observer(observer o) { observer_ = std::move(o); }

  std::uint64_t admitted() const { return admitted_; }
  std::uint64_t rejected() const { return rejected_; }  // every non-200 reply, including 500s
  std::uint64_t malformed() const { return malformed_; }  // requests that did not even parse

 private:
  zap_handler(zmq::socket_t rep, zap_policy policy) : rep_(std::move(rep)), policy_(std::move(policy)) {}
  void answer(std::vector<zmq::message_t>& frames);

  zmq::socket_t rep_;
  zap_policy policy_;
  observer observer_;
  std::uint64_t admitted_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t malformed_ = 0;
};

}  // namespace holo
