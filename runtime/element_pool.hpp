// element_pool: recycles the mailbox elements that a transport's I/O thread decodes inbound frames
// into (wire::decode_to_mailbox).
//
// Why: every inbound message used to cost two allocations on the I/O thread (the element and, for
// a string field, its buffer), freed a few microseconds later on a CAF worker. glibc returns a
// chunk freed by another thread to the arena of the thread that allocated it, under that arena's
// lock, while the I/O thread allocates from the same arena: on a stream of small messages the two
// fought for the lock (futex waits and wakes: docs/benchmarks.md, "Transport: recycled mailbox
// elements on the receive path"). With the pool the worker hands the element back (one lock-free
// push) and the I/O thread decodes the next message of that type into it, field by field, so a
// string keeps its buffer: a steady stream allocates nothing.
//
// Threads: take() and close() belong to one thread, the owner (the I/O thread; close() may run
// on another thread once the owner's thread has stopped, e.g. after join). give_back() runs on any
// thread: an element's last reference can die wherever CAF drops it. The pool lives until it is
// closed and every element it handed out has come back; whichever happens last frees it.
//
// Limits: at most `elements_max` idle elements and `bytes_max` bytes of retained field buffers
// (strings, vectors) across all types; an element over the limits, or holding more than
// `element_bytes_max` itself (a pipeline stage's activations, say), is freed instead of kept.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <string>
#include <vector>

#include <caf/mailbox_element.hpp>

#include "runtime/wire_codec.hpp"

namespace holo::wire {

class element_pool;

// What the pool keeps of every element, whatever its message type.
class pooled_element_base : public caf::mailbox_element {
 public:
  // CAF's disposer calls this where it would delete the element: back to the pool instead.
  void request_deletion(bool decremented_rc) const noexcept override;
  // Bytes the content holds on the heap beyond the element itself (string and vector buffers).
  virtual std::size_t retained_bytes() const noexcept = 0;
  // Resets the content to a default value, freeing its buffers.
  virtual void drop_content() noexcept = 0;

 protected:
  pooled_element_base(element_pool* pool, std::size_t slot) : pool_(pool), slot_(slot) {}

 private:
  friend class element_pool;
  element_pool* pool_;
  std::size_t slot_;  // the pool's free list for this element's type
  pooled_element_base* next_free_ = nullptr;
  std::size_t retained_ = 0;  // retained_bytes() when it came back
};

namespace detail {

template <class T>
std::size_t heap_bytes(const T& x) noexcept;

template <class T>
std::size_t heap_bytes(const std::vector<T>& v) noexcept {
  std::size_t n = v.capacity() * sizeof(T);
  for (auto& e : v) n += heap_bytes(e);
  return n;
}

template <class T>
std::size_t heap_bytes(const T& x) noexcept {
  if constexpr (wire_struct<T>) {
    return x.visit_fields([](const auto&... xs) { return (std::size_t{0} + ... + heap_bytes(xs)); });
  } else if constexpr (std::is_same_v<T, std::string>) {
    return x.capacity() > 15 ? x.capacity() + 1 : 0;  // 15: libstdc++'s in-place buffer
  } else {
    return 0;
  }
}

}  // namespace detail

// An element holding one message of type T, the same layout of content as CAF's
// mailbox_element_vals<T> (which is final, so it cannot be recycled).
template <class T>
class pooled_element final : public pooled_element_base,
                             public caf::detail::tuple_vals_impl<caf::type_erased_tuple, T> {
 public:
  pooled_element(element_pool* pool, std::size_t slot) : pooled_element_base(pool, slot) {}

  T& value() { return std::get<0>(this->data()); }

  caf::type_erased_tuple& content() override { return *this; }
  const caf::type_erased_tuple& content() const override { return *this; }
  caf::message move_content_to_message() override { return caf::make_message(std::move(value())); }
  caf::message copy_content_to_message() const override { return caf::make_message(std::get<0>(this->data())); }

  std::size_t retained_bytes() const noexcept override { return detail::heap_bytes(std::get<0>(this->data())); }
  // Destroyed and made anew: assigning T{} would keep a string's buffer (libstdc++ copies a short
  // string into the capacity the target has).
  void drop_content() noexcept override {
    static_assert(std::is_nothrow_default_constructible_v<T>);
    std::destroy_at(&value());
    std::construct_at(&value());
  }
};

struct element_pool_limits {
  std::size_t elements_max = 4096;
  std::size_t bytes_max = 4 << 20;
  std::size_t element_bytes_max = 16 << 10;
};

class element_pool {
 public:
  static constexpr std::size_t slots = 64;  // message types (catalogue entries) it can keep apart

  // The owner's handle; close() it (or let the destructor of a holder do so) when done.
  static element_pool* create(element_pool_limits limits = {});
  element_pool(const element_pool&) = delete;
  element_pool& operator=(const element_pool&) = delete;

  // Owner: an element for type T (slot: T's index, < slots), recycled when one is idle. Its sender
  // and stages are empty, its content is whatever the last message of that type left in it (decode
  // by assignment overwrites every field); the caller sets sender and mid.
  template <class T>
  pooled_element<T>* take(std::size_t slot) {
    refs_.fetch_add(1, std::memory_order_relaxed);
    if (!free_[slot]) collect_returns();
    if (auto* e = free_[slot]) {
      free_[slot] = e->next_free_;
      e->next_free_ = nullptr;
      --idle_elements_;
      idle_bytes_ -= e->retained_;
      ++reused_;
      return static_cast<pooled_element<T>*>(e);
    }
    ++created_;
    return new pooled_element<T>(this, slot);
  }

  // Any thread: the element's last reference is gone.
  void give_back(pooled_element_base* e) noexcept;

  // Owner, once: frees the idle elements and gives up the owner's reference. Elements still out
  // come back to a closed pool and are freed with it when the last one does.
  void close() noexcept;

  // Owner: how many elements take() made and how many it recycled (tests, diagnostics).
  std::uint64_t created() const { return created_; }
  std::uint64_t reused() const { return reused_; }

 private:
  explicit element_pool(element_pool_limits limits) : limits_(limits) {}
  ~element_pool();
  void collect_returns() noexcept;  // owner: moves what came back onto the free lists
  void release() noexcept;          // drops one reference; the last frees the pool
  static void delete_list(pooled_element_base* e) noexcept;  // a list linked through next_free_

  element_pool_limits limits_;
  // Written by give_back on any thread, emptied by the owner in one exchange.
  alignas(64) std::atomic<pooled_element_base*> returned_{nullptr};
  std::atomic<std::int64_t> refs_{1};  // the owner + every element handed out and not back
  // Owner only.
  alignas(64) std::array<pooled_element_base*, slots> free_{};
  std::size_t idle_elements_ = 0;
  std::size_t idle_bytes_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t reused_ = 0;
};

}  // namespace holo::wire
