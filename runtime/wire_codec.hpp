// The one-definition machinery for cluster messages. A message is a struct that lists its fields
// once, with HOLO_WIRE_FIELDS(...); from that single list come
//   - its CAF inspect (so actors exchange it as an ordinary typed message, and CAF can name it),
//   - its MessagePack encoding on the wire (an array of the fields, in order),
//   - its checked decoding (types and sizes validated, never throws, never reads past the input).
// Supported field types: bool, integers, double, std::string, std::vector<T>, and nested structs
// that themselves use HOLO_WIRE_FIELDS. Catalogue entries also declare `wire_id` (stable forever)
// and `wire_name` (CAF type name).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <msgpack.hpp>

#define HOLO_WIRE_FIELDS(...)                                       \
  template <class F>                                                \
  decltype(auto) visit_fields(F&& f) {                              \
    return f(__VA_ARGS__);                                          \
  }                                                                 \
  template <class F>                                                \
  decltype(auto) visit_fields(F&& f) const {                        \
    return f(__VA_ARGS__);                                          \
  }

namespace holo::wire {

template <class T>
concept wire_struct = requires(T& t) {
  { T::wire_name } -> std::convertible_to<const char*>;
  t.visit_fields([](auto&...) { return 0; });
};

template <class T>
concept wire_message = wire_struct<T> && requires { { T::wire_id } -> std::convertible_to<std::uint16_t>; };

// CAF 0.17 inspect for every wire struct, found by ADL in namespace holo::wire.
template <class Inspector, wire_struct T>
typename Inspector::result_type inspect(Inspector& f, T& x) {
  return x.visit_fields([&](auto&... xs) { return f(caf::meta::type_name(T::wire_name), xs...); });
}

// ---- encoding ----------------------------------------------------------------------------------
// Any msgpack stream (sbuffer, or a writer appending to a caller's reused string).
template <class Stream, class T>
void pack_value(msgpack::packer<Stream>& pk, const T& v);

template <class Stream, class T>
void pack_value(msgpack::packer<Stream>& pk, const std::vector<T>& v) {
  pk.pack_array(static_cast<std::uint32_t>(v.size()));
  for (auto& e : v) pack_value(pk, e);
}

template <class Stream, class T>
void pack_value(msgpack::packer<Stream>& pk, const T& v) {
  if constexpr (wire_struct<T>) {
    v.visit_fields([&](const auto&... xs) {
      pk.pack_array(static_cast<std::uint32_t>(sizeof...(xs)));
      (pack_value(pk, xs), ...);
      return 0;
    });
  } else if constexpr (std::is_same_v<T, std::string>) {
    pk.pack(v);
  } else {
    static_assert(std::is_arithmetic_v<T>, "unsupported wire field type");
    pk.pack(v);
  }
}

template <class T>
std::string encode(const T& msg) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pack_value(pk, msg);
  return {buf.data(), buf.size()};
}

// ---- decoding (checked) --------------------------------------------------------------------------
template <class T>
bool unpack_value(const msgpack::object& o, T& out);

template <class T>
bool unpack_value(const msgpack::object& o, std::vector<T>& out) {
  if (o.type != msgpack::type::ARRAY) return false;
  out.clear();
  out.resize(o.via.array.size);
  for (std::uint32_t i = 0; i < o.via.array.size; ++i)
    if (!unpack_value(o.via.array.ptr[i], out[i])) return false;
  return true;
}

template <class T>
bool unpack_value(const msgpack::object& o, T& out) {
  if constexpr (wire_struct<T>) {
    if (o.type != msgpack::type::ARRAY) return false;
    return out.visit_fields([&](auto&... xs) {
      // Extra trailing fields are allowed (a newer sender); missing ones are not.
      if (o.via.array.size < sizeof...(xs)) return false;
      std::uint32_t i = 0;
      return (unpack_value(o.via.array.ptr[i++], xs) && ...);
    });
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (o.type != msgpack::type::STR) return false;
    out.assign(o.via.str.ptr, o.via.str.size);
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (o.type != msgpack::type::BOOLEAN) return false;
    out = o.via.boolean;
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) {
      out = static_cast<T>(o.via.f64);
      return true;
    }
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
      out = static_cast<T>(o.via.u64);
      return true;
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) {
      out = static_cast<T>(o.via.i64);
      return true;
    }
    return false;
  } else {
    static_assert(std::is_integral_v<T>, "unsupported wire field type");
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
      if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return false;
      out = static_cast<T>(o.via.u64);
      return true;
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) {
      if constexpr (std::is_unsigned_v<T>) {
        return false;
      } else {
        if (o.via.i64 < static_cast<std::int64_t>(std::numeric_limits<T>::min())) return false;
        out = static_cast<T>(o.via.i64);
        return true;
      }
    }
    return false;
  }
}

}  // namespace holo::wire

namespace holo {
// Wire structs declared directly in namespace holo (an actor's own protocol types) find their
// inspect by ADL through this using-declaration.
using wire::inspect;
}  // namespace holo
