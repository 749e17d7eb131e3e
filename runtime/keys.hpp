// CURVE key handling: make keypairs, check and decode Z85 keys, read a node's secret key file, write
// the `BASE.key` / `BASE.pub` pair that `holo keygen` makes.
//
// Keys travel as Z85 text (40 characters for 32 bytes), the form libzmq's curve_* socket options and
// the cluster config (`keys = { public_key = "...", secret_key_file = "..." }`) take.
//
// Contract:
// - Plain functions over libzmq (zmq_curve_keypair, zmq_curve_public, zmq_z85_decode); no shared
//   state, so any thread may call any of them at any time.
// - Failures come back as values, never exceptions: `unimplemented` when this libzmq was built without
//   CURVE, `invalid_argument` for a malformed key or key file, `failed_precondition` for a secret key
//   file others may read, `already_exists` when a write would overwrite, `unavailable` for I/O errors.
// - A secret key file is refused unless it is a regular file that only its owner may read
//   (mode & 077 == 0), holding exactly one 40-character Z85 key, optionally followed by one newline.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/status.hpp"

namespace holo {

inline constexpr std::size_t curve_key_bytes = 32;
inline constexpr std::size_t curve_key_z85_chars = 40;

struct curve_keypair {
  std::string public_z85;  // 40 characters
  std::string secret_z85;  // 40 characters; keep it out of logs
};

// A fresh keypair from libzmq's random source. `unimplemented` when zmq_has("curve") is false.
result<curve_keypair> generate_keypair();

// True for exactly 40 characters of the Z85 alphabet (what zmq_z85_decode accepts for 32 bytes).
bool valid_z85_key(std::string_view z85);

// The 32 raw key bytes; `invalid_argument` when `z85` is not a valid 40-character key.
result<std::array<std::uint8_t, curve_key_bytes>> decode_key(std::string_view z85);

// The Z85 public key belonging to a Z85 secret key.
result<std::string> public_from_secret(std::string_view secret_z85);

// Reads a secret key file (see the contract above). Errors name the path; a file that group or
// others may read is refused with `failed_precondition` and a message saying `chmod 600 PATH`.
result<std::string> read_secret_key_file(const std::string& path);

// Writes `BASE.key` (the secret, created 0600 with O_EXCL so it is never readable by others, not
// even for an instant) and `BASE.pub` (the public key, 0644), each as the key plus a newline.
// Without `overwrite`, an existing BASE.key or BASE.pub is an `already_exists` error and nothing is
// written. With `overwrite`, existing files are replaced by new ones (unlinked, then created), so an
// old file's looser mode never carries over.
status write_keypair_files(const std::string& base_path, const curve_keypair& keys, bool overwrite);

}  // namespace holo
