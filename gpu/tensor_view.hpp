// A non-owning view of a 2-D weight matrix as GGUF stores it: `rows` rows of `cols` elements each,
// row-major, each row `row_bytes(type, cols)` bytes (quantized rows are whole blocks). GGUF names
// the dimensions ne0 = cols (fastest) and ne1 = rows. The data usually points into the mmap'd model
// file; whoever made the view keeps that mapping alive. Vectors (norm weights, biases) are views with
// rows == 1.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gpu/tensor_type.hpp"

namespace holo::gpu {

struct tensor_view {
  tensor_type type = tensor_type::f32;
  std::int64_t cols = 0;  // ne0: elements per row
  std::int64_t rows = 0;  // ne1
  const void* data = nullptr;

  std::size_t row_size() const { return row_bytes(type, static_cast<std::size_t>(cols)); }
  const void* row(std::int64_t r) const {
    return static_cast<const std::byte*>(data) + static_cast<std::size_t>(r) * row_size();
  }
  bool empty() const { return data == nullptr; }
};

}  // namespace holo::gpu
