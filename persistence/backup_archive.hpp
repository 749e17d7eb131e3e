// Backup archives: one file holding a snapshot (a SQLite database file or a pg_dump), compressed with zstd
// and encrypted + authenticated with libsodium's crypto_secretstream_xchacha20poly1305.
//
// Format, version 1 (all integers little-endian; docs/storage.md "Backup archives" has the same):
//
//   offset size  field
//   0      8     magic "HOLOBKUP"
//   8      2     format_version = 1
//   10     2     header_bytes = 120
//   12     1     payload_kind (1 = sqlite_database, 2 = postgres_dump: pg_dump's custom format)
//   13     1     compression (1 = zstd)
//   14     2     reserved, 0
//   16     4     chunk_bytes: most compressed bytes per encrypted chunk (1 KiB .. 1 MiB; 64 KiB default)
//   20     4     reserved, 0
//   24     8     key_id: BLAKE2b-64 keyed with the file key over a fixed label (backup_key::key_id)
//   32     8     created_unix_seconds (signed)
//   40     8     plaintext_bytes: size of the snapshot before compression
//   48     32    plaintext_digest: BLAKE2b-256 of the snapshot, keyed with KDF subkey 2 of the file key
//                (keyed so that the digest does not let anyone without the key confirm a guessed
//                database; with the key it is comparable across archives and the catalogue)
//   80     24    secretstream header (crypto_secretstream_xchacha20poly1305_HEADERBYTES)
//   104    16    header_checksum: unkeyed BLAKE2b-128 of bytes 0..103
//   120          chunks, each: u32 ciphertext_bytes, then that many bytes of ciphertext
//
// Each chunk's ciphertext is crypto_secretstream_xchacha20poly1305_push of up to chunk_bytes of the zstd
// stream (one zstd frame over the whole snapshot), under KDF subkey 1 of the file key. Associated data:
// chunk 0 binds the whole 120-byte header plus its own length field; every later chunk binds its
// length field. The last chunk carries TAG_FINAL (it may be empty); nothing may follow it. Because the
// secretstream state chains every chunk to the ones before, reordering, dropping or replaying chunks
// fails authentication; a missing final tag is reported as truncation.
//
// What a reader reports (all refusals; `message()` starts with the phrase in quotes):
//   bad magic                        invalid_argument   "not a Holobionte backup archive"
//   version other than 1             unimplemented      "unsupported archive format version V"
//   header checksum / field invalid  data_loss          "damaged archive at byte N"
//   key id differs from the key's    failed_precondition "wrong key"
//   chunk fails authentication,      data_loss          "damaged archive at byte N"
//     bad length, trailing data, zstd error, size or digest mismatch
//   file ends before the final tag   data_loss          "truncated archive"
// N is the offset of the header field or of the chunk's length field.
//
// Memory is bounded whatever the snapshot's size: two chunk buffers, 64 KiB read buffers and the
// zstd contexts (window limited to 2^27 bytes on decompression). The writer reads its source twice
// (first to hash it for the header, then to compress it), so the source must be a regular file that
// nothing changes meanwhile (a snapshot made by sqlite_snapshot.hpp); a change between the passes
// is detected and reported.
//
// Contract: plain functions, no shared state; any thread may call them. Errors are values
// (holo::status / holo::result), never exceptions. Writers create the archive under a temporary name
// in the destination folder (mode 0600) and rename it into place only when complete and fsynced, so
// an archive path either does not exist or holds a whole archive.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "persistence/backup_key.hpp"
#include "runtime/status.hpp"

namespace holo::persistence {

inline constexpr std::uint16_t archive_format_version = 1;
inline constexpr std::size_t archive_header_bytes = 120;
inline constexpr std::uint32_t archive_chunk_bytes_default = 64 * 1024;
inline constexpr std::uint32_t archive_chunk_bytes_min = 1024;
inline constexpr std::uint32_t archive_chunk_bytes_max = 1024 * 1024;

enum class payload_kind : std::uint8_t {
  sqlite_database = 1,  // a SQLite database file, as the online backup API writes it
  postgres_dump = 2,    // `pg_dump --format=custom` of a PostgreSQL store (persistence/postgres_dump.hpp)
};
std::string to_string(payload_kind k);

// What a header says (read_archive_header) or what was written / verified.
struct archive_info {
  std::uint16_t format_version = archive_format_version;
  payload_kind kind = payload_kind::sqlite_database;
  std::uint32_t chunk_bytes = archive_chunk_bytes_default;
  backup_key_id key_id{};
  std::int64_t created_unix_seconds = 0;
  std::uint64_t plaintext_bytes = 0;
  std::array<std::uint8_t, 32> plaintext_digest{};
  std::uint64_t archive_bytes = 0;  // size of the archive file (0 where unknown)
  std::uint64_t chunks = 0;         // filled by a full read or a write
};

std::string digest_hex(const std::array<std::uint8_t, 32>& d);

struct archive_options {
  payload_kind kind = payload_kind::sqlite_database;
  std::int64_t created_unix_seconds = 0;  // 0: now
  std::uint32_t chunk_bytes = archive_chunk_bytes_default;
  int zstd_level = 3;  // zstd's default: fast, and a SQLite file compresses well at it
};

// Archives the regular file `source_path` into `archive_path` (which must not exist: already_exists).
result<archive_info> write_archive(const std::string& source_path, const std::string& archive_path,
                                   const backup_key& key, const archive_options& options = {});

// Reads and checks the header only (magic, version, checksum, fields): no key needed. What `list`
// shows. Does not prove the rest of the archive is intact.
result<archive_info> read_archive_header(const std::string& archive_path);

// Receives the plaintext in order, at most chunk-sized pieces at a time. A non-ok status stops the read
// and is returned as is.
using plaintext_sink = std::function<status(const std::uint8_t* data, std::size_t size)>;

// Reads the whole archive: header, key id, every chunk's authentication, the final tag, the zstd frame,
// the size and the digest. The sink sees plaintext before the final checks pass, so a caller that
// writes it somewhere must treat it as untrusted until this returns ok (restore writes a temp file).
result<archive_info> read_archive(const std::string& archive_path, const backup_key& key,
                                  const plaintext_sink& sink);

// read_archive with the plaintext discarded.
result<archive_info> verify_archive(const std::string& archive_path, const backup_key& key);

// Decrypts into the new file `out_path` (created 0600, fsynced). On any failure the file is removed.
result<archive_info> extract_archive(const std::string& archive_path, const backup_key& key,
                                     const std::string& out_path);

}  // namespace holo::persistence
