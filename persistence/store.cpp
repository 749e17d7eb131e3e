#include "persistence/store.hpp"

#include "persistence/postgres_store.hpp"
#include "persistence/sqlite_store.hpp"

namespace holo::persist {

result<std::unique_ptr<store>> open_store(const store_options& o, bool allow_unconnected) {
  std::unique_ptr<store> s;
  if (o.backend == "sqlite") {
    if (o.sqlite_path.empty()) return status::invalid_argument("store: sqlite needs a path");
    s = make_sqlite_store(o);
  } else if (o.backend == "postgres") {
    if (o.postgres_dsn.empty())
      return status::invalid_argument("store: postgres needs a DSN (persistence.postgres_dsn or HOLO_POSTGRES_DSN)");
    s = make_postgres_store(o);
  } else {
    return status::invalid_argument("store: backend '" + o.backend + "' is not one of: sqlite, postgres");
  }
  if (auto st = s->connect(); !st.ok()) {
    if (!(allow_unconnected && st.retryable())) return st;
  }
  return s;
}

}  // namespace holo::persist
