// Device helpers shared by the matrix kernels (kernels_matmul.cu: f32 products on dequantized
// weights; kernels_matvec_q8.cu: integer products on q8 activations): half reads from packed
// blocks, the K-quant scale unpacking, warp reductions. Layouts: gpu/tensor_type.hpp, CPU
// reference gpu/quant.cpp.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "gpu/cuda/kernels.cuh"

namespace holo::gpu::cuda {

__device__ __forceinline__ float h2f(const std::uint8_t* p) {
  // Blocks are only 2-byte aligned (Q8_0: 34 bytes, Q6_K: 210), so read the half as two bytes.
  const unsigned short bits = static_cast<unsigned short>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

// The part of a Q4_K/Q5_K super-block header a lane needs (both start with the halves d and dmin,
// then 12 bytes of 6-bit scales and minimums, gpu/quant.cpp unpack_scale_min_k4): the scale and
// offset of its two sub-blocks 2c and 2c+1 (c < 4), weight = d0 * q - m0 etc. `b` holds the
// header's first four words. Bytes are picked by shifts, not by indexing an array with the lane's
// position (that would put the array in local memory).
struct k4_header {
  float d0, m0, d1, m1;
  __device__ k4_header(const unsigned* b, int c) {
    const unsigned dd = b[0];
    const float d = __half2float(__ushort_as_half(static_cast<unsigned short>(dd & 0xffff)));
    const float dmin = __half2float(__ushort_as_half(static_cast<unsigned short>(dd >> 16)));
    const int k = (2 * c) & 3;  // sub-blocks 2c, 2c+1: bytes k, k+1 of a word
    const unsigned w1 = b[1] >> (8 * k), w2 = b[2] >> (8 * k), w3 = b[3] >> (8 * k);
    unsigned sc0, mn0, sc1, mn1;
    if (c < 2) {  // sub-blocks 0..3: scale in bytes 0..3, minimum in bytes 4..7, low 6 bits
      sc0 = w1 & 63, sc1 = (w1 >> 8) & 63;
      mn0 = w2 & 63, mn1 = (w2 >> 8) & 63;
    } else {  // 4..7: low 4 bits in bytes 8..11, top 2 bits in the top bits of bytes 0..7
      sc0 = (w3 & 0x0f) | (((w1 >> 6) & 3) << 4), sc1 = ((w3 >> 8) & 0x0f) | (((w1 >> 14) & 3) << 4);
      mn0 = ((w3 >> 4) & 0x0f) | (((w2 >> 6) & 3) << 4), mn1 = ((w3 >> 12) & 0x0f) | (((w2 >> 14) & 3) << 4);
    }
    d0 = d * float(sc0), m0 = dmin * float(mn0), d1 = d * float(sc1), m1 = dmin * float(mn1);
  }
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The rows of a matrix-vector launch over mv_parts (kernels.cuh) as a kernel takes them: launch row
// r < total belongs to part k = (r >= end[0]) + (r >= end[1]) (unused ends are past total). Fields
// are picked by selects, not by indexing with k (that would copy the arrays to local memory).
struct mv_rows {
  const std::uint8_t* w[3];
  std::size_t row_bytes[3];
  std::int64_t rows[3];
  std::int64_t end[2];
  std::int64_t total;
  const float* bias[3];
  float* out[3];
};

inline mv_rows make_mv_rows(const mv_parts& parts) {
  mv_rows r{};
  std::int64_t at = 0;
  for (int k = 0; k < 3; ++k) {
    const mv_part p = k < parts.count ? parts.p[k] : mv_part{};
    r.w[k] = static_cast<const std::uint8_t*>(p.w);
    r.row_bytes[k] = p.row_bytes;
    r.rows[k] = p.rows;
    r.bias[k] = p.bias;
    r.out[k] = p.out;
    at += p.rows;
    if (k < 2) r.end[k] = k + 1 < parts.count ? at : INT64_MAX;
  }
  r.total = at;
  return r;
}

template <class T>
__device__ __forceinline__ T mv_pick(int k, T a, T b, T c) {
  return k == 0 ? a : k == 1 ? b : c;
}

// One output row of a launch: its weights, where its result goes (out + t * rows for token t) and
// its bias.
struct mv_row {
  const std::uint8_t* w;
  const float* bias;
  float* out;
  std::int64_t rows;
};
__device__ __forceinline__ mv_row mv_resolve(const mv_rows& m, std::int64_t r) {
  const int k = int(r >= m.end[0]) + int(r >= m.end[1]);
  const std::int64_t local = r - (k == 0 ? 0 : k == 1 ? m.end[0] : m.end[1]);
  const std::size_t rb = mv_pick(k, m.row_bytes[0], m.row_bytes[1], m.row_bytes[2]);
  const float* bias = mv_pick(k, m.bias[0], m.bias[1], m.bias[2]);
  return {mv_pick(k, m.w[0], m.w[1], m.w[2]) + local * rb, bias ? bias + local : nullptr,
          mv_pick(k, m.out[0], m.out[1], m.out[2]) + local, mv_pick(k, m.rows[0], m.rows[1], m.rows[2])};
}

}  // namespace holo::gpu::cuda
