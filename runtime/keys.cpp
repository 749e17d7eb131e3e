#include "runtime/keys.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

namespace holo {

namespace {

// A key file is one 40-character line; anything much larger is not a key file, so stop reading there.
constexpr std::size_t secret_key_file_bytes_max = 128;

constexpr std::string_view z85_alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string errno_text(int e) { return std::strerror(e); }

// Closes a file descriptor on every return path.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error close() saw (a write error may surface only here).
  int close_now() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return status::unavailable("cannot write " + path + ": " + errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok_status();
}

// Creates `path` with O_EXCL and exactly `mode` (fchmod undoes the umask, so the public key really
// is 0644), writes `content` and syncs it. The file never exists with a wider mode than `mode`.
status create_file(const std::string& path, std::string_view content, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST) return status::already_exists(path + " already exists (use --force to replace it)");
    return status::unavailable("cannot create " + path + ": " + errno_text(e));
  }
  fd_guard guard(fd);
  if (::fchmod(fd, mode) != 0)
    return status::unavailable("cannot set the mode of " + path + ": " + errno_text(errno));
  HOLO_TRY(write_all(fd, content, path));
  if (::fsync(fd) != 0) return status::unavailable("cannot sync " + path + ": " + errno_text(errno));
  if (guard.close_now() != 0) return status::unavailable("cannot close " + path + ": " + errno_text(errno));
  return ok_status();
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

status remove_if_present(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return status::unavailable("cannot remove " + path + ": " + errno_text(errno));
  return ok_status();
}

}  // namespace

result<curve_keypair> generate_keypair() {
  if (!zmq_has("curve"))
    return status::unimplemented("this libzmq was built without CURVE security (zmq_has(\"curve\") is 0)");
  char pub[curve_key_z85_chars + 1] = {};
  char sec[curve_key_z85_chars + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0)
    return status::internal(std::string("zmq_curve_keypair failed: ") + zmq_strerror(zmq_errno()));
  curve_keypair kp{std::string(pub, curve_key_z85_chars), std::string(sec, curve_key_z85_chars)};
  // Do not leave the secret in stack memory longer than needed.
  std::memset(sec, 0, sizeof sec);
  return kp;
}

bool valid_z85_key(std::string_view z85) {
  if (z85.size() != curve_key_z85_chars) return false;
  for (char c : z85)
    if (z85_alphabet.find(c) == std::string_view::npos) return false;
  // The alphabet check alone admits groups that overflow 32 bits ("#####"); let libzmq judge those.
  return decode_key(z85).ok();
}

result<std::array<std::uint8_t, curve_key_bytes>> decode_key(std::string_view z85) {
  if (z85.size() != curve_key_z85_chars)
    return status::invalid_argument("a Z85 CURVE key has 40 characters, this has " +
                                    std::to_string(z85.size()));
  for (char c : z85)
    if (z85_alphabet.find(c) == std::string_view::npos)
      return status::invalid_argument("a Z85 CURVE key holds a character outside the Z85 alphabet");
  std::string terminated(z85);  // zmq_z85_decode wants a C string
  std::array<std::uint8_t, curve_key_bytes> out{};
  if (zmq_z85_decode(out.data(), terminated.c_str()) == nullptr)
    return status::invalid_argument("not a valid Z85 CURVE key (a 5-character group overflows 32 bits)");
  return out;
}

result<std::string> public_from_secret(std::string_view secret_z85) {
  if (!zmq_has("curve"))
    return status::unimplemented("this libzmq was built without CURVE security (zmq_has(\"curve\") is 0)");
  if (!valid_z85_key(secret_z85))
    return status::invalid_argument("the secret key is not a 40-character Z85 CURVE key");
  std::string terminated(secret_z85);
  char pub[curve_key_z85_chars + 1] = {};
  if (zmq_curve_public(pub, terminated.c_str()) != 0)
    return status::internal(std::string("zmq_curve_public failed: ") + zmq_strerror(zmq_errno()));
  return std::string(pub, curve_key_z85_chars);
}

result<std::string> read_secret_key_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not hang the node; the S_ISREG check below refuses it anyway.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return status::not_found("secret key file " + path + " does not exist");
    return status::unavailable("cannot open secret key file " + path + ": " + errno_text(e));
  }
  fd_guard guard(fd);
  // fstat on the open descriptor, not stat on the name: what we check is what we read.
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return status::unavailable("cannot stat secret key file " + path + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode))
    return status::invalid_argument("secret key file " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return status::failed_precondition("secret key file " + path + " has mode " + mode +
                                       ", readable by group or others; run `chmod 600 " + path + "`");
  }
  std::string content;
  char buf[secret_key_file_bytes_max + 1];
  while (content.size() <= secret_key_file_bytes_max) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return status::unavailable("cannot read secret key file " + path + ": " + errno_text(errno));
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
  }
  std::string_view key(content);
  if (!key.empty() && key.back() == '\n') key.remove_suffix(1);
  if (key.size() != curve_key_z85_chars || !valid_z85_key(key))
    return status::invalid_argument("secret key file " + path +
                                    " must hold exactly one 40-character Z85 key (as `holo keygen` writes)");
  return std::string(key);
}

status write_keypair_files(const std::string& base_path, const curve_keypair& keys, bool overwrite) {
  if (base_path.empty()) return status::invalid_argument("empty key file base path");
  if (!valid_z85_key(keys.public_z85) || !valid_z85_key(keys.secret_z85))
    return status::invalid_argument("the keypair does not hold two 40-character Z85 keys");
  auto derived = public_from_secret(keys.secret_z85);
  if (!derived) return derived.error();
  if (*derived != keys.public_z85)
    return status::invalid_argument("the public key does not belong to the secret key");

  const std::string key_path = base_path + ".key";
  const std::string pub_path = base_path + ".pub";
  if (overwrite) {
    // Replace rather than truncate: a new inode gets our mode, never the old file's.
    HOLO_TRY(remove_if_present(key_path));
    HOLO_TRY(remove_if_present(pub_path));
  } else {
    for (const auto* p : {&key_path, &pub_path})
      if (path_exists(*p)) return status::already_exists(*p + " already exists (use --force to replace it)");
  }
  HOLO_TRY(create_file(key_path, keys.secret_z85 + "\n", 0600));
  if (auto s = create_file(pub_path, keys.public_z85 + "\n", 0644); !s.ok()) {
    // Leave no half pair behind: a lone secret would be mistaken for a complete one.
    (void)::unlink(key_path.c_str());
    return s;
  }
  return ok_status();
}

}  // namespace holo
