// GGUF reader: one model file, memory-mapped read-only, parsed and validated once.
//
// Start here to load a model: `auto f = gguf_file::open(path)`; then read hyperparameters with the
// typed getters (`f->get_u32("llama.block_count")`) and weights with `f->tensor("output.weight")`,
// whose `data` points straight into the mapping (no copy).
//
// Accepts GGUF v2 and v3, little-endian (the only kind llama.cpp writes by default). Everything is
// checked before it is used, against the file size and the limits in `gguf_limits`: a truncated,
// corrupt or hostile file yields a status (data_loss when bytes are missing, invalid_argument when
// a value is wrong) whose message names the key or tensor and the byte offset -- never an
// out-of-bounds read, a crash or an unbounded allocation.
//
// Ownership: a gguf_file owns its mapping (open) or borrows the caller's bytes (parse), and every
// string_view and span it hands out points into those bytes: they live as long as the gguf_file
// (moving it keeps them valid; the bytes do not move). Move-only; the destructor unmaps.
// Threads: const member functions may be called concurrently; the data is immutable after parse.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "gpu/tensor_type.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

// Limits a file must respect. They sit far above any real model (a 256k-token vocabulary, a
// thousand tensors) and bound what a hostile header can make us allocate or walk.
namespace gguf_limits {
inline constexpr std::uint64_t kv_count_max = 1u << 16;         // metadata entries
inline constexpr std::uint64_t tensor_count_max = 1u << 20;     // tensor infos
inline constexpr std::uint64_t key_bytes_max = 1u << 16;        // one metadata key
inline constexpr std::uint64_t string_bytes_max = 1u << 26;     // one string value (64 MiB)
inline constexpr std::uint64_t tensor_name_bytes_max = 1u << 10;
inline constexpr std::uint64_t array_elems_max = 1u << 24;      // elements of one array
inline constexpr int array_depth_max = 8;                       // nesting of arrays in arrays
inline constexpr std::uint32_t n_dims_max = 4;
inline constexpr std::uint32_t alignment_default = 32;          // bytes, when general.alignment absent
inline constexpr std::uint32_t alignment_max = 1u << 20;        // bytes
}  // namespace gguf_limits

// The value types of GGUF metadata; the ids are the file format's.
enum class gguf_value_type : std::uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};

std::string_view to_string(gguf_value_type t);
// Bytes of one element of a fixed-size type; 0 for string, array and unknown ids.
std::size_t gguf_value_size(gguf_value_type t);

// An array value. Fixed-size elements stay in the file (`raw`, count * gguf_value_size(type) bytes,
// little-endian, unaligned: read with memcpy); so do strings (`raw`: their (u64 length, bytes)
// records, every length checked at parse; string_views() lists them on demand, so a 150k-token
// vocabulary does not keep 2.4 MB of views for the model's life); nested arrays are indexed.
struct gguf_array {
  gguf_value_type type = gguf_value_type::u8;  // element type
  std::uint64_t count = 0;
  std::span<const std::byte> raw;              // when type is fixed-size or string
  std::vector<gguf_array> arrays;              // when type == array

  std::vector<std::string_view> string_views() const;  // empty unless type == string
};

// A metadata value. Integers are widened (unsigned types to uint64_t, signed to int64_t), floats to
// double; `type` keeps the type the file declared.
struct gguf_value {
  gguf_value_type type = gguf_value_type::u8;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string_view, gguf_array> data;
};

struct gguf_kv {
  std::string_view key;
  gguf_value value;
  std::uint64_t offset = 0;  // file offset of the key, for messages
};

struct gguf_tensor {
  std::string_view name;
  tensor_type type = tensor_type::f32;
  std::uint32_t n_dims = 0;
  std::array<std::int64_t, 4> dims = {1, 1, 1, 1};  // ne0 (contiguous, the row length) first
  std::int64_t n_elements = 0;
  std::uint64_t offset = 0;          // from the start of the data section; a multiple of alignment
  std::span<const std::byte> data;   // n_elements / block_elems * block_bytes bytes
};

class mapped_file;  // gguf.cpp: the read-only mapping behind gguf_file::open

class gguf_file {
 public:
  // Maps `path` (read-only, MAP_PRIVATE) and parses it. not_found when the file is missing;
  // other failures as parse, with the path in the message.
  static result<gguf_file> open(const std::string& path);
  // Parses a whole GGUF file held in memory. The result borrows `bytes`: keep them alive.
  static result<gguf_file> parse(std::span<const std::byte> bytes);

  gguf_file(gguf_file&&) noexcept;
  gguf_file& operator=(gguf_file&&) noexcept;
  gguf_file(const gguf_file&) = delete;
  gguf_file& operator=(const gguf_file&) = delete;
  ~gguf_file();

  std::uint32_t version() const { return version_; }
  std::uint32_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  std::span<const std::byte> bytes() const { return bytes_; }

  // ---- metadata, in file order ----
  std::span<const gguf_kv> metadata() const { return kvs_; }
  const gguf_value* find(std::string_view key) const;  // nullptr when absent
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: not_found when the key is absent, invalid_argument when its type does not fit.
  // Integer getters take any integer type whose value fits the requested one; float getters take
  // f32 or f64.
  result<std::uint32_t> get_u32(std::string_view key) const;
  result<std::uint64_t> get_u64(std::string_view key) const;
  result<std::int32_t> get_i32(std::string_view key) const;
  result<float> get_f32(std::string_view key) const;
  result<bool> get_bool(std::string_view key) const;
  result<std::string_view> get_string(std::string_view key) const;
  // For optional keys: the fallback when absent, still an error when present with a wrong type.
  result<std::uint32_t> get_u32_or(std::string_view key, std::uint32_t fallback) const;
  result<float> get_f32_or(std::string_view key, float fallback) const;

  result<const gguf_array*> get_array(std::string_view key) const;
  result<std::vector<std::string_view>> get_array_strings(std::string_view key) const;  // views into the file
  result<std::vector<float>> get_array_f32(std::string_view key) const;         // f32 or f64 elements
  result<std::vector<std::int32_t>> get_array_i32(std::string_view key) const;  // integers that fit

  // ---- tensors, in file order ----
  std::span<const gguf_tensor> tensors() const { return tensors_; }
  const gguf_tensor* find_tensor(std::string_view name) const;  // nullptr when absent
  result<gguf_tensor> tensor(std::string_view name) const;      // not_found when absent

 private:
  gguf_file();
  friend class gguf_parser;

  std::unique_ptr<mapped_file> mapping_;  // null when parsing borrowed bytes
  std::span<const std::byte> bytes_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = gguf_limits::alignment_default;
  std::uint64_t data_offset_ = 0;
  std::vector<gguf_kv> kvs_;
  std::vector<gguf_tensor> tensors_;
  std::unordered_map<std::string_view, std::size_t> kv_index_;
  std::unordered_map<std::string_view, std::size_t> tensor_index_;
};

}  // namespace holo::gpu
