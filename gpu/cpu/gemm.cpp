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
#include <algorithm>
#include <array>
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

// Activation bytes per token chunk: the chunk stays in L2 while every tile of weight rows walks it.
constexpr std::size_t chunk_bytes = 256 * 1024;

template <class K, int RM, int CM>
void gemm_tiled(const std::byte* w, std::size_t ws, std::int64_t rows, const std::byte* x, std::size_t xs,
                std::int64_t n, std::int64_t cols, float* out, std::int64_t ldo) {
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

}  // namespace

gemm_fn gemm_for(tensor_type w) {
  switch (w) {
    case tensor_type::f32:
      return gemm_tiled<tile_float<f32_weights>, float_rows, float_toks>;
    case tensor_type::f16:
      return gemm_tiled<tile_float<f16_weights>, float_rows, float_toks>;
    case tensor_type::bf16:
      return gemm_tiled<tile_float<bf16_weights>, float_rows, float_toks>;
    case tensor_type::q4_0:
      return gemm_tiled<tile_q8_0<q4_0_weights>, q8_rows, q8_toks>;
    case tensor_type::q8_0:
      return gemm_tiled<tile_q8_0<q8_0_weights>, q8_rows, q8_toks>;
    case tensor_type::q4_k:
      return gemm_tiled<tile_q45_k<false>, k_rows, k_toks>;
    case tensor_type::q5_k:
      return gemm_tiled<tile_q45_k<true>, k_rows, k_toks>;
    case tensor_type::q6_k:
      return gemm_tiled<tile_q6_k, k_rows, k_toks>;
    default:
      return nullptr;
  }
}

#else

gemm_fn gemm_for(tensor_type) { return nullptr; }

#endif

}  // namespace holo::gpu::cpu
