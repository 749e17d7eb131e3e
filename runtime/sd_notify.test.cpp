// sd_notify: datagrams reach an abstract and a path socket byte for byte; no NOTIFY_SOCKET is a
// no-op; malformed variables are errors; WATCHDOG_USEC/WATCHDOG_PID are read as systemd means them.
#define BOOST_TEST_MODULE sd_notify
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "runtime/sd_notify.hpp"

namespace {

// A datagram socket bound to `name` ('@' = abstract), with a 1 s receive timeout.
int bound_socket(const std::string& name) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, name.data(), name.size());
  if (name[0] == '@') a.sun_path[0] = '\0';
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), len) == 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string receive(int fd) {
  char buf[512];
  auto n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(abstract_and_path_sockets_receive_the_exact_datagram) {
  std::string abstract_name = "@holo-sd-test-" + std::to_string(::getpid());
  int fd = bound_socket(abstract_name);
  ::setenv("NOTIFY_SOCKET", abstract_name.c_str(), 1);
  BOOST_TEST(holo::sd::notify_socket_present());
  BOOST_TEST(holo::sd::notify("READY=1\nSTATUS=serving").ok());
  BOOST_TEST(receive(fd) == "READY=1\nSTATUS=serving");
  ::close(fd);

  std::string path = "/tmp/holo-sd-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  fd = bound_socket(path);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  BOOST_TEST(holo::sd::notify("WATCHDOG=1").ok());
  BOOST_TEST(receive(fd) == "WATCHDOG=1");
  ::close(fd);
  ::unlink(path.c_str());
  // Nobody listens there any more: an error, not a crash.
  BOOST_TEST((holo::sd::notify("WATCHDOG=1").code() == holo::status_code::unavailable));
}

BOOST_AUTO_TEST_CASE(without_or_with_a_bad_notify_socket) {
  ::unsetenv("NOTIFY_SOCKET");
  BOOST_TEST(!holo::sd::notify_socket_present());
  BOOST_TEST(holo::sd::notify("READY=1").ok());
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  BOOST_TEST((holo::sd::notify("READY=1").code() == holo::status_code::invalid_argument));
  ::setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'x')).c_str(), 1);
  BOOST_TEST((holo::sd::notify("READY=1").code() == holo::status_code::invalid_argument));
  ::unsetenv("NOTIFY_SOCKET");
}

BOOST_AUTO_TEST_CASE(watchdog_interval_follows_systemds_variables) {
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  BOOST_TEST(!holo::sd::watchdog_interval());
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  BOOST_TEST(holo::sd::watchdog_interval().value().count() == 2000000);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  BOOST_TEST(holo::sd::watchdog_interval().has_value());
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  BOOST_TEST(!holo::sd::watchdog_interval());  // meant for another process
  ::unsetenv("WATCHDOG_PID");
  for (auto bad : {"0", "12x", "", "-5"}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    BOOST_TEST(!holo::sd::watchdog_interval(), bad);
  }
  ::unsetenv("WATCHDOG_USEC");
}
