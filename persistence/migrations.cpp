#include "persistence/migrations.hpp"

#include "persistence/migrations.gen.hpp"  // generated in the build folder

namespace holo::persist {

std::span<const migration> sqlite_migrations() { return sqlite_migrations_list; }
std::span<const migration> postgres_migrations() { return postgres_migrations_list; }

}  // namespace holo::persist
