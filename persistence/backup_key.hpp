// The symmetric key that encrypts backup archives: 32 random bytes in a file of its own.
//
// File format: the 32 key bytes as 64 lowercase hex characters and one newline (what
// `holo backup keygen FILE` writes). Base64 (44 characters, standard alphabet, padded) is accepted
// on read too, so a key made with `head -c32 /dev/urandom | base64` works.
//
// Contract:
// - Plain functions over libsodium; no shared state, so any thread may call any of them.
// - Failures come back as values: `not_found` (no such file), `already_exists` (keygen would
//   overwrite), `failed_precondition` (a key file that group or others may read: refused like ssh
//   refuses such a private key, the message says `chmod 600 FILE`), `invalid_argument` (malformed
//   content), `unavailable` (other I/O errors).
// - The key bytes are wiped from memory when a backup_key is destroyed; they never appear in a
//   message. What identifies a key in archives and messages is its key id (see key_id()).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "runtime/status.hpp"

namespace holo::persistence {

inline constexpr std::size_t backup_key_bytes = 32;
inline constexpr std::size_t backup_key_id_bytes = 8;
using backup_key_id = std::array<std::uint8_t, backup_key_id_bytes>;

class backup_key {
 public:
  explicit backup_key(const std::array<std::uint8_t, backup_key_bytes>& bytes);
  backup_key(const backup_key& other);
  backup_key& operator=(const backup_key& other);
  ~backup_key();

  const std::uint8_t* data() const { return bytes_.data(); }

  // A short public fingerprint: the first 8 bytes of BLAKE2b keyed with this key over a fixed
  // label. Stored in every archive header so a wrong key is reported as "wrong key" before any
  // decryption; being a keyed hash, it reveals nothing usable about the key.
  backup_key_id key_id() const;

  // Subkeys (crypto_kdf, context "holobkup"): 1 encrypts the stream, 2 keys the plaintext digest.
  // Separate subkeys keep the two uses of the one file key from interacting.
  std::array<std::uint8_t, 32> subkey(std::uint64_t id) const;

 private:
  std::array<std::uint8_t, backup_key_bytes> bytes_;
};

// 16 lowercase hex characters.
std::string key_id_hex(const backup_key_id& id);

// A fresh key from libsodium's CSPRNG (randombytes_buf).
result<backup_key> generate_backup_key();

// Writes `path` as 64 hex characters + newline, created with O_EXCL and mode 0600 (never readable by
// others, not even for an instant) and fsynced. Without `overwrite` an existing file is
// `already_exists`; with it the old file is unlinked first so its mode does not carry over.
status write_backup_key_file(const std::string& path, const backup_key& key, bool overwrite);

// Reads a key file (see the format above). Refuses anything that is not a regular file, or whose mode
// lets group or others read or write it.
result<backup_key> read_backup_key_file(const std::string& path);

}  // namespace holo::persistence
