// sd_notify: systemd's readiness and watchdog protocol, spoken directly (no libsystemd).
//
// systemd passes NOTIFY_SOCKET (a unix datagram socket: a path, or an abstract name written with a
// leading '@') and, for a unit with WatchdogSec=, WATCHDOG_USEC (and WATCHDOG_PID, the process it
// is meant for). A service sends newline-separated KEY=VALUE assignments in one datagram:
// "READY=1" once it serves, "WATCHDOG=1" at least every WATCHDOG_USEC, "STOPPING=1", "STATUS=...".
// Outside systemd (no NOTIFY_SOCKET) every call does nothing and succeeds.
//
// Any thread may call these; each call opens, uses and closes its own socket.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "runtime/status.hpp"

namespace holo::sd {

// True when NOTIFY_SOCKET is set.
bool notify_socket_present();
// Sends `state` (e.g. "READY=1\nSTATUS=serving") to NOTIFY_SOCKET. Ok when none is set; an error
// (unavailable) when the socket cannot be reached, (invalid_argument) when the variable is malformed.
status notify(const std::string& state);
// The watchdog period from WATCHDOG_USEC, when set, valid, and meant for this process (WATCHDOG_PID
// absent or equal to getpid()). A service should send WATCHDOG=1 at about half of it.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace holo::sd
