// Test helper shared by gguf.test.cpp and gguf_hostile.test.cpp: builds GGUF bytes by hand, field
// by field, independent of gguf_writer, so tests can pin the format and craft broken files.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace holo::gpu::test {

struct gguf_bytes {
  std::vector<std::byte> b;

  gguf_bytes& raw(const void* p, std::size_t n) {
    const auto* c = static_cast<const std::byte*>(p);
    b.insert(b.end(), c, c + n);
    return *this;
  }
  gguf_bytes& u8(std::uint8_t v) { return raw(&v, 1); }
  gguf_bytes& u32(std::uint32_t v) { return raw(&v, 4); }
  gguf_bytes& u64(std::uint64_t v) { return raw(&v, 8); }
  gguf_bytes& f32(float v) { return raw(&v, 4); }
  gguf_bytes& str(std::string_view s) { return u64(s.size()).raw(s.data(), s.size()); }
  gguf_bytes& header(std::uint64_t tensors, std::uint64_t kvs, std::uint32_t version = 3) {
    return raw("GGUF", 4).u32(version).u64(tensors).u64(kvs);
  }
  gguf_bytes& pad(std::size_t alignment) {
    while (b.size() % alignment) u8(0);
    return *this;
  }
  // Tensor info: name, dims (ne0 first), type id, data offset.
  gguf_bytes& tensor(std::string_view name, std::vector<std::uint64_t> dims, std::uint32_t type,
                     std::uint64_t offset) {
    str(name).u32(std::uint32_t(dims.size()));
    for (auto d : dims) u64(d);
    return u32(type).u64(offset);
  }
  gguf_bytes& zeros(std::size_t n) {
    b.insert(b.end(), n, std::byte{0});
    return *this;
  }
  std::span<const std::byte> span() const { return b; }
};

}  // namespace holo::gpu::test
