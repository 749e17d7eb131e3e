// Asking a node for one of the open admin tables (`plan`, `placement`) over a client connection:
// what `holo status` and the tests do without a shell session.
#pragma once

#include <chrono>
#include <string>

#include "runtime/admin_protocol.hpp"
#include "runtime/client.hpp"

namespace holo {

// The table of kind `kind` from the node `c` is connected to, or the error (unavailable, timeout,
// the node's refusal).
result<proto::table> ask_admin_table(client& c, const std::string& kind, std::chrono::milliseconds timeout);

}  // namespace holo
