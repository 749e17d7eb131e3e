#include "persistence/backup_key.hpp"

#include <cerrno>
#include <cstdio>
#include <string_view>

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persistence/backup_io.hpp"

namespace holo::persistence {

namespace {

// A key file is one short line; anything much larger is not a key file, so stop reading there.
constexpr std::size_t key_file_bytes_max = 256;
constexpr char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "holobkup";
constexpr std::string_view key_id_label = "holobionte backup key id v1";

status sodium_ready() {
  if (sodium_init() < 0) return status::internal("libsodium failed to initialise");
  return ok_status();
}

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Decodes 64 hex or 44 base64 characters into the key; false when `text` is neither.
bool decode_key_text(std::string_view text, std::array<std::uint8_t, backup_key_bytes>& out) {
  std::size_t len = 0;
  if (text.size() == 2 * backup_key_bytes)
    return sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, nullptr) == 0 &&
           len == backup_key_bytes;
  if (text.size() == sodium_base64_ENCODED_LEN(backup_key_bytes, sodium_base64_VARIANT_ORIGINAL) - 1)
    return sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, nullptr,
                             sodium_base64_VARIANT_ORIGINAL) == 0 &&
           len == backup_key_bytes;
  return false;
}

}  // namespace

backup_key::backup_key(const std::array<std::uint8_t, backup_key_bytes>& bytes) : bytes_(bytes) {}
backup_key::backup_key(const backup_key& other) : bytes_(other.bytes_) {}
backup_key& backup_key::operator=(const backup_key& other) {
  bytes_ = other.bytes_;
  return *this;
}
backup_key::~backup_key() { sodium_memzero(bytes_.data(), bytes_.size()); }

backup_key_id backup_key::key_id() const {
  backup_key_id id{};
  crypto_generichash(id.data(), id.size(), reinterpret_cast<const unsigned char*>(key_id_label.data()),
                     key_id_label.size(), bytes_.data(), bytes_.size());
  return id;
}

std::array<std::uint8_t, 32> backup_key::subkey(std::uint64_t id) const {
  std::array<std::uint8_t, 32> k{};
  crypto_kdf_derive_from_key(k.data(), k.size(), id, kdf_context, bytes_.data());
  return k;
}

std::string key_id_hex(const backup_key_id& id) {
  char hex[backup_key_id_bytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, id.data(), id.size());
  return hex;
}

result<backup_key> generate_backup_key() {
  HOLO_TRY(sodium_ready());
  std::array<std::uint8_t, backup_key_bytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  backup_key key(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

status write_backup_key_file(const std::string& path, const backup_key& key, bool overwrite) {
  HOLO_TRY(sodium_ready());
  if (path.empty()) return status::invalid_argument("empty key file path");
  if (overwrite && ::unlink(path.c_str()) != 0 && errno != ENOENT)
    return status::unavailable("cannot replace " + path + ": " + errno_text(errno));
  auto fd = create_exclusive(path, 0600);
  if (!fd) {
    if (fd.error().code() == status_code::already_exists)
      return status::already_exists(path + " already exists (use --force to replace it)");
    return fd.error();
  }
  char hex[backup_key_bytes * 2 + 2];
  sodium_bin2hex(hex, sizeof hex - 1, key.data(), backup_key_bytes);
  hex[backup_key_bytes * 2] = '\n';
  status s = write_full(fd->get(), hex, backup_key_bytes * 2 + 1, path);
  sodium_memzero(hex, sizeof hex);
  if (s.ok()) s = fsync_fd(fd->get(), path);
  if (s.ok()) s = fd->close(path);
  if (s.ok()) s = fsync_parent_dir(path);
  if (!s.ok()) (void)::unlink(path.c_str());  // never leave a half-written key behind
  return s;
}

result<backup_key> read_backup_key_file(const std::string& path) {
  HOLO_TRY(sodium_ready());
  // O_NONBLOCK: a FIFO must not hang us; the S_ISREG check below refuses it anyway.
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (raw < 0) {
    int e = errno;
    if (e == ENOENT) return status::not_found("backup key file " + path + " does not exist");
    return status::unavailable("cannot open backup key file " + path + ": " + errno_text(e));
  }
  unique_fd fd(raw);
  // fstat on the open descriptor, not stat on the name: what we check is what we read.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return status::unavailable("cannot stat backup key file " + path + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return status::invalid_argument("backup key file " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0)
    return status::failed_precondition("backup key file " + path + " has mode " + mode_text(st.st_mode) +
                                       ", open to group or others; run `chmod 600 " + path + "`");
  char buf[key_file_bytes_max + 1];
  auto n = read_full(fd.get(), buf, sizeof buf, "backup key file " + path);
  if (!n) return n.error();
  std::string_view text(buf, *n);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  std::array<std::uint8_t, backup_key_bytes> bytes{};
  bool ok = *n <= key_file_bytes_max && decode_key_text(text, bytes);
  sodium_memzero(buf, sizeof buf);
  if (!ok) {
    return status::invalid_argument("backup key file " + path +
                                    " must hold one 32-byte key as 64 hex or 44 base64 characters "
                                    "(as `holo backup keygen` writes)");
  }
  backup_key key(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

}  // namespace holo::persistence
