// Reference (scalar) conversion between f32 rows and the tensor types the engine reads from GGUF:
// F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, plus Q8_K for activations. The block layouts are
// the ones llama.cpp writes (see gpu/tensor_type.hpp), so rows decoded here equal what llama.cpp
// decodes from the same bytes. These are the plain implementations that fast CPU and CUDA kernels
// are tested against.
//
// The quantizers search for good scales (least-squares refined) but do not reproduce llama.cpp's
// rounding bit for bit: a row quantized here and by llama.cpp may differ, both decode the same way.
// Inputs to the quantizers must be finite.
//
// Pure functions on caller-owned memory: safe from any thread. A row of `n` elements occupies
// row_bytes(type, n) bytes; n must be a multiple of the type's block size.
#pragma once

#include <cstdint>

#include "gpu/tensor_type.hpp"
#include "runtime/status.hpp"

namespace holo::gpu {

// True for the types dequantize_row and quantize_row handle.
bool quant_supported(tensor_type type);

// dst[0..n) = the values stored in the row at src. Fails (invalid_argument) for an unsupported type
// or an n that is negative or not a multiple of the block size; writes nothing then.
status dequantize_row(tensor_type type, const void* src, float* dst, std::int64_t n);

// Encodes src[0..n) into row_bytes(type, n) bytes at dst. Same failures as dequantize_row.
status quantize_row(tensor_type type, const float* src, void* dst, std::int64_t n);

// Per-type entry points; n must be a multiple of the block size (asserted: our bug if not).
void dequantize_row_q8_0(const block_q8_0* src, float* dst, std::int64_t n);
void dequantize_row_q4_0(const block_q4_0* src, float* dst, std::int64_t n);
void dequantize_row_q4_k(const block_q4_k* src, float* dst, std::int64_t n);
void dequantize_row_q5_k(const block_q5_k* src, float* dst, std::int64_t n);
void dequantize_row_q6_k(const block_q6_k* src, float* dst, std::int64_t n);
void dequantize_row_q8_k(const block_q8_k* src, float* dst, std::int64_t n);

void quantize_row_q8_0(const float* src, block_q8_0* dst, std::int64_t n);
void quantize_row_q4_0(const float* src, block_q4_0* dst, std::int64_t n);
void quantize_row_q4_k(const float* src, block_q4_k* dst, std::int64_t n);
void quantize_row_q5_k(const float* src, block_q5_k* dst, std::int64_t n);
void quantize_row_q6_k(const float* src, block_q6_k* dst, std::int64_t n);
// Activations for K-quant dot products: d = max|x| / 127, qs = round(x / d) in [-127, 127],
// bsums[i] = sum of qs[16i .. 16i+15].
void quantize_row_q8_k(const float* src, block_q8_k* dst, std::int64_t n);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block, unpacked from its 12 bytes:
// j < 4 keep them in the low 6 bits of bytes j and j+4; j >= 4 split them into a nibble of byte
// j+4 (scale low, min high) and the top 2 bits of bytes j-4 (scale) and j (min).
void unpack_scale_min_k4(int j, const std::uint8_t* scales, std::uint8_t* scale, std::uint8_t* min);
// The inverse: packs 8 scales and 8 mins (each 0..63) into 12 bytes.
void pack_scale_min_k4(const std::uint8_t* scale, const std::uint8_t* min, std::uint8_t* scales);

}  // namespace holo::gpu
