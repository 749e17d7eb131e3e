#include "runtime/zap.hpp"

#include <algorithm>
#include <cstring>

#include <zmq_addon.hpp>

namespace holo {

namespace {

zap_reply refuse(std::string code, std::string text) { return zap_reply{std::move(code), std::move(text), {}}; }

// Receives the rest of a multipart message and drops it, so the REP socket can reply.
void drain_more(zmq::socket_t& s) {
  while (s.get(zmq::sockopt::rcvmore)) {
    zmq::message_t skip;
    if (!s.recv(skip, zmq::recv_flags::dontwait)) break;
  }
}

}  // namespace

void zap_policy::allow(public_key key, std::string user_id, std::string domain) {
  allowed_[{std::move(domain), key}] = std::move(user_id);
}

zap_reply zap_policy::decide(const zap_request& request) const {
  if (request.version != "1.0") return refuse("500", "unsupported ZAP version '" + request.version + "'");
  if (request.mechanism != "CURVE")
    return refuse("400", "mechanism " + (request.mechanism.empty() ? std::string("(none)") : request.mechanism) +
                             " refused: CURVE required");
  if (request.credentials.size() != 1 || request.credentials[0].size() != 32)
    return refuse("500", "malformed CURVE credentials");
  public_key key;
  std::memcpy(key.data(), request.credentials[0].data(), key.size());
  auto it = allowed_.find({request.domain, key});
  if (it == allowed_.end()) it = allowed_.find({std::string(), key});
  if (it == allowed_.end()) return refuse("400", "public key not listed in the cluster configuration");
  return zap_reply{"200", "OK", it->second};
}

result<zap_request> parse_zap_request(std::vector<zmq::message_t>& frames) {
  if (frames.size() < 6)
    return status::invalid_argument("ZAP request with " + std::to_string(frames.size()) + " frames, want at least 6");
  if (frames.size() > zap_frames_max)
    return status::invalid_argument("ZAP request with " + std::to_string(frames.size()) + " frames, more than " +
                                    std::to_string(zap_frames_max));
  for (const auto& f : frames)
    if (f.size() > zap_frame_bytes_max)
      return status::invalid_argument("ZAP request frame of " + std::to_string(f.size()) + " bytes, more than " +
                                      std::to_string(zap_frame_bytes_max));
  zap_request r;
  r.version = frames[0].to_string();
  r.request_id = frames[1].to_string();
  r.domain = frames[2].to_string();
  r.address = frames[3].to_string();
  r.identity = frames[4].to_string();
  r.mechanism = frames[5].to_string();
  for (std::size_t i = 6; i < frames.size(); ++i) r.credentials.push_back(frames[i].to_string());
  return r;
}

status send_zap_reply(zmq::socket_t& rep, const zap_request& request, const zap_reply& reply) {
  try {
    // zmq::send_multipart would copy into a vector first; six small frames go out directly.
    (void)rep.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    for (const std::string* part : {&request.request_id, &reply.status_code, &reply.status_text, &reply.user_id})
      (void)rep.send(zmq::buffer(*part), zmq::send_flags::sndmore);
    (void)rep.send(zmq::message_t(), zmq::send_flags::none);  // metadata: none
  } catch (const zmq::error_t& e) {
    return status::unavailable(std::string("cannot send the ZAP reply: ") + e.what());
  }
  return ok_status();
}

result<zap_handler> zap_handler::create(zmq::context_t& context, zap_policy policy) {
  try {
    zmq::socket_t rep(context, zmq::socket_type::rep);
    rep.set(zmq::sockopt::linger, 0);
    rep.bind(zap_endpoint);
    return zap_handler(std::move(rep), std::move(policy));
  } catch (const zmq::error_t& e) {
    if (e.num() == EADDRINUSE)
      return status::already_exists(std::string("a ZAP handler is already bound on this context (") + zap_endpoint + ")");
    return status::unavailable(std::string("cannot bind the ZAP handler: ") + e.what());
  }
}

void zap_handler::answer(std::vector<zmq::message_t>& frames) {
  auto request = parse_zap_request(frames);
  zap_request fallback;
  zap_reply reply;
  if (request.ok()) {
    reply = policy_.decide(*request);
  } else {
    // Still answer: REP must reply before it can receive again, and libzmq waits for it.
    ++malformed_;
    fallback.version = "1.0";
    if (frames.size() > 1 && frames[1].size() <= zap_frame_bytes_max) fallback.request_id = frames[1].to_string();
    reply = refuse("500", request.error().message());
  }
  const zap_request& answered = request.ok() ? *request : fallback;
  if (reply.admitted())
    ++admitted_;
  else
    ++rejected_;
  (void)send_zap_reply(rep_, answered, reply);  // a failed send fails that one handshake: nothing to undo
  if (observer_) observer_(answered, reply);
}

void zap_handler::handle_ready() {
  std::vector<zmq::message_t> frames;
  for (;;) {
    frames.clear();
    try {
      zmq::message_t part;
      if (!rep_.recv(part, zmq::recv_flags::dontwait)) return;  // nothing waiting
      frames.push_back(std::move(part));
      // Parts of one message arrive together; stop storing at the limit but drain the rest.
      while (frames.back().more() && frames.size() <= zap_frames_max) {
        zmq::message_t next;
        if (!rep_.recv(next, zmq::recv_flags::dontwait)) break;
        frames.push_back(std::move(next));
      }
      if (frames.back().more()) drain_more(rep_);
    } catch (const zmq::error_t&) {
      return;  // context terminating: the owner is shutting down
    }
    answer(frames);
  }
}

}  // namespace holo
