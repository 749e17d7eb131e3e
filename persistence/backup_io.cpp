#include "persistence/backup_io.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

namespace holo::persistence {

std::string errno_text(int e) { return std::strerror(e); }

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

unique_fd::~unique_fd() {
  if (fd_ >= 0) ::close(fd_);
}

status unique_fd::close(const std::string& path) {
  if (fd_ < 0) return ok_status();
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return status::unavailable("cannot close " + path + ": " + errno_text(errno));
  return ok_status();
}

result<unique_fd> open_read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return status::not_found(path + " does not exist");
    return status::unavailable("cannot open " + path + ": " + errno_text(e));
  }
  return unique_fd(fd);
}

result<unique_fd> create_exclusive(const std::string& path, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST) return status::already_exists(path + " already exists");
    return status::unavailable("cannot create " + path + ": " + errno_text(e));
  }
  return unique_fd(fd);
}

result<std::size_t> read_full(int fd, void* buf, std::size_t n, const std::string& path) {
  auto* p = static_cast<unsigned char*>(buf);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return status::unavailable("cannot read " + path + ": " + errno_text(errno));
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

status write_full(int fd, const void* buf, std::size_t n, const std::string& path) {
  const auto* p = static_cast<const unsigned char*>(buf);
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return status::unavailable("cannot write " + path + ": " + errno_text(errno));
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return ok_status();
}

status fsync_fd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return status::unavailable("cannot fsync " + path + ": " + errno_text(errno));
  return ok_status();
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

status fsync_parent_dir(const std::string& path) {
  const std::string dir = parent_dir(path);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return status::unavailable("cannot open folder " + dir + ": " + errno_text(errno));
  unique_fd guard(fd);
  return fsync_fd(fd, dir);
}

status rename_durable(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return status::unavailable("cannot rename " + from + " to " + to + ": " + errno_text(errno));
  return fsync_parent_dir(to);
}

std::string temp_sibling(const std::string& path, const std::string& tag) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (sodium_init() < 0) return dir + "." + base + "." + tag;  // sodium unusable: caller fails later
  unsigned char rnd[6];
  randombytes_buf(rnd, sizeof rnd);
  char hex[sizeof rnd * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
  return dir + "." + base + "." + tag + "-" + hex;
}

}  // namespace holo::persistence
