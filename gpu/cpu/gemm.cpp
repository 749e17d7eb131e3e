// Tiled prefill kernels (gpu/cpu/dot.hpp's gemm_fn): out (n, rows) = x (n, cols) @ W^T for n > 1.
//
// A row-at-a-time dot product reloads and decodes every weight block once per token and pays a
// horizontal sum per (row, token). Here an R x C register tile (R weight rows, C tokens) walks the
// blocks together, as llama.cpp's tinyBLAS does: each weight block is loaded and decoded once for C
// tokens, each activation block once for R rows, and the per-block scales are applied in float
// (one FMA per block and pair). Tokens are taken in chunks whose quantized activations fit in L2;
// within a chunk the tile's R weight rows stay in L1.
//
// Tile shapes keep the accumulators in registers: 4x3 for Q8_0/Q4_0 and the float types in the 16
// AVX2 registers, 4x4 and 6x4 where AVX-512VL gives the same code 32; 2x4 for the K-quants (an
// integer and a float accumulator per pair; 4x4 measured slower). Edge tiles (rows or tokens not a
// multiple) use the same template with smaller R, C. AVX2 builds only; without it gemm_for returns
// null and matmul falls back to one vec_dot per pair.
//
// Where the CPU has VNNI the quantized types use another layout instead: weight rows in the lanes
// (rows8_* with 256-bit registers, rows16_* with AVX-512), so the scales and the conversion to float
// serve 8 or 16 pairs at once (see below; docs/engine.md "CPU matmul kernels" has the overview).
// GCC 12's AVX-512 headers build 512-bit values from _mm512_undefined_*() and then warn, after
// inlining, that those may be used uninitialized (they are masked off): a false positive here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/dot_q8_util.hpp"

namespace holo::gpu::cpu {

#ifdef HOLO_CPU_AVX2
namespace {

// The tile loops (over R, C and the sub-blocks) must unroll so the accumulator arrays live in
// registers; -O2 alone keeps them in memory.
#define HOLO_UNROLL _Pragma("GCC unroll 16")

// One R x C tile: weight rows w + r * ws, activation rows x + c * xs, out[c * ldo + r].
using tile_fn = void (*)(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs,
                         std::int64_t cols, float* out, std::int64_t ldo);

template <class T>
const T* row_at(const std::byte* base, std::size_t stride, int i) {
  return reinterpret_cast<const T*>(base + static_cast<std::size_t>(i) * stride);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Activation bytes per token chunk: the chunk stays in L2 while every tile of weight rows walks it,
// and the weights stream from memory once per chunk. 512 KiB measured better than 128 and 256 KiB
// on whole models (pp512 of the 100m and 1B presets, whose weights come from DRAM).
constexpr std::size_t chunk_bytes = 512 * 1024;

// --- Q8_0 and Q4_0 weights with Q8_0 activations ---------------------------------------------------

struct q8_0_weights {
  using block = block_q8_0;
  static __m256i load(const block& b) { return load256(b.qs); }
};
struct q4_0_weights {
  using block = block_q4_0;
  static __m256i load(const block& b) {  // low nibbles -> elements 0..15, high -> 16..31; minus 8
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
    const __m256i q =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0f));
    return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
  }
};

template <class Wt>
struct tile_q8_0 {
  template <int R, int C>
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t cols,
                  float* out, std::int64_t ldo) {
    using wblock = typename Wt::block;
    const std::int64_t nb = cols / qk8_0;
    __m256 acc[R][C];
    HOLO_UNROLL
    for (auto& a : acc)
      HOLO_UNROLL
      for (auto& v : a) v = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < nb; ++b) {
      __m256i qx[C];
      __m256 dx[C];
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) {
        const block_q8_0& xb = row_at<block_q8_0>(x, xs, c)[b];
        qx[c] = load256(xb.qs);
        dx[c] = _mm256_set1_ps(fp16(xb.d));
      }
      HOLO_UNROLL
      for (int r = 0; r < R; ++r) {
        const wblock& wb = row_at<wblock>(w, ws, r)[b];
        const __m256i qw = Wt::load(wb);
        const __m256i aw = _mm256_sign_epi8(qw, qw);
        const __m256 dw = _mm256_set1_ps(fp16(wb.d));
        HOLO_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m256 p = _mm256_cvtepi32_ps(dot_u8_i8(aw, _mm256_sign_epi8(qx[c], qw)));
          acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx[c]), p, acc[r][c]);
        }
      }
    }
    HOLO_UNROLL
    for (int r = 0; r < R; ++r)
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) out[c * ldo + r] = hsum(acc[r][c]);
  }
};

// --- Q8_0 and Q4_0 weights, 8 rows in the lanes (VNNI) ------------------------------------------------
//
// The tiles above keep a block's 32 elements in the lanes, so every (row, token) pair pays its own
// integer dot, int -> float conversion and scale FMA per block, and a horizontal sum at the end.
// With VNNI (vpdpbusd: 4 u8 x s8 products summed into each i32 lane, no saturation) the lanes can
// hold 8 weight rows instead: the 8 rows' blocks are transposed in registers so lane r of wt[k] holds
// bytes 4k..4k+3 of row r, and one token's 4 activation bytes, broadcast, are dotted with all 8 rows
// at once. A block then costs per token 8 vpdpbusd plus one conversion and one FMA for 8 pairs, and
// the result is 8 adjacent outputs (out is (n, rows)): a plain store, no horizontal sum.
//
// vpdpbusd wants its broadcast operand unsigned: activations are stored offset by 128 (qs ^ 0x80 in
// matmul's scratch beside the plain ones, made once per matmul), and sum (x + 128) w = sum x w +
// 128 sum w is corrected by the rows' own 128 sum w, computed once per block and tile.
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)
#define HOLO_CPU_VNNI_GEMM 1

inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#endif
}

template <class Wt>
struct rows8_q8_0 {
  // 8 rows x C tokens; x: offset activations (qs ^ 0x80). out[c * ldo + r].
  template <int C>
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t cols,
                  float* out, std::int64_t ldo) {
    using wblock = typename Wt::block;
    const std::int64_t nb = cols / qk8_0;
    const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256 acc[C];
    HOLO_UNROLL
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < nb; ++b) {
      __m256i rows[8], wt[8];
      alignas(16) f16_bits d[8];
      HOLO_UNROLL
      for (int r = 0; r < 8; ++r) {
        const wblock& wb = row_at<wblock>(w, ws, r)[b];
        rows[r] = Wt::load(wb);
        d[r] = wb.d;
      }
      transpose8x8_epi32(rows, wt);
      __m256i corr = _mm256_setzero_si256();  // 128 * sum of each row's block
      HOLO_UNROLL
      for (int k = 0; k < 8; ++k) corr = dpbusd(corr, offset, wt[k]);
      const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d)));
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) {
        const block_q8_0& xb = row_at<block_q8_0>(x, xs, c)[b];
        const auto* q = reinterpret_cast<const std::int32_t*>(xb.qs);
        __m256i s = _mm256_sub_epi32(_mm256_setzero_si256(), corr);
        HOLO_UNROLL
        for (int k = 0; k < 8; ++k) {
          std::int32_t v;
          std::memcpy(&v, q + k, sizeof v);
          s = dpbusd(s, _mm256_set1_epi32(v), wt[k]);
        }
        acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(fp16(xb.d))), _mm256_cvtepi32_ps(s), acc[c]);
      }
    }
    HOLO_UNROLL
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(out + c * ldo, acc[c]);
  }
};

#endif

// --- Q4_K and Q5_K weights with Q8_K activations ----------------------------------------------------

inline int hsum_i32x4(__m128i v) {
  v = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 1));
  return _mm_cvtsi128_si32(v);
}

// The 8 per-32 sums of a Q8_K block (from its 16 per-16 sums) as i16 lanes.
inline __m128i bsums32(const block_q8_k& xb) {
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb.bsums));
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb.bsums + 8));
  return _mm_hadd_epi16(a, b);
}

template <bool Five>  // false: Q4_K, true: Q5_K (a fifth bit per weight in qh)
struct tile_q45_k {
  using wblock = std::conditional_t<Five, block_q5_k, block_q4_k>;

  template <int R, int C>
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t cols,
                  float* out, std::int64_t ldo) {
    const std::int64_t nb = cols / qk_k;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[R][C];
    float mins[R][C] = {};
    HOLO_UNROLL
    for (auto& a : acc)
      HOLO_UNROLL
      for (auto& v : a) v = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < nb; ++b) {
      const wblock* wb[R];
      const block_q8_k* xb[C];
      HOLO_UNROLL
      for (int r = 0; r < R; ++r) wb[r] = &row_at<wblock>(w, ws, r)[b];
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) xb[c] = &row_at<block_q8_k>(x, xs, c)[b];
      std::uint8_t sc[R][8], m[R][8];
      HOLO_UNROLL
      for (int r = 0; r < R; ++r) unpack_k4(wb[r]->scales, sc[r], m[r]);
      [[maybe_unused]] __m256i hb[R];
      if constexpr (Five) {
        HOLO_UNROLL
        for (int r = 0; r < R; ++r) hb[r] = load256(wb[r]->qh);
      }
      __m256i sumi[R][C];
      HOLO_UNROLL
      for (auto& a : sumi)
        HOLO_UNROLL
        for (auto& v : a) v = _mm256_setzero_si256();
      HOLO_UNROLL
      for (int j = 0; j < 4; ++j) {  // 64 elements: 32 bytes, low nibbles sub-block 2j, high 2j+1
        HOLO_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m256i bits = load256(wb[r]->qs + 32 * j);
          __m256i lo = _mm256_and_si256(bits, m4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
          if constexpr (Five) {  // bit 2j of qh[l] for element 64j+l, bit 2j+1 for 64j+32+l
            const __m256i m1 = _mm256_set1_epi8(1);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb[r], m1), 4));
            hb[r] = _mm256_srli_epi16(hb[r], 1);
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(hb[r], m1), 4));
            hb[r] = _mm256_srli_epi16(hb[r], 1);
          }
          const __m256i sl = _mm256_set1_epi16(sc[r][2 * j]), sh = _mm256_set1_epi16(sc[r][2 * j + 1]);
          HOLO_UNROLL
          for (int c = 0; c < C; ++c) {
            const std::int8_t* q8 = xb[c]->qs + 64 * j;
            const __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(lo, load256(q8)));
            const __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(hi, load256(q8 + 32)));
            sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_add_epi32(pl, ph));
          }
        }
      }
      __m128i bs[C];
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) bs[c] = bsums32(*xb[c]);
      HOLO_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m128i mr = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m[r])));
        const float dw = fp16(wb[r]->d), dmin = fp16(wb[r]->dmin);
        HOLO_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m256 d = _mm256_set1_ps(xb[c]->d * dw);
          acc[r][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi[r][c]), acc[r][c]);
          mins[r][c] += xb[c]->d * dmin * float(hsum_i32x4(_mm_madd_epi16(mr, bs[c])));
        }
      }
    }
    HOLO_UNROLL
    for (int r = 0; r < R; ++r)
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) out[c * ldo + r] = hsum(acc[r][c]) - mins[r][c];
  }
};

#ifdef HOLO_CPU_VNNI_GEMM
// Q4_K with 8 rows in the lanes (see rows8_q8_0). The nibbles are unsigned, so they are vpdpbusd's
// unsigned operand as they are and the Q8_K activations its broadcast signed one: no offset. Per
// sub-block of 32 the 8 rows' integer dots are scaled by their 6-bit scales (one multiply for the 8
// rows) and summed over the super-block; the mins term sum_j m_j * (sum of x over sub-block j) uses
// the activation's bsums, two sub-blocks per 16-bit multiply-add.
// Block b's scales of N Q4_K rows, laid out for rows in the lanes: sc[j][r] (sub-block j),
// mn[p][r] = m[2p] | m[2p + 1] << 16 (two 16-bit mins per lane for the bsums multiply-add), and the
// rows' d and dmin.
template <int N>
struct q4_k_lane_scales {
  alignas(64) std::int32_t sc[8][N];
  alignas(64) std::int32_t mn[4][N];
  alignas(64) f16_bits d[N];
  alignas(64) f16_bits dmin[N];

  template <class Block = block_q4_k>  // Q4_K, or Q5_K (the same scales)
  __attribute__((always_inline)) void gather(const std::byte* w, std::size_t ws, std::int64_t b) {
    HOLO_UNROLL
    for (int r = 0; r < N; ++r) {
      const Block& wb = row_at<Block>(w, ws, r)[b];
      std::uint8_t s8[8], m8[8];
      unpack_k4(wb.scales, s8, m8);
      HOLO_UNROLL
      for (int j = 0; j < 8; ++j) sc[j][r] = s8[j];
      HOLO_UNROLL
      for (int p = 0; p < 4; ++p) mn[p][r] = std::int32_t(m8[2 * p]) | (std::int32_t(m8[2 * p + 1]) << 16);
      d[r] = wb.d;
      dmin[r] = wb.dmin;
    }
  }
};

struct rows8_q4_k {
  template <int C>
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t cols,
                  float* out, std::int64_t ldo) {
    const std::int64_t nb = cols / qk_k;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[C];
    HOLO_UNROLL
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < nb; ++b) {
      q4_k_lane_scales<8> ls;
      ls.gather(w, ws, b);
      __m256i isum[C];
      HOLO_UNROLL
      for (auto& s : isum) s = _mm256_setzero_si256();
      for (int p = 0; p < 4; ++p) {  // qs bytes 32p..32p+31: sub-block 2p (low nibbles), 2p + 1 (high)
        __m256i rows[8], t[8];
        HOLO_UNROLL
        for (int r = 0; r < 8; ++r) rows[r] = load256(row_at<block_q4_k>(w, ws, r)[b].qs + 32 * p);
        transpose8x8_epi32(rows, t);
        HOLO_UNROLL
        for (int half = 0; half < 2; ++half) {
          __m256i q[8];
          HOLO_UNROLL
          for (int k = 0; k < 8; ++k) q[k] = _mm256_and_si256(half ? _mm256_srli_epi16(t[k], 4) : t[k], m4);
          const __m256i scv = _mm256_load_si256(reinterpret_cast<const __m256i*>(ls.sc[2 * p + half]));
          HOLO_UNROLL
          for (int c = 0; c < C; ++c) {
            const std::int8_t* xq = row_at<block_q8_k>(x, xs, c)[b].qs + 64 * p + 32 * half;
            __m256i s = _mm256_setzero_si256();
            HOLO_UNROLL
            for (int k = 0; k < 8; ++k) {
              std::int32_t v;
              std::memcpy(&v, xq + 4 * k, sizeof v);
              s = dpbusd(s, q[k], _mm256_set1_epi32(v));
            }
            isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(s, scv));
          }
        }
      }
      const __m256 dv = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(ls.d)));
      const __m256 dmv = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(ls.dmin)));
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) {
        const block_q8_k& xb = row_at<block_q8_k>(x, xs, c)[b];
        alignas(16) std::int32_t bs[4];  // pairs of per-32 sums, i16 each
        _mm_store_si128(reinterpret_cast<__m128i*>(bs), bsums32(xb));
        __m256i mins = _mm256_setzero_si256();
        HOLO_UNROLL
        for (int p = 0; p < 4; ++p)
          mins = _mm256_add_epi32(mins, _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(ls.mn[p])),
                                                          _mm256_set1_epi32(bs[p])));
        const __m256 dx = _mm256_set1_ps(xb.d);
        acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dv, dx), _mm256_cvtepi32_ps(isum[c]), acc[c]);
        acc[c] = _mm256_fnmadd_ps(_mm256_mul_ps(dmv, dx), _mm256_cvtepi32_ps(mins), acc[c]);
      }
    }
    HOLO_UNROLL
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(out + c * ldo, acc[c]);
  }
};
#endif

#if defined(HOLO_CPU_VNNI_GEMM) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// The same kernels with 512-bit registers: 16 rows in the lanes. The per-token work (broadcast,
// vpdpbusd, conversion, FMA) then serves 16 pairs per instruction; on CPUs with full-width AVX-512
// units (Zen 5, Intel server cores) that halves the instructions per product.
#define HOLO_CPU_ROWS16_GEMM 1

// Lane r (0..15) of out[k] = 32-bit group k of row r's 32 bytes: two 8 x 8 transposes, joined.
template <class Load>
__attribute__((always_inline)) inline void transpose16_rows(Load load, __m512i out[8]) {
  __m256i rows[8], lo[8], hi[8];
  HOLO_UNROLL
  for (int r = 0; r < 8; ++r) rows[r] = load(r);
  transpose8x8_epi32(rows, lo);
  HOLO_UNROLL
  for (int r = 0; r < 8; ++r) rows[r] = load(8 + r);
  transpose8x8_epi32(rows, hi);
  HOLO_UNROLL
  for (int k = 0; k < 8; ++k) out[k] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[k]), hi[k], 1);
}

// The block-major 16-row kernels below transpose a weight block once per token chunk, then the
// chunk's tokens walk it `walk_tokens` at a time, each transposed vector loaded once for them (one
// token at a time, the loads of the vectors and of the broadcast activations outnumbered the
// vpdpbusd two to one; 4 beat 2 and 8 on whole-model prefill). walk(nt, f) calls f(T, c) for the
// token groups: T = walk_tokens, then single tokens for the rest.
constexpr int walk_tokens = 4;
template <class F>
__attribute__((always_inline)) inline void walk(std::int64_t nt, F&& f) {
  std::int64_t c = 0;
  for (; c + walk_tokens <= nt; c += walk_tokens) f(std::integral_constant<int, walk_tokens>{}, c);
  for (; c < nt; ++c) f(std::integral_constant<int, 1>{}, c);
}
// xb[t] = the activation blocks of token c + t from block b on.
template <class Block, int T>
__attribute__((always_inline)) inline void token_blocks(const std::byte* x, std::size_t xs, std::int64_t b,
                                                        std::int64_t c, const Block* (&xb)[T]) {
  HOLO_UNROLL
  for (int t = 0; t < T; ++t) xb[t] = row_at<Block>(x, xs, static_cast<int>(c + t)) + b;
}

// Q8_0/Q4_0, 16 rows, eight blocks (256 values) per walk, as rows16_q4_k: the eight blocks are
// transposed once per chunk of tokens into a stack buffer (4 KiB) with their scales and 128 x sum
// corrections, then the tokens walk them (walk_tokens at a time) and add their 16 results to out
// once per eight blocks. (Register tiles of 16 rows x 16
// tokens, transposing each block again for every tile, did 66-87 GMAC/s on a 128-token matmul at
// 1 thread; this 93-101. Walking one block at a time, out read and written per block, was 3x
// slower.)
template <class Wt>
struct rows16_q8_0_walk {
  static constexpr int group = 8;  // blocks per walk
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t nt,
                  std::int64_t cols, float* out, std::int64_t ldo) {
    using wblock = typename Wt::block;
    const std::int64_t nb = cols / qk8_0;
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
    for (std::int64_t b0 = 0; b0 < nb; b0 += group) {
      const int g = static_cast<int>(std::min<std::int64_t>(group, nb - b0));
      alignas(64) __m512i q[group][8];
      alignas(64) __m512i corr[group];  // -128 * sum of each row's block: the sums' start
      alignas(64) __m512 dw[group];
      for (int i = 0; i < g; ++i) {
        transpose16_rows([&](int r) { return Wt::load(row_at<wblock>(w, ws, r)[b0 + i]); }, q[i]);
        alignas(32) f16_bits d[16];
        HOLO_UNROLL
        for (int r = 0; r < 16; ++r) d[r] = row_at<wblock>(w, ws, r)[b0 + i].d;
        __m512i c = _mm512_setzero_si512();
        HOLO_UNROLL
        for (int k = 0; k < 8; ++k) c = _mm512_dpbusd_epi32(c, offset, q[i][k]);
        corr[i] = _mm512_sub_epi32(_mm512_setzero_si512(), c);
        dw[i] = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d)));
      }
      walk(nt, [&](auto tokens, std::int64_t c) {
        add_tokens<decltype(tokens)::value>(q, corr, dw, g, x, xs, b0, c, out, ldo);
      });
    }
  }

  template <int T>
  __attribute__((always_inline)) static void add_tokens(const __m512i (&q)[group][8], const __m512i (&corr)[group],
                                                        const __m512 (&dw)[group], int g, const std::byte* x,
                                                        std::size_t xs, std::int64_t b0, std::int64_t c, float* out,
                                                        std::int64_t ldo) {
    const block_q8_0* xb[T];
    token_blocks(x, xs, b0, c, xb);
    __m512 acc[T];
    HOLO_UNROLL
    for (int t = 0; t < T; ++t) acc[t] = b0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(out + (c + t) * ldo);
    for (int i = 0; i < g; ++i) {
      __m512i s[T];
      HOLO_UNROLL
      for (int t = 0; t < T; ++t) s[t] = corr[i];
      HOLO_UNROLL
      for (int k = 0; k < 8; ++k) {
        const __m512i qk = q[i][k];
        HOLO_UNROLL
        for (int t = 0; t < T; ++t) {
          std::int32_t v;
          std::memcpy(&v, xb[t][i].qs + 4 * k, sizeof v);
          s[t] = _mm512_dpbusd_epi32(s[t], _mm512_set1_epi32(v), qk);
        }
      }
      HOLO_UNROLL
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw[i], _mm512_set1_ps(fp16(xb[t][i].d))), _mm512_cvtepi32_ps(s[t]), acc[t]);
    }
    HOLO_UNROLL
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(out + (c + t) * ldo, acc[t]);
  }
};

// A Q4_K (Q5_K: Five) super-block b of 16 rows from w, transposed for the 16-row kernels: q[j][k]
// lane r = row r's quants 4k..4k+3 of sub-block j, one per byte (0..15; Q5_K 0..31, the fifth bits
// transposed the same way from qh and shifted in).
template <bool Five>
__attribute__((always_inline)) inline void transpose_q45_k(const std::byte* w, std::size_t ws, std::int64_t b,
                                                           __m512i (&q)[8][8]) {
  using wblock = std::conditional_t<Five, block_q5_k, block_q4_k>;
  const __m512i m4 = _mm512_set1_epi8(0x0f), m1 = _mm512_set1_epi8(1);
  [[maybe_unused]] __m512i h[8];  // Q5_K: bit j of byte l = fifth bit of sub-block j's element l
  if constexpr (Five) transpose16_rows([&](int r) { return load256(row_at<wblock>(w, ws, r)[b].qh); }, h);
  for (int p = 0; p < 4; ++p) {  // qs bytes 32p..32p+31: sub-block 2p (low nibbles), 2p + 1 (high)
    __m512i t[8];
    transpose16_rows([&](int r) { return load256(row_at<wblock>(w, ws, r)[b].qs + 32 * p); }, t);
    HOLO_UNROLL
    for (int k = 0; k < 8; ++k) {
      q[2 * p][k] = _mm512_and_si512(t[k], m4);
      q[2 * p + 1][k] = _mm512_and_si512(_mm512_srli_epi16(t[k], 4), m4);
      if constexpr (Five) {  // bits 2p, 2p + 1 of qh to bit 4 of each byte (16-bit shifts: no carry)
        q[2 * p][k] = _mm512_or_si512(q[2 * p][k],
                                      _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h[k], 2 * p), m1), 4));
        q[2 * p + 1][k] = _mm512_or_si512(
            q[2 * p + 1][k], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h[k], 2 * p + 1), m1), 4));
      }
    }
  }
}

// Q4_K, 16 rows, block by block: the super-block's scales are unpacked and its nibbles transposed
// once into a stack buffer (4 KiB, L1), then the tokens of the chunk walk its 8 sub-blocks
// (walk_tokens at a time) and add their 16 results to out. Unpacking and transposing cost as much
// as several tokens' products, so they are paid once per chunk rather than once per register tile
// of tokens. Four tokens per walk instead of one: 128-token matmul 75-87 -> 117-127 GMAC/s at
// 1 thread (`holo bench engine --kernels`).
struct rows16_q4_k {
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t nt,
                  std::int64_t cols, float* out, std::int64_t ldo) {
    const std::int64_t nb = cols / qk_k;
    for (std::int64_t b = 0; b < nb; ++b) {
      q4_k_lane_scales<16> ls;
      ls.gather(w, ws, b);
      alignas(64) __m512i q[8][8];  // [sub-block][group of 4 elements]: 16 rows' nibbles as bytes
      transpose_q45_k<false>(w, ws, b, q);
      const __m512 dv = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(ls.d)));
      const __m512 dmv = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(ls.dmin)));
      walk(nt, [&](auto tokens, std::int64_t c) {
        add_tokens<decltype(tokens)::value>(q, ls, dv, dmv, x, xs, b, c, out, ldo);
      });
    }
  }

  // T tokens walk the transposed super-block together (see walk_tokens).
  template <int T>
  __attribute__((always_inline)) static void add_tokens(const __m512i (&q)[8][8], const q4_k_lane_scales<16>& ls,
                                                        __m512 dv, __m512 dmv, const std::byte* x, std::size_t xs,
                                                        std::int64_t b, std::int64_t c, float* out, std::int64_t ldo) {
    const block_q8_k* xb[T];
    token_blocks(x, xs, b, c, xb);
    __m512i isum[T];
    HOLO_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      __m512i s[T];
      HOLO_UNROLL
      for (int t = 0; t < T; ++t) s[t] = _mm512_setzero_si512();
      HOLO_UNROLL
      for (int k = 0; k < 8; ++k) {
        const __m512i qk = q[j][k];
        HOLO_UNROLL
        for (int t = 0; t < T; ++t) {
          std::int32_t v;
          std::memcpy(&v, xb[t]->qs + 32 * j + 4 * k, sizeof v);
          s[t] = _mm512_dpbusd_epi32(s[t], qk, _mm512_set1_epi32(v));
        }
      }
      const __m512i scj = _mm512_load_si512(ls.sc[j]);
      HOLO_UNROLL
      for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], scj));
    }
    HOLO_UNROLL
    for (int t = 0; t < T; ++t) {
      alignas(16) std::int32_t bs[4];  // pairs of per-32 sums, i16 each
      _mm_store_si128(reinterpret_cast<__m128i*>(bs), bsums32(*xb[t]));
      __m512i mins = _mm512_setzero_si512();
      HOLO_UNROLL
      for (int p = 0; p < 4; ++p)
        mins = _mm512_add_epi32(mins, _mm512_madd_epi16(_mm512_load_si512(ls.mn[p]), _mm512_set1_epi32(bs[p])));
      const __m512 dx = _mm512_set1_ps(xb[t]->d);
      float* o = out + (c + t) * ldo;
      __m512 a = b == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(o);
      a = _mm512_fmadd_ps(_mm512_mul_ps(dv, dx), _mm512_cvtepi32_ps(isum[t]), a);
      _mm512_storeu_ps(o, _mm512_fnmadd_ps(_mm512_mul_ps(dmv, dx), _mm512_cvtepi32_ps(mins), a));
    }
  }
};

// Q6_K, 16 rows (see rows16_q4_k). The 6-bit quants are taken unsigned (value + 32, 0..63), the
// vpdpbusd operand they are; the 32 comes off per sub-block of 16 as 32 * scale * (sum of x there),
// from the activation's bsums, two sub-blocks per 16-bit multiply-add.
struct rows16_q6_k {
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t nt,
                  std::int64_t cols, float* out, std::int64_t ldo) {
    const std::int64_t nb = cols / qk_k;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    for (std::int64_t b = 0; b < nb; ++b) {
      alignas(64) std::int32_t sc[16][16];  // [sub-block of 16][row]
      alignas(64) std::int32_t sp[8][16];   // [sub-block pair][row]: scale pair as two i16
      alignas(32) f16_bits d[16];
      HOLO_UNROLL
      for (int r = 0; r < 16; ++r) {
        const block_q6_k& wb = row_at<block_q6_k>(w, ws, r)[b];
        HOLO_UNROLL
        for (int s = 0; s < 16; ++s) sc[s][r] = wb.scales[s];
        HOLO_UNROLL
        for (int u = 0; u < 8; ++u)
          sp[u][r] = std::int32_t(std::uint16_t(std::int16_t(wb.scales[2 * u]))) |
                     (std::int32_t(wb.scales[2 * u + 1]) * 65536);
        d[r] = wb.d;
      }
      alignas(64) __m512i q[2][4][8];  // [half][run of 32][group of 4 elements]: element 128h + 32i + 4k
      for (int h = 0; h < 2; ++h) {
        __m512i ta[8], tb[8], th[8];
        transpose16_rows([&](int r) { return load256(row_at<block_q6_k>(w, ws, r)[b].ql + 64 * h); }, ta);
        transpose16_rows([&](int r) { return load256(row_at<block_q6_k>(w, ws, r)[b].ql + 64 * h + 32); }, tb);
        transpose16_rows([&](int r) { return load256(row_at<block_q6_k>(w, ws, r)[b].qh + 32 * h); }, th);
        HOLO_UNROLL
        for (int k = 0; k < 8; ++k) {
          // Bytes of ql give 4 low bits (low nibble: runs 0, 1; high nibble: runs 2, 3), qh 2 high
          // bits (bits 0-1, 2-3, 4-5, 6-7 for runs 0..3). 16-bit shifts: the masks drop what
          // crosses from the neighbouring byte.
          q[h][0][k] = _mm512_or_si512(_mm512_and_si512(ta[k], m4), _mm512_and_si512(_mm512_slli_epi16(th[k], 4), m30));
          q[h][1][k] = _mm512_or_si512(_mm512_and_si512(tb[k], m4), _mm512_and_si512(_mm512_slli_epi16(th[k], 2), m30));
          q[h][2][k] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ta[k], 4), m4), _mm512_and_si512(th[k], m30));
          q[h][3][k] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(tb[k], 4), m4),
                                       _mm512_and_si512(_mm512_srli_epi16(th[k], 2), m30));
        }
      }
      const __m512 dv = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d)));
      walk(nt, [&](auto tokens, std::int64_t c) {
        add_tokens<decltype(tokens)::value>(q, sc, sp, dv, x, xs, b, c, out, ldo);
      });
    }
  }

  // T tokens walk the transposed super-block together (see walk_tokens).
  template <int T>
  __attribute__((always_inline)) static void add_tokens(const __m512i (&q)[2][4][8], const std::int32_t (&sc)[16][16],
                                                        const std::int32_t (&sp)[8][16], __m512 dv, const std::byte* x,
                                                        std::size_t xs, std::int64_t b, std::int64_t c, float* out,
                                                        std::int64_t ldo) {
    const block_q8_k* xb[T];
    token_blocks(x, xs, b, c, xb);
    __m512i isum[T];
    HOLO_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 4; ++i) {
        __m512i s0[T], s1[T];
        HOLO_UNROLL
        for (int t = 0; t < T; ++t) s0[t] = s1[t] = _mm512_setzero_si512();
        HOLO_UNROLL
        for (int k = 0; k < 4; ++k) {
          const __m512i q0 = q[h][i][k], q1 = q[h][i][k + 4];
          HOLO_UNROLL
          for (int t = 0; t < T; ++t) {
            const std::int8_t* xq = xb[t]->qs + 128 * h + 32 * i;
            std::int32_t v0, v1;
            std::memcpy(&v0, xq + 4 * k, sizeof v0);
            std::memcpy(&v1, xq + 16 + 4 * k, sizeof v1);
            s0[t] = _mm512_dpbusd_epi32(s0[t], q0, _mm512_set1_epi32(v0));
            s1[t] = _mm512_dpbusd_epi32(s1[t], q1, _mm512_set1_epi32(v1));
          }
        }
        const int sb = 8 * h + 2 * i;  // sub-blocks sb (elements 0-15 of the run) and sb + 1
        const __m512i sc0 = _mm512_load_si512(sc[sb]), sc1 = _mm512_load_si512(sc[sb + 1]);
        HOLO_UNROLL
        for (int t = 0; t < T; ++t) {
          isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s0[t], sc0));
          isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s1[t], sc1));
        }
      }
    }
    HOLO_UNROLL
    for (int t = 0; t < T; ++t) {
      __m512i off = _mm512_setzero_si512();  // sum_s scale_s * bsum_s
      HOLO_UNROLL
      for (int u = 0; u < 8; ++u) {
        std::int32_t pair;
        std::memcpy(&pair, xb[t]->bsums + 2 * u, sizeof pair);
        off = _mm512_add_epi32(off, _mm512_madd_epi16(_mm512_load_si512(sp[u]), _mm512_set1_epi32(pair)));
      }
      const __m512i is = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(off, 5));
      float* o = out + (c + t) * ldo;
      const __m512 a = b == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(o);
      _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_mul_ps(dv, _mm512_set1_ps(xb[t]->d)), _mm512_cvtepi32_ps(is), a));
    }
  }
};

#if defined(__AMX_TILE__) && defined(__AMX_INT8__)
// Q8_0/Q4_0 (and Q4_K/Q5_K below) with AMX (Intel's tile unit, Sapphire Rapids on): one tdpbssd multiplies 16 tokens x 32
// activation bytes by 32 x 16 weight bytes into 16 x 16 int32 sums, 8192 products where vpdpbusd
// does 64 (measured ~1.2 TMAC/s on one core here against ~0.1 for the VNNI kernels). Signed times
// signed, so no offset copy. The weight tile is the VNNI kernels' transposed block (lane r of
// vector k = row r's bytes 4k..4k+3) as it is; the activation tile is 16 tokens' qs read with the
// activation row stride. The sums of each block then need their two scales (16 row scales x one
// token scale per row of C), applied in float with AVX-512: that, not the tile unit, is the limit.
#define HOLO_CPU_AMX_GEMM 1

// The tile configuration (ldtilecfg's 64-byte operand): tmm0 C (16 x 16 int32), tmm1 A (16 tokens x
// 32 bytes), tmm2 B (8 x 64 bytes: 4-byte groups of 16 rows); tmm3-5 the same again.
struct amx_tile_config {
  std::uint8_t palette = 1, start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {64, 32, 64, 64, 32, 64};
  std::uint8_t rows[16] = {16, 16, 8, 16, 16, 8};
};

// dst[i] = the 16 x 16 sums of activation tile a + i * a_step (16 rows a_stride apart, 32 bytes
// each) with weight tile q[i], for i < g. Even blocks on tiles 0-2, odd ones on 3-5: no block waits
// for the previous one's store to free its tiles.
inline void amx_products(const std::int8_t* a, std::size_t a_step, std::size_t a_stride, const __m512i (*q)[8], int g,
                         std::int32_t (*dst)[16][16]) {
  for (int i = 0; i < g; i += 2) {
    _tile_zero(0);
    _tile_loadd(1, a + i * a_step, static_cast<long>(a_stride));
    _tile_loadd(2, q[i], 64);
    _tile_dpbssd(0, 1, 2);
    if (i + 1 < g) {
      _tile_zero(3);
      _tile_loadd(4, a + (i + 1) * a_step, static_cast<long>(a_stride));
      _tile_loadd(5, q[i + 1], 64);
      _tile_dpbssd(3, 4, 5);
    }
    _tile_stored(0, dst[i], 64);
    if (i + 1 < g) _tile_stored(3, dst[i + 1], 64);
  }
}

// Runs tiles(t0, sums) and scale(t0, sums) over the groups of 16 tokens of a chunk of nt, in two
// stages one group apart: the tile unit works on group j while the AVX-512 units scale group j - 1's
// sums (their loads wait for the tile stores, which do not forward; in one stage that wait and the
// strided activation loads were most of the time). Sums: the two groups' buffers.
template <class Sums, class Tiles, class Scale>
__attribute__((always_inline)) inline void amx_two_stages(std::int64_t nt, Sums (&sums)[2], Tiles&& tiles,
                                                          Scale&& scale) {
  int j = 0;
  for (std::int64_t t0 = 0; t0 < nt; t0 += 16, ++j) {
    tiles(t0, sums[j & 1]);
    if (j > 0) scale(t0 - 16, sums[(j - 1) & 1]);
  }
  scale(static_cast<std::int64_t>(j - 1) * 16, sums[(j - 1) & 1]);
}

// Q8_0/Q4_0 weights x Q8_0 activations, 16 rows (fewer: the rest read as zero, out masked) x a chunk
// of tokens: blocks in groups of 8, transposed once per chunk as in rows16_q8_0_walk; for 16 tokens
// at a time each block's sums go through the tile unit, are stored (1 KiB) and added to 16 float
// accumulators with the scales; out is read and written once per group. dx: the chunk's activation
// scales as floats, dx[t * nb + b].
template <class Wt>
void amx_rows16(const std::byte* w, std::size_t ws, int nrows, const std::byte* x, std::size_t xs, std::int64_t nt,
                std::int64_t nb, const float* dx, float* out, std::int64_t ldo) {
  using wblock = typename Wt::block;
  constexpr int group = 8;
  const __mmask16 rows_mask = static_cast<__mmask16>((1u << nrows) - 1u);
  for (std::int64_t b0 = 0; b0 < nb; b0 += group) {
    const int g = static_cast<int>(std::min<std::int64_t>(group, nb - b0));
    alignas(64) __m512i q[group][8];
    __m512 dw[group];
    for (int i = 0; i < g; ++i) {
      transpose16_rows(
          [&](int r) { return r < nrows ? Wt::load(row_at<wblock>(w, ws, r)[b0 + i]) : _mm256_setzero_si256(); }, q[i]);
      alignas(32) f16_bits d[16] = {};
      for (int r = 0; r < nrows; ++r) d[r] = row_at<wblock>(w, ws, r)[b0 + i].d;
      dw[i] = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d)));
    }
    alignas(64) std::int32_t sums[2][group][16][16];
    alignas(64) std::int8_t tail[16][group * qk8_0];
    const auto tiles = [&](std::int64_t t0, std::int32_t (*dst)[16][16]) {
      const int tt = static_cast<int>(std::min<std::int64_t>(16, nt - t0));
      // The activation tile reads 16 rows: the last tokens of a chunk are copied into a zeroed
      // buffer so nothing past the activations is read.
      const std::int8_t* a = row_at<block_q8_0>(x, xs, static_cast<int>(t0))[b0].qs;
      std::size_t a_stride = xs, a_step = sizeof(block_q8_0);  // to the next token, block
      if (tt < 16) {
        std::memset(tail, 0, sizeof tail);
        for (int t = 0; t < tt; ++t)
          for (int i = 0; i < g; ++i)
            std::memcpy(tail[t] + i * qk8_0, row_at<block_q8_0>(x, xs, static_cast<int>(t0 + t))[b0 + i].qs, qk8_0);
        a = tail[0], a_stride = group * qk8_0, a_step = qk8_0;
      }
      amx_products(a, a_step, a_stride, q, g, dst);
    };
    const auto scale = [&](std::int64_t t0, std::int32_t (*src)[16][16]) {
      const int tt = static_cast<int>(std::min<std::int64_t>(16, nt - t0));
      __m512 acc[16];
      HOLO_UNROLL
      for (int t = 0; t < 16; ++t) acc[t] = _mm512_setzero_ps();
      for (int i = 0; i < g; ++i) {
        const float* dxi = dx + t0 * nb + b0 + i;
        HOLO_UNROLL
        for (int t = 0; t < 16; ++t) {
          const float s = t < tt ? dxi[t * nb] : 0.0f;
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(src[i][t])),
                                   _mm512_mul_ps(dw[i], _mm512_set1_ps(s)), acc[t]);
        }
      }
      for (int t = 0; t < tt; ++t) {
        float* o = out + (t0 + t) * ldo;
        const __m512 prev = b0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(rows_mask, o);
        _mm512_mask_storeu_ps(o, rows_mask, _mm512_add_ps(prev, acc[t]));
      }
    };
    amx_two_stages(nt, sums, tiles, scale);
  }
}

// Q4_K (Q5_K: Five) weights x Q8_K activations, 16 rows x a chunk of tokens, super-block by
// super-block: the quants transposed as rows16_q4_k does (q[sub-block] is a B tile as it is; Q5_K's
// fifth bits transposed the same way and shifted in), each sub-block's 16 x 16 sums from the tile
// unit, then in AVX-512 integer: times the rows' 6-bit sub-block scales and summed over the 8
// sub-blocks, the minimums' term from the activation's bsums, and one float scaling per
// super-block. Two stages one token group apart (amx_two_stages).
template <bool Five>
void amx_rows16_q45_k(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t nt,
                      std::int64_t cols, float* out, std::int64_t ldo) {
  using wblock = std::conditional_t<Five, block_q5_k, block_q4_k>;
  const std::int64_t nb = cols / qk_k;
  for (std::int64_t b = 0; b < nb; ++b) {
    q4_k_lane_scales<16> ls;
    ls.gather<wblock>(w, ws, b);
    alignas(64) __m512i q[8][8];  // [sub-block][group of 4 elements]: 16 rows' quants as bytes
    transpose_q45_k<Five>(w, ws, b, q);
    const __m512 dv = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(ls.d)));
    const __m512 dmv = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(ls.dmin)));
    alignas(64) std::int32_t sums[2][8][16][16];
    alignas(64) std::int8_t tail[16][qk_k];
    const auto tiles = [&](std::int64_t t0, std::int32_t (*dst)[16][16]) {
      const int tt = static_cast<int>(std::min<std::int64_t>(16, nt - t0));
      const std::int8_t* a = row_at<block_q8_k>(x, xs, static_cast<int>(t0))[b].qs;
      std::size_t a_stride = xs;
      if (tt < 16) {  // copied, so nothing past the activations is read
        std::memset(tail, 0, sizeof tail);
        for (int t = 0; t < tt; ++t) std::memcpy(tail[t], row_at<block_q8_k>(x, xs, static_cast<int>(t0 + t))[b].qs, qk_k);
        a = tail[0], a_stride = qk_k;
      }
      amx_products(a, 32, a_stride, q, 8, dst);  // sub-block j: activation bytes 32j..32j+31
    };
    const auto scale = [&](std::int64_t t0, std::int32_t (*src)[16][16]) {
      const int tt = static_cast<int>(std::min<std::int64_t>(16, nt - t0));
      __m512i isum[16];
      HOLO_UNROLL
      for (int t = 0; t < 16; ++t) isum[t] = _mm512_setzero_si512();
      for (int j = 0; j < 8; ++j) {
        const __m512i scj = _mm512_load_si512(ls.sc[j]);
        HOLO_UNROLL
        for (int t = 0; t < 16; ++t)
          isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_load_si512(src[j][t]), scj));
      }
      for (int t = 0; t < tt; ++t) {
        const block_q8_k& xb = *(row_at<block_q8_k>(x, xs, static_cast<int>(t0 + t)) + b);
        alignas(16) std::int32_t bs[4];  // pairs of per-32 sums, i16 each
        _mm_store_si128(reinterpret_cast<__m128i*>(bs), bsums32(xb));
        __m512i mins = _mm512_setzero_si512();
        HOLO_UNROLL
        for (int p = 0; p < 4; ++p)
          mins = _mm512_add_epi32(mins, _mm512_madd_epi16(_mm512_load_si512(ls.mn[p]), _mm512_set1_epi32(bs[p])));
        const __m512 dx = _mm512_set1_ps(xb.d);
        float* o = out + (t0 + t) * ldo;
        __m512 acc = b == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(o);
        acc = _mm512_fmadd_ps(_mm512_mul_ps(dv, dx), _mm512_cvtepi32_ps(isum[t]), acc);
        _mm512_storeu_ps(o, _mm512_fnmadd_ps(_mm512_mul_ps(dmv, dx), _mm512_cvtepi32_ps(mins), acc));
      }
    };
    amx_two_stages(nt, sums, tiles, scale);
  }
}

// The AMX kernel's token chunks: the 512 KiB of activations the other kernels keep in L2, but at
// least amx_chunk_tokens where the rows are long (FFN down projections: 87 tokens at 5632 columns),
// since every chunk reads and transposes the weights again (1024 x 5632 x 512 tokens: 156 -> 173
// GMAC/s); at most what the scales buffer holds (amx_scales floats, 256 KiB of stack).
constexpr std::int64_t amx_chunk_tokens = 176;
constexpr std::int64_t amx_scales = 64 * 1024;

// Tokens per chunk for n tokens and at most chunk_max per chunk: chunks of equal size, in whole
// tiles of 16 tokens where they fit (a short last chunk would pay the weights' transposition for a
// few tokens: 128 tokens in chunks of 120 took 2x as long).
inline std::int64_t amx_chunk(std::int64_t n, std::int64_t chunk_max) {
  const std::int64_t chunks = (n + chunk_max - 1) / chunk_max;
  const std::int64_t chunk = (n + chunks - 1) / chunks;
  return (chunk + 15) / 16 * 16 <= chunk_max ? (chunk + 15) / 16 * 16 : chunk;
}

template <class Wt>
void gemm_q8_amx(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                 const std::byte* /*x_offset*/, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                 std::int64_t ldo) {
  const std::int64_t nb = cols / qk8_0;
  const std::int64_t chunk = amx_chunk(n, std::max<std::int64_t>(1, std::min(amx_scales / nb,
      std::max(amx_chunk_tokens, static_cast<std::int64_t>(chunk_bytes / xs)))));
  // One float scale per activation block of a chunk (chunk * nb <= amx_scales). On the stack: a
  // thread_local array is zeroed, so resident, in every thread of the process from its start,
  // whether it runs this kernel or not.
  alignas(64) float dx[amx_scales];
  static constexpr amx_tile_config config{};
  _tile_loadconfig(&config);
  for (std::int64_t t0 = 0; t0 < n; t0 += chunk) {
    const std::int64_t nt = std::min(n - t0, chunk);
    const std::byte* xc = x + static_cast<std::size_t>(t0) * xs;
    for (std::int64_t t = 0; t < nt; ++t) {
      const block_q8_0* xb = row_at<block_q8_0>(xc, xs, static_cast<int>(t));
      for (std::int64_t b = 0; b < nb; ++b) dx[t * nb + b] = fp16(xb[b].d);
    }
    for (std::int64_t r = 0; r < rows; r += 16)
      amx_rows16<Wt>(w + static_cast<std::size_t>(r) * ws, ws, static_cast<int>(std::min<std::int64_t>(16, rows - r)),
                     xc, xs, nt, nb, dx, out + t0 * ldo + r, ldo);
  }
  _tile_release();  // back to the initial state: no tile data for the kernel to save on a switch
}

#endif
#endif

// --- Q6_K weights with Q8_K activations --------------------------------------------------------------

struct tile_q6_k {
  template <int R, int C>
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t cols,
                  float* out, std::int64_t ldo) {
    const std::int64_t nb = cols / qk_k;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    __m256 acc[R][C];
    HOLO_UNROLL
    for (auto& a : acc)
      HOLO_UNROLL
      for (auto& v : a) v = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < nb; ++b) {
      const block_q6_k* wb[R];
      const block_q8_k* xb[C];
      HOLO_UNROLL
      for (int r = 0; r < R; ++r) wb[r] = &row_at<block_q6_k>(w, ws, r)[b];
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) xb[c] = &row_at<block_q8_k>(x, xs, c)[b];
      // (q - 32) . x per sub-block of 16 = q . x - 32 * bsum: the offset term for all 16 at once.
      __m256i sumi[R][C];
      HOLO_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m256i s16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb[r]->scales)));
        HOLO_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m256i off = _mm256_madd_epi16(s16, load256(xb[c]->bsums));
          sumi[r][c] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
        }
      }
      HOLO_UNROLL
      for (int h = 0; h < 2; ++h) {  // halves of 128 elements (layout: gpu/quant.cpp)
        HOLO_UNROLL
        for (int r = 0; r < R; ++r) {
          const std::uint8_t* ql = wb[r]->ql + 64 * h;
          const __m256i l0 = load256(ql), l1 = load256(ql + 32);
          const __m256i hq = load256(wb[r]->qh + 32 * h);
          __m256i q[4];  // chunk k: elements 128h + 32k + l, unsigned 0..63 (value + 32)
          q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hq, m3), 4));
          q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                 _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hq, 2), m3), 4));
          q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                 _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hq, 4), m3), 4));
          q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                 _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hq, 6), m3), 4));
          const std::int8_t* sc = wb[r]->scales;
          HOLO_UNROLL
          for (int k = 0; k < 4; ++k) {
            const int s = 8 * h + 2 * k;  // sub-blocks of 16: low lane s, high lane s+1
            const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
            HOLO_UNROLL
            for (int c = 0; c < C; ++c) {
              const __m256i p = _mm256_maddubs_epi16(q[k], load256(xb[c]->qs + 128 * h + 32 * k));
              sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_madd_epi16(scale, p));
            }
          }
        }
      }
      HOLO_UNROLL
      for (int r = 0; r < R; ++r) {
        const float dw = fp16(wb[r]->d);
        HOLO_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m256 d = _mm256_set1_ps(xb[c]->d * dw);
          acc[r][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi[r][c]), acc[r][c]);
        }
      }
    }
    HOLO_UNROLL
    for (int r = 0; r < R; ++r)
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) out[c * ldo + r] = hsum(acc[r][c]);
  }
};

// --- F32, F16 and BF16 weights with f32 activations ---------------------------------------------------

struct f32_weights {
  using elem = float;
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static float scalar(float v) { return v; }
};
struct f16_weights {
  using elem = f16_bits;
  static __m256 load(const f16_bits* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float scalar(f16_bits v) { return fp16(v); }
};
struct bf16_weights {
  using elem = bf16_bits;
  static __m256 load(const bf16_bits* p) {  // bf16 is the top half of an f32
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static float scalar(bf16_bits v) { return bf16_to_f32(v); }
};

template <class Wt>
struct tile_float {
  template <int R, int C>
  static void run(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t cols,
                  float* out, std::int64_t ldo) {
    using elem = typename Wt::elem;
    const elem* wr[R];
    const float* xr[C];
    HOLO_UNROLL
    for (int r = 0; r < R; ++r) wr[r] = row_at<elem>(w, ws, r);
    HOLO_UNROLL
    for (int c = 0; c < C; ++c) xr[c] = row_at<float>(x, xs, c);
    __m256 acc[R][C];
    HOLO_UNROLL
    for (auto& a : acc)
      HOLO_UNROLL
      for (auto& v : a) v = _mm256_setzero_ps();
    std::int64_t i = 0;
    for (; i + 8 <= cols; i += 8) {
      __m256 xv[C];
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) xv[c] = _mm256_loadu_ps(xr[c] + i);
      HOLO_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m256 wv = Wt::load(wr[r] + i);
        HOLO_UNROLL
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
      }
    }
    HOLO_UNROLL
    for (int r = 0; r < R; ++r) {
      HOLO_UNROLL
      for (int c = 0; c < C; ++c) {
        float s = hsum(acc[r][c]);
        for (std::int64_t k = i; k < cols; ++k) s += Wt::scalar(wr[r][k]) * xr[c][k];
        out[c * ldo + r] = s;
      }
    }
  }
};

// --- the driver ---------------------------------------------------------------------------------------

template <class K, int R, int C>
void tile_entry(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t cols,
                float* out, std::int64_t ldo) {
  K::template run<R, C>(w, ws, x, xs, cols, out, ldo);
}

// table[R - 1][C - 1]: the R x C tile, for the full tile and every edge shape.
template <class K, int RM, int CM>
constexpr std::array<std::array<tile_fn, CM>, RM> tile_table() {
  std::array<std::array<tile_fn, CM>, RM> t{};
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((t[I / CM][I % CM] = &tile_entry<K, int(I / CM) + 1, int(I % CM) + 1>), ...);
  }(std::make_index_sequence<RM * CM>{});
  return t;
}


template <class K, int RM, int CM>
void gemm_tiled(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                const std::byte* /*x_offset*/, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                std::int64_t ldo) {
  static constexpr auto table = tile_table<K, RM, CM>();
  const auto chunk_tokens = static_cast<std::int64_t>(chunk_bytes / xs);
  const std::int64_t chunk = std::max<std::int64_t>(CM, chunk_tokens / CM * CM);
  for (std::int64_t t0 = 0; t0 < n; t0 += chunk) {
    const std::int64_t t1 = std::min(n, t0 + chunk);
    for (std::int64_t r = 0; r < rows; r += RM) {
      const auto nr = static_cast<int>(std::min<std::int64_t>(RM, rows - r));
      for (std::int64_t t = t0; t < t1; t += CM) {
        const auto nc = static_cast<int>(std::min<std::int64_t>(CM, t1 - t));
        const std::byte* wt = w + static_cast<std::size_t>(r) * ws;
        const std::byte* xt = x + static_cast<std::size_t>(t) * xs;
        table[nr - 1][nc - 1](wt, ws, xt, xs, cols, out + t * ldo + r, ldo);
      }
    }
  }
}

// Tile shapes: AVX-512VL builds have 32 vector registers for the same AVX2 code, so wider tiles fit.
#ifdef __AVX512VL__
constexpr int q8_rows = 4, q8_toks = 4, float_rows = 6, float_toks = 4;
#else
constexpr int q8_rows = 4, q8_toks = 3, float_rows = 4, float_toks = 3;
#endif
constexpr int k_rows = 2, k_toks = 4;

#ifdef __AVX512F__
// Float weights on AVX-512, many tokens: a small GEMM in the way of BLIS. The register tiles above
// keep the columns in the lanes, so each weight vector is converted (F16/BF16 -> f32) again for
// every tile of tokens, each pair ends in a horizontal sum, and 256-bit FMAs do half the work of
// 512-bit ones; their token chunks also read the weights from memory once per chunk. Here the
// weights are converted once: a panel of 32 rows x kc columns is transposed into f32 with the rows
// in the lanes (two zmm per column, 32 KiB, stays in L1), and every group of `packed_toks` tokens
// walks it with one broadcast activation per column and token into 24 accumulators of 16 rows; a
// panel's sums are added to out (the first panel of a row stores). Panels go column block by column
// block, so the activations of one block (kc columns of every token) sit in L2 while all the row
// panels walk them, and each weight is read from memory once per matmul.
constexpr int packed_kc = 256;         // columns per panel
constexpr int packed_rows = 32;        // rows per panel: two zmm
constexpr int packed_toks = 12;        // tokens per walk: 24 accumulators + 2 weight vectors
constexpr int packed_min_tokens = 32;  // below this, packing costs more than the tiles lose

// panel[k * 32 + r] = row r's column k0 + k as f32, for rows < nrows (zero above), k < kc.
template <class Wt>
void pack_panel(const std::byte* w, std::size_t ws, int nrows, std::int64_t k0, int kc, float* panel) {
  using elem = typename Wt::elem;
  const __m256 zero = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= kc; k += 8) {
    for (int r0 = 0; r0 < packed_rows; r0 += 8) {
      __m256i in[8], t[8];
      HOLO_UNROLL
      for (int r = 0; r < 8; ++r)
        in[r] = _mm256_castps_si256(r0 + r < nrows ? Wt::load(row_at<elem>(w, ws, r0 + r) + k0 + k) : zero);
      transpose8x8_epi32(in, t);
      HOLO_UNROLL
      for (int j = 0; j < 8; ++j)
        _mm256_store_si256(reinterpret_cast<__m256i*>(panel + (k + j) * packed_rows + r0), t[j]);
    }
  }
  for (; k < kc; ++k)
    for (int r = 0; r < packed_rows; ++r)
      panel[k * packed_rows + r] = r < nrows ? Wt::scalar(row_at<elem>(w, ws, r)[k0 + k]) : 0.0f;
}

// The lines of the next panel (rows from w, columns k0..k0 + kc), asked for a few at a time while
// this panel is walked: a panel reads 32 short row pieces, which the hardware prefetcher does not
// follow, so packing waited on memory (10% of 1B F16 prefill); asking for all 256 lines at once
// stalls on the fill buffers instead.
template <class Wt>
struct panel_prefetch {
  const std::byte* w = nullptr;
  std::size_t ws = 0;
  std::int64_t k0 = 0;
  int lines_per_row = 0, lines = 0, next = 0;

  void start(const std::byte* w_, std::size_t ws_, std::int64_t nrows, std::int64_t k0_, int kc) {
    w = w_, ws = ws_, k0 = k0_, next = 0;
    lines_per_row = static_cast<int>((static_cast<std::size_t>(kc) * sizeof(typename Wt::elem) + 63) / 64);
    lines = static_cast<int>(nrows) * lines_per_row;
  }
  void some(int count) {
    for (const int end = std::min(lines, next + count); next < end; ++next) {
      const auto* row = reinterpret_cast<const char*>(row_at<typename Wt::elem>(w, ws, next / lines_per_row) + k0);
      _mm_prefetch(row + 64 * (next % lines_per_row), _MM_HINT_T1);
    }
  }
};

// out[c * ldo + r] (+)= sum over the panel's kc columns of panel row r x token c, for T tokens at
// x + c * xs (floats, from the panel's first column) and the rows of V vectors (mask: the last
// vector's rows that exist).
template <int V, int T>
void walk_panel(const float* panel, int kc, const float* x, std::int64_t xs, float* out, std::int64_t ldo,
                bool add, __mmask16 mask) {
  __m512 acc[T][V];
  HOLO_UNROLL
  for (auto& a : acc)
    HOLO_UNROLL
    for (auto& v : a) v = _mm512_setzero_ps();
  const float* xr[T];
  HOLO_UNROLL
  for (int c = 0; c < T; ++c) xr[c] = x + c * xs;
  for (int k = 0; k < kc; ++k) {
    __m512 wv[V];
    HOLO_UNROLL
    for (int v = 0; v < V; ++v) wv[v] = _mm512_load_ps(panel + k * packed_rows + 16 * v);
    HOLO_UNROLL
    for (int c = 0; c < T; ++c) {
      const __m512 xb = _mm512_set1_ps(xr[c][k]);
      HOLO_UNROLL
      for (int v = 0; v < V; ++v) acc[c][v] = _mm512_fmadd_ps(wv[v], xb, acc[c][v]);
    }
  }
  HOLO_UNROLL
  for (int c = 0; c < T; ++c) {
    HOLO_UNROLL
    for (int v = 0; v < V; ++v) {
      const __mmask16 m = v == V - 1 ? mask : __mmask16(0xffff);
      float* o = out + c * ldo + 16 * v;
      __m512 r = acc[c][v];
      if (add) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, o));
      _mm512_mask_storeu_ps(o, m, r);
    }
  }
}

using walk_fn = void (*)(const float*, int, const float*, std::int64_t, float*, std::int64_t, bool, __mmask16);

template <class Wt>
void gemm_float_packed(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                       const std::byte* x_offset, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                       std::int64_t ldo) {
  if (n < packed_min_tokens) {
    gemm_tiled<tile_float<Wt>, float_rows, float_toks>(w, ws, rows, x, x_offset, xs, n, cols, out, ldo);
    return;
  }
  static constexpr auto walks = [] {  // walks[V - 1][T - 1]
    std::array<std::array<walk_fn, packed_toks>, 2> t{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((t[I / packed_toks][I % packed_toks] = &walk_panel<int(I / packed_toks) + 1, int(I % packed_toks) + 1>),
       ...);
    }(std::make_index_sequence<2 * packed_toks>{});
    return t;
  }();
  alignas(64) float panel[packed_kc * packed_rows];  // 32 KiB, on the stack as gemm_q8_amx's dx
  const auto* xf = reinterpret_cast<const float*>(x);
  const auto xsf = static_cast<std::int64_t>(xs / sizeof(float));
  for (std::int64_t k0 = 0; k0 < cols; k0 += packed_kc) {
    const int kc = static_cast<int>(std::min<std::int64_t>(packed_kc, cols - k0));
    for (std::int64_t r = 0; r < rows; r += packed_rows) {
      const int nrows = static_cast<int>(std::min<std::int64_t>(packed_rows, rows - r));
      pack_panel<Wt>(w + static_cast<std::size_t>(r) * ws, ws, nrows, k0, kc, panel);
      panel_prefetch<Wt> ahead;  // the next panel: the next rows, else the next columns' first rows
      if (r + packed_rows < rows) {
        ahead.start(w + static_cast<std::size_t>(r + packed_rows) * ws, ws,
                    std::min<std::int64_t>(packed_rows, rows - r - packed_rows), k0, kc);
      } else if (k0 + packed_kc < cols) {
        ahead.start(w, ws, std::min<std::int64_t>(packed_rows, rows), k0 + packed_kc,
                    static_cast<int>(std::min<std::int64_t>(packed_kc, cols - k0 - packed_kc)));
      }
      const auto walks_n = static_cast<int>((n + packed_toks - 1) / packed_toks);
      const int per_walk = (ahead.lines + walks_n - 1) / walks_n;
      const int v = nrows > 16 ? 2 : 1;
      const auto mask = static_cast<__mmask16>((1u << (nrows - 16 * (v - 1))) - 1u);
      for (std::int64_t t = 0; t < n; t += packed_toks) {
        const auto nt = static_cast<int>(std::min<std::int64_t>(packed_toks, n - t));
        ahead.some(per_walk);
        walks[v - 1][nt - 1](panel, kc, xf + t * xsf + k0, xsf, out + t * ldo + r, ldo, k0 > 0, mask);
      }
    }
  }
}
#endif

#ifdef HOLO_CPU_VNNI_GEMM
#ifdef __AVX512VL__
constexpr int rows8_toks = 8;  // 8 accumulators + 8 transposed weight vectors + temporaries in 32
#else
constexpr int rows8_toks = 4;
#endif

template <class K, int C>
void rows8_entry(const std::byte* w, std::size_t ws, const std::byte* x, std::size_t xs, std::int64_t cols,
                 float* out, std::int64_t ldo) {
  K::template run<C>(w, ws, x, xs, cols, out, ldo);
}

// Prefill with groups of 8 rows in the lanes (kernel K, up to CM tokens a call); the last rows % 8
// go to `edge` (the register tiles). OffsetQ8: K reads Q8_0 activations offset by 128 (rows8_q8_0).
template <class K, int RT, int CM, bool OffsetQ8>
void gemm_rows(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x, const std::byte* x_offset,
               std::size_t xs, std::int64_t n, std::int64_t cols, float* out, std::int64_t ldo, gemm_fn edge) {
  static constexpr auto table = [] {
    std::array<tile_fn, CM> t{};
    [&]<std::size_t... I>(std::index_sequence<I...>) { ((t[I] = &rows8_entry<K, int(I) + 1>), ...); }(
        std::make_index_sequence<CM>{});
    return t;
  }();
  const std::int64_t full = rows / RT * RT;
  const auto chunk_tokens = static_cast<std::int64_t>(chunk_bytes / xs);
  const std::int64_t chunk = std::max<std::int64_t>(CM, chunk_tokens / CM * CM);
  for (std::int64_t t0 = 0; full > 0 && t0 < n; t0 += chunk) {
    const std::int64_t t1 = std::min(n, t0 + chunk);
    const std::byte* xc = (OffsetQ8 ? x_offset : x) + static_cast<std::size_t>(t0) * xs;
    for (std::int64_t r = 0; r < full; r += RT) {
      for (std::int64_t t = t0; t < t1; t += CM) {
        const auto nc = static_cast<int>(std::min<std::int64_t>(CM, t1 - t));
        table[nc - 1](w + static_cast<std::size_t>(r) * ws, ws, xc + static_cast<std::size_t>(t - t0) * xs, xs, cols,
                      out + t * ldo + r, ldo);
      }
    }
  }
  if (full < rows)
    edge(w + static_cast<std::size_t>(full) * ws, ws, rows - full, x, x_offset, xs, n, cols, out + full, ldo);
}

template <class Wt>
void gemm_q8_rows8(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x, const std::byte* x_offset,
                   std::size_t xs, std::int64_t n, std::int64_t cols, float* out, std::int64_t ldo) {
  gemm_rows<rows8_q8_0<Wt>, 8, rows8_toks, true>(w, ws, rows, x, x_offset, xs, n, cols, out, ldo,
                                                 gemm_tiled<tile_q8_0<Wt>, q8_rows, q8_toks>);
}

void gemm_q4_k_rows8(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                     const std::byte* x_offset, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                     std::int64_t ldo) {
  gemm_rows<rows8_q4_k, 8, rows8_toks, false>(w, ws, rows, x, x_offset, xs, n, cols, out, ldo,
                                              gemm_tiled<tile_q45_k<false>, k_rows, k_toks>);
}

#ifdef HOLO_CPU_ROWS16_GEMM
// The 16-row kernels, block-major (K::run takes a whole token chunk); the last rows % 16 go to
// `edge`: the 8-row kernels (whose last rows % 8 go to the tiles), or the tiles. OffsetQ8: K reads
// the activations offset by 128 (Q8_0/Q4_0).
template <class K, bool OffsetQ8 = false>
void gemm_rows16_chunks(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                        const std::byte* x_offset, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                        std::int64_t ldo, gemm_fn edge) {
  const std::int64_t full = rows / 16 * 16;
  const std::int64_t chunk = std::max<std::int64_t>(1, static_cast<std::int64_t>(chunk_bytes / xs));
  const std::byte* xk = OffsetQ8 ? x_offset : x;
  for (std::int64_t t0 = 0; full > 0 && t0 < n; t0 += chunk) {
    const std::int64_t t1 = std::min(n, t0 + chunk);
    for (std::int64_t r = 0; r < full; r += 16)
      K::run(w + static_cast<std::size_t>(r) * ws, ws, xk + static_cast<std::size_t>(t0) * xs, xs, t1 - t0, cols,
             out + t0 * ldo + r, ldo);
  }
  if (full < rows)
    edge(w + static_cast<std::size_t>(full) * ws, ws, rows - full, x, x_offset, xs, n, cols, out + full, ldo);
}

template <class Wt>
void gemm_q8_rows16(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                    const std::byte* x_offset, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                    std::int64_t ldo) {
  gemm_rows16_chunks<rows16_q8_0_walk<Wt>, true>(w, ws, rows, x, x_offset, xs, n, cols, out, ldo, gemm_q8_rows8<Wt>);
}

void gemm_q4_k_rows16(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                      const std::byte* x_offset, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                      std::int64_t ldo) {
  gemm_rows16_chunks<rows16_q4_k>(w, ws, rows, x, x_offset, xs, n, cols, out, ldo, gemm_q4_k_rows8);
}

#ifdef HOLO_CPU_AMX_GEMM
// Q4_K and Q5_K on AMX: 16-row groups over token chunks (as gemm_q8_amx's), the last rows % 16 to
// the 8-row kernels (Q4_K) or the register tiles (Q5_K).
template <bool Five>
void gemm_q45_k_amx(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                    const std::byte* x_offset, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                    std::int64_t ldo) {
  const std::int64_t chunk =
      amx_chunk(n, std::max<std::int64_t>(amx_chunk_tokens, static_cast<std::int64_t>(chunk_bytes / xs)));
  const std::int64_t full = rows / 16 * 16;
  static constexpr amx_tile_config config{};
  _tile_loadconfig(&config);
  for (std::int64_t t0 = 0; full > 0 && t0 < n; t0 += chunk) {
    const std::int64_t nt = std::min(n - t0, chunk);
    for (std::int64_t r = 0; r < full; r += 16)
      amx_rows16_q45_k<Five>(w + static_cast<std::size_t>(r) * ws, ws, x + static_cast<std::size_t>(t0) * xs, xs,
                             nt, cols, out + t0 * ldo + r, ldo);
  }
  _tile_release();
  if (full == rows) return;
  const gemm_fn edge = Five ? gemm_tiled<tile_q45_k<true>, k_rows, k_toks> : gemm_q4_k_rows8;
  edge(w + static_cast<std::size_t>(full) * ws, ws, rows - full, x, x_offset, xs, n, cols, out + full, ldo);
}
#endif

void gemm_q6_k_rows16(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x,
                      const std::byte* x_offset, std::size_t xs, std::int64_t n, std::int64_t cols, float* out,
                      std::int64_t ldo) {
  gemm_rows16_chunks<rows16_q6_k>(w, ws, rows, x, x_offset, xs, n, cols, out, ldo,
                                  gemm_tiled<tile_q6_k, k_rows, k_toks>);
}
#endif
#endif

}  // namespace

#ifdef HOLO_CPU_AMX_GEMM
// Linux hands out the tile registers only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
// XTILEDATA, once per process); a kernel or hypervisor without it refuses, and the VNNI kernels
// run. HOLO_CPU_AMX=0 chooses them too (tests run both; A/B timings).
bool amx_ready() {
  static const bool ready = [] {
    if (const char* e = std::getenv("HOLO_CPU_AMX"); e != nullptr && std::string_view(e) == "0") return false;
    constexpr long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
    return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
  }();
  return ready;
}
#else
bool amx_ready() { return false; }
#endif

gemm_fn gemm_for(tensor_type w) {
  switch (w) {
#ifdef __AVX512F__
    case tensor_type::f32:
      return gemm_float_packed<f32_weights>;
    case tensor_type::f16:
      return gemm_float_packed<f16_weights>;
    case tensor_type::bf16:
      return gemm_float_packed<bf16_weights>;
#else
    case tensor_type::f32:
      return gemm_tiled<tile_float<f32_weights>, float_rows, float_toks>;
    case tensor_type::f16:
      return gemm_tiled<tile_float<f16_weights>, float_rows, float_toks>;
    case tensor_type::bf16:
      return gemm_tiled<tile_float<bf16_weights>, float_rows, float_toks>;
#endif
#if defined(HOLO_CPU_ROWS16_GEMM)
    case tensor_type::q4_0:
#ifdef HOLO_CPU_AMX_GEMM
      if (amx_ready()) return gemm_q8_amx<q4_0_weights>;
#endif
      return gemm_q8_rows16<q4_0_weights>;
    case tensor_type::q8_0:
#ifdef HOLO_CPU_AMX_GEMM
      if (amx_ready()) return gemm_q8_amx<q8_0_weights>;
#endif
      return gemm_q8_rows16<q8_0_weights>;
#elif defined(HOLO_CPU_VNNI_GEMM)
    case tensor_type::q4_0:
      return gemm_q8_rows8<q4_0_weights>;
    case tensor_type::q8_0:
      return gemm_q8_rows8<q8_0_weights>;
#else
    case tensor_type::q4_0:
      return gemm_tiled<tile_q8_0<q4_0_weights>, q8_rows, q8_toks>;
    case tensor_type::q8_0:
      return gemm_tiled<tile_q8_0<q8_0_weights>, q8_rows, q8_toks>;
#endif
    case tensor_type::q4_k:
#if defined(HOLO_CPU_ROWS16_GEMM)
#ifdef HOLO_CPU_AMX_GEMM
      if (amx_ready()) return gemm_q45_k_amx<false>;
#endif
      return gemm_q4_k_rows16;
#elif defined(HOLO_CPU_VNNI_GEMM)
      return gemm_q4_k_rows8;
#else
      return gemm_tiled<tile_q45_k<false>, k_rows, k_toks>;
#endif
    case tensor_type::q5_k:
#ifdef HOLO_CPU_AMX_GEMM
      if (amx_ready()) return gemm_q45_k_amx<true>;
#endif
      return gemm_tiled<tile_q45_k<true>, k_rows, k_toks>;
    case tensor_type::q6_k:
#if defined(HOLO_CPU_ROWS16_GEMM)
      return gemm_q6_k_rows16;
#else
      return gemm_tiled<tile_q6_k, k_rows, k_toks>;
#endif
    default:
      return nullptr;
  }
}

bool gemm_wants_offset(tensor_type w) {
#ifdef HOLO_CPU_VNNI_GEMM
#ifdef HOLO_CPU_AMX_GEMM
  if (amx_ready()) return false;
#endif
  return w == tensor_type::q8_0 || w == tensor_type::q4_0;
#else
  (void)w;
  return false;
#endif
}

#else

gemm_fn gemm_for(tensor_type) { return nullptr; }
bool gemm_wants_offset(tensor_type) { return false; }
bool amx_ready() { return false; }

#endif

void offset_q8_0(const void* in, void* out, std::int64_t blocks) {
  const auto* src = static_cast<const block_q8_0*>(in);
  auto* dst = static_cast<block_q8_0*>(out);
  for (std::int64_t b = 0; b < blocks; ++b) {
    dst[b].d = src[b].d;
#ifdef HOLO_CPU_AVX2
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst[b].qs),
                        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src[b].qs)),
                                         _mm256_set1_epi8(static_cast<char>(0x80))));
#else
    for (int i = 0; i < qk8_0; ++i) dst[b].qs[i] = static_cast<std::int8_t>(static_cast<std::uint8_t>(src[b].qs[i]) ^ 0x80u);
#endif
  }
}

}  // namespace holo::gpu::cpu
