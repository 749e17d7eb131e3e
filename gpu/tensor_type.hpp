// Tensor element types as GGUF files store them, with the block layouts llama.cpp writes. The numeric
// ids are GGUF's (ggml_type) and must never change. Layout facts, not code, come from the GGUF spec and
// ggml's block definitions; each struct's size is checked below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace holo::gpu {

enum class tensor_type : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  bf16 = 30,
};

// Half precision as stored (IEEE binary16 bits) and bfloat16 bits.
using f16_bits = std::uint16_t;
using bf16_bits = std::uint16_t;

inline constexpr int qk4_0 = 32;  // elements per Q4_0 block
inline constexpr int qk8_0 = 32;  // elements per Q8_0 block
inline constexpr int qk_k = 256;  // elements per K-quant super-block
inline constexpr int k_scale_size = 12;

// Q4_0: 32 weights, w = d * (q - 8), q in [0,15]. qs[j] holds element j (low nibble) and j+16 (high).
struct block_q4_0 {
  f16_bits d;
  std::uint8_t qs[qk4_0 / 2];
};

// Q8_0: 32 weights, w = d * q.
struct block_q8_0 {
  f16_bits d;
  std::int8_t qs[qk8_0];
};

// Q4_K: 256 weights in 8 sub-blocks of 32; 6-bit scale and min per sub-block packed in `scales`;
// w = d * sc * q - dmin * m, q in [0,15].
struct block_q4_k {
  f16_bits d;
  f16_bits dmin;
  std::uint8_t scales[k_scale_size];
  std::uint8_t qs[qk_k / 2];
};

// Q5_K: as Q4_K with a fifth bit per weight in qh; q in [0,31].
struct block_q5_k {
  f16_bits d;
  f16_bits dmin;
  std::uint8_t scales[k_scale_size];
  std::uint8_t qh[qk_k / 8];
  std::uint8_t qs[qk_k / 2];
};

// Q6_K: 256 weights in 16 sub-blocks of 16; 4 low bits in ql, 2 high bits in qh, 8-bit signed scale
// per sub-block; w = d * scale * (q - 32), q in [0,63].
struct block_q6_k {
  std::uint8_t ql[qk_k / 2];
  std::uint8_t qh[qk_k / 4];
  std::int8_t scales[qk_k / 16];
  f16_bits d;
};

// Q8_K: the activation format that K-quant dot products quantize the input vector to.
// bsums[i] = sum of qs[16*i .. 16*i+15].
struct block_q8_k {
  float d;
  std::int8_t qs[qk_k];
  std::int16_t bsums[qk_k / 16];
};

static_assert(sizeof(block_q4_0) == 18);
static_assert(sizeof(block_q8_0) == 34);
static_assert(sizeof(block_q4_k) == 144);
static_assert(sizeof(block_q5_k) == 176);
static_assert(sizeof(block_q6_k) == 210);
static_assert(sizeof(block_q8_k) == 292);

struct tensor_type_traits {
  std::string_view name;
  std::size_t block_elems;  // elements per block (1 for plain types)
  std::size_t block_bytes;  // bytes per block
  bool supported;           // the engine can compute with it
};

constexpr tensor_type_traits traits(tensor_type t) {
  switch (t) {
    case tensor_type::f32: return {"F32", 1, 4, true};
    case tensor_type::f16: return {"F16", 1, 2, true};
    case tensor_type::bf16: return {"BF16", 1, 2, true};
    case tensor_type::q4_0: return {"Q4_0", qk4_0, sizeof(block_q4_0), true};
    case tensor_type::q8_0: return {"Q8_0", qk8_0, sizeof(block_q8_0), true};
    case tensor_type::q4_k: return {"Q4_K", qk_k, sizeof(block_q4_k), true};
    case tensor_type::q5_k: return {"Q5_K", qk_k, sizeof(block_q5_k), true};
    case tensor_type::q6_k: return {"Q6_K", qk_k, sizeof(block_q6_k), true};
    case tensor_type::q8_k: return {"Q8_K", qk_k, sizeof(block_q8_k), false};
    case tensor_type::q4_1: return {"Q4_1", 32, 20, false};
    case tensor_type::q5_0: return {"Q5_0", 32, 22, false};
    case tensor_type::q5_1: return {"Q5_1", 32, 24, false};
    case tensor_type::q8_1: return {"Q8_1", 32, 36, false};
    case tensor_type::q2_k: return {"Q2_K", qk_k, 84, false};
    case tensor_type::q3_k: return {"Q3_K", qk_k, 110, false};
  }
  return {"unknown", 0, 0, false};
}

// Bytes of a row of `n` elements; n must be a multiple of the block size.
constexpr std::size_t row_bytes(tensor_type t, std::size_t n) {
  auto tr = traits(t);
  return tr.block_elems == 0 ? 0 : n / tr.block_elems * tr.block_bytes;
}

}  // namespace holo::gpu
