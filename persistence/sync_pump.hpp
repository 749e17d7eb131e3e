// The sync pump: ships a node's outbox (journal, session and event rows that changed) from its local
// store to the central one. No actors here: actors/sync.hpp drives it on its own thread.
//
// One step: read up to `batch_rows` outbox entries after the cursor (outbox seq order), read each
// named row's CURRENT state from the local store, and apply them all to the central store in ONE
// transaction (idempotent upserts, in seq order). Only then does the cursor move past them. The step
// does not delete the entries: the caller acknowledges `cursor()` to the local store's writer (the
// store actor) and may do so late or never -- entries left in the outbox after a restart are simply
// shipped again, and upserts make that a no-op. A step whose central commit failed (or whose outcome
// is unknown) leaves the cursor where it was, so the same rows go again after reconnecting.
//
// Order: a row re-changed before it was shipped has moved to the end of the outbox, so rows arrive
// in the order of their last change, each batch after the previous one.
#pragma once

#include <cstdint>

#include "persistence/store.hpp"

namespace holo::persist {

struct sync_step_result {
  std::size_t entries = 0;  // outbox entries read
  std::size_t shipped = 0;  // rows applied to the central store
  std::size_t missing = 0;  // entries naming a row the local store no longer has, or an unknown kind: skipped
  bool drained = false;     // fewer than batch_rows entries were left: caught up as of this step
};

class sync_pump {
 public:
  // Both stores are borrowed; `local` is only read. batch_rows is clamped to [1, read_rows_max].
  sync_pump(store& local, store& central, std::size_t batch_rows);

  // One step (see above). Errors: the local read's or the central apply's status, unchanged
  // (`unavailable`: reconnect that side and step again).
  result<sync_step_result> step();

  // Highest outbox seq applied centrally: what to acknowledge. 0 before the first shipped entry.
  std::int64_t cursor() const { return cursor_; }

 private:
  store& local_;
  store& central_;
  std::size_t batch_rows_;
  std::int64_t cursor_ = 0;
};

}  // namespace holo::persist
