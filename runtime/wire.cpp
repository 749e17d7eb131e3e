#include "runtime/wire.hpp"

#include <caf/all.hpp>

#include "runtime/cluster_messages.hpp"
#include "runtime/element_pool.hpp"

namespace holo::wire {

namespace {

msgpack::unpack_limit limits() {
  // array, map, str, bin, ext, depth. Maps are not used by the cluster wire.
  return msgpack::unpack_limit(array_elems_max, 64, frame_bytes_max, frame_bytes_max, 0, depth_max);
}

// A msgpack stream appending to a string whose capacity the caller reuses.
struct string_stream {
  std::string& out;
  void write(const char* data, std::size_t n) { out.append(data, n); }
};

// Finds the catalogue type of `msg` and packs it into `out`. `address` (the element's std::type_info,
// looked up once): compare by address only, a pointer compare per catalogue type; the fallback pass
// (match_element, which compares type names with strcmp) runs only when no address matched, e.g.
// a type_info duplicated across shared objects. The strcmp pass alone was ~4% of a sender's time.
template <std::size_t I = 0>
result<std::uint16_t> encode_any(const caf::message& msg, std::string& out, const std::type_info* address) {
  if constexpr (I == std::tuple_size_v<catalogue>) {
    if (address) return encode_any<0>(msg, out, nullptr);
    return status::invalid_argument("not a catalogue message: " + to_string(msg));
  } else {
    using T = std::tuple_element_t<I, catalogue>;
    if (address ? address == &typeid(T) : msg.size() == 1 && msg.match_element<T>(0)) {
      // Appended to `out` as is (not wire::encode: its sbuffer allocates 8 KB per message, and
      // tokens are ~20 bytes).
      out.clear();
      string_stream stream{out};
      msgpack::packer<string_stream> pk(stream);
      pack_value(pk, msg.get_as<T>(0));
      return T::wire_id;
    }
    return encode_any<I + 1>(msg, out, address);
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

static_assert(std::tuple_size_v<catalogue> <= element_pool::slots, "element_pool needs a slot per catalogue type");

template <std::size_t I = 0>
result<caf::mailbox_element_ptr> decode_element(std::uint16_t type, const msgpack::object& o, caf::strong_actor_ptr& sender,
                                                caf::message_id mid, element_pool* pool) {
  if constexpr (I == std::tuple_size_v<catalogue>) {
    return status::invalid_argument("unknown message type " + std::to_string(type));
  } else {
    using T = std::tuple_element_t<I, catalogue>;
    if (type == T::wire_id) {
      if (pool) {
        // Decoded by assignment into a recycled element: every field is overwritten (a missing
        // one fails the decode), and a string field reuses the buffer it had.
        caf::mailbox_element_ptr element{pool->take<T>(I)};
        if (!unpack_value(o, static_cast<pooled_element<T>&>(*element).value()))
          return status::invalid_argument(std::string("malformed ") + T::wire_name + " body");
        element->sender = std::move(sender);
        element->mid = mid;
        return element;
      }
      T x;
      if (!unpack_value(o, x)) return status::invalid_argument(std::string("malformed ") + T::wire_name + " body");
      return caf::make_mailbox_element(std::move(sender), mid, {}, std::move(x));
    }
    return decode_element<I + 1>(type, o, sender, mid, pool);
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

namespace {

// ---- the envelope's own MessagePack, written and read by hand: it is a fixed array of scalars,
// strings and one bin, and the transport handles every frame through it, so it should cost no
// allocation (msgpack::unpack allocates an 8 KB zone per call).

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_uint(std::string& out, std::uint64_t v) {
  if (v < 0x80) {
    out.push_back(static_cast<char>(v));
  } else if (v <= 0xff) {
    out.push_back(static_cast<char>(0xcc)), put_be(out, v, 1);
  } else if (v <= 0xffff) {
    out.push_back(static_cast<char>(0xcd)), put_be(out, v, 2);
  } else if (v <= 0xffffffffu) {
    out.push_back(static_cast<char>(0xce)), put_be(out, v, 4);
  } else {
    out.push_back(static_cast<char>(0xcf)), put_be(out, v, 8);
  }
}

void put_str(std::string& out, std::string_view v) {
  if (v.size() < 32) {
    out.push_back(static_cast<char>(0xa0 | v.size()));
  } else if (v.size() <= 0xff) {
    out.push_back(static_cast<char>(0xd9)), put_be(out, v.size(), 1);
  } else if (v.size() <= 0xffff) {
    out.push_back(static_cast<char>(0xda)), put_be(out, v.size(), 2);
  } else {
    out.push_back(static_cast<char>(0xdb)), put_be(out, v.size(), 4);
  }
  out.append(v);
}

void put_bin(std::string& out, std::string_view v) {
  if (v.size() <= 0xff) {
    out.push_back(static_cast<char>(0xc4)), put_be(out, v.size(), 1);
  } else if (v.size() <= 0xffff) {
    out.push_back(static_cast<char>(0xc5)), put_be(out, v.size(), 2);
  } else {
    out.push_back(static_cast<char>(0xc6)), put_be(out, v.size(), 4);
  }
  out.append(v);
}

constexpr std::size_t envelope_fields = 9;

void put_header(std::string& out, std::uint8_t v, frame_kind kind, std::uint16_t type, std::string_view from_node,
                std::string_view from_actor, std::string_view to_node, std::string_view to_actor,
                std::uint64_t correlation) {
  out.push_back(static_cast<char>(0x90 | envelope_fields));
  put_uint(out, v);
  put_uint(out, static_cast<std::uint8_t>(kind));
  put_uint(out, type);
  put_str(out, from_node);
  put_str(out, from_actor);
  put_str(out, to_node);
  put_str(out, to_actor);
  put_uint(out, correlation);
}

// A bounds-checked reader over one frame. Every read fails (returns false) rather than reading
// past the end; `error` says what was wrong.
struct reader {
  std::string_view in;
  std::size_t at = 0;
  const char* error = nullptr;

  bool fail(const char* why) {
    if (!error) error = why;
    return false;
  }
  bool byte(std::uint8_t& b) {
    if (at >= in.size()) return fail("malformed MessagePack: insufficient bytes");
    b = static_cast<std::uint8_t>(in[at++]);
    return true;
  }
  bool be(int bytes, std::uint64_t& v) {
    if (in.size() - at < static_cast<std::size_t>(bytes)) return fail("malformed MessagePack: insufficient bytes");
    v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<std::uint8_t>(in[at++]);
    return true;
  }
  // Any MessagePack integer format holding a value in [0, max].
  bool uint(std::uint64_t max, std::uint64_t& v) {
    std::uint8_t b = 0;
    if (!byte(b)) return false;
    if (b < 0x80) {
      v = b;
    } else if (b >= 0xcc && b <= 0xcf) {
      if (!be(1 << (b - 0xcc), v)) return false;
    } else if (b >= 0xd0 && b <= 0xd3) {
      int n = 1 << (b - 0xd0);
      if (!be(n, v)) return false;
      if (n < 8 && (v >> (8 * n - 1)) != 0) return fail("envelope field of the wrong type");
      if (n == 8 && static_cast<std::int64_t>(v) < 0) return fail("envelope field of the wrong type");
    } else if (b == 0xc1) {
      return fail("malformed MessagePack: reserved byte");
    } else {
      return fail("envelope field of the wrong type");
    }
    if (v > max) return fail("envelope field of the wrong type");
    return true;
  }
  bool span(std::uint64_t n, std::string_view& out) {
    if (in.size() - at < n) return fail("malformed MessagePack: insufficient bytes");
    out = in.substr(at, n);
    at += n;
    return true;
  }
  bool str(std::string_view& out) {
    std::uint8_t b = 0;
    if (!byte(b)) return false;
    std::uint64_t n = 0;
    if ((b & 0xe0) == 0xa0) {
      n = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
      if (!be(1 << (b - 0xd9), n)) return false;
    } else {
      return fail(b == 0xc1 ? "malformed MessagePack: reserved byte" : "envelope field of the wrong type");
    }
    return span(n, out);
  }
  bool bin(std::string_view& out) {
    std::uint8_t b = 0;
    if (!byte(b)) return false;
    std::uint64_t n = 0;
    if (b >= 0xc4 && b <= 0xc6) {
      if (!be(1 << (b - 0xc4), n)) return false;
    } else {
      return fail(b == 0xc1 ? "malformed MessagePack: reserved byte" : "envelope body is not bin");
    }
    return span(n, out);
  }
  bool array(std::uint64_t& n) {
    std::uint8_t b = 0;
    if (!byte(b)) return false;
    if ((b & 0xf0) == 0x90) {
      n = b & 0x0f;
      return true;
    }
    if (b == 0xdc || b == 0xdd) return be(b == 0xdc ? 2 : 4, n);
    if (b == 0xc1) return fail("malformed MessagePack: reserved byte");
    return fail("frame is not an envelope array");
  }
};

}  // namespace

std::string encode_envelope(const envelope& e) {
  std::string out;
  out.reserve(48 + e.from_node.size() + e.from_actor.size() + e.to_node.size() + e.to_actor.size() + e.body.size());
  put_header(out, e.v, e.kind, e.type, e.from_node, e.from_actor, e.to_node, e.to_actor, e.correlation);
  put_bin(out, e.body);
  return out;
}

status encode_frame_to(std::string& out, frame_kind kind, std::string_view from_node, std::string_view from_actor,
                       std::string_view to_node, std::string_view to_actor, std::uint64_t correlation,
                       const caf::message& msg) {
  // The body is packed into a buffer this thread reuses, then copied once behind the header.
  thread_local std::string body;
  body.clear();
  auto type = encode_message(msg, body);
  if (!type) return type.error();
  out.clear();
  out.reserve(48 + from_node.size() + from_actor.size() + to_node.size() + to_actor.size() + body.size());
  put_header(out, version, kind, *type, from_node, from_actor, to_node, to_actor, correlation);
  put_bin(out, body);
  if (body.capacity() > (64u << 10)) std::string().swap(body);  // keep no large buffer per thread
  return {};
}

result<std::string> encode_frame(frame_kind kind, std::string_view from_node, std::string_view from_actor,
                                 std::string_view to_node, std::string_view to_actor, std::uint64_t correlation,
                                 const caf::message& msg) {
  std::string out;
  auto st = encode_frame_to(out, kind, from_node, from_actor, to_node, to_actor, correlation, msg);
  if (!st.ok()) return st;
  return out;
}

result<envelope_view> decode_envelope_view(std::string_view frame) {
  if (frame.size() > frame_bytes_max) return status::invalid_argument("frame larger than frame_bytes_max");
  reader r{frame};
  envelope_view e;
  std::uint64_t n = 0, v = 0, kind = 0, type = 0;
  auto bad = [&](const char* fallback) { return status::invalid_argument(r.error ? r.error : fallback); };
  if (!r.array(n)) return bad("frame is not an envelope array");
  if (n < 1) return status::invalid_argument("envelope without a version");
  if (!r.uint(0xff, v)) return bad("envelope without a version");
  e.v = static_cast<std::uint8_t>(v);
  if (e.v != version)
    return status::invalid_argument("unsupported wire version " + std::to_string(e.v) + " (this node speaks " +
                                    std::to_string(version) + ")");
  if (n < envelope_fields) return status::invalid_argument("envelope has too few fields");
  if (n > envelope_fields) return status::invalid_argument("envelope has more fields than version 1 defines");
  if (!r.uint(0xff, kind)) return bad("bad frame kind");
  if (kind < 1 || kind > 4) return status::invalid_argument("bad frame kind");
  e.kind = static_cast<frame_kind>(kind);
  if (!r.uint(0xffff, type) || !r.str(e.from_node) || !r.str(e.from_actor) || !r.str(e.to_node) ||
      !r.str(e.to_actor) || !r.uint(UINT64_MAX, e.correlation))
    return bad("envelope field of the wrong type");
  e.type = static_cast<std::uint16_t>(type);
  for (auto s : {e.from_node, e.from_actor, e.to_node, e.to_actor})
    if (s.empty() || s.size() > name_bytes_max) return status::invalid_argument("bad node or actor name length");
  if (!r.bin(e.body)) return bad("envelope body is not bin");
  if (r.at != frame.size()) return status::invalid_argument("trailing bytes after the frame");
  return e;
}

result<envelope> decode_envelope(std::string_view frame) {
  auto v = decode_envelope_view(frame);
  if (!v) return v.error();
  envelope e;
  e.v = v->v;
  e.kind = v->kind;
  e.type = v->type;
  e.from_node = v->from_node;
  e.from_actor = v->from_actor;
  e.to_node = v->to_node;
  e.to_actor = v->to_actor;
  e.correlation = v->correlation;
  e.body = v->body;
  return e;
}

result<std::uint16_t> encode_message(const caf::message& msg, std::string& body_out) {
  if (msg.size() != 1) return encode_any(msg, body_out, nullptr);
  const std::type_info* address = msg.type(0).second;  // null for CAF's built-in types
  return encode_any(msg, body_out, address);
}

namespace {

// Parses `body` with a zone this thread reuses (clear() keeps its first chunk: a fresh
// msgpack::unpack would allocate 8 KB for every token the transport delivers) and hands the object
// to `f`. Strings and bins are copied out of the zone by the decoders, so nothing refers to it
// afterwards.
template <class R, class F>
result<R> with_body(std::uint16_t type, std::string_view body, F f) {
  if (name_of(type).empty()) return status::invalid_argument("unknown message type " + std::to_string(type));
  thread_local msgpack::zone zone(2048);
  zone.clear();
  try {
    std::size_t off = 0;
    // Strings and bins point into `body` (which outlives the decode) instead of being copied into
    // the zone: a stage's activations or logits are copied once, into the message's own string.
    auto refer = [](msgpack::type::object_type, std::size_t, void*) { return true; };
    auto obj = msgpack::unpack(zone, body.data(), body.size(), off, refer, nullptr, limits());
    if (off != body.size()) return status::invalid_argument("trailing bytes after the frame");
    return f(obj);
  } catch (const std::exception& e) {
    return status::invalid_argument(std::string("malformed MessagePack: ") + e.what());
  }
}

}  // namespace

result<caf::message> decode_message(std::uint16_t type, std::string_view body) {
  return with_body<caf::message>(type, body, [&](const msgpack::object& o) { return decode_any(type, o); });
}

result<caf::mailbox_element_ptr> decode_to_mailbox(std::uint16_t type, std::string_view body,
                                                   caf::strong_actor_ptr sender, caf::message_id mid,
                                                   element_pool* pool) {
  return with_body<caf::mailbox_element_ptr>(
      type, body, [&](const msgpack::object& o) { return decode_element(type, o, sender, mid, pool); });
}

std::string_view type_name(std::uint16_t type) { return name_of(type); }

void register_types(caf::actor_system_config& cfg) {
  register_each(cfg, static_cast<catalogue*>(nullptr));
}

}  // namespace holo::wire
