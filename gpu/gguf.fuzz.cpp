// libFuzzer target for the GGUF reader: parse arbitrary bytes, then read everything an accepted
// file offers. Built by the lead's fuzz configuration (clang -fsanitize=fuzzer,address), not by
// the normal build; gguf_hostile.test.cpp runs a deterministic subset of this in every ctest.

#include <cstddef>
#include <cstdint>
#include <span>

#include "gpu/gguf.hpp"

namespace {

volatile unsigned sink;

void touch(std::span<const std::byte> s) {
  if (!s.empty()) sink = sink + std::to_integer<unsigned>(s.front()) + std::to_integer<unsigned>(s.back());
}

void touch(std::string_view s) {
  if (!s.empty()) sink = sink + unsigned(s.front()) + unsigned(s.back());
}

void walk(const holo::gpu::gguf_array& a) {
  touch(a.raw);
  for (auto s : a.string_views()) touch(s);
  for (const auto& inner : a.arrays) walk(inner);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace holo::gpu;
  auto f = gguf_file::parse(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  if (!f.ok()) return 0;
  for (const auto& kv : f->metadata()) {
    touch(kv.key);
    if (const auto* s = std::get_if<std::string_view>(&kv.value.data)) touch(*s);
    if (const auto* a = std::get_if<gguf_array>(&kv.value.data)) walk(*a);
    (void)f->get_u32(kv.key);
    (void)f->get_i32(kv.key);
    (void)f->get_f32(kv.key);
    (void)f->get_bool(kv.key);
    (void)f->get_string(kv.key);
    (void)f->get_array_strings(kv.key);
    (void)f->get_array_f32(kv.key);
    (void)f->get_array_i32(kv.key);
  }
  for (const auto& t : f->tensors()) {
    touch(t.name);
    touch(t.data);
    (void)f->tensor(t.name);
  }
  return 0;
}
