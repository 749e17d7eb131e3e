// The element-wise and attention kernels of the CUDA backend (reference: gpu/cpu/ops_ref.cpp).
#include <cuda_fp16.h>

#include <cmath>

#include "gpu/cuda/kernels.cuh"

namespace holo::gpu::cuda {
namespace {

constexpr int threads = 256;

unsigned grid_for(std::int64_t count) {
  const std::int64_t blocks = (count + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ int warp_sum_int(int v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Writes the q8 rounding (kernels.cuh q8_activations) of v, element i of a buffer of rows of
// multiples of 32 values. The whole warp calls it, lane l holding element 32k + l of one block: the
// block's scale and sum are warp reductions. The division is IEEE (no fast math), so the host can
// reproduce the rounding exactly (gpu/cuda/cuda_backend.test.cpp).
__device__ __forceinline__ void q8_store(float v, std::int64_t i, const q8_activations& q8) {
  const float amax = warp_max(fabsf(v));
  const float d = amax / 127.0f;
  const int q = amax > 0.0f ? __float2int_rn(v / d) : 0;
  q8.q[i] = static_cast<std::int8_t>(q);
  const int sum = warp_sum_int(q);
  if ((threadIdx.x & 31) == 0) q8.d[i / q8_block] = make_float2(d, d * float(sum));
}

// Sum (or max) over the block; every thread gets the result. `scratch` holds blockDim.x/32 floats.
template <bool Max>
__device__ float block_reduce(float v, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = Max ? warp_max(v) : warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = Max ? -INFINITY : 0.0f;
  for (int i = 0; i < warps; ++i) r = Max ? fmaxf(r, scratch[i]) : r + scratch[i];
  return r;
}

// RMSNorm of one row per block, with the residual add in front when Add (x += o, written back to
// xw). EPT > 0: a row fits in EPT values per thread, kept in registers, and the loads of x, o and
// the weight are all issued before the first is used: one memory round trip instead of three (a
// decode step's single row is latency-bound: 5.2 us for 2048 values on an H200 with the loop
// version, EPT == 0, which serves any width).
template <bool Add, int EPT>
__global__ void norm_kernel(const float* x, const float* __restrict__ o, float* xw, const float* __restrict__ weight,
                            std::int64_t dim, float eps, float* out, q8_activations q8) {
  // x, xw and out may be one buffer (add_rmsnorm writes x back; rmsnorm may work in place).
  grid_dependency_wait();
  __shared__ float scratch[1024 / 32];
  const std::int64_t base = std::int64_t(blockIdx.x) * dim;
  const float* xr = x + base;
  float* outr = out + base;
  float ss = 0.0f;
  if constexpr (EPT > 0) {
    float v[EPT], a[EPT], w[EPT];
#pragma unroll
    for (int k = 0; k < EPT; ++k) {
      const std::int64_t i = threadIdx.x + std::int64_t(k) * blockDim.x;
      v[k] = i < dim ? xr[i] : 0.0f;
      a[k] = Add && i < dim ? o[base + i] : 0.0f;
      w[k] = i < dim ? weight[i] : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < EPT; ++k) {
      const std::int64_t i = threadIdx.x + std::int64_t(k) * blockDim.x;
      if (Add) {
        v[k] += a[k];
        if (i < dim) xw[base + i] = v[k];
      }
      ss += v[k] * v[k];
    }
    ss = block_reduce<false>(ss, scratch);
    const float inv = rsqrtf(ss / float(dim) + eps);
#pragma unroll
    for (int k = 0; k < EPT; ++k) {
      const std::int64_t i = threadIdx.x + std::int64_t(k) * blockDim.x;
      if (i >= dim) break;  // the same for a whole warp (dim and blockDim are multiples of 32 with q8)
      const float r = v[k] * inv * w[k];
      outr[i] = r;
      if (q8.q) q8_store(r, base + i, q8);
    }
  } else {
    for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      float v = xr[i];
      if (Add) {
        v += o[base + i];
        xw[base + i] = v;  // read back below by this same thread
      }
      ss += v * v;
    }
    ss = block_reduce<false>(ss, scratch);
    const float inv = rsqrtf(ss / float(dim) + eps);
    const float* src = Add ? xw + base : xr;
    for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      const float r = src[i] * inv * weight[i];
      outr[i] = r;
      if (q8.q) q8_store(r, base + i, q8);  // dim % 32 == 0: whole warps
    }
  }
}

__global__ void add_kernel(const float* a, const float* b, std::int64_t count, float* out) {
  grid_dependency_wait();
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = a[i] + b[i];
}

__global__ void swiglu_kernel(const float* gate, const float* up, std::int64_t count, float* out, q8_activations q8) {
  grid_dependency_wait();
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    const float v = g / (1.0f + expf(-g)) * up[i];
    out[i] = v;
    if (q8.q) q8_store(v, i, q8);  // count % 32 == 0: whole warps
  }
}

__global__ void quantize_q8_kernel(const float* __restrict__ x, std::int64_t count, q8_activations q8) {
  grid_dependency_wait();
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x)
    q8_store(x[i], i, q8);
}

__global__ void scale_kernel(float* x, std::int64_t count, float f) {
  grid_dependency_wait();
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x)
    x[i] *= f;
}

__global__ void softmax_kernel(float* x, std::int64_t dim) {
  grid_dependency_wait();
  __shared__ float scratch[threads / 32];
  float* r = x + std::int64_t(blockIdx.x) * dim;
  float m = -INFINITY;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) m = fmaxf(m, r[i]);
  m = block_reduce<true>(m, scratch);
  float sum = 0.0f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float e = expf(r[i] - m);
    r[i] = e;
    sum += e;
  }
  sum = block_reduce<false>(sum, scratch);
  const float inv = 1.0f / sum;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) r[i] *= inv;
}

// One thread per (token, head, pair); the angle in double as the reference computes it, so long
// contexts keep their precision.
// The pairs of x (n_tokens, n_heads, head_dim) come first in the index space, then those of x2
// (n_tokens, n_heads2, head_dim) when given (q and k of a layer in one launch).
__global__ void rope_kernel(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
                            const std::int32_t* positions, rope_params p, float* x2, std::int32_t n_heads2) {
  grid_dependency_wait();
  const std::int32_t half = p.n_rot / 2;
  const std::int64_t total1 = n_tokens * n_heads * half, total = total1 + n_tokens * n_heads2 * half;
  for (std::int64_t idx0 = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx0 < total;
       idx0 += std::int64_t(gridDim.x) * blockDim.x) {
    const bool second = idx0 >= total1;
    const std::int64_t idx = second ? idx0 - total1 : idx0;
    const std::int32_t heads = second ? n_heads2 : n_heads;
    const std::int32_t i = static_cast<std::int32_t>(idx % half);
    const std::int64_t th = idx / half;  // token * heads + head
    const std::int64_t t = th / heads;
    const double theta = double(positions[t]) * double(p.freq_scale) *
                         pow(double(p.freq_base), -2.0 * double(i) / double(p.n_rot));
    double sn, cs;
    sincos(theta, &sn, &cs);
    float* v = (second ? x2 : x) + th * head_dim;
    const std::int32_t a = p.mode == rope_mode::normal ? 2 * i : i;
    const std::int32_t b = p.mode == rope_mode::normal ? 2 * i + 1 : i + half;
    const double x0 = v[a], x1 = v[b];
    v[a] = float(x0 * cs - x1 * sn);
    v[b] = float(x0 * sn + x1 * cs);
  }
}

__global__ void kv_store_kernel(__half* kc, __half* vc, std::int64_t row, std::int64_t pos0,
                                const std::int32_t* pos0_dev, std::int64_t count, const float* k, const float* v) {
  grid_dependency_wait();
  if (pos0_dev) pos0 = *pos0_dev;
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    kc[pos0 * row + i] = __float2half_rn(k[i]);
    vc[pos0 * row + i] = __float2half_rn(v[i]);
  }
}

// rope_kernel on q and kv_store_kernel in one launch, k roped on its way into the cache. The index
// space: q's pairs (roped in place, as rope_kernel), then every element of k (n_tokens, n_head_kv,
// head_dim) -- a rotated one computed from itself and its partner with the same double expression
// as rope_kernel, so the cache holds the same halves -- then every element of v.
__global__ void rope_store_kernel(float* q, const float* k, const float* v, std::int64_t n_tokens, std::int32_t n_head,
                                  std::int32_t n_head_kv, std::int32_t head_dim, const std::int32_t* positions,
                                  rope_params p, __half* kc, __half* vc, std::int64_t pos0,
                                  const std::int32_t* pos0_dev) {
  grid_dependency_wait();
  if (pos0_dev) pos0 = *pos0_dev;
  const std::int32_t half = p.n_rot / 2;
  const std::int64_t row = std::int64_t(n_head_kv) * head_dim;
  const std::int64_t total_q = n_tokens * n_head * half, total_k = n_tokens * row;
  const std::int64_t total = total_q + 2 * total_k;
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    if (idx < total_q) {
      const std::int32_t i = static_cast<std::int32_t>(idx % half);
      const std::int64_t th = idx / half;  // token * n_head + head
      const double theta = double(positions[th / n_head]) * double(p.freq_scale) *
                           pow(double(p.freq_base), -2.0 * double(i) / double(p.n_rot));
      double sn, cs;
      sincos(theta, &sn, &cs);
      float* x = q + th * head_dim;
      const std::int32_t a = p.mode == rope_mode::normal ? 2 * i : i;
      const std::int32_t b = p.mode == rope_mode::normal ? 2 * i + 1 : i + half;
      const double x0 = x[a], x1 = x[b];
      x[a] = float(x0 * cs - x1 * sn);
      x[b] = float(x0 * sn + x1 * cs);
    } else if (idx < total_q + total_k) {
      const std::int64_t e = idx - total_q;  // token * row + head * head_dim + d
      const std::int64_t t = e / row;
      const std::int32_t d = static_cast<std::int32_t>(e % head_dim);
      float out = k[e];
      if (d < p.n_rot) {
        const bool normal = p.mode == rope_mode::normal;
        const bool first = normal ? d % 2 == 0 : d < half;
        const std::int32_t i = normal ? d / 2 : (first ? d : d - half);
        const std::int32_t partner = normal ? d ^ 1 : (first ? d + half : d - half);
        const double theta = double(positions[t]) * double(p.freq_scale) *
                             pow(double(p.freq_base), -2.0 * double(i) / double(p.n_rot));
        double sn, cs;
        sincos(theta, &sn, &cs);
        const double x0 = first ? double(out) : double(k[e - d + partner]);
        const double x1 = first ? double(k[e - d + partner]) : double(out);
        out = first ? float(x0 * cs - x1 * sn) : float(x0 * sn + x1 * cs);
      }
      kc[(pos0 + t) * row + e % row] = __float2half_rn(out);
    } else {
      const std::int64_t e = idx - total_q - total_k;
      vc[(pos0 + e / row) * row + e % row] = __float2half_rn(v[e]);
    }
  }
}

// Causal attention, one block of `attn_threads` per (token, head). The keys 0 .. pos0+t are walked
// in tiles of attn_threads positions with an online softmax (running max and sum, FlashAttention's
// rescaling), so no buffer proportional to the context is needed: thread j scores position
// tile+j, then thread d accumulates the weighted values of dimension d (coalesced V rows).
constexpr int attn_threads = 128;
constexpr int attn_dims_per_thread = attention_head_dim_max / attn_threads;

__global__ void attention_kernel(const float* __restrict__ q, const __half* __restrict__ kc,
                                 const __half* __restrict__ vc, std::int32_t n_head, std::int32_t n_head_kv,
                                 std::int32_t head_dim, std::int64_t pos0, const std::int32_t* pos0_dev,
                                 float* __restrict__ out, q8_activations q8) {
  grid_dependency_wait();
  __shared__ float sq[attention_head_dim_max];
  if (pos0_dev) pos0 = *pos0_dev;
  __shared__ float sw[attn_threads];
  __shared__ float scratch[attn_threads / 32];
  const std::int32_t h = blockIdx.x;
  const std::int64_t t = blockIdx.y;
  const std::int32_t kvh = h / (n_head / n_head_kv);
  const std::int64_t kv_row = std::int64_t(n_head_kv) * head_dim;
  const float inv_sqrt_d = rsqrtf(float(head_dim));
  const float* qh = q + (t * n_head + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += attn_threads) sq[d] = qh[d] * inv_sqrt_d;
  __syncthreads();

  const std::int64_t n_keys = pos0 + t + 1;
  float m = -INFINITY, l = 0.0f;
  float acc[attn_dims_per_thread];
#pragma unroll
  for (int j = 0; j < attn_dims_per_thread; ++j) acc[j] = 0.0f;

  for (std::int64_t p0 = 0; p0 < n_keys; p0 += attn_threads) {
    const std::int64_t p = p0 + threadIdx.x;
    float s = -INFINITY;
    if (p < n_keys) {
      const __half2* kr = reinterpret_cast<const __half2*>(kc + p * kv_row + std::int64_t(kvh) * head_dim);
      float dot = 0.0f;
#pragma unroll 8
      for (int d2 = 0; d2 < head_dim / 2; ++d2) {
        const float2 kk = __half22float2(kr[d2]);
        dot += sq[2 * d2] * kk.x + sq[2 * d2 + 1] * kk.y;
      }
      s = dot;
    }
    const float tile_max = block_reduce<true>(s, scratch);
    const float m_new = fmaxf(m, tile_max);
    const float rescale = expf(m - m_new);  // 0 on the first tile (m = -inf)
    const float e = p < n_keys ? expf(s - m_new) : 0.0f;
    sw[threadIdx.x] = e;
    const float tile_sum = block_reduce<false>(e, scratch);  // its __syncthreads also publishes sw
    l = l * rescale + tile_sum;
    m = m_new;
    const int tile_len = static_cast<int>(n_keys - p0 < attn_threads ? n_keys - p0 : attn_threads);
#pragma unroll
    for (int j = 0; j < attn_dims_per_thread; ++j) {
      const int d = threadIdx.x + j * attn_threads;
      if (d >= head_dim) break;
      float a = acc[j] * rescale;
      const __half* vcol = vc + p0 * kv_row + std::int64_t(kvh) * head_dim + d;
      for (int i = 0; i < tile_len; ++i) a += sw[i] * __half2float(vcol[std::int64_t(i) * kv_row]);
      acc[j] = a;
    }
    __syncthreads();  // sw is rewritten by the next tile
  }
  const std::int64_t o0 = (t * n_head + h) * head_dim;
#pragma unroll
  for (int j = 0; j < attn_dims_per_thread; ++j) {
    const int d = threadIdx.x + j * attn_threads;
    if (d >= head_dim) break;  // whole warps: head_dim % 32 == 0 when q8 is given
    const float v = acc[j] / l;
    out[o0 + d] = v;
    // The q8 rounding the output projection reads (its blocks of 32 lie within one head).
    if (q8.q) q8_store(v, o0 + d, q8);
  }
}

}  // namespace

namespace {

template <bool Add>
void launch_norm(const float* x, const float* o, float* xw, const float* weight, std::int64_t n, std::int64_t dim,
                 float eps, float* out, q8_activations q8, stream_ref s) {
  // One block per row; a decode step's single row gets 1024 threads (a few elements each, so the
  // two passes are one memory round trip each instead of eight).
  const int block = n == 1 && dim >= 2048 ? 1024 : threads;
  if (dim % q8_block != 0) q8 = {};
  const std::int64_t per = (dim + block - 1) / block;
  auto go = [&](auto kernel) {
    launch_kernel(kernel, dim3(static_cast<unsigned>(n)), dim3(block), 0, s, x, o, xw, weight, dim, eps, out, q8);
  };
  if (per <= 1) return go(norm_kernel<Add, 1>);
  if (per <= 2) return go(norm_kernel<Add, 2>);
  if (per <= 4) return go(norm_kernel<Add, 4>);
  if (per <= 8) return go(norm_kernel<Add, 8>);
  go(norm_kernel<Add, 0>);
}

}  // namespace

void rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim, float eps, float* out,
             q8_activations q8, stream_ref s) {
  launch_norm<false>(x, nullptr, nullptr, weight, n, dim, eps, out, q8, s);
}

void add_rmsnorm(float* x, const float* o, const float* weight, std::int64_t n, std::int64_t dim, float eps,
                 float* out, q8_activations q8, stream_ref s) {
  launch_norm<true>(x, o, x, weight, n, dim, eps, out, q8, s);
}

void add(const float* a, const float* b, std::int64_t count, float* out, stream_ref s) {
  launch_kernel(add_kernel, dim3(grid_for(count)), dim3(threads), 0, s, a, b, count, out);
}

void swiglu(const float* gate, const float* up, std::int64_t count, float* out, q8_activations q8, stream_ref s) {
  if (count % q8_block != 0) q8 = {};
  launch_kernel(swiglu_kernel, dim3(grid_for(count)), dim3(threads), 0, s, gate, up, count, out, q8);
}

void quantize_q8(const float* x, std::int64_t count, q8_activations q8, stream_ref s) {
  launch_kernel(quantize_q8_kernel, dim3(grid_for(count)), dim3(threads), 0, s, x, count, q8);
}

void scale(float* x, std::int64_t count, float factor, stream_ref s) {
  launch_kernel(scale_kernel, dim3(grid_for(count)), dim3(threads), 0, s, x, count, factor);
}

void softmax(float* x, std::int64_t n, std::int64_t dim, stream_ref s) {
  launch_kernel(softmax_kernel, dim3(static_cast<unsigned>(n)), dim3(threads), 0, s, x, dim);
}

void rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim, const std::int32_t* positions,
          const rope_params& p, stream_ref s, float* x2, std::int32_t n_heads2) {
  if (x2 == nullptr) n_heads2 = 0;
  launch_kernel(rope_kernel, dim3(grid_for(n_tokens * (n_heads + n_heads2) * (p.n_rot / 2))), dim3(threads), 0, s, x,
                n_tokens, n_heads, head_dim, positions, p, x2, n_heads2);
}

void kv_store(const kv_layer& cache, const attention_shape& shape, std::int64_t pos0, const std::int32_t* pos0_dev,
              std::int64_t n_tokens, const float* k, const float* v, stream_ref s) {
  const std::int64_t row = std::int64_t(shape.n_head_kv) * shape.head_dim;
  launch_kernel(kv_store_kernel, dim3(grid_for(n_tokens * row)), dim3(threads), 0, s,
                reinterpret_cast<__half*>(cache.k), reinterpret_cast<__half*>(cache.v), row, pos0, pos0_dev,
                n_tokens * row, k, v);
}

void rope_store(float* q, const float* k, const float* v, std::int64_t n_tokens, const std::int32_t* positions,
                const rope_params& p, const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
                const std::int32_t* pos0_dev, stream_ref s) {
  const std::int64_t total =
      n_tokens * shape.n_head * (p.n_rot / 2) + 2 * n_tokens * std::int64_t(shape.n_head_kv) * shape.head_dim;
  launch_kernel(rope_store_kernel, dim3(grid_for(total)), dim3(threads), 0, s, q, k, v, n_tokens, shape.n_head,
                shape.n_head_kv, shape.head_dim, positions, p, reinterpret_cast<__half*>(cache.k),
                reinterpret_cast<__half*>(cache.v), pos0, pos0_dev);
}

void attention(const float* q, const kv_layer& cache, const attention_shape& shape, std::int64_t pos0,
               const std::int32_t* pos0_dev, std::int64_t n_tokens, float* out, q8_activations q8, stream_ref s) {
  if (shape.head_dim % q8_block != 0) q8 = {};
  const dim3 grid(static_cast<unsigned>(shape.n_head), static_cast<unsigned>(n_tokens));
  launch_kernel(attention_kernel, grid, dim3(attn_threads), 0, s, q, reinterpret_cast<const __half*>(cache.k),
                reinterpret_cast<const __half*>(cache.v), shape.n_head, shape.n_head_kv, shape.head_dim, pos0,
                pos0_dev, out, q8);
}

}  // namespace holo::gpu::cuda
