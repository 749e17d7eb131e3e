#include "runtime/client_protocol.hpp"

#include <algorithm>

#include <msgpack.hpp>

#include "runtime/msgpack_map.hpp"

namespace holo::proto {

using namespace detail;

std::string encode_health_request(std::string_view id) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(3);
  pack_header(pk, "health", id);
  return {buf.data(), buf.size()};
}

std::string encode_health_request(std::string_view id, std::string_view node) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  pack_header(pk, "health", id);
  pk.pack("node");
  pk.pack(node);
  return {buf.data(), buf.size()};
}

std::string encode_nodes_request(std::string_view id) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(3);
  pack_header(pk, "nodes", id);
  return {buf.data(), buf.size()};
}

std::string encode_nodes_reply(std::string_view id, const nodes_reply& r) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(6);
  pack_header(pk, "nodes", id);
  pk.pack("node");
  pk.pack(r.node);
  pk.pack("members");
  pk.pack_array(static_cast<std::uint32_t>(r.members.size()));
  for (auto& m : r.members) {
    pk.pack_map(11);
    pk.pack("node");
    pk.pack(m.node);
    pk.pack("state");
    pk.pack(m.state);
    pk.pack("incarnation");
    pk.pack(m.incarnation);
    pk.pack("last_heard_ms");
    pk.pack(m.last_heard_ms);
    pk.pack("phi");
    pk.pack(m.phi);
    pk.pack("roles");
    pk.pack(m.roles);
    pk.pack("cores");
    pk.pack(m.cores);
    pk.pack("memory_bytes");
    pk.pack(m.memory_bytes);
    pk.pack("gpus");
    pk.pack(m.gpus);
    pk.pack("rtt_ms");
    pk.pack(m.rtt_ms);
    pk.pack("memory_free_bytes");
    pk.pack(m.memory_free_bytes);
  }
  pk.pack("links");
  pk.pack_map(5);
  pk.pack("frames_in");
  pk.pack(r.links.frames_in);
  pk.pack("frames_out");
  pk.pack(r.links.frames_out);
  pk.pack("dropped_frames");
  pk.pack(r.links.dropped_frames);
  pk.pack("undeliverable");
  pk.pack(r.links.undeliverable);
  pk.pack("rejected_handshakes");
  pk.pack(r.links.rejected_handshakes);
  return {buf.data(), buf.size()};
}

std::string encode_health_reply(std::string_view id, const health_reply& h) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(11);
  pack_header(pk, "health", id);
  pk.pack("metrics_endpoint");
  pk.pack(h.metrics_endpoint);
  pk.pack("admin_refusals");
  pk.pack(h.admin_refusals);
  pk.pack("node");
  pk.pack(h.node);
  pk.pack("cluster");
  pk.pack(h.cluster);
  pk.pack("state");
  pk.pack(h.state);
  pk.pack("version_info");
  pk.pack(h.version);
  pk.pack("uptime_ms");
  pk.pack(h.uptime_ms);
  pk.pack("actors");
  pk.pack_array(static_cast<std::uint32_t>(h.actors.size()));
  for (auto& a : h.actors) {
    pk.pack_map(2);
    pk.pack("name");
    pk.pack(a.name);
    pk.pack("state");
    pk.pack(a.state);
  }
  return {buf.data(), buf.size()};
}

std::string encode_error(std::string_view id, status_code code, std::string_view message) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(5);
  pack_header(pk, "error", id);
  pk.pack("code");
  pk.pack(to_string(code));
  pk.pack("message");
  pk.pack(message);
  return {buf.data(), buf.size()};
}

result<request_header> decode_request_header(std::string_view frame) {
  auto oh = unpack_map(frame);
  if (!oh) return oh.error();
  auto& m = oh->get();
  request_header h;
  if (!get_int(m, "v", h.v)) return status::invalid_argument("missing or non-integer field 'v'");
  if (h.v != version)
    return status::invalid_argument("unsupported protocol version " + std::to_string(h.v) + " (this node speaks " +
                                    std::to_string(version) + ")");
  if (!get_str(m, "kind", h.kind)) return status::invalid_argument("missing or non-string field 'kind'");
  if (!get_str(m, "id", h.id)) return status::invalid_argument("missing or non-string field 'id'");
  if (h.id.empty() || h.id.size() > request_id_bytes_max)
    return status::invalid_argument("field 'id' must have 1 to " + std::to_string(request_id_bytes_max) + " bytes");
  if (find(m, "node") && (!get_str(m, "node", h.node) || h.node.empty() || h.node.size() > 64))
    return status::invalid_argument("field 'node' must be a node name");
  return h;
}

namespace {

// The common part of reply decoding: kind, id, and errors turned into a status.
result<msgpack::object_handle> reply_map(std::string_view frame, std::string_view kind_expected,
                                         std::string_view expected_id) {
  auto oh = unpack_map(frame);
  if (!oh) return oh.error();
  auto& m = oh->get();
  std::string kind, id;
  if (!get_str(m, "kind", kind) || !get_str(m, "id", id)) return status::invalid_argument("reply without kind/id");
  if (id != expected_id) return status::invalid_argument("reply for another request id '" + id + "'");
  if (kind == "error") {
    std::string code, message;
    get_str(m, "code", code);
    get_str(m, "message", message);
    return status::failed_precondition("node answered " + code + ": " + message);
  }
  if (kind != kind_expected) return status::invalid_argument("unexpected reply kind '" + kind + "'");
  return oh;
}

}  // namespace

result<nodes_reply> decode_nodes_reply(std::string_view frame, std::string_view expected_id) {
  auto oh = reply_map(frame, "nodes", expected_id);
  if (!oh) return oh.error();
  auto& m = oh->get();
  nodes_reply r;
  get_str(m, "node", r.node);
  if (auto a = find(m, "members"); a && a->type == msgpack::type::ARRAY) {
    for (std::uint32_t i = 0; i < a->via.array.size; ++i) {
      auto& e = a->via.array.ptr[i];
      if (e.type != msgpack::type::MAP) continue;
      member_summary ms;
      get_str(e, "node", ms.node);
      get_str(e, "state", ms.state);
      get_uint(e, "incarnation", ms.incarnation);
      get_int(e, "last_heard_ms", ms.last_heard_ms);
      if (auto p = find(e, "phi"); p && (p->type == msgpack::type::FLOAT64 || p->type == msgpack::type::FLOAT32))
        ms.phi = p->via.f64;
      if (auto rl = find(e, "roles"); rl && rl->type == msgpack::type::ARRAY)
        for (std::uint32_t k = 0; k < rl->via.array.size; ++k)
          if (rl->via.array.ptr[k].type == msgpack::type::STR)
            ms.roles.emplace_back(rl->via.array.ptr[k].via.str.ptr, rl->via.array.ptr[k].via.str.size);
      get_int(e, "cores", ms.cores);
      get_uint(e, "memory_bytes", ms.memory_bytes);
      get_uint(e, "memory_free_bytes", ms.memory_free_bytes);
      get_int(e, "gpus", ms.gpus);
      if (auto p = find(e, "rtt_ms"); p && (p->type == msgpack::type::FLOAT64 || p->type == msgpack::type::FLOAT32))
        ms.rtt_ms = p->via.f64;
      r.members.push_back(std::move(ms));
    }
  }
  if (auto l = find(m, "links"); l && l->type == msgpack::type::MAP) {
    get_uint(*l, "frames_in", r.links.frames_in);
    get_uint(*l, "frames_out", r.links.frames_out);
    get_uint(*l, "dropped_frames", r.links.dropped_frames);
    get_uint(*l, "undeliverable", r.links.undeliverable);
    get_uint(*l, "rejected_handshakes", r.links.rejected_handshakes);
  }
  return r;
}

result<health_reply> decode_health_reply(std::string_view frame, std::string_view expected_id) {
  auto oh = reply_map(frame, "health", expected_id);
  if (!oh) return oh.error();
  auto& m = oh->get();
  health_reply h;
  get_str(m, "node", h.node);
  get_str(m, "cluster", h.cluster);
  get_str(m, "state", h.state);
  get_str(m, "version_info", h.version);
  get_int(m, "uptime_ms", h.uptime_ms);
  get_str(m, "metrics_endpoint", h.metrics_endpoint);
  get_int(m, "admin_refusals", h.admin_refusals);
  if (auto a = find(m, "actors"); a && a->type == msgpack::type::ARRAY) {
    for (std::uint32_t i = 0; i < a->via.array.size; ++i) {
      auto& e = a->via.array.ptr[i];
      if (e.type != msgpack::type::MAP) continue;
      actor_health ah;
      get_str(e, "name", ah.name);
      get_str(e, "state", ah.state);
      h.actors.push_back(ah);
    }
  }
  return h;
}

std::string encode_kill(std::string_view id, std::string_view actor, std::string_view admin_key) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(admin_key.empty() ? 4 : 5);
  pack_header(pk, "kill", id);
  pk.pack("actor");
  pk.pack(actor);
  if (!admin_key.empty()) {
    pk.pack("admin_key");
    pk.pack(admin_key);
  }
  return {buf.data(), buf.size()};
}

result<std::string> decode_kill_target(std::string_view frame) {
  auto oh = unpack_map(frame);
  if (!oh) return oh.error();
  std::string actor;
  if (!get_str(oh->get(), "actor", actor) || actor.empty() || actor.size() > 64)
    return status::invalid_argument("field 'actor' must name an actor of the node");
  return actor;
}

std::int64_t decode_kill_hang_ms(std::string_view frame) {
  auto oh = unpack_map(frame);
  std::int64_t ms = 0;
  if (!oh || !get_int(oh->get(), "hang_ms", ms) || ms < 0) return 0;
  return std::min<std::int64_t>(ms, 3600 * 1000);
}

std::string encode_hang(std::string_view id, std::string_view actor, std::int64_t ms, std::string_view admin_key) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(admin_key.empty() ? 5 : 6);
  if (!admin_key.empty()) {
    pk.pack("admin_key");
    pk.pack(admin_key);
  }
  pack_header(pk, "kill", id);
  pk.pack("actor");
  pk.pack(actor);
  pk.pack("hang_ms");
  pk.pack(ms);
  return {buf.data(), buf.size()};
}

std::string encode_ok(std::string_view id, std::string_view what) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  pack_header(pk, "ok", id);
  pk.pack("what");
  pk.pack(what);
  return {buf.data(), buf.size()};
}

}  // namespace holo::proto
