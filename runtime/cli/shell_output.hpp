// How the shell prints a table (runtime/admin_protocol.hpp): aligned columns for people, or one
// JSON document per command for scripts (`--json`): {"kind": K, "node": N, "rows": [{COL: VALUE}]}.
#pragma once

#include <iosfwd>
#include <string>

#include "runtime/admin_protocol.hpp"

namespace holo::cli::shell {

// Column headers upper-case, every column as wide as its widest cell, two blanks between; numbers
// right-aligned. An empty table prints its header and "(none)".
void print_table(std::ostream& out, const proto::table& t);
void print_json(std::ostream& out, const std::string& kind, const proto::table& t);

}  // namespace holo::cli::shell
