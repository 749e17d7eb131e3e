// GGUF writer: builds a GGUF v3 file from metadata and already-encoded tensors, the way llama.cpp
// lays it out (little-endian; u64 string lengths and counts; dims ne0 first; tensor data offsets
// relative to the data section, each a multiple of the alignment, zero padding between).
// Used by `holo mkmodel` and by tests to make model files; the files load in any GGUF reader.
//
// Usage: add metadata and tensors, then `write(path)` or `to_bytes()`. The add_* calls never fail
// on their own: the first invalid call (duplicate key or tensor name, a limit of gguf_limits
// exceeded, data size not matching type and dims) is remembered, later calls are ignored, and
// write()/to_bytes() return it. Output respects gguf_limits, so gguf_file reads it back.
//
// Owns copies of everything added (tensor bytes included). Not thread-safe: one owner at a time.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "gpu/gguf.hpp"
#include "gpu/tensor_type.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

// An array value to write; elements of any type, arrays of arrays included.
struct gguf_array_value {
  gguf_value_type type = gguf_value_type::u8;  // element type
  std::uint64_t count = 0;
  std::vector<std::byte> raw;                  // fixed-size types: count * gguf_value_size(type) bytes
  std::vector<std::string> strings;            // type == string
  std::vector<gguf_array_value> arrays;        // type == array

  // `type` must be the GGUF type of T (sizeof(T) == gguf_value_size(type)); checked when written.
  template <class T>
  static gguf_array_value of(gguf_value_type type, std::span<const T> values) {
    gguf_array_value a;
    a.type = type;
    a.count = values.size();
    const auto* p = reinterpret_cast<const std::byte*>(values.data());
    a.raw.assign(p, p + values.size_bytes());
    return a;
  }
  static gguf_array_value of_strings(std::vector<std::string> values);
  static gguf_array_value of_arrays(std::vector<gguf_array_value> values);
};

class gguf_writer {
 public:
  // alignment: bytes, a power of two up to gguf_limits::alignment_max; written as
  // general.alignment when it differs from the default 32.
  explicit gguf_writer(std::uint32_t alignment = gguf_limits::alignment_default);

  void add_u8(std::string_view key, std::uint8_t v);
  void add_i8(std::string_view key, std::int8_t v);
  void add_u16(std::string_view key, std::uint16_t v);
  void add_i16(std::string_view key, std::int16_t v);
  void add_u32(std::string_view key, std::uint32_t v);
  void add_i32(std::string_view key, std::int32_t v);
  void add_u64(std::string_view key, std::uint64_t v);
  void add_i64(std::string_view key, std::int64_t v);
  void add_f32(std::string_view key, float v);
  void add_f64(std::string_view key, double v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);
  void add_array(std::string_view key, const gguf_array_value& v);
  void add_array_strings(std::string_view key, std::span<const std::string> v);
  void add_array_f32(std::string_view key, std::span<const float> v);
  void add_array_i32(std::string_view key, std::span<const std::int32_t> v);

  // dims: 1..4 extents, ne0 (the row length, a multiple of the type's block size) first.
  // data: the encoded tensor, exactly row_bytes(type, n_elements) bytes; copied.
  void add_tensor(std::string_view name, tensor_type type, std::span<const std::int64_t> dims,
                  std::span<const std::byte> data);

  // The first error of an add_* call, ok when none.
  const status& error() const { return error_; }

  // The whole file in memory.
  result<std::vector<std::byte>> to_bytes() const;
  // Writes to `path` atomically: a temporary file beside it, fsync, then rename over `path`.
  // On failure `path` is untouched and the temporary removed.
  status write(const std::string& path) const;

 private:
  struct pending_tensor {
    std::string name;
    tensor_type type;
    std::vector<std::int64_t> dims;
    std::vector<std::byte> data;
    std::uint64_t offset;  // in the data section
  };

  bool begin_kv(std::string_view key, gguf_value_type type, bool from_constructor = false);
  template <class T>
  void add_scalar(std::string_view key, gguf_value_type type, T v);
  status append_array(const gguf_array_value& a, int depth);
  void fail(status s);
  template <class Sink>
  status emit(Sink& sink) const;

  std::uint32_t alignment_;
  status error_;
  std::uint64_t kv_count_ = 0;
  std::vector<std::byte> kv_bytes_;  // the metadata section, serialized as added
  std::unordered_set<std::string> keys_;
  std::unordered_set<std::string> tensor_names_;
  std::vector<pending_tensor> tensors_;
  std::uint64_t data_bytes_ = 0;  // data section size so far, padded
};

}  // namespace holo::gpu
