// Integer matrix-vector products for decode and small batches (n <= q8_tokens_max) of the quantized
// weight types (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) against q8 activations (kernels.cuh q8_activations).
//
// Why: the f32 path (kernels_matmul.cu matvec_kernel) converts every weight to float and multiplies
// it with a 4-byte activation read from L2; on an H200 an 8B Q4_K FFN matrix took 38 us where the
// memory allows ~8 (instruction-bound). Here the weights stay packed bytes: a lane masks its nibbles
// into four bytes per word and `__dp4a` multiplies them with four activation bytes and accumulates
// in one instruction; the scales are applied once per 4..8 values. The activation costs 1 byte per
// value plus 8 per block of 32 (it is rounded once per matrix input, mostly fused into the RMSNorm
// or SwiGLU that produces it: cuda_backend.cu).
//
// Work split as in matvec_kernel: one block per output row, several loads in flight per thread
// before any is used (decoders and kernel below).
#include <algorithm>

#include "gpu/cuda/kernels.cuh"
#include "gpu/cuda/quant_blocks.cuh"

namespace holo::gpu::cuda {
namespace {

constexpr int mv_threads = 128;
constexpr int ones = 0x01010101;  // dp4a with it sums four bytes

__device__ __forceinline__ unsigned load_u32_2aligned(const std::uint8_t* p) {
  const unsigned short* h = reinterpret_cast<const unsigned short*>(p);
  return unsigned(h[0]) | (unsigned(h[1]) << 16);
}
// 8 bytes at a 2-byte-aligned p as two words: three aligned 32-bit loads and funnel shifts
// instead of four 16-bit loads (Q6_K blocks are 210 bytes: every other one starts 2 bytes off a
// word). No branch, so a warp spanning an even and an odd block does not diverge. Reads up to
// p + 11: callers keep that inside the block.
__device__ __forceinline__ uint2 load8_2aligned(const std::uint8_t* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const unsigned* w = reinterpret_cast<const unsigned*>(addr & ~std::uintptr_t(3));
  const unsigned shift = unsigned(addr & 3) * 8;  // 0 or 16
  const unsigned w0 = w[0], w1 = w[1], w2 = w[2];
  return make_uint2(__funnelshift_r(w0, w1, shift), __funnelshift_r(w1, w2, shift));
}

__device__ __forceinline__ int xword(const std::int8_t* xq, unsigned e) {
  return *reinterpret_cast<const int*>(xq + e);
}

// Each decoder splits a row into slots of `values` weights, one slot per thread and iteration; a
// warp's 32 consecutive slots are contiguous bytes (coalesced). load() reads a slot's raw words,
// dot() gives the slot's share of one token's dot product.

// Q8_0: blocks of 34 bytes (half d, 32 int8), 2-byte aligned; slot = a quarter block, 8 values.
struct q8d_q8_0 {
  static constexpr int values = 8;
  struct raw {
    unsigned w0, w1;
    float d;
  };
  static __device__ raw load(const std::uint8_t* row, unsigned s) {
    const std::uint8_t* b = row + (s / 4) * 34;
    const std::uint8_t* q = b + 2 + (s % 4) * 8;
    return {load_u32_2aligned(q), load_u32_2aligned(q + 4), h2f(b)};
  }
  static __device__ float dot(const raw& r, unsigned s, const std::int8_t* xq, const float2* xd) {
    const int2 x = *reinterpret_cast<const int2*>(xq + s * 8);
    const int sum = __dp4a(int(r.w0), x.x, __dp4a(int(r.w1), x.y, 0));
    return r.d * xd[s / 4].x * float(sum);
  }
};

// Q4_0: blocks of 18 bytes (half d, 16 bytes: value i in the low nibble of byte i, value 16+i in
// the high one), weight = d * (q - 8). Slot = bytes 4p..4p+3 of block s/4 (p = s%4): values 4p..
// (low nibbles) and 16+4p.. (high).
struct q8d_q4_0 {
  static constexpr int values = 8;
  struct raw {
    unsigned q;
    float d;
  };
  static __device__ raw load(const std::uint8_t* row, unsigned s) {
    const std::uint8_t* b = row + (s / 4) * 18;
    return {load_u32_2aligned(b + 2 + (s % 4) * 4), h2f(b)};
  }
  static __device__ float dot(const raw& r, unsigned s, const std::int8_t* xq, const float2* xd) {
    const unsigned e = (s / 4) * 32 + (s % 4) * 4;
    const int xl = xword(xq, e), xh = xword(xq, e + 16);
    const int sum = __dp4a(int(r.q & 0x0f0f0f0fu), xl, __dp4a(int((r.q >> 4) & 0x0f0f0f0fu), xh, 0));
    const int sx = __dp4a(ones, xl, __dp4a(ones, xh, 0));
    return r.d * xd[s / 4].x * float(sum - 8 * sx);
  }
};

// Q4_K: 144-byte super-blocks of 256 values (half d, half dmin, 12 bytes of 6-bit scales and
// minimums, 128 quant bytes), 16-byte aligned. Quant byte 32c + i holds value 64c + i in its low
// nibble (sub-block 2c) and 64c + 32 + i in its high one (2c+1); weight = d*sc*q - dmin*m. Slot =
// 16 quant bytes (8 per super-block: c = k/2, half h = k%2), 32 values: one 16-byte load, eight
// dp4a, and the scale header (one 16-byte load, shared by the 8 slots) decoded once per 32 values.
// The minimum's term is m times the sub-block's activation sum: added once per sub-block, by its
// h = 0 slot.
struct q8d_q4_k {
  static constexpr int values = 32;
  struct raw {
    uint4 h;
    uint4 q;
  };
  static __device__ raw load(const std::uint8_t* row, unsigned s) {
    const std::uint8_t* b = row + (s / 8) * 144;
    const int k = int(s % 8);
    return {*reinterpret_cast<const uint4*>(b), *reinterpret_cast<const uint4*>(b + 16 + 16 * k)};
  }
  // lo/hi: the slot's 16 low-sub-block and 16 high-sub-block values, 4 per word.
  static __device__ float finish(const uint4& hdr, unsigned s, const unsigned* lo, const unsigned* hi,
                                 const std::int8_t* xq, const float2* xd) {
    const int k = int(s % 8), c = k / 2, h = k % 2;
    const unsigned words[4] = {hdr.x, hdr.y, hdr.z, hdr.w};
    const k4_header sc(words, c);
    const unsigned e = (s / 8) * 256 + 64 * c + 16 * h;
    const int4 xl = *reinterpret_cast<const int4*>(xq + e), xh = *reinterpret_cast<const int4*>(xq + e + 32);
    int sl = __dp4a(int(lo[0]), xl.x, 0), sh = __dp4a(int(hi[0]), xh.x, 0);
    sl = __dp4a(int(lo[1]), xl.y, sl), sh = __dp4a(int(hi[1]), xh.y, sh);
    sl = __dp4a(int(lo[2]), xl.z, sl), sh = __dp4a(int(hi[2]), xh.z, sh);
    sl = __dp4a(int(lo[3]), xl.w, sl), sh = __dp4a(int(hi[3]), xh.w, sh);
    const unsigned blk = (s / 8) * 8 + 2 * c;  // q8 blocks of the two sub-blocks
    const float2 dl = xd[blk], dh = xd[blk + 1];
    float v = sc.d0 * dl.x * float(sl) + sc.d1 * dh.x * float(sh);
    if (h == 0) v -= sc.m0 * dl.y + sc.m1 * dh.y;
    return v;
  }
  static __device__ float dot(const raw& r, unsigned s, const std::int8_t* xq, const float2* xd) {
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    unsigned lo[4], hi[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) lo[i] = q[i] & 0x0f0f0f0fu, hi[i] = (q[i] >> 4) & 0x0f0f0f0fu;
    return finish(r.h, s, lo, hi, xq, xd);
  }
};

// Q5_K: as Q4_K (176-byte super-blocks: d, dmin, scales, 32 bytes qh, 128 qs, 16-byte aligned); the
// fifth bit of value 64c + i (i < 32) is bit 2c of qh[i], of 64c + 32 + i bit 2c+1. A slot's 16
// quant bytes 32c + 16h .. pair with qh[16h ..].
struct q8d_q5_k {
  static constexpr int values = 32;
  struct raw {
    uint4 h;
    uint4 qh, q;
  };
  static __device__ raw load(const std::uint8_t* row, unsigned s) {
    const std::uint8_t* b = row + (s / 8) * 176;
    const int k = int(s % 8);
    return {*reinterpret_cast<const uint4*>(b), *reinterpret_cast<const uint4*>(b + 16 + 16 * (k % 2)),
            *reinterpret_cast<const uint4*>(b + 48 + 16 * k)};
  }
  static __device__ float dot(const raw& r, unsigned s, const std::int8_t* xq, const float2* xd) {
    const int c = int(s % 8) / 2;
    const unsigned q[4] = {r.q.x, r.q.y, r.q.z, r.q.w}, qh[4] = {r.qh.x, r.qh.y, r.qh.z, r.qh.w};
    unsigned lo[4], hi[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      lo[i] = (q[i] & 0x0f0f0f0fu) | (((qh[i] >> (2 * c)) & ones) << 4);
      hi[i] = ((q[i] >> 4) & 0x0f0f0f0fu) | (((qh[i] >> (2 * c + 1)) & ones) << 4);
    }
    return q8d_q4_k::finish(r.h, s, lo, hi, xq, xd);
  }
};

// Q6_K: 210 bytes (128 ql, 64 qh, 16 int8 scales, half d), 2-byte aligned. Value 128h + 32r + l
// (half h, quarter r, l < 32) has its low 4 bits in ql[64h + 32(r&1) + l] (the high nibble when
// r >= 2) and its top 2 bits at bit 2r of qh[32h + l]; weight = d * scale[value/16] * (q - 32).
// Slot (16 per super-block, k = s%16): half h = k/8, quarters rr = (k%8)/4 and rr+2 (which share
// the ql bytes), l0 = (k%4)*8 .. +7: 8 ql bytes and 8 qh bytes give its 16 values as four words of
// 6-bit bytes; each run of 8 has one scale.
struct q8d_q6_k {
  static constexpr int values = 16;
  struct raw {
    unsigned ql0, ql1, qh0, qh1;
    float sa, sb;  // d * scale of the two runs of 8
  };
  static __device__ raw load(const std::uint8_t* row, unsigned s) {
    const std::uint8_t* b = row + (s / 16) * 210;
    const unsigned k = s % 16, h = k / 8, rr = (k % 8) / 4, l0 = (k % 4) * 8;
    const std::int8_t* scales = reinterpret_cast<const std::int8_t*>(b + 192);
    const unsigned ea = 128 * h + 32 * rr + l0;
    const float d = h2f(b + 208);
    const uint2 ql = load8_2aligned(b + 64 * h + 32 * rr + l0), qh = load8_2aligned(b + 128 + 32 * h + l0);
    return {ql.x, ql.y, qh.x, qh.y, d * float(scales[ea / 16]), d * float(scales[(ea + 64) / 16])};
  }
  static __device__ float dot(const raw& r, unsigned s, const std::int8_t* xq, const float2* xd) {
    const unsigned k = s % 16, h = k / 8, rr = (k % 8) / 4, l0 = (k % 4) * 8;
    const unsigned ea = (s / 16) * 256 + 128 * h + 32 * rr + l0, eb = ea + 64;
    const int2 xa = *reinterpret_cast<const int2*>(xq + ea), xb = *reinterpret_cast<const int2*>(xq + eb);
    auto lo = [&](unsigned ql, unsigned qh) { return (ql & 0x0f0f0f0fu) | (((qh >> (2 * rr)) & 0x03030303u) << 4); };
    auto hi = [&](unsigned ql, unsigned qh) {
      return ((ql >> 4) & 0x0f0f0f0fu) | (((qh >> (2 * rr + 4)) & 0x03030303u) << 4);
    };
    const int sa = __dp4a(int(lo(r.ql0, r.qh0)), xa.x, __dp4a(int(lo(r.ql1, r.qh1)), xa.y, 0)) -
                   32 * __dp4a(ones, xa.x, __dp4a(ones, xa.y, 0));
    const int sb = __dp4a(int(hi(r.ql0, r.qh0)), xb.x, __dp4a(int(hi(r.ql1, r.qh1)), xb.y, 0)) -
                   32 * __dp4a(ones, xb.x, __dp4a(ones, xb.y, 0));
    return r.sa * xd[ea / 32].x * float(sa) + r.sb * xd[eb / 32].x * float(sb);
  }
};

// Blocks of mv_threads threads; TPR threads per output row (32: a warp per row, 4 rows per block;
// 128: a block per row); slot s of a row goes to its thread s % TPR. Up to `unroll` slots' weights
// are loaded before any is used, so their round trips overlap. With a grid smaller than the rows
// need, blocks loop over row groups (fewer, longer-lived blocks). Tokens [0, n) share every
// decoded weight. The rows are those of up to three matrices of one type (mv_rows): a block's rows
// may belong to two of them; each thread finds its own.
template <class D, int NT, int TPR>
__global__ void __launch_bounds__(mv_threads)
    matvec_q8_kernel(mv_rows m, std::int64_t cols, const std::int8_t* __restrict__ xq, const float2* __restrict__ xd,
                     std::int64_t n) {
  grid_dependency_wait();
  constexpr int rpb = mv_threads / TPR, wpr = TPR / 32;  // rows per block, warps per row
  constexpr int unroll = NT == 1 ? 4 : 2;
  __shared__ float partial[mv_threads / 32][NT];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, tr = threadIdx.x % TPR;
  // Slot indices within a row are 32-bit: the 8-value decoders are instruction-bound, and 64-bit
  // index arithmetic adds to every slot.
  const std::int64_t blocks = cols / q8_block;
  const unsigned slots = static_cast<unsigned>(cols / D::values);
  for (std::int64_t g = blockIdx.x; g * rpb < m.total; g += gridDim.x) {
    const std::int64_t r = g * rpb + threadIdx.x / TPR;
    const bool live = r < m.total;  // the same for all threads of a row (whole warps)
    const mv_row row = mv_resolve(m, live ? r : 0);
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
    if (live) {
      for (unsigned s0 = tr; s0 < slots; s0 += unroll * TPR) {
        typename D::raw wr[unroll];
#pragma unroll
        for (int u = 0; u < unroll; ++u)
          if (s0 + u * TPR < slots) wr[u] = D::load(row.w, s0 + u * TPR);
#pragma unroll
        for (int u = 0; u < unroll; ++u) {
          if (s0 + u * TPR >= slots) break;
#pragma unroll
          for (int t = 0; t < NT; ++t) {
            if (t >= n) break;
            acc[t] += D::dot(wr[u], s0 + u * TPR, xq + t * cols, xd + t * blocks);
          }
        }
      }
    }
    if constexpr (wpr == 1) {
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const float sum = warp_sum(acc[t]);
        if (live && lane == t && t < n) row.out[t * row.rows] = sum + (row.bias ? *row.bias : 0.0f);
      }
    } else {
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const float sum = warp_sum(acc[t]);
        if (lane == 0) partial[warp][t] = sum;
      }
      __syncthreads();
      if (live && tr < NT && tr < n) {
        float sum = 0.0f;
        const int first = (threadIdx.x / TPR) * wpr;
#pragma unroll
        for (int i = 0; i < wpr; ++i) sum += partial[first + i][tr];
        row.out[tr * row.rows] = sum + (row.bias ? *row.bias : 0.0f);
      }
      __syncthreads();  // partial is reused by the next row group
    }
  }
}

template <class D, int TPR>
void launch_tpr(const mv_rows& m, std::int64_t cols, q8_activations x, std::int64_t n, const q8_launch& cfg,
                stream_ref s) {
  constexpr int rpb = mv_threads / TPR;
  std::int64_t grid = (m.total + rpb - 1) / rpb;
  if (cfg.blocks_per_sm > 0 && cfg.sms > 0)
    grid = std::min<std::int64_t>(grid, std::int64_t(cfg.blocks_per_sm) * cfg.sms);
  if (n == 1) {
    launch_kernel(matvec_q8_kernel<D, 1, TPR>, dim3(unsigned(grid)), dim3(mv_threads), 0, s, m, cols, x.q, x.d, n);
  } else {
    launch_kernel(matvec_q8_kernel<D, q8_tokens_max, TPR>, dim3(unsigned(grid)), dim3(mv_threads), 0, s, m, cols, x.q,
                  x.d, n);
  }
}

template <class D>
void launch(const mv_rows& m, std::int64_t cols, q8_activations x, std::int64_t n, const q8_launch& cfg,
            stream_ref s) {
  // Measured on an H100 (docs/benchmarks.md): the K-quants' 32-value slots do best with 64 threads
  // per row (a 2048-wide row is 64 slots: none idle), the 8-value decoders with a block per row.
  const int tpr = cfg.threads_per_row != 0 ? cfg.threads_per_row : D::values == 32 ? 64 : 128;
  switch (tpr) {
    case 32: return launch_tpr<D, 32>(m, cols, x, n, cfg, s);
    case 64: return launch_tpr<D, 64>(m, cols, x, n, cfg, s);
    default: return launch_tpr<D, 128>(m, cols, x, n, cfg, s);
  }
}

}  // namespace

bool matmul_q8_supported(tensor_type type) {
  switch (type) {
    case tensor_type::q8_0:
    case tensor_type::q4_0:
    case tensor_type::q4_k:
    case tensor_type::q5_k:
    case tensor_type::q6_k:
      return true;
    default:
      return false;
  }
}

void matmul_q8_parts(tensor_type type, const mv_parts& parts, std::int64_t cols, q8_activations x, std::int64_t n,
                     const q8_launch& cfg, stream_ref s) {
  const mv_rows m = make_mv_rows(parts);
  switch (type) {
    case tensor_type::q8_0: return launch<q8d_q8_0>(m, cols, x, n, cfg, s);
    case tensor_type::q4_0: return launch<q8d_q4_0>(m, cols, x, n, cfg, s);
    case tensor_type::q4_k: return launch<q8d_q4_k>(m, cols, x, n, cfg, s);
    case tensor_type::q5_k: return launch<q8d_q5_k>(m, cols, x, n, cfg, s);
    case tensor_type::q6_k: return launch<q8d_q6_k>(m, cols, x, n, cfg, s);
    default: return;
  }
}

void matmul_q8(tensor_type type, const void* w, std::size_t row_bytes, std::int64_t rows, std::int64_t cols,
               q8_activations x, std::int64_t n, const float* bias, float* out, const q8_launch& cfg,
               stream_ref s) {
  mv_parts one;
  one.p[0] = {w, row_bytes, rows, bias, out};
  one.count = 1;
  matmul_q8_parts(type, one, cols, x, n, cfg, s);
}

}  // namespace holo::gpu::cuda
