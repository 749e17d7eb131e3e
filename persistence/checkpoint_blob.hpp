// The envelope of every actor checkpoint stored in the checkpoints table: versioned and
// checksummed, so a reader can tell "written by a newer schema", "not a checkpoint" and "bits
// flipped" apart before it trusts a byte of the payload.
//
//   blob = body ++ crc32c(body) (4 bytes, little-endian)
//   body = MessagePack array [ "holo.ckpt", format_version, kind, schema_version, sequence,
//                              created_ms, payload (bin) ]
//
// `format_version` is this envelope's layout (1); `schema_version` is the payload's, owned by the
// actor that writes `kind` (e.g. kind "router.generation", schema 1). The payload is the actor's own
// MessagePack. Decoding is bounded and never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/status.hpp"

namespace holo::persist {

inline constexpr std::uint32_t checkpoint_format_version = 1;
inline constexpr std::size_t checkpoint_payload_bytes_max = 32 << 20;

struct checkpoint_blob {
  std::string kind;                 // what the payload is, e.g. "router.generation" (<= 128 bytes)
  std::uint32_t schema_version = 1; // version of the payload's layout
  std::uint64_t sequence = 0;       // grows with each checkpoint of one key
  std::int64_t created_ms = 0;
  std::string payload;              // the actor's MessagePack bytes
  bool operator==(const checkpoint_blob&) const = default;
};

std::string encode_checkpoint(const checkpoint_blob& c);
// data_loss: checksum mismatch, truncated, not a checkpoint, malformed; failed_precondition: a
// format_version this build does not know.
result<checkpoint_blob> decode_checkpoint(std::string_view bytes);

// CRC-32C (Castagnoli), as iSCSI and ext4 use it.
std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);

}  // namespace holo::persist
