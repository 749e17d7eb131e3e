// Reading client frames: one MessagePack map per frame, unpacked under the protocol's limits, and
// typed field getters that answer false (never throw) on a missing key or a wrong type. Shared by
// the client protocol decoders (client_protocol.cpp, serving_protocol.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "runtime/client_protocol.hpp"
#include "runtime/status.hpp"

namespace holo::proto::detail {

// Unpacks one frame under the limits; a frame that is not exactly one map is an error.
inline result<msgpack::object_handle> unpack_map(std::string_view frame) {
  if (frame.size() > client_frame_bytes_max)
    return status::invalid_argument("frame of " + std::to_string(frame.size()) + " bytes exceeds " +
                                    std::to_string(client_frame_bytes_max));
  const unpack_limits l;
  try {
    std::size_t off = 0;
    auto oh = msgpack::unpack(frame.data(), frame.size(), off, nullptr, nullptr,
                              msgpack::unpack_limit(l.array_elems_max, l.map_entries_max, l.str_bytes_max,
                                                    l.bin_bytes_max, l.ext_bytes_max, l.depth_max));
    if (off != frame.size()) return status::invalid_argument("trailing bytes after the message");
    if (oh.get().type != msgpack::type::MAP) return status::invalid_argument("message is not a map");
    return oh;
  } catch (const std::exception& e) {
    return status::invalid_argument(std::string("malformed MessagePack: ") + e.what());
  }
}

inline const msgpack::object* find(const msgpack::object& map, std::string_view key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key)
      return &kv.val;
  }
  return nullptr;
}

inline bool as_str(const msgpack::object& o, std::string& out) {
  if (o.type != msgpack::type::STR) return false;
  out.assign(o.via.str.ptr, o.via.str.size);
  return true;
}

inline bool as_int(const msgpack::object& o, std::int64_t& out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<std::uint64_t>(INT64_MAX)) return false;
    out = static_cast<std::int64_t>(o.via.u64);
    return true;
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    out = o.via.i64;
    return true;
  }
  return false;
}

inline bool as_double(const msgpack::object& o, double& out) {
  if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) {
    out = o.via.f64;
    return true;
  }
  std::int64_t i = 0;
  if (!as_int(o, i)) return false;
  out = static_cast<double>(i);
  return true;
}

inline bool get_str(const msgpack::object& map, std::string_view key, std::string& out) {
  auto o = find(map, key);
  return o && as_str(*o, out);
}

inline bool get_int(const msgpack::object& map, std::string_view key, std::int64_t& out) {
  auto o = find(map, key);
  return o && as_int(*o, out);
}

inline bool get_uint(const msgpack::object& map, std::string_view key, std::uint64_t& out) {
  auto o = find(map, key);
  if (!o || o->type != msgpack::type::POSITIVE_INTEGER) return false;
  out = o->via.u64;
  return true;
}

inline bool get_double(const msgpack::object& map, std::string_view key, double& out) {
  auto o = find(map, key);
  return o && as_double(*o, out);
}

inline void pack_header(msgpack::packer<msgpack::sbuffer>& pk, std::string_view kind, std::string_view id) {
  pk.pack("v");
  pk.pack(version);
  pk.pack("kind");
  pk.pack(kind);
  pk.pack("id");
  pk.pack(id);
}

}  // namespace holo::proto::detail
