// Dequantizing matrix products and row lookups for every weight type (F32, F16, BF16, Q8_0, Q4_0,
// Q4_K, Q5_K, Q6_K; block layouts in gpu/tensor_type.hpp, the CPU reference in gpu/quant.cpp).
//
// Work split: a row is walked in chunks of 256 elements (one K-quant super-block, eight Q8_0/Q4_0
// blocks, 256 plain values); in each chunk every lane of a warp decodes the 8 weights it owns
// (decoder<T>::load) straight from the packed bytes into registers and multiplies them with the
// matching activations. One warp per output row, the partial sums reduced with shuffles. The lane
// ownership is chosen so that a warp's loads of one chunk are contiguous bytes (coalesced).
// Decode (n = 1) and small batches read every weight exactly once, a whole block per row
// (matvec_kernel); prefill decodes each weight once per 32 tokens into shared memory (gemm_kernel).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/cuda/kernels.cuh"
#include "gpu/cuda/quant_blocks.cuh"

namespace holo::gpu::cuda {
namespace {

constexpr int chunk = 256;      // elements per chunk

// ---- decoders: lane `lane`'s 8 weights of chunk `it`, and where they sit in the chunk ----
// offset(lane, k) is the element index within the chunk of weight k. load() reads the packed
// bytes with the widest loads their alignment allows (a warp's loads of a chunk are contiguous);
// load_x() reads the 8 matching activations of one token row, as two float4 where the lane's
// elements come in aligned runs of 4 (every type but Q6_K). Rows of Q8_0, Q4_0 and the plain types
// may end mid-chunk: a lane's 8 elements then all exist or none do (they lie in one block, or in
// one run of 8 for the vector plain decoders, which need cols % 8 == 0).

__device__ __forceinline__ void zero8(float* v) {
#pragma unroll
  for (int k = 0; k < 8; ++k) v[k] = 0.0f;
}

// Two float4 at xr + a and xr + b (16-byte aligned), or zeros when the lane's elements do not exist.
__device__ __forceinline__ void load_x2(const float* __restrict__ xr, std::int64_t a, std::int64_t b, bool valid,
                                        float* xv) {
  if (!valid) return zero8(xv);
  const float4 p = *reinterpret_cast<const float4*>(xr + a);
  const float4 q = *reinterpret_cast<const float4*>(xr + b);
  xv[0] = p.x, xv[1] = p.y, xv[2] = p.z, xv[3] = p.w;
  xv[4] = q.x, xv[5] = q.y, xv[6] = q.z, xv[7] = q.w;
}

// Plain types, lane owns elements 8*lane .. 8*lane+7 of the chunk (one 16- or 32-byte load).
struct dec_f32 {
  static __device__ int offset(int lane, int k) { return 8 * lane + k; }
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t cols, float* w) {
    const std::int64_t e = it * chunk + 8 * lane;
    if (e >= cols) return zero8(w);
    const float4* p = reinterpret_cast<const float4*>(row + e * 4);
    const float4 a = p[0], b = p[1];
    w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w, w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t cols, float* xv) {
    const std::int64_t e = it * chunk + 8 * lane;
    load_x2(xr, e, e + 4, e < cols, xv);
  }
};

struct dec_f16 {
  static __device__ int offset(int lane, int k) { return 8 * lane + k; }
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t cols, float* w) {
    const std::int64_t e = it * chunk + 8 * lane;
    if (e >= cols) return zero8(w);
    const uint4 raw = *reinterpret_cast<const uint4*>(row + e * 2);
    const unsigned parts[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&parts[i]));
      w[2 * i] = f.x, w[2 * i + 1] = f.y;
    }
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t cols, float* xv) {
    dec_f32::load_x(xr, it, lane, cols, xv);
  }
};

struct dec_bf16 {
  static __device__ int offset(int lane, int k) { return 8 * lane + k; }
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t cols, float* w) {
    const std::int64_t e = it * chunk + 8 * lane;
    if (e >= cols) return zero8(w);
    const uint4 raw = *reinterpret_cast<const uint4*>(row + e * 2);
    const unsigned parts[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w[2 * i] = __uint_as_float(parts[i] << 16);
      w[2 * i + 1] = __uint_as_float(parts[i] & 0xffff0000u);
    }
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t cols, float* xv) {
    dec_f32::load_x(xr, it, lane, cols, xv);
  }
};

// Plain types whose rows are not a multiple of 8 elements (so not 16-byte aligned): one element per
// load, lane owns elements 32k + lane (still coalesced across the warp).
template <class T>
struct dec_plain_scalar {
  static __device__ int offset(int lane, int k) { return k * 32 + lane; }
  static __device__ float value(const std::uint8_t* row, std::int64_t e);
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t cols, float* w) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const std::int64_t e = it * chunk + offset(lane, k);
      w[k] = e < cols ? value(row, e) : 0.0f;
    }
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t cols, float* xv) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const std::int64_t e = it * chunk + offset(lane, k);
      xv[k] = e < cols ? xr[e] : 0.0f;
    }
  }
};
struct tag_f32 {};
struct tag_f16 {};
struct tag_bf16 {};
template <>
__device__ float dec_plain_scalar<tag_f32>::value(const std::uint8_t* row, std::int64_t e) {
  return reinterpret_cast<const float*>(row)[e];
}
template <>
__device__ float dec_plain_scalar<tag_f16>::value(const std::uint8_t* row, std::int64_t e) {
  return __half2float(reinterpret_cast<const __half*>(row)[e]);
}
template <>
__device__ float dec_plain_scalar<tag_bf16>::value(const std::uint8_t* row, std::int64_t e) {
  return __uint_as_float(static_cast<unsigned>(reinterpret_cast<const unsigned short*>(row)[e]) << 16);
}

// Q8_0: 8 blocks of 34 bytes per chunk; lane owns block lane/4, quants (lane%4)*8 .. +7 (read as
// four 2-byte words: blocks are only 2-byte aligned).
struct dec_q8_0 {
  static __device__ int offset(int lane, int k) { return (lane / 4) * 32 + (lane % 4) * 8 + k; }
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t cols, float* w) {
    const std::int64_t block = it * 8 + lane / 4;
    if (block * 32 >= cols) return zero8(w);
    const std::uint8_t* b = row + block * 34;
    const float d = h2f(b);
    const unsigned short* q = reinterpret_cast<const unsigned short*>(b + 2 + (lane % 4) * 8);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const unsigned short v = q[i];
      w[2 * i] = d * float(static_cast<signed char>(v & 0xff));
      w[2 * i + 1] = d * float(static_cast<signed char>(v >> 8));
    }
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t cols, float* xv) {
    const std::int64_t e = it * chunk + offset(lane, 0);
    load_x2(xr, e, e + 4, e < cols, xv);
  }
};

// Q4_0: 8 blocks of 18 bytes; lane owns block lane/4, bytes j0..j0+3 (j0 = (lane%4)*4): elements
// j0..j0+3 in their low nibbles and j0+16..j0+19 in the high ones.
struct dec_q4_0 {
  static __device__ int offset(int lane, int k) {
    return (lane / 4) * 32 + (lane % 4) * 4 + (k < 4 ? k : 16 + k - 4);
  }
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t cols, float* w) {
    const std::int64_t block = it * 8 + lane / 4;
    if (block * 32 >= cols) return zero8(w);
    const std::uint8_t* b = row + block * 18;
    const float d = h2f(b);
    const unsigned short* q16 = reinterpret_cast<const unsigned short*>(b + 2 + (lane % 4) * 4);
    const unsigned q = q16[0] | (unsigned(q16[1]) << 16);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const unsigned byte = (q >> (8 * k)) & 0xff;
      w[k] = d * float(int(byte & 0x0f) - 8);
      w[k + 4] = d * float(int(byte >> 4) - 8);
    }
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t cols, float* xv) {
    const std::int64_t e = it * chunk + offset(lane, 0);
    load_x2(xr, e, e + 16, e < cols, xv);
  }
};

// Q4_K: one 144-byte super-block per chunk (d, dmin, 12 scale bytes, 128 quant bytes), 4-byte
// aligned, read in words. Lane owns chunk c = lane/8 of 64 elements, quant bytes 32c + j .. +3
// (j = (lane%8)*4): elements 64c+j+k (low nibbles, sub-block 2c) and 64c+32+j+k (high nibbles,
// sub-block 2c+1).
struct dec_q4_k {
  static __device__ int offset(int lane, int k) {
    const int c = lane / 8, j = (lane % 8) * 4;
    return 64 * c + (k < 4 ? j + k : 32 + j + k - 4);
  }
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t, float* w) {
    const unsigned* b = reinterpret_cast<const unsigned*>(row + it * 144);
    const k4_header h(b, lane / 8);
    const int c = lane / 8, j = (lane % 8) * 4;
    const unsigned q = b[(16 + 32 * c + j) / 4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const unsigned byte = (q >> (8 * k)) & 0xff;
      w[k] = h.d0 * float(byte & 0x0f) - h.m0;
      w[k + 4] = h.d1 * float(byte >> 4) - h.m1;
    }
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t cols, float* xv) {
    const std::int64_t e = it * chunk + offset(lane, 0);
    load_x2(xr, e, e + 32, e < cols, xv);
  }
};

// Q5_K: as Q4_K (176 bytes: d, dmin, scales, 32 bytes qh, 128 qs); the fifth bit of element
// 64c+e is bit 2c of qh[e], of 64c+32+e bit 2c+1.
struct dec_q5_k {
  static __device__ int offset(int lane, int k) { return dec_q4_k::offset(lane, k); }
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t, float* w) {
    const unsigned* b = reinterpret_cast<const unsigned*>(row + it * 176);
    const k4_header h(b, lane / 8);
    const int c = lane / 8, j = (lane % 8) * 4;
    const unsigned qh = b[(16 + j) / 4];
    const unsigned q = b[(48 + 32 * c + j) / 4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const unsigned byte = (q >> (8 * k)) & 0xff, hbyte = (qh >> (8 * k)) & 0xff;
      const int lo = int(byte & 0x0f) | int(((hbyte >> (2 * c)) & 1) << 4);
      const int hi = int(byte >> 4) | int(((hbyte >> (2 * c + 1)) & 1) << 4);
      w[k] = h.d0 * float(lo) - h.m0;
      w[k + 4] = h.d1 * float(hi) - h.m1;
    }
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t cols, float* xv) {
    dec_q4_k::load_x(xr, it, lane, cols, xv);
  }
};

// Q6_K: 210 bytes (128 ql, 64 qh, 16 int8 scales, d), only 2-byte aligned. Lane l owns, for half h
// and quarter r (k = 4h + r), element 128h + 32r + l: low bits in ql[64h + l + 32(r&1)] (high
// nibble when r >= 2), top bits at bit 2r of qh[32h + l]; scale of sub-block element/16. Byte loads,
// coalesced across the warp; activations one per load, coalesced likewise.
struct dec_q6_k {
  static __device__ int offset(int lane, int k) { return 128 * (k / 4) + 32 * (k % 4) + lane; }
  static __device__ void load(const std::uint8_t* row, std::int64_t it, int lane, std::int64_t, float* w) {
    const std::uint8_t* b = row + it * 210;
    const float d = h2f(b + 208);
    const std::int8_t* scales = reinterpret_cast<const std::int8_t*>(b + 192);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::uint8_t l0 = b[64 * h + lane], l1 = b[64 * h + 32 + lane], qh = b[128 + 32 * h + lane];
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const std::uint8_t lbyte = (r & 1) ? l1 : l0;
        const int lo = (lbyte >> (4 * (r >> 1))) & 0x0f;
        const int q = (lo | (((qh >> (2 * r)) & 3) << 4)) - 32;
        const int e = 128 * h + 32 * r + lane;
        w[4 * h + r] = d * float(scales[e / 16]) * float(q);
      }
    }
  }
  static __device__ void load_x(const float* xr, std::int64_t it, int lane, std::int64_t, float* xv) {
#pragma unroll
    for (int k = 0; k < 8; ++k) xv[k] = xr[it * chunk + offset(lane, k)];
  }
};

// Decode and small batches (n <= 8): one block of `mv_warps` warps per output row, the row's chunks
// dealt round-robin to the warps, several chunks in flight per warp. A 1B model's matrices are a
// few MB: spreading every row over a whole block keeps enough loads in flight. (Measured on an
// H200: four rows per block sharing the activation loads was slower -- 55 vs 38 us for an 8B
// Q4_K FFN matrix -- fewer blocks hide less latency.) A 1B model's matrices are a few MB:
// spreading every row over a whole block (instead of one warp per row) keeps enough loads in
// flight to reach memory bandwidth. Tokens [blockIdx.y * NT, +NT) share each decoded weight.
constexpr int mv_warps = 4;

template <class D, int NT>
__device__ __forceinline__ void mv_accumulate(const float* wv, std::int64_t it, int lane, std::int64_t cols,
                                              const float* __restrict__ x, std::int64_t t0, std::int64_t n,
                                              float* acc) {
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    if (t0 + t >= n) break;
    float xv[8];
    D::load_x(x + (t0 + t) * cols, it, lane, cols, xv);
#pragma unroll
    for (int k = 0; k < 8; ++k) acc[t] += wv[k] * xv[k];
  }
}

template <class D, int NT>
__global__ void __launch_bounds__(32 * mv_warps) matvec_kernel(mv_rows m, std::int64_t cols,
                                                               const float* __restrict__ x, std::int64_t n) {
  grid_dependency_wait();
  __shared__ float partial[mv_warps][NT];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const mv_row mr = mv_resolve(m, blockIdx.x);
  const std::int64_t t0 = std::int64_t(blockIdx.y) * NT;
  const std::uint8_t* row = mr.w;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
  const std::int64_t chunks = (cols + chunk - 1) / chunk;
  // Several chunks' loads issued before any is used: their round trips to memory overlap
  // (decode: 4; token groups hold more registers: 2).
  constexpr int unroll = NT == 1 ? 4 : 2;
  std::int64_t it = warp;
  for (; it + (unroll - 1) * mv_warps < chunks; it += unroll * mv_warps) {
    float wv[unroll][8];
#pragma unroll
    for (int u = 0; u < unroll; ++u) D::load(row, it + u * mv_warps, lane, cols, wv[u]);
#pragma unroll
    for (int u = 0; u < unroll; ++u) mv_accumulate<D, NT>(wv[u], it + u * mv_warps, lane, cols, x, t0, n, acc);
  }
  for (; it < chunks; it += mv_warps) {
    float a[8];
    D::load(row, it, lane, cols, a);
    mv_accumulate<D, NT>(a, it, lane, cols, x, t0, n, acc);
  }
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const float sum = warp_sum(acc[t]);
    if (lane == 0) partial[warp][t] = sum;
  }
  __syncthreads();
  if (threadIdx.x < NT && t0 + threadIdx.x < n) {
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < mv_warps; ++i) sum += partial[i][threadIdx.x];
    mr.out[(t0 + threadIdx.x) * mr.rows] = sum + (mr.bias ? *mr.bias : 0.0f);
  }
}

// Prefill (n > 8): a tiled product. A block computes gm rows x gn tokens; per 256-element chunk its
// 8 warps decode the tile's weight rows into shared memory (transposed, f32) and stage the tokens'
// activations beside them, then every thread accumulates a 2 x 2 block of outputs from shared memory.
// Each weight is decoded once per gn tokens instead of once per token. Both tiles have an odd row
// stride (33 floats): the decoders' scattered stores and the threads' reads of one k then fall in
// different banks.
constexpr int gm = 32, gn = 32, gemm_threads = 256;
constexpr int ws_stride = gm + 1, xs_stride = gn + 1;
constexpr std::size_t gemm_smem = std::size_t(chunk) * (ws_stride + xs_stride) * sizeof(float);

template <class D>
__global__ void __launch_bounds__(gemm_threads) gemm_kernel(const std::uint8_t* __restrict__ w, std::size_t row_bytes,
                                                            std::int64_t rows, std::int64_t cols,
                                                            const float* __restrict__ x, std::int64_t n,
                                                            const float* __restrict__ bias, float* __restrict__ out) {
  grid_dependency_wait();
  extern __shared__ float smem[];
  float* ws = smem;                       // [chunk][ws_stride]: ws[k][row]
  float* xs = smem + chunk * ws_stride;   // [chunk][xs_stride]: xs[k][token]
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const std::int64_t r0 = std::int64_t(blockIdx.x) * gm, t0 = std::int64_t(blockIdx.y) * gn;
  const int tr = tid % (gm / 2), tc = tid / (gm / 2);  // rows 2tr, 2tr+1; tokens 2tc, 2tc+1
  float acc[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
  const std::int64_t chunks = (cols + chunk - 1) / chunk;
  for (std::int64_t it = 0; it < chunks; ++it) {
    for (int rr = warp; rr < gm; rr += gemm_threads / 32) {
      float wv[8];
      if (r0 + rr < rows) {
        D::load(w + (r0 + rr) * row_bytes, it, lane, cols, wv);
      } else {
#pragma unroll
        for (int k = 0; k < 8; ++k) wv[k] = 0.0f;
      }
#pragma unroll
      for (int k = 0; k < 8; ++k) ws[D::offset(lane, k) * ws_stride + rr] = wv[k];
    }
    for (int idx = tid; idx < gn * chunk; idx += gemm_threads) {
      const int tok = idx / chunk, k = idx % chunk;
      const std::int64_t e = it * chunk + k;
      xs[k * xs_stride + tok] = (t0 + tok < n && e < cols) ? x[(t0 + tok) * cols + e] : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int k = 0; k < chunk; ++k) {
      const float w0 = ws[k * ws_stride + 2 * tr], w1 = ws[k * ws_stride + 2 * tr + 1];
      const float x0 = xs[k * xs_stride + 2 * tc], x1 = xs[k * xs_stride + 2 * tc + 1];
      acc[0][0] += w0 * x0;
      acc[0][1] += w0 * x1;
      acc[1][0] += w1 * x0;
      acc[1][1] += w1 * x1;
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const std::int64_t r = r0 + 2 * tr + i;
    if (r >= rows) continue;
    const float b = bias ? bias[r] : 0.0f;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const std::int64_t t = t0 + 2 * tc + j;
      if (t < n) out[t * rows + r] = acc[i][j] + b;
    }
  }
}

// One warp per (id, chunk): writes the chunk's dequantized values.
template <class D>
__global__ void get_rows_kernel(const std::uint8_t* __restrict__ table, std::size_t row_bytes, std::int64_t cols,
                                const std::int32_t* __restrict__ ids, float* __restrict__ out) {
  grid_dependency_wait();
  const int lane = threadIdx.x;
  const std::int64_t i = blockIdx.x, it = blockIdx.y;
  float wv[8];
  D::load(table + std::int64_t(ids[i]) * row_bytes, it, lane, cols, wv);
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    const std::int64_t e = it * chunk + D::offset(lane, k);
    if (e < cols) out[i * cols + e] = wv[k];
  }
}

template <class D>
void launch_matvec(const mv_parts& parts, std::int64_t cols, const float* x, std::int64_t n, stream_ref s) {
  const mv_rows m = make_mv_rows(parts);
  const dim3 grid(static_cast<unsigned>(m.total), 1);
  if (n == 1) {
    launch_kernel(matvec_kernel<D, 1>, grid, dim3(32 * mv_warps), 0, s, m, cols, x, n);
  } else {
    launch_kernel(matvec_kernel<D, 8>, grid, dim3(32 * mv_warps), 0, s, m, cols, x, n);
  }
}

template <class D>
void launch_matmul(const void* w, std::size_t row_bytes, std::int64_t rows, std::int64_t cols, const float* x,
                   std::int64_t n, const float* bias, float* out, stream_ref s) {
  if (n <= 8) {
    mv_parts one;
    one.p[0] = {w, row_bytes, rows, bias, out};
    one.count = 1;
    return launch_matvec<D>(one, cols, x, n, s);
  }
  // More than 48 KiB of shared memory needs the opt-in; it is per device, so set it every time
  // (a prefill makes a handful of these calls).
  cudaFuncSetAttribute(gemm_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(gemm_smem));
  const dim3 grid(static_cast<unsigned>((rows + gm - 1) / gm), static_cast<unsigned>((n + gn - 1) / gn));
  launch_kernel(gemm_kernel<D>, grid, dim3(gemm_threads), gemm_smem, s, static_cast<const std::uint8_t*>(w), row_bytes,
                rows, cols, x, n, bias, out);
}

template <class D>
void launch_get_rows(const void* table, std::size_t row_bytes, std::int64_t cols, const std::int32_t* ids,
                     std::int64_t n, float* out, stream_ref s) {
  const unsigned chunks = static_cast<unsigned>((cols + chunk - 1) / chunk);
  launch_kernel(get_rows_kernel<D>, dim3(static_cast<unsigned>(n), chunks), dim3(32), 0, s,
                static_cast<const std::uint8_t*>(table), row_bytes, cols, ids, out);
}

// Calls f(decoder{}) for `type`; false for a type without a decoder. Plain types whose rows are not
// a multiple of 8 elements take the one-element-per-load decoders.
template <class F>
bool with_decoder(tensor_type type, std::int64_t cols, F&& f) {
  const bool vec = cols % 8 == 0;
  switch (type) {
    case tensor_type::f32: vec ? f(dec_f32{}) : f(dec_plain_scalar<tag_f32>{}); return true;
    case tensor_type::f16: vec ? f(dec_f16{}) : f(dec_plain_scalar<tag_f16>{}); return true;
    case tensor_type::bf16: vec ? f(dec_bf16{}) : f(dec_plain_scalar<tag_bf16>{}); return true;
    case tensor_type::q8_0: f(dec_q8_0{}); return true;
    case tensor_type::q4_0: f(dec_q4_0{}); return true;
    case tensor_type::q4_k: f(dec_q4_k{}); return true;
    case tensor_type::q5_k: f(dec_q5_k{}); return true;
    case tensor_type::q6_k: f(dec_q6_k{}); return true;
    default: return false;
  }
}

}  // namespace

void matmul(tensor_type type, const void* w, std::size_t row_bytes, std::int64_t rows, std::int64_t cols,
            const float* x, std::int64_t n, const float* bias, float* out, stream_ref s) {
  with_decoder(type, cols, [&](auto d) { launch_matmul<decltype(d)>(w, row_bytes, rows, cols, x, n, bias, out, s); });
}

void matvec_parts(tensor_type type, const mv_parts& parts, std::int64_t cols, const float* x, std::int64_t n,
                  stream_ref s) {
  with_decoder(type, cols, [&](auto d) { launch_matvec<decltype(d)>(parts, cols, x, n, s); });
}

void get_rows(tensor_type type, const void* table, std::size_t row_bytes, std::int64_t cols,
              const std::int32_t* ids, std::int64_t n, float* out, stream_ref s) {
  with_decoder(type, cols, [&](auto d) { launch_get_rows<decltype(d)>(table, row_bytes, cols, ids, n, out, s); });
}

}  // namespace holo::gpu::cuda
