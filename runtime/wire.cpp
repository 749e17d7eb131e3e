#include "runtime/wire.hpp"

#include <caf/all.hpp>

#include "runtime/cluster_messages.hpp"

namespace holo::wire {

namespace {

msgpack::unpack_limit limits() {
  // array, map, str, bin, ext, depth. Maps are not used by the cluster wire.
  return msgpack::unpack_limit(array_elems_max, 64, frame_bytes_max, frame_bytes_max, 0, depth_max);
}

result<msgpack::object_handle> unpack_one(std::string_view bytes) {
  try {
    std::size_t off = 0;
    auto oh = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limits());
    if (off != bytes.size()) return status::invalid_argument("trailing bytes after the frame");
    return oh;
  } catch (const std::exception& e) {
    return status::invalid_argument(std::string("malformed MessagePack: ") + e.what());
  }
}

template <class T>
bool get(const msgpack::object& arr, std::uint32_t i, T& out) {
  return unpack_value(arr.via.array.ptr[i], out);
}

template <std::size_t I = 0>
result<std::uint16_t> encode_any(const caf::message& msg, std::string& out) {
  if constexpr (I == std::tuple_size_v<catalogue>) {
    return status::invalid_argument("not a catalogue message: " + to_string(msg));
  } else {
    using T = std::tuple_element_t<I, catalogue>;
    if (msg.size() == 1 && msg.match_element<T>(0)) {
      // Not wire::encode: its default sbuffer allocates 8 KB per message, and tokens are ~20 bytes.
      msgpack::sbuffer buf(256);
      msgpack::packer<msgpack::sbuffer> pk(buf);
      pack_value(pk, msg.get_as<T>(0));
      out.assign(buf.data(), buf.size());
      return T::wire_id;
    }
    return encode_any<I + 1>(msg, out);
  }
}

template <std::size_t I = 0>
result<caf::message> decode_any(std::uint16_t type, const msgpack::object& o) {
  if constexpr (I == std::tuple_size_v<catalogue>) {
    return status::invalid_argument("unknown message type " + std::to_string(type));
  } else {
    using T = std::tuple_element_t<I, catalogue>;
    if (type == T::wire_id) {
      T x;
      if (!unpack_value(o, x)) return status::invalid_argument(std::string("malformed ") + T::wire_name + " body");
      return caf::make_message(std::move(x));
    }
    return decode_any<I + 1>(type, o);
  }
}

template <std::size_t I = 0>
std::string_view name_of(std::uint16_t type) {
  if constexpr (I == std::tuple_size_v<catalogue>) {
    return {};
  } else {
    using T = std::tuple_element_t<I, catalogue>;
    return type == T::wire_id ? std::string_view(T::wire_name) : name_of<I + 1>(type);
  }
}

template <class... Ts>
void register_each(caf::actor_system_config& cfg, std::tuple<Ts...>*) {
  (cfg.add_message_type<Ts>(Ts::wire_name), ...);
}

}  // namespace

std::string encode_envelope(const envelope& e) {
  msgpack::sbuffer buf(64 + e.body.size());
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(9);
  pk.pack(e.v);
  pk.pack(static_cast<std::uint8_t>(e.kind));
  pk.pack(e.type);
  pk.pack(e.from_node);
  pk.pack(e.from_actor);
  pk.pack(e.to_node);
  pk.pack(e.to_actor);
  pk.pack(e.correlation);
  pk.pack_bin(static_cast<std::uint32_t>(e.body.size()));
  pk.pack_bin_body(e.body.data(), static_cast<std::uint32_t>(e.body.size()));
  return {buf.data(), buf.size()};
}

result<envelope> decode_envelope(std::string_view frame) {
  if (frame.size() > frame_bytes_max) return status::invalid_argument("frame larger than frame_bytes_max");
  auto oh = unpack_one(frame);
  if (!oh) return oh.error();
  auto& a = oh->get();
  if (a.type != msgpack::type::ARRAY || a.via.array.size < 1)
    return status::invalid_argument("frame is not an envelope array");
  envelope e;
  if (!get(a, 0, e.v)) return status::invalid_argument("envelope without a version");
  if (e.v != version)
    return status::invalid_argument("unsupported wire version " + std::to_string(e.v) + " (this node speaks " +
                                    std::to_string(version) + ")");
  if (a.via.array.size < 9) return status::invalid_argument("envelope has too few fields");
  std::uint8_t kind = 0;
  if (!get(a, 1, kind) || kind < 1 || kind > 4) return status::invalid_argument("bad frame kind");
  e.kind = static_cast<frame_kind>(kind);
  if (!get(a, 2, e.type) || !get(a, 3, e.from_node) || !get(a, 4, e.from_actor) || !get(a, 5, e.to_node) ||
      !get(a, 6, e.to_actor) || !get(a, 7, e.correlation))
    return status::invalid_argument("envelope field of the wrong type");
  for (auto* s : {&e.from_node, &e.from_actor, &e.to_node, &e.to_actor})
    if (s->empty() || s->size() > name_bytes_max) return status::invalid_argument("bad node or actor name length");
  auto& b = a.via.array.ptr[8];
  if (b.type != msgpack::type::BIN) return status::invalid_argument("envelope body is not bin");
  e.body.assign(b.via.bin.ptr, b.via.bin.size);
  return e;
}

result<std::uint16_t> encode_message(const caf::message& msg, std::string& body_out) {
  return encode_any(msg, body_out);
}

result<caf::message> decode_message(std::uint16_t type, std::string_view body) {
  if (name_of(type).empty()) return status::invalid_argument("unknown message type " + std::to_string(type));
  auto oh = unpack_one(body);
  if (!oh) return oh.error();
  return decode_any(type, oh->get());
}

std::string_view type_name(std::uint16_t type) { return name_of(type); }

void register_types(caf::actor_system_config& cfg) {
  register_each(cfg, static_cast<catalogue*>(nullptr));
}

}  // namespace holo::wire
