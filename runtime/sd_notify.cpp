#include "runtime/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace holo::sd {

bool notify_socket_present() {
  const char* p = std::getenv("NOTIFY_SOCKET");
  return p && *p;
}

status notify(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return {};
  const std::size_t len = std::strlen(path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path))
    return status::invalid_argument(std::string("NOTIFY_SOCKET is neither an absolute path nor an abstract name: ") + path);
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace: the name is not NUL-terminated
  const socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return status::unavailable(std::string("socket: ") + std::strerror(errno));
  ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), addr_len);
  int err = errno;
  ::close(fd);
  if (n < 0) return status::unavailable(std::string("sendto NOTIFY_SOCKET ") + path + ": " + std::strerror(err));
  if (static_cast<std::size_t>(n) != state.size()) return status::unavailable("short datagram to NOTIFY_SOCKET");
  return {};
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec || !*usec) return std::nullopt;
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid) {
    char* end = nullptr;
    long long p = std::strtoll(pid, &end, 10);
    if (*end != '\0' || p != static_cast<long long>(::getpid())) return std::nullopt;  // meant for another process
  }
  // Digits only: strtoull would take "-5" as a huge number.
  for (const char* c = usec; *c; ++c)
    if (*c < '0' || *c > '9') return std::nullopt;
  unsigned long long v = std::strtoull(usec, nullptr, 10);
  if (v == 0 || v > (1ull << 62)) return std::nullopt;
  return std::chrono::microseconds(static_cast<std::int64_t>(v));
}

}  // namespace holo::sd
