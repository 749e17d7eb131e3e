// Test-only: replaces the global operator new/delete with counting versions, so a test can assert
// that a hot path allocates nothing (read allocation_count() before and after). Include it in
// exactly one translation unit of a test executable: it defines the process's operators.
#pragma once

// The counting operator new pairs malloc with the free of operator delete; GCC's
// -Wmismatched-new-delete cannot see that both are replaced together.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <atomic>
#include <cstdlib>
#include <new>

namespace holo::test {
inline std::atomic<long> allocations{0};
inline long allocation_count() { return allocations.load(); }
}  // namespace holo::test

void* operator new(std::size_t n) {
  ++holo::test::allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
