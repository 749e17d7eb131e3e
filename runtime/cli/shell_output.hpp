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

// The `plan` table (actors/placement_keeper.hpp) for people: a heading with the plan's revision,
// age and trigger (they repeat on every row of the table), then each model's kind and placement
// with its `why` on the next line, every line indented by `indent`. Used by the shell's `plan` and
// by `holo status`.
void print_plan(std::ostream& out, const proto::table& t, const std::string& indent = "");
// The same as one JSON object: {"node", "revision", "age_ms", "trigger", "models": [{"model",
// "kind", "placement", "why"}]}.
std::string plan_json(const proto::table& t);

}  // namespace holo::cli::shell
