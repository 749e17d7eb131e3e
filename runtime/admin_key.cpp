#include "runtime/admin_key.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace holo {

namespace {

constexpr std::size_t admin_key_file_bytes_max = 256;  // a key line is 65 bytes; refuse anything big

bool is_hex_key(std::string_view s) {
  if (s.size() != admin_key_hex_chars) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

result<std::string> generate_admin_key() {
  unsigned char raw[admin_key_bytes];
  std::size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = ::getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return status::unavailable(std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : raw) {
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  std::memset(raw, 0, sizeof raw);
  return hex;
}

status write_admin_key_file(const std::string& path, const std::string& key, bool overwrite) {
  if (!is_hex_key(key)) return status::invalid_argument("an admin key is 64 lowercase hex characters");
  if (overwrite && ::unlink(path.c_str()) != 0 && errno != ENOENT)
    return status::unavailable("cannot remove " + path + ": " + std::strerror(errno));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST) return status::already_exists(path + " already exists (use --force to replace it)");
    return status::unavailable("cannot create " + path + ": " + std::strerror(e));
  }
  const std::string line = key + "\n";
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  int e = errno;
  if (::close(fd) != 0 && ok) ok = false, e = errno;
  if (!ok) {
    (void)::unlink(path.c_str());
    return status::unavailable("cannot write " + path + ": " + std::strerror(e));
  }
  return {};
}

result<std::string> read_admin_key_file(const std::string& path) {
  // O_NONBLOCK: a FIFO must not hang the node; the S_ISREG check refuses it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return status::not_found("admin key file " + path + " does not exist (make it with `holo keygen --admin " + path + "`)");
    return status::unavailable("cannot open admin key file " + path + ": " + std::strerror(e));
  }
  struct stat st {};
  std::string content;
  status err;
  if (::fstat(fd, &st) != 0) {
    err = status::unavailable("cannot stat admin key file " + path + ": " + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    err = status::invalid_argument("admin key file " + path + " is not a regular file");
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    err = status::failed_precondition("admin key file " + path + " has mode " + mode +
                                      ", readable by group or others; run `chmod 600 " + path + "`");
  } else {
    char buf[admin_key_file_bytes_max + 1];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        err = status::unavailable("cannot read admin key file " + path + ": " + std::strerror(errno));
        break;
      }
      if (n == 0) break;
      content.append(buf, static_cast<std::size_t>(n));
      if (content.size() > admin_key_file_bytes_max) break;
    }
  }
  ::close(fd);
  if (!err.ok()) return err;
  std::string_view key(content);
  if (!key.empty() && key.back() == '\n') key.remove_suffix(1);
  if (!is_hex_key(key))
    return status::invalid_argument("admin key file " + path +
                                    " must hold one line of 64 hex characters (as `holo keygen --admin` writes)");
  return std::string(key);
}

bool admin_key_matches(std::string_view given, std::string_view expected) {
  if (expected.empty() || given.size() != expected.size()) return false;
  // Every byte is looked at; the accumulator is volatile so the loop is not cut short.
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < expected.size(); ++i)
    diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(given[i]) ^ static_cast<unsigned char>(expected[i])));
  return diff == 0;
}

}  // namespace holo
