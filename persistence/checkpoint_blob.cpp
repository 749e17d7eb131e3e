#include "persistence/checkpoint_blob.hpp"

#include <array>

#include <msgpack.hpp>

namespace holo::persist {

namespace {

constexpr std::string_view magic = "holo.ckpt";
constexpr std::size_t kind_bytes_max = 128;

constexpr std::array<std::uint32_t, 256> crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected 0x1EDC6F41
    t[i] = c;
  }
  return t;
}
constexpr auto table = crc_table();

}  // namespace

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc) {
  crc = ~crc;
  for (unsigned char b : bytes) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string encode_checkpoint(const checkpoint_blob& c) {
  msgpack::sbuffer buf(64 + c.payload.size());
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(7);
  pk.pack(std::string(magic));
  pk.pack(checkpoint_format_version);
  pk.pack(c.kind);
  pk.pack(c.schema_version);
  pk.pack(c.sequence);
  pk.pack(c.created_ms);
  pk.pack_bin(static_cast<std::uint32_t>(c.payload.size()));
  pk.pack_bin_body(c.payload.data(), c.payload.size());
  std::string out(buf.data(), buf.size());
  const std::uint32_t crc = crc32c(out);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return out;
}

result<checkpoint_blob> decode_checkpoint(std::string_view bytes) {
  if (bytes.size() < 5) return status::data_loss("checkpoint: " + std::to_string(bytes.size()) + " bytes is too short");
  if (bytes.size() > checkpoint_payload_bytes_max + 4096) return status::data_loss("checkpoint: larger than the limit");
  const auto body = bytes.substr(0, bytes.size() - 4);
  std::uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= std::uint32_t(static_cast<unsigned char>(bytes[body.size() + i])) << (8 * i);
  if (crc32c(body) != stored) return status::data_loss("checkpoint: checksum mismatch (corrupt or truncated)");
  msgpack::object_handle oh;
  try {
    std::size_t off = 0;
    oh = msgpack::unpack(body.data(), body.size(), off, nullptr, nullptr,
                         msgpack::unpack_limit(16, 0, kind_bytes_max, checkpoint_payload_bytes_max, 0, 2));
    if (off != body.size()) return status::data_loss("checkpoint: trailing bytes");
  } catch (const std::exception& e) {
    return status::data_loss(std::string("checkpoint: malformed envelope: ") + e.what());
  }
  const auto& o = oh.get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size < 7) return status::data_loss("checkpoint: not an envelope");
  const auto* f = o.via.array.ptr;
  if (f[0].type != msgpack::type::STR || std::string_view(f[0].via.str.ptr, f[0].via.str.size) != magic)
    return status::data_loss("checkpoint: bad magic");
  if (f[1].type != msgpack::type::POSITIVE_INTEGER) return status::data_loss("checkpoint: bad format_version");
  if (f[1].via.u64 != checkpoint_format_version)
    return status::failed_precondition("checkpoint: format_version " + std::to_string(f[1].via.u64) +
                                       " is not known to this build (knows " +
                                       std::to_string(checkpoint_format_version) + ")");
  checkpoint_blob c;
  if (f[2].type != msgpack::type::STR) return status::data_loss("checkpoint: kind is not a string");
  c.kind.assign(f[2].via.str.ptr, f[2].via.str.size);
  if (f[3].type != msgpack::type::POSITIVE_INTEGER || f[3].via.u64 > UINT32_MAX)
    return status::data_loss("checkpoint: bad schema_version");
  c.schema_version = static_cast<std::uint32_t>(f[3].via.u64);
  if (f[4].type != msgpack::type::POSITIVE_INTEGER) return status::data_loss("checkpoint: bad sequence");
  c.sequence = f[4].via.u64;
  if (f[5].type == msgpack::type::POSITIVE_INTEGER && f[5].via.u64 <= std::uint64_t(INT64_MAX))
    c.created_ms = static_cast<std::int64_t>(f[5].via.u64);
  else if (f[5].type == msgpack::type::NEGATIVE_INTEGER)
    c.created_ms = f[5].via.i64;
  else
    return status::data_loss("checkpoint: bad created_ms");
  if (f[6].type != msgpack::type::BIN) return status::data_loss("checkpoint: payload is not bin");
  c.payload.assign(f[6].via.bin.ptr, f[6].via.bin.size);
  return c;
}

}  // namespace holo::persist
