// A TCP port on 127.0.0.1 that nothing listens on right now, for benches and tests that start
// nodes on loopback. The kernel picks it (bind to port 0, read it back, close); another process
// may still take it before the caller binds it, and the caller then fails to bind and says so.
// Header-only, so that tests of libraries that do not link holo_runtime can use it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <set>

#include "runtime/status.hpp"

namespace holo {

namespace detail {

inline result<int> kernel_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return status::unavailable("cannot find a free port on 127.0.0.1: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) return status::unavailable("cannot find a free port on 127.0.0.1");
  return int(ntohs(addr.sin_port));
}

}  // namespace detail

// Never the same port twice in one process: the kernel may hand a port it just gave out again at
// once, and a caller asking for two (a node's cluster and metrics endpoints, or two nodes) would
// then bind one of them twice (seen in CI).
inline result<int> free_loopback_port() {
  static std::mutex mtx;
  static std::set<int> given;
  std::lock_guard<std::mutex> lock{mtx};
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto port = detail::kernel_free_port();
    if (!port) return port;
    if (given.insert(*port).second) return port;
  }
  return status::unavailable("cannot find a free port on 127.0.0.1 not handed out before");
}

}  // namespace holo
