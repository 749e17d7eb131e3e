// The numbered schema migrations of each backend, compiled into the binary from
// persistence/migrations/<backend>/NNNN_name.sql (embed.cmake). A store applies, in order, every
// migration above the highest version recorded in its schema_migrations table, each in its own
// transaction together with its record. A migration once released is never edited: change the
// schema with a new file.
#pragma once

#include <cstdint>
#include <span>

namespace holo::persist {

struct migration {
  std::int64_t version;
  const char* name;
  const char* sql;
};

std::span<const migration> sqlite_migrations();
std::span<const migration> postgres_migrations();

}  // namespace holo::persist
