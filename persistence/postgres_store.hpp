// The PostgreSQL backend (libpq), for a cluster's shared store: SQL valid on PostgreSQL 15 and 16.
// One connection, used by one thread at a time (the store actor's). Statements are prepared once
// per connection. A lost connection (server stopped, restarted, network) turns every call into
// `unavailable` until connect() succeeds again; a batch whose COMMIT got no answer is simply
// applied again after reconnecting (every write is an idempotent upsert).
//
// store_options::postgres_schema, when set, is created if missing and put on the search_path, so
// several clusters (or tests) can share one database.
#pragma once

#include <memory>

#include "persistence/store.hpp"

namespace holo::persist {

// Does not connect: call connect().
std::unique_ptr<store> make_postgres_store(const store_options& o);

// The DSN with any password value replaced by "***" (for logs).
std::string redact_dsn(const std::string& dsn);

}  // namespace holo::persist
