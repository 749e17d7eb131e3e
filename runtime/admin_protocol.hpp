// The shell's client kinds (docs/protocol.md "Shell and admin kinds", docs/shell.md): requests that
// name what they want with a few string arguments, and replies that are tables (rows of named
// columns) or a one-line `ok`. Tables keep the node side and the shell's printing generic: a new
// kind adds rows, not a codec. Used by actors/admin_api.cpp (node) and runtime/cli/shell_* (shell).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runtime/status.hpp"

namespace holo::proto {

// Who may send a kind (actors/admin_api.hpp decides with the node's [admin] config).
enum class access { open, read_only, admin };
access access_of(std::string_view kind);

inline constexpr std::size_t admin_arg_bytes_max = 256;  // each string argument
inline constexpr std::size_t table_rows_max = 1024;      // rows of one reply (under the 4096-element limit)

// {"v": 1, "kind": K, "id": ID [, "node": N] [, "admin_key": HEX] [, ARG: STRING ...]}
struct admin_request {
  std::string kind;
  std::string id;
  std::string node;       // the node that serves it ("" = the one connected to)
  std::string admin_key;  // "" = none
  std::map<std::string, std::string> args;  // e.g. "actor", "request", "state", "action"
};
std::string encode_admin_request(const admin_request& r);
// The string arguments of a request frame (other keys, and non-string values, are ignored).
result<admin_request> decode_admin_request(std::string_view frame);

using cell = std::variant<std::int64_t, double, std::string>;
std::string to_text(const cell& c);

// {"kind": K, "id": ID, "node": N, "columns": [...], "rows": [[...], ...]}
struct table {
  std::string node;  // whose data
  std::vector<std::string> columns;
  std::vector<std::vector<cell>> rows;  // each as long as `columns`
};
std::string encode_table_reply(std::string_view id, std::string_view kind, const table& t);

// {"kind": "ok", "id": ID, "what": W, "detail": TEXT}: an action was done.
std::string encode_ok_detail(std::string_view id, std::string_view what, std::string_view detail);

struct admin_reply {
  std::string kind;  // the request's kind (a table) or "ok"
  table t;           // kind != "ok"
  std::string what, detail;  // kind == "ok"
};
// The reply to request `id`: a table, an ok, or the node's error as a status with the node's code
// (permission_denied, not_found, unavailable, ...).
result<admin_reply> decode_admin_reply(std::string_view frame, std::string_view expected_id);

}  // namespace holo::proto
