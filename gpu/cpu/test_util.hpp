// Helpers shared by the gpu/cpu tests: seeded random data, weight matrices of any type, and the
// normalized error the fast kernels are judged by (llama.cpp test-backend-ops' NMSE, square-rooted).
#pragma once

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "gpu/quant.hpp"
#include "gpu/tensor_view.hpp"

namespace holo::gpu::test {

inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A (rows, cols) matrix of `type` quantized from seeded gaussian values; keeps its bytes alive.
struct weight_matrix {
  std::vector<std::byte> bytes;
  tensor_view view;
};

inline weight_matrix make_weights(tensor_type type, std::int64_t rows, std::int64_t cols,
                                  std::uint32_t seed) {
  weight_matrix m;
  const std::size_t rb = row_bytes(type, static_cast<std::size_t>(cols));
  m.bytes.resize(rb * static_cast<std::size_t>(rows));
  const auto src = random_floats(static_cast<std::size_t>(rows * cols), seed);
  for (std::int64_t r = 0; r < rows; ++r) {
    const status s = quantize_row(type, src.data() + r * cols, m.bytes.data() + r * rb, cols);
    if (!s.ok()) throw std::runtime_error(s.to_string());
  }
  m.view = tensor_view{type, cols, rows, m.bytes.data()};
  return m;
}

// ||got - want|| / ||want||
inline double norm_error(const float* got, const float* want, std::size_t n) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * double(want[i]);
  }
  return den == 0.0 ? std::sqrt(num) : std::sqrt(num / den);
}

inline double norm_error(const std::vector<float>& got, const std::vector<float>& want) {
  return norm_error(got.data(), want.data(), want.size());
}

}  // namespace holo::gpu::test
