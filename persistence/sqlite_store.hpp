// The SQLite backend: one file in the node's data folder, WAL journal, no server. Opened with
// SQLITE_OPEN_NOMUTEX: the object is used by one thread at a time (the store actor's).
// Crash safety: every batch is one transaction; with synchronous=FULL (default) a committed batch
// survives power loss, with NORMAL it survives a killed process. `kill -9` mid-write leaves the
// file consistent (test/store.test.cpp checks PRAGMA integrity_check after 100 kills).
#pragma once

#include <memory>

#include "persistence/store.hpp"

namespace holo::persist {

// Does not connect: call connect().
std::unique_ptr<store> make_sqlite_store(const store_options& o);

}  // namespace holo::persist
