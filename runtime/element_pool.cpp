#include "runtime/element_pool.hpp"

namespace holo::wire {

void pooled_element_base::request_deletion(bool) const noexcept {
  pool_->give_back(const_cast<pooled_element_base*>(this));
}

element_pool* element_pool::create(element_pool_limits limits) { return new element_pool(limits); }

void element_pool::delete_list(pooled_element_base* e) noexcept {
  while (e) {
    auto* next = e->next_free_;
    delete e;
    e = next;
  }
}

element_pool::~element_pool() {
  for (auto*& head : free_) {
    delete_list(head);
    head = nullptr;
  }
  delete_list(returned_.exchange(nullptr, std::memory_order_acquire));
}

void element_pool::give_back(pooled_element_base* e) noexcept {
  // References go now, on this thread, as they would with a deleted element: the pool must not
  // keep a sender (or an actor in a forwarding stage) alive.
  e->sender.reset();
  e->stages.clear();
  e->retained_ = e->retained_bytes();
  if (e->retained_ > limits_.element_bytes_max) {
    e->drop_content();  // the buffers go back to the allocator here rather than idle in the pool
    e->retained_ = e->retained_bytes();
  }
  auto* head = returned_.load(std::memory_order_relaxed);
  do {
    e->next_free_ = head;
  } while (!returned_.compare_exchange_weak(head, e, std::memory_order_release, std::memory_order_relaxed));
  release();
}

void element_pool::collect_returns() noexcept {
  auto* e = returned_.exchange(nullptr, std::memory_order_acquire);
  while (e) {
    auto* next = e->next_free_;
    if (idle_elements_ >= limits_.elements_max || idle_bytes_ + e->retained_ > limits_.bytes_max) {
      delete e;
    } else {
      e->next_free_ = free_[e->slot_];
      free_[e->slot_] = e;
      ++idle_elements_;
      idle_bytes_ += e->retained_;
    }
    e = next;
  }
}

void element_pool::close() noexcept {
  collect_returns();
  for (auto*& head : free_) {
    delete_list(head);
    head = nullptr;
  }
  idle_elements_ = 0;
  idle_bytes_ = 0;
  release();
}

void element_pool::release() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace holo::wire
