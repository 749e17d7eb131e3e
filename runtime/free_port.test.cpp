// Free loopback ports for benches and tests: each one can be bound, and none is handed out twice
// in one process even though the kernel may pick a port it just gave out again.
#define BOOST_TEST_MODULE runtime_free_port
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "runtime/free_port.hpp"

using namespace holo;

namespace {
// Whether a TCP socket can bind 127.0.0.1:port now.
bool can_bind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

BOOST_AUTO_TEST_CASE(ports_are_bindable_and_never_given_twice) {
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) {
    auto port = free_loopback_port();
    BOOST_REQUIRE_MESSAGE(port, (port ? "" : port.error().message()));
    BOOST_CHECK_GT(*port, 0);
    BOOST_CHECK_LT(*port, 65536);
    BOOST_CHECK_MESSAGE(seen.insert(*port).second, "port " << *port << " handed out twice");
    BOOST_CHECK_MESSAGE(can_bind(*port), "port " << *port << " cannot be bound");
  }
}
