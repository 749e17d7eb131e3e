// Prefill with quantized weights on AMX-BF16 (declared in dot.hpp): the weights are dequantized
// to bf16 once per matmul, 32 rows at a time, and multiplied with bf16 activations by the tile
// unit, whose f32 accumulators then hold a 16 x 16 block of the output across the whole row.
//
// Why not the integer tiles (gemm.cpp's AMX kernels): with Q8_0/Q8_K activations every 32-value
// block carries its own pair of scales, so each tdpbssd's 16 x 16 sums have to leave the tile unit,
// be converted and scaled in AVX-512 and added up; that, not the tile unit, bounds those kernels
// (~130-160 GMAC/s on a core). In bf16 the scales are inside the values: nothing leaves the tiles
// until the row is done, and the work per weight (dequantize, convert to bf16; the weights are the
// A operand as they lie, row-major, so no transpose) is paid once per chunk of up to 256 tokens
// instead of once per block and token group.
//
// Numerics: the activations are rounded to bf16 (8 significant bits: relative error <= 2^-9, where
// Q8_0 rounding errs by up to 1/254 of the block's largest value), the dequantized weight d * q too
// (<= 2^-9 of it, below the quantization's own error of d / 2); products are exact in f32 and summed
// in f32. Decode keeps the Q8 dot products, so a prompt's last token and a generated one are
// computed with different roundings, both within the tests' bounds (docs/engine.md "Parity with
// llama.cpp").
// GCC 12's AVX-512 headers build values from _mm512_undefined_*() and then warn that those may be
// used uninitialized (as in gemm.cpp): a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/dot_q8_util.hpp"
#include "gpu/quant.hpp"

namespace holo::gpu::cpu {

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__) && defined(__AVX512BW__)
namespace {

// tmm0-3: C (16 weight rows x 16 tokens, f32); tmm4-5: A (16 weight rows x 32 bf16 columns);
// tmm6-7: B (16 pairs of columns x 16 tokens x 2 bf16). All 16 rows x 64 bytes.
struct bf16_tile_config {
  std::uint8_t palette = 1, start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  std::uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Columns per panel: 32 rows x kc_max bf16 on the stack, walked by every token block of a chunk
// of chunk_tokens; longer rows go in several panels, each block's sums carried from one to the
// next in the tile unit's own layout (`carry`, 4 KiB per block).
constexpr std::int64_t kc_max = 1024;
constexpr std::int64_t chunk_tokens = 256;
constexpr int step = 32;                         // columns per tile product (16 pairs)
constexpr std::int64_t tile_values = 16 * step;  // bf16 values in a 1 KiB tile

// m[k] lane r = m[r] lane k (16 x 16 32-bit values).
inline void transpose16x16(__m512i (&m)[16]) {
  __m512i t[16];
  for (int r = 0; r < 16; r += 2) {
    t[r] = _mm512_unpacklo_epi32(m[r], m[r + 1]);
    t[r + 1] = _mm512_unpackhi_epi32(m[r], m[r + 1]);
  }
  __m512i v[4][4];  // v[g][c] lane L: column 4L + c of rows 4g..4g+3
  for (int g = 0; g < 4; ++g) {
    const __m512i* a = t + 4 * g;
    v[g][0] = _mm512_unpacklo_epi64(a[0], a[2]);
    v[g][1] = _mm512_unpackhi_epi64(a[0], a[2]);
    v[g][2] = _mm512_unpacklo_epi64(a[1], a[3]);
    v[g][3] = _mm512_unpackhi_epi64(a[1], a[3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i p0 = _mm512_shuffle_i32x4(v[0][c], v[1][c], 0x44), p1 = _mm512_shuffle_i32x4(v[0][c], v[1][c], 0xee);
    const __m512i p2 = _mm512_shuffle_i32x4(v[2][c], v[3][c], 0x44), p3 = _mm512_shuffle_i32x4(v[2][c], v[3][c], 0xee);
    m[c] = _mm512_shuffle_i32x4(p0, p2, 0x88);
    m[4 + c] = _mm512_shuffle_i32x4(p0, p2, 0xdd);
    m[8 + c] = _mm512_shuffle_i32x4(p1, p3, 0x88);
    m[12 + c] = _mm512_shuffle_i32x4(p1, p3, 0xdd);
  }
}

inline __m512i to_bf16(__m512 lo, __m512 hi) {  // element i of lo -> bf16 i, of hi -> 16 + i
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
}

inline __m512i bytes16(const std::uint8_t* p) {  // 16 bytes -> 16 u32 lanes
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Columns 32s .. 32s+31 of one weight row as f32: one Q8_0/Q4_0 block.
struct q8_0_values {
  static void get(const std::byte* row, std::int64_t s, __m512& lo, __m512& hi) {
    const auto& b = reinterpret_cast<const block_q8_0*>(row)[s];
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
    const __m512 d = _mm512_set1_ps(fp16(b.d));
    lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))));
    hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))));
  }
};
struct q4_0_values {  // low nibbles: elements 0..15, high: 16..31; minus 8
  static void get(const std::byte* row, std::int64_t s, __m512& lo, __m512& hi) {
    const auto& b = reinterpret_cast<const block_q4_0*>(row)[s];
    const __m512i q = bytes16(b.qs);
    const __m512i eight = _mm512_set1_epi32(8);
    const __m512 d = _mm512_set1_ps(fp16(b.d));
    lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(15)), eight)));
    hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight)));
  }
};

// Q4_K/Q5_K: step s is sub-block s % 8 of super-block s / 8, w = (d * sc) * q - dmin * m as
// dequantize_row computes it (a product, then the difference: the same f32 value before bf16).
template <bool Five>
struct q45_k_values {
  static void get(const std::byte* row, std::int64_t s, __m512& lo, __m512& hi) {
    const auto& b = reinterpret_cast<const std::conditional_t<Five, block_q5_k, block_q4_k>*>(row)[s / 8];
    const int j = static_cast<int>(s % 8);
    std::uint8_t sc, m;
    unpack_scale_min_k4(j, b.scales, &sc, &m);
    const __m512 dsc = _mm512_set1_ps(fp16(b.d) * sc), dm = _mm512_set1_ps(fp16(b.dmin) * m);
    const std::uint8_t* qs = b.qs + 32 * (j / 2);  // sub-blocks 2i, 2i+1: low, high nibbles
    __m512* v[2] = {&lo, &hi};
    for (int h = 0; h < 2; ++h) {
      __m512i q = _mm512_and_si512(_mm512_srli_epi32(bytes16(qs + 16 * h), 4 * (j & 1)), _mm512_set1_epi32(15));
      if constexpr (Five)  // the fifth bit of element l: bit j of qh[l]
        q = _mm512_or_si512(q, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(bytes16(b.qh + 16 * h), j),
                                                                  _mm512_set1_epi32(1)), 4));
      *v[h] = _mm512_sub_ps(_mm512_mul_ps(dsc, _mm512_cvtepi32_ps(q)), dm);
    }
  }
};

// Q6_K: step s is elements 32j .. 32j+31 (j = s % 8) of super-block s / 8: half hf = j / 4, quarter
// r = j % 4; element l's low 4 bits in ql[64hf + 32(r & 1) + l] (high nibble for r >= 2), its top 2
// bits at bit 2r of qh[32hf + l]; 16 elements per scale. w = (d * scale) * (q - 32).
struct q6_k_values {
  static void get(const std::byte* row, std::int64_t s, __m512& lo, __m512& hi) {
    const auto& b = reinterpret_cast<const block_q6_k*>(row)[s / 8];
    const int j = static_cast<int>(s % 8), hf = j / 4, r = j % 4;
    const float d = fp16(b.d);
    const std::uint8_t* ql = b.ql + 64 * hf + 32 * (r & 1);
    const std::uint8_t* qh = b.qh + 32 * hf;
    __m512* v[2] = {&lo, &hi};
    for (int h = 0; h < 2; ++h) {
      const __m512i low = _mm512_and_si512(_mm512_srli_epi32(bytes16(ql + 16 * h), 4 * (r >> 1)), _mm512_set1_epi32(15));
      const __m512i top = _mm512_and_si512(_mm512_srli_epi32(bytes16(qh + 16 * h), 2 * r), _mm512_set1_epi32(3));
      const __m512i q = _mm512_sub_epi32(_mm512_or_si512(low, _mm512_slli_epi32(top, 4)), _mm512_set1_epi32(32));
      *v[h] = _mm512_mul_ps(_mm512_set1_ps(d * float(b.scales[8 * hf + 2 * r + h])), _mm512_cvtepi32_ps(q));
    }
  }
};

// A tiles of 16 weight rows (from `w`, nrows of them; the rest zero) for columns c0 .. c0 + kc:
// panel + s * tile_values = rows 0..15, columns c0 + 32s .. +31, row-major.
template <class V>
void pack_rows16(const std::byte* w, std::size_t ws, int nrows, std::int64_t c0, std::int64_t kc, std::uint16_t* panel) {
  for (std::int64_t s = 0; s < kc / step; ++s) {
    std::uint16_t* p = panel + s * tile_values;
    for (int r = 0; r < 16; ++r) {
      __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
      if (r < nrows) V::get(w + static_cast<std::size_t>(r) * ws, c0 / step + s, lo, hi);
      _mm512_store_si512(p + r * step, to_bf16(lo, hi));
    }
  }
}

// C tile (16 rows x 16 tokens) -> out (tokens x rows, ldo floats apart; tt tokens, nr rows):
// through buf, transposed.
inline void buf_to_out(__m512i (&buf)[16], float* o, std::int64_t ldo, int tt, int nr) {
  const __mmask16 rows = static_cast<__mmask16>((1u << nr) - 1u);
  transpose16x16(buf);
  for (int t = 0; t < tt; ++t) _mm512_mask_storeu_ps(o + t * ldo, rows, _mm512_castsi512_ps(buf[t]));
}
// The tile intrinsics name their register in the instruction: a literal, not a template argument.
// A block's sums start at zero in its first panel and otherwise come back from `carry` (as the
// tile unit left them, 1 KiB per tile); after its last panel they go to out, else to carry.
#define HOLO_LOAD_C(tile)                            \
  do {                                               \
    if (first) {                                     \
      _tile_zero(tile);                              \
    } else {                                         \
      _tile_loadd(tile, carry + (tile) * 256, 64);   \
    }                                                \
  } while (0)
#define HOLO_STORE_C(tile, o, tt, nr)                \
  do {                                               \
    if (last) {                                      \
      _tile_stored(tile, buf, 64);                   \
      buf_to_out(buf, o, ldo, tt, nr);               \
    } else {                                         \
      _tile_stored(tile, carry + (tile) * 256, 64);  \
    }                                                \
  } while (0)

// One 32-row x 32-token block (TwoA: a second row group, TwoB: a second token group) over kc
// columns: A tiles from the panels, B tiles from the packed activations (b0, b1: the two token
// groups' tiles at the panel's first column). first / last: the row's first / last panel.
template <bool TwoA, bool TwoB>
void block32(const std::uint16_t* p0, const std::uint16_t* p1, const std::uint16_t* b0, const std::uint16_t* b1,
             std::int64_t kc, float* out, std::int64_t ldo, int nr0, int nr1, int tt0, int tt1, bool first, bool last,
             float* carry) {
  alignas(64) __m512i buf[16];
  float* o1 = out + 16 * ldo;  // second token group
  HOLO_LOAD_C(0);
  if constexpr (TwoB) HOLO_LOAD_C(1);
  if constexpr (TwoA) HOLO_LOAD_C(2);
  if constexpr (TwoA && TwoB) HOLO_LOAD_C(3);
  for (std::int64_t s = 0; s < kc / step; ++s) {
    _tile_loadd(4, p0 + s * tile_values, 64);
    _tile_loadd(6, b0 + s * tile_values, 64);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (TwoB) {
      _tile_loadd(7, b1 + s * tile_values, 64);
      _tile_dpbf16ps(1, 4, 7);
    }
    if constexpr (TwoA) {
      _tile_loadd(5, p1 + s * tile_values, 64);
      _tile_dpbf16ps(2, 5, 6);
      if constexpr (TwoB) _tile_dpbf16ps(3, 5, 7);
    }
  }
  HOLO_STORE_C(0, out, tt0, nr0);
  if constexpr (TwoB) HOLO_STORE_C(1, o1, tt1, nr0);
  if constexpr (TwoA) HOLO_STORE_C(2, out + 16, tt0, nr1);
  if constexpr (TwoA && TwoB) HOLO_STORE_C(3, o1 + 16, tt1, nr1);
}
#undef HOLO_LOAD_C
#undef HOLO_STORE_C

template <class V>
void gemm_bf16_amx(const std::byte* w, std::size_t ws, std::int64_t rows, const std::uint16_t* x, std::int64_t n,
                   std::int64_t cols, float* out, std::int64_t ldo) {
  alignas(64) std::uint16_t panel[2][kc_max * 16];
  alignas(64) float carry[chunk_tokens / 32][4 * 256];  // the chunk's blocks' sums between panels
  static constexpr bf16_tile_config config{};
  _tile_loadconfig(&config);
  const std::int64_t steps = cols / step;
  const std::int64_t panels = (cols + kc_max - 1) / kc_max;
  const std::int64_t kc_even = (steps + panels - 1) / panels * step;
  for (std::int64_t t0 = 0; t0 < n; t0 += chunk_tokens) {
    const std::int64_t t1 = std::min(n, t0 + chunk_tokens);
    for (std::int64_t r = 0; r < rows; r += 32) {
      const int nr0 = static_cast<int>(std::min<std::int64_t>(16, rows - r));
      const int nr1 = static_cast<int>(std::clamp<std::int64_t>(rows - r - 16, 0, 16));
      for (std::int64_t c0 = 0; c0 < cols; c0 += kc_even) {
        const std::int64_t kc = std::min(kc_even, cols - c0);
        const std::byte* wr = w + static_cast<std::size_t>(r) * ws;
        pack_rows16<V>(wr, ws, nr0, c0, kc, panel[0]);
        if (nr1 > 0) pack_rows16<V>(wr + 16 * ws, ws, nr1, c0, kc, panel[1]);
        // While the tiles work on this panel, the next one's weights come into L2, spread over the
        // token blocks (the packing otherwise waits for memory: 100m Q8_0, 2048 x 768 in 128-token
        // passes, ~35% of the matmul).
        const bool last_panel = c0 + kc >= cols;
        const std::int64_t next_r = last_panel ? r + 32 : r, next_c = last_panel ? 0 : c0 + kc;
        const std::int64_t next_rows = std::clamp<std::int64_t>(rows - next_r, 0, 32);
        const std::int64_t next_kc = std::min(kc_even, cols - next_c), blocks = (t1 - t0 + 31) / 32;
        const std::size_t span = static_cast<std::size_t>(next_kc) * ws / static_cast<std::size_t>(cols) + 64;
        const std::byte* next =
            w + static_cast<std::size_t>(next_r) * ws + static_cast<std::size_t>(next_c) * ws / static_cast<std::size_t>(cols);
        for (std::int64_t t = t0; t < t1; t += 32) {
          const std::int64_t j = (t - t0) / 32;
          for (std::int64_t q = next_rows * j / blocks; q < next_rows * (j + 1) / blocks; ++q)
            for (std::size_t b = 0; b < span; b += 64)
              _mm_prefetch(reinterpret_cast<const char*>(next + q * ws + b), _MM_HINT_T1);
          const int tt0 = static_cast<int>(std::min<std::int64_t>(16, t1 - t));
          const int tt1 = static_cast<int>(std::clamp<std::int64_t>(t1 - t - 16, 0, 16));
          // Token group g's tile for column step j: x + (g * steps + j) * tile_values (pack_bf16_rows).
          const std::uint16_t* b0 = x + ((t / 16) * steps + c0 / step) * tile_values;
          const std::uint16_t* b1 = b0 + steps * tile_values;
          float* o = out + t * ldo + r;
          const bool first = c0 == 0;
          if (nr1 > 0 && tt1 > 0)
            block32<true, true>(panel[0], panel[1], b0, b1, kc, o, ldo, nr0, nr1, tt0, tt1, first, last_panel, carry[j]);
          else if (nr1 > 0)
            block32<true, false>(panel[0], panel[1], b0, b1, kc, o, ldo, nr0, nr1, tt0, tt1, first, last_panel, carry[j]);
          else if (tt1 > 0)
            block32<false, true>(panel[0], panel[1], b0, b1, kc, o, ldo, nr0, nr1, tt0, tt1, first, last_panel, carry[j]);
          else
            block32<false, false>(panel[0], panel[1], b0, b1, kc, o, ldo, nr0, nr1, tt0, tt1, first, last_panel, carry[j]);
        }
      }
    }
  }
  _tile_release();
}

bool bf16_tiles_ready() {
  // The tile registers are granted per process (amx_ready asks for them); the build says only what
  // the compiler targeted, the CPU whether it has the BF16 tile product. HOLO_CPU_AMX=int8 keeps the
  // integer tile kernels (gemm.cpp) for Q8_0/Q4_0/Q4_K/Q5_K: A/B timings, diagnosis.
  static const bool ready = [] {
    const char* e = std::getenv("HOLO_CPU_AMX");
    return amx_ready() && __builtin_cpu_supports("amx-bf16") && !(e != nullptr && std::string_view(e) == "int8");
  }();
  return ready;
}

}  // namespace

gemm_bf16_fn gemm_bf16_for(tensor_type w) {
  if (!bf16_tiles_ready()) return nullptr;
  switch (w) {
    case tensor_type::q8_0:
      return gemm_bf16_amx<q8_0_values>;
    case tensor_type::q4_0:
      return gemm_bf16_amx<q4_0_values>;
    case tensor_type::q4_k:
      return gemm_bf16_amx<q45_k_values<false>>;
    case tensor_type::q5_k:
      return gemm_bf16_amx<q45_k_values<true>>;
    case tensor_type::q6_k:
      return gemm_bf16_amx<q6_k_values>;
    default:
      return nullptr;
  }
}

void pack_bf16_rows(const float* x, std::int64_t t0, std::int64_t t1, std::int64_t n, std::int64_t cols,
                    std::uint16_t* dst) {
  // t0, t1: multiples of 16 (whole tiles).
  const std::int64_t steps = cols / step;
  for (std::int64_t g = t0 / 16; g * 16 < t1; ++g) {
    std::uint16_t* d = dst + g * steps * tile_values;
    for (std::int64_t j = 0; j < steps; ++j, d += tile_values) {
      // Token t's columns 32j .. 32j+31 as 16 pairs, then the 16 tokens' pairs transposed: row k2
      // of the tile = pair k2 of each token.
      __m512i m[16];
      for (int i = 0; i < 16; ++i) {
        const std::int64_t t = g * 16 + i;
        const float* s = x + t * cols + j * step;
        m[i] = t < n ? to_bf16(_mm512_loadu_ps(s), _mm512_loadu_ps(s + 16)) : _mm512_setzero_si512();
      }
      transpose16x16(m);
      for (int k = 0; k < 16; ++k) _mm512_storeu_si512(d + k * step, m[k]);
    }
  }
}

#else

gemm_bf16_fn gemm_bf16_for(tensor_type) { return nullptr; }
void pack_bf16_rows(const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::uint16_t*) {}

#endif

}  // namespace holo::gpu::cpu
