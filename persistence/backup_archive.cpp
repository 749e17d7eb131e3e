#include "persistence/backup_archive.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "persistence/backup_io.hpp"

namespace holo::persistence {

namespace {

using stream_state = crypto_secretstream_xchacha20poly1305_state;
constexpr std::size_t tag_overhead_bytes = crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr std::size_t stream_header_bytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
static_assert(stream_header_bytes == 24, "the v1 header layout reserves 24 bytes for it");

constexpr char magic[8] = {'H', 'O', 'L', 'O', 'B', 'K', 'U', 'P'};
constexpr std::uint64_t subkey_stream = 1;
constexpr std::uint64_t subkey_digest = 2;
// Read size of the source and of the archive body; also the decompressor's output piece.
constexpr std::size_t io_block_bytes = 64 * 1024;
// zstd's own default cap: a hostile frame cannot make us allocate more than 128 MiB of window.
constexpr int zstd_window_log_max = 27;

// Header field offsets (see the table in the header file).
enum : std::size_t {
  off_version = 8,
  off_header_bytes = 10,
  off_kind = 12,
  off_compression = 13,
  off_reserved1 = 14,
  off_chunk_bytes = 16,
  off_reserved2 = 20,
  off_key_id = 24,
  off_created = 32,
  off_plaintext_bytes = 40,
  off_digest = 48,
  off_stream_header = 80,
  off_checksum = 104,
};
constexpr std::size_t checksum_bytes = 16;
static_assert(off_checksum + checksum_bytes == archive_header_bytes);

template <class T>
void put_le(std::uint8_t* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i));
}
template <class T>
T get_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return static_cast<T>(v);
}

void header_checksum(const std::uint8_t* header, std::uint8_t* out) {
  crypto_generichash(out, checksum_bytes, header, off_checksum, nullptr, 0);
}

status damaged(const std::string& path, std::uint64_t at, const std::string& why) {
  return status::data_loss("damaged archive at byte " + std::to_string(at) + ": " + why + " (" + path + ")");
}
status truncated(const std::string& path, const std::string& why) {
  return status::data_loss("truncated archive: " + why + " (" + path + ")");
}

struct cctx_free {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct dctx_free {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// A keyed BLAKE2b-256 over the plaintext, computed incrementally.
class plaintext_digest {
 public:
  explicit plaintext_digest(const backup_key& key) {
    auto k = key.subkey(subkey_digest);
    crypto_generichash_init(&state_, k.data(), k.size(), 32);
    sodium_memzero(k.data(), k.size());
  }
  void update(const std::uint8_t* p, std::size_t n) { crypto_generichash_update(&state_, p, n); }
  std::array<std::uint8_t, 32> final() {
    std::array<std::uint8_t, 32> d{};
    crypto_generichash_final(&state_, d.data(), d.size());
    return d;
  }

 private:
  crypto_generichash_state state_{};
};

// Pass 1 of the writer: the size and digest the header records.
status hash_source(int fd, const std::string& path, const backup_key& key, archive_info& info) {
  plaintext_digest digest(key);
  std::vector<std::uint8_t> buf(io_block_bytes);
  std::uint64_t total = 0;
  for (;;) {
    auto n = read_full(fd, buf.data(), buf.size(), path);
    if (!n) return n.error();
    if (*n == 0) break;
    digest.update(buf.data(), *n);
    total += *n;
  }
  info.plaintext_bytes = total;
  info.plaintext_digest = digest.final();
  return ok_status();
}

void encode_header(const archive_info& info, std::uint8_t* h) {
  std::memset(h, 0, archive_header_bytes);
  std::memcpy(h, magic, sizeof magic);
  put_le<std::uint16_t>(h + off_version, archive_format_version);
  put_le<std::uint16_t>(h + off_header_bytes, archive_header_bytes);
  h[off_kind] = static_cast<std::uint8_t>(info.kind);
  h[off_compression] = 1;
  put_le<std::uint32_t>(h + off_chunk_bytes, info.chunk_bytes);
  std::memcpy(h + off_key_id, info.key_id.data(), info.key_id.size());
  put_le<std::int64_t>(h + off_created, info.created_unix_seconds);
  put_le<std::uint64_t>(h + off_plaintext_bytes, info.plaintext_bytes);
  std::memcpy(h + off_digest, info.plaintext_digest.data(), 32);
  // The stream header (off_stream_header) is filled by init_push; the checksum after it.
}

// Encrypts the compressed bytes gathered so far as one chunk and appends it to the archive.
class chunk_writer {
 public:
  chunk_writer(int fd, const std::string& path, const std::uint8_t* header, std::uint32_t chunk_bytes)
      : fd_(fd), path_(path), header_(header), cipher_(chunk_bytes + tag_overhead_bytes) {}
  stream_state state{};

  status emit(const std::uint8_t* plain, std::size_t n, bool final) {
    std::uint8_t len_le[4];
    put_le<std::uint32_t>(len_le, static_cast<std::uint32_t>(n + tag_overhead_bytes));
    // Chunk 0 binds the header, so a header edit that kept its checksum consistent still fails here.
    std::uint8_t ad[archive_header_bytes + 4];
    std::size_t ad_len = 4;
    if (chunks_ == 0) {
      std::memcpy(ad, header_, archive_header_bytes);
      std::memcpy(ad + archive_header_bytes, len_le, 4);
      ad_len += archive_header_bytes;
    } else {
      std::memcpy(ad, len_le, 4);
    }
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&state, cipher_.data(), &clen, plain, n, ad, ad_len,
                                               final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    HOLO_TRY(write_full(fd_, len_le, 4, path_));
    HOLO_TRY(write_full(fd_, cipher_.data(), static_cast<std::size_t>(clen), path_));
    ++chunks_;
    bytes_ += 4 + clen;
    return ok_status();
  }
  std::uint64_t chunks() const { return chunks_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  int fd_;
  const std::string& path_;
  const std::uint8_t* header_;
  std::vector<std::uint8_t> cipher_;
  std::uint64_t chunks_ = 0;
  std::uint64_t bytes_ = 0;
};

// Pass 2 of the writer: source -> zstd -> chunks. Checks the source still has the size and digest
// that pass 1 put in the header.
status compress_source(int src, const std::string& source_path, const backup_key& key, const archive_options& o,
                       const archive_info& info, chunk_writer& out) {
  std::unique_ptr<ZSTD_CCtx, cctx_free> cctx(ZSTD_createCCtx());
  if (!cctx) return status::resource_exhausted("cannot allocate a zstd compression context");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, o.zstd_level);
  ZSTD_CCtx_setPledgedSrcSize(cctx.get(), info.plaintext_bytes);
  plaintext_digest digest(key);
  std::vector<std::uint8_t> in(io_block_bytes), zbuf(info.chunk_bytes);
  std::size_t zfill = 0;
  std::uint64_t total = 0;
  // Runs the compressor over `inb` with `mode`; emits every chunk that fills up. Returns zstd's
  // "bytes still to flush" hint (0 when done for e_end).
  auto pump = [&](ZSTD_inBuffer& inb, ZSTD_EndDirective mode, std::size_t& remaining) -> status {
    ZSTD_outBuffer outb{zbuf.data(), zbuf.size(), zfill};
    remaining = ZSTD_compressStream2(cctx.get(), &outb, &inb, mode);
    if (ZSTD_isError(remaining))
      return status::internal(std::string("zstd compression failed: ") + ZSTD_getErrorName(remaining));
    zfill = outb.pos;
    if (zfill == zbuf.size() && !(mode == ZSTD_e_end && remaining == 0)) {
      HOLO_TRY(out.emit(zbuf.data(), zfill, false));
      zfill = 0;
    }
    return ok_status();
  };
  for (;;) {
    auto n = read_full(src, in.data(), in.size(), source_path);
    if (!n) return n.error();
    if (*n == 0) break;
    digest.update(in.data(), *n);
    total += *n;
    if (total > info.plaintext_bytes) break;  // reported below
    ZSTD_inBuffer inb{in.data(), *n, 0};
    std::size_t remaining = 0;
    while (inb.pos < inb.size) HOLO_TRY(pump(inb, ZSTD_e_continue, remaining));
  }
  if (total != info.plaintext_bytes || digest.final() != info.plaintext_digest)
    return status::failed_precondition(source_path + " changed while it was being archived");
  ZSTD_inBuffer none{nullptr, 0, 0};
  std::size_t remaining = 1;
  while (remaining != 0) HOLO_TRY(pump(none, ZSTD_e_end, remaining));
  return out.emit(zbuf.data(), zfill, true);
}

}  // namespace

std::string to_string(payload_kind k) {
  switch (k) {
    case payload_kind::sqlite_database: return "sqlite_database";
    case payload_kind::postgres_dump: return "postgres_dump";
  }
  return "unknown(" + std::to_string(static_cast<int>(k)) + ")";
}

std::string digest_hex(const std::array<std::uint8_t, 32>& d) {
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, d.data(), d.size());
  return hex;
}

result<archive_info> write_archive(const std::string& source_path, const std::string& archive_path,
                                   const backup_key& key, const archive_options& options) {
  if (sodium_init() < 0) return status::internal("libsodium failed to initialise");
  if (options.chunk_bytes < archive_chunk_bytes_min || options.chunk_bytes > archive_chunk_bytes_max)
    return status::invalid_argument("chunk_bytes " + std::to_string(options.chunk_bytes) + " is outside " +
                                    std::to_string(archive_chunk_bytes_min) + ".." +
                                    std::to_string(archive_chunk_bytes_max));
  if (options.zstd_level < 1 || options.zstd_level > ZSTD_maxCLevel())
    return status::invalid_argument("zstd level must be 1.." + std::to_string(ZSTD_maxCLevel()));
  if (::access(archive_path.c_str(), F_OK) == 0) return status::already_exists(archive_path + " already exists");

  auto src = open_read(source_path);
  if (!src) return src.error();
  struct stat st {};
  if (::fstat(src->get(), &st) != 0 || !S_ISREG(st.st_mode))
    return status::invalid_argument(source_path + " is not a regular file");

  archive_info info;
  info.kind = options.kind;
  info.chunk_bytes = options.chunk_bytes;
  info.key_id = key.key_id();
  info.created_unix_seconds = options.created_unix_seconds != 0 ? options.created_unix_seconds
                                                                   : static_cast<std::int64_t>(std::time(nullptr));
  HOLO_TRY(hash_source(src->get(), source_path, key, info));
  if (::lseek(src->get(), 0, SEEK_SET) != 0)
    return status::unavailable("cannot rewind " + source_path + ": " + errno_text(errno));

  std::uint8_t header[archive_header_bytes];
  encode_header(info, header);
  const std::string tmp = temp_sibling(archive_path, "partial");
  auto out = create_exclusive(tmp, 0600);
  if (!out) return out.error();
  // From here every failure removes the partial file: an archive path is whole or absent.
  auto fail = [&](const status& s) -> result<archive_info> {
    (void)::unlink(tmp.c_str());
    return s;
  };
  chunk_writer chunks(out->get(), tmp, header, info.chunk_bytes);
  {
    auto k = key.subkey(subkey_stream);
    crypto_secretstream_xchacha20poly1305_init_push(&chunks.state, header + off_stream_header, k.data());
    sodium_memzero(k.data(), k.size());
  }
  header_checksum(header, header + off_checksum);
  if (auto s = write_full(out->get(), header, sizeof header, tmp); !s.ok()) return fail(s);
  if (auto s = compress_source(src->get(), source_path, key, options, info, chunks); !s.ok()) return fail(s);
  sodium_memzero(&chunks.state, sizeof chunks.state);
  if (auto s = fsync_fd(out->get(), tmp); !s.ok()) return fail(s);
  if (auto s = out->close(tmp); !s.ok()) return fail(s);
  // link() refuses to replace an existing file, unlike rename(): two writers never clobber each other.
  if (::link(tmp.c_str(), archive_path.c_str()) != 0) {
    int e = errno;
    return fail(e == EEXIST ? status::already_exists(archive_path + " already exists")
                            : status::unavailable("cannot link " + archive_path + ": " + errno_text(e)));
  }
  (void)::unlink(tmp.c_str());
  if (auto s = fsync_parent_dir(archive_path); !s.ok()) return s;
  info.chunks = chunks.chunks();
  info.archive_bytes = archive_header_bytes + chunks.bytes();
  return info;
}

namespace {

// Checks a header read into `h` (`n` bytes of it present) and fills `info`.
status parse_header(const std::string& path, const std::uint8_t* h, std::size_t n, archive_info& info) {
  if (n < sizeof magic || std::memcmp(h, magic, sizeof magic) != 0) {
    if (n < sizeof magic && std::memcmp(h, magic, n) == 0)
      return truncated(path, "only " + std::to_string(n) + " bytes, shorter than the header");
    return status::invalid_argument("not a Holobionte backup archive (bad magic at byte 0): " + path);
  }
  const auto version = get_le<std::uint16_t>(h + off_version);
  if (n < archive_header_bytes) {
    if (n >= off_version + 2 && version != archive_format_version)
      return status::unimplemented("unsupported archive format version " + std::to_string(version) +
                                   " (this build reads " + std::to_string(archive_format_version) + "): " + path);
    return truncated(path, "only " + std::to_string(n) + " bytes, shorter than the " +
                               std::to_string(archive_header_bytes) + "-byte header");
  }
  std::uint8_t sum[checksum_bytes];
  header_checksum(h, sum);
  if (sodium_memcmp(sum, h + off_checksum, checksum_bytes) != 0) {
    // A later version may lay its header out differently: say so rather than "damaged".
    if (version != archive_format_version)
      return status::unimplemented("unsupported archive format version " + std::to_string(version) +
                                   " (this build reads " + std::to_string(archive_format_version) + "): " + path);
    return damaged(path, 0, "header checksum mismatch (bytes 0-" + std::to_string(archive_header_bytes - 1) + ")");
  }
  if (version != archive_format_version)
    return status::unimplemented("unsupported archive format version " + std::to_string(version) +
                                 " (this build reads " + std::to_string(archive_format_version) + "): " + path);
  if (get_le<std::uint16_t>(h + off_header_bytes) != archive_header_bytes)
    return damaged(path, off_header_bytes, "header size field is not " + std::to_string(archive_header_bytes));
  if (h[off_kind] != static_cast<std::uint8_t>(payload_kind::sqlite_database) &&
      h[off_kind] != static_cast<std::uint8_t>(payload_kind::postgres_dump))
    return status::unimplemented("unsupported payload kind " + std::to_string(h[off_kind]) + ": " + path);
  if (h[off_compression] != 1)
    return status::unimplemented("unsupported compression " + std::to_string(h[off_compression]) + ": " + path);
  if (get_le<std::uint16_t>(h + off_reserved1) != 0 || get_le<std::uint32_t>(h + off_reserved2) != 0)
    return damaged(path, off_reserved1, "reserved header fields are not zero");
  info.chunk_bytes = get_le<std::uint32_t>(h + off_chunk_bytes);
  if (info.chunk_bytes < archive_chunk_bytes_min || info.chunk_bytes > archive_chunk_bytes_max)
    return damaged(path, off_chunk_bytes, "chunk size " + std::to_string(info.chunk_bytes) + " out of range");
  info.format_version = version;
  info.kind = static_cast<payload_kind>(h[off_kind]);
  std::memcpy(info.key_id.data(), h + off_key_id, info.key_id.size());
  info.created_unix_seconds = get_le<std::int64_t>(h + off_created);
  info.plaintext_bytes = get_le<std::uint64_t>(h + off_plaintext_bytes);
  std::memcpy(info.plaintext_digest.data(), h + off_digest, 32);
  return ok_status();
}

// Opens the archive and reads and checks its header.
result<unique_fd> open_archive(const std::string& path, std::uint8_t* header, archive_info& info) {
  if (sodium_init() < 0) return status::internal("libsodium failed to initialise");
  auto fd = open_read(path);
  if (!fd) return fd.error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return status::unavailable("cannot stat " + path + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return status::invalid_argument(path + " is not a regular file");
  info.archive_bytes = static_cast<std::uint64_t>(st.st_size);
  auto n = read_full(fd->get(), header, archive_header_bytes, path);
  if (!n) return n.error();
  HOLO_TRY(parse_header(path, header, *n, info));
  return std::move(*fd);
}

// Decompresses one decrypted chunk, feeding the sink; `frame_left` is zstd's last return (0: the frame
// is complete).
status decompress_chunk(ZSTD_DCtx* dctx, const std::uint8_t* data, std::size_t n, std::vector<std::uint8_t>& out,
                        const std::string& path, std::uint64_t at, std::uint64_t& produced,
                        const archive_info& info, plaintext_digest& digest, const plaintext_sink& sink,
                        std::size_t& frame_left) {
  ZSTD_inBuffer in{data, n, 0};
  for (;;) {
    if (frame_left == 0 && in.pos < in.size) return damaged(path, at, "data after the end of the compressed stream");
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    frame_left = ZSTD_decompressStream(dctx, &o, &in);
    if (ZSTD_isError(frame_left))
      return damaged(path, at, std::string("invalid compressed data (") + ZSTD_getErrorName(frame_left) + ")");
    produced += o.pos;
    if (produced > info.plaintext_bytes)
      return damaged(path, at, "more data than the " + std::to_string(info.plaintext_bytes) + " bytes the header says");
    if (o.pos > 0) {
      digest.update(out.data(), o.pos);
      if (sink) HOLO_TRY(sink(out.data(), o.pos));
    }
    // 0: the frame is complete and flushed. Calling again would start a next frame (and report its
    // header size as the hint), so stop; input left over is checked at the top.
    if (frame_left == 0) {
      if (in.pos < in.size) continue;
      return ok_status();
    }
    // Done with this chunk once its input is consumed and the decoder did not fill the output (so it
    // holds nothing more back).
    if (in.pos == in.size && o.pos < o.size) return ok_status();
  }
}

}  // namespace

result<archive_info> read_archive_header(const std::string& archive_path) {
  archive_info info;
  std::uint8_t header[archive_header_bytes];
  auto fd = open_archive(archive_path, header, info);
  if (!fd) return fd.error();
  return info;
}

result<archive_info> read_archive(const std::string& path, const backup_key& key, const plaintext_sink& sink) {
  archive_info info;
  std::uint8_t header[archive_header_bytes];
  auto fd = open_archive(path, header, info);
  if (!fd) return fd.error();
  if (sodium_memcmp(info.key_id.data(), key.key_id().data(), backup_key_id_bytes) != 0)
    return status::failed_precondition("wrong key: " + path + " was made with key id " + key_id_hex(info.key_id) +
                                       ", the key file holds key id " + key_id_hex(key.key_id()));
  stream_state state{};
  {
    auto k = key.subkey(subkey_stream);
    int rc = crypto_secretstream_xchacha20poly1305_init_pull(&state, header + off_stream_header, k.data());
    sodium_memzero(k.data(), k.size());
    if (rc != 0) return damaged(path, off_stream_header, "invalid stream header");
  }
  std::unique_ptr<ZSTD_DCtx, dctx_free> dctx(ZSTD_createDCtx());
  if (!dctx) return status::resource_exhausted("cannot allocate a zstd decompression context");
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, zstd_window_log_max);
  std::vector<std::uint8_t> cipher(info.chunk_bytes + tag_overhead_bytes), plain(info.chunk_bytes),
      out(ZSTD_DStreamOutSize());
  plaintext_digest digest(key);
  std::uint64_t at = archive_header_bytes, produced = 0;
  std::size_t frame_left = 1;  // no frame seen yet
  for (;;) {
    std::uint8_t len_le[4];
    auto got = read_full(fd->get(), len_le, 4, path);
    if (!got) return got.error();
    if (*got < 4)
      return truncated(path, "ends at byte " + std::to_string(at + *got) + " before its final chunk");
    const auto clen = get_le<std::uint32_t>(len_le);
    if (clen < tag_overhead_bytes || clen > info.chunk_bytes + tag_overhead_bytes)
      return damaged(path, at, "chunk length " + std::to_string(clen) + " out of range");
    got = read_full(fd->get(), cipher.data(), clen, path);
    if (!got) return got.error();
    if (*got < clen)
      return truncated(path, "chunk at byte " + std::to_string(at) + " needs " + std::to_string(clen) +
                                 " bytes, only " + std::to_string(*got) + " remain");
    std::uint8_t ad[archive_header_bytes + 4];
    std::size_t ad_len = 4;
    if (info.chunks == 0) {
      std::memcpy(ad, header, archive_header_bytes);
      std::memcpy(ad + archive_header_bytes, len_le, 4);
      ad_len += archive_header_bytes;
    } else {
      std::memcpy(ad, len_le, 4);
    }
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&state, plain.data(), &mlen, &tag, cipher.data(), clen, ad,
                                                   ad_len) != 0)
      return damaged(path, at, "chunk " + std::to_string(info.chunks) + " fails authentication");
    const bool final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    if (!final && tag != 0) return damaged(path, at, "unexpected chunk tag " + std::to_string(tag));
    if (mlen > 0)
      HOLO_TRY(decompress_chunk(dctx.get(), plain.data(), static_cast<std::size_t>(mlen), out, path, at, produced,
                                info, digest, sink, frame_left));
    ++info.chunks;
    at += 4 + clen;
    if (final) break;
  }
  std::uint8_t extra;
  auto got = read_full(fd->get(), &extra, 1, path);
  if (!got) return got.error();
  if (*got != 0) return damaged(path, at, "data after the final chunk");
  if (frame_left != 0) return damaged(path, at, "the compressed stream ends mid-frame");
  if (produced != info.plaintext_bytes)
    return damaged(path, at, std::to_string(produced) + " bytes of data, the header says " +
                                 std::to_string(info.plaintext_bytes));
  if (sodium_memcmp(digest.final().data(), info.plaintext_digest.data(), 32) != 0)
    return damaged(path, off_digest, "plaintext digest mismatch");
  sodium_memzero(&state, sizeof state);
  return info;
}

result<archive_info> verify_archive(const std::string& archive_path, const backup_key& key) {
  return read_archive(archive_path, key, nullptr);
}

result<archive_info> extract_archive(const std::string& archive_path, const backup_key& key,
                                     const std::string& out_path) {
  auto out = create_exclusive(out_path, 0600);
  if (!out) return out.error();
  const int fd = out->get();
  auto info = read_archive(archive_path, key, [&](const std::uint8_t* p, std::size_t n) {
    return write_full(fd, p, n, out_path);
  });
  status s = info ? fsync_fd(fd, out_path) : info.error();
  if (s.ok()) s = out->close(out_path);
  if (!s.ok()) {
    (void)::unlink(out_path.c_str());
    return s;
  }
  return info;
}

}  // namespace holo::persistence
