// Quantized weight rows dotted with Q8 activation rows (see gpu/cpu/dot.hpp). The AVX2 kernels follow
// llama.cpp's ggml_vec_dot_*: unsigned 4/5/6-bit weights times signed 8-bit activations with
// maddubs (pairs -> i16, never saturating for these ranges: 63 * 127 * 2 < 32767), madd by the
// sub-block scale (-> i32), one float FMA per block or super-block (VNNI's dpbusd for the plain
// 8-bit products where the build has it). The activation quantizers are AVX2 copies of gpu/quant.cpp's
// quantize_row_q8_0/q8_k, producing the same bytes (gemm.test.cpp checks).
// GCC 12's AVX-512 headers build 512-bit values from _mm512_undefined_*() and then warn, after
// inlining, that those may be used uninitialized (they are masked off): a false positive here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cstring>
#include <type_traits>

#include "gpu/cpu/dot.hpp"
#include "gpu/cpu/dot_q8_util.hpp"
#include "gpu/quant.hpp"

namespace holo::gpu::cpu {
namespace {

// sum_j m[j] * (sum of the 32 activations of sub-block j), from Q8_K's per-16 sums.
inline int mins_dot(const std::uint8_t* m, const std::int16_t* bsums) {
  int s = 0;
  for (int j = 0; j < 8; ++j) s += int(m[j]) * (bsums[2 * j] + bsums[2 * j + 1]);
  return s;
}

}  // namespace

tensor_type activation_type(tensor_type w) {
  switch (w) {
    case tensor_type::q4_0:
    case tensor_type::q8_0:
      return tensor_type::q8_0;
    case tensor_type::q4_k:
    case tensor_type::q5_k:
    case tensor_type::q6_k:
      return tensor_type::q8_k;
    default:
      return tensor_type::f32;
  }
}

vec_dot_fn vec_dot_for(tensor_type w) {
  switch (w) {
    case tensor_type::f32:
      return vec_dot_f32;
    case tensor_type::f16:
      return vec_dot_f16;
    case tensor_type::bf16:
      return vec_dot_bf16;
    case tensor_type::q4_0:
      return vec_dot_q4_0_q8_0;
    case tensor_type::q8_0:
      return vec_dot_q8_0_q8_0;
    case tensor_type::q4_k:
      return vec_dot_q4_k_q8_k;
    case tensor_type::q5_k:
      return vec_dot_q5_k_q8_k;
    case tensor_type::q6_k:
      return vec_dot_q6_k_q8_k;
    default:
      return nullptr;
  }
}

#ifdef HOLO_CPU_AVX2
namespace {

inline float amax8(__m256 a) {  // max |a[i]|
  a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// 32 floats -> 32 bytes round(v * s) (ties to even, lrintf's rounding), clamped to [-127, 127];
// divide: v / s instead. q32 gets the 4 rounded i32 vectors (for Q8_K's per-16 sums).
template <bool divide>
inline void round32(const float* x, __m256 s, std::int8_t* dst, __m256i* q32) {
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (int k = 0; k < 4; ++k) {
    const __m256 v = _mm256_loadu_ps(x + 8 * k);
    const __m256 y = divide ? _mm256_div_ps(v, s) : _mm256_mul_ps(v, s);
    q32[k] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(y), lo), hi);
  }
  // packs interleave 128-bit lanes: (0..3 8..11 | 4..7 12..15) per pair; the permute restores order.
  const __m256i p16 = _mm256_packs_epi32(q32[0], q32[1]), p16b = _mm256_packs_epi32(q32[2], q32[3]);
  const __m256i p8 = _mm256_packs_epi16(p16, p16b);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// A Q4_K/Q5_K super-block's scale header as vectors: `scales` holds scale j (i16) at lanes j and
// 8+j (both 128-bit halves, for scale_pair), and the returned value is sum_j min_j * (sum of the
// activations of sub-block j) from Q8_K's per-16 sums -- the minimums' term, without a scalar loop.
inline __m128i k4_header(const std::uint8_t* packed, const std::int16_t* bsums, __m256i* scales) {
  std::uint32_t u[4];
  unpack_k4_words(packed, u);
  const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32(int(u[3]), int(u[2]), int(u[1]), int(u[0])));
  const __m256i q8sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsums));
  const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1));
  const __m128i sc = _mm256_castsi256_si128(mins_and_scales);
  *scales = _mm256_set_m128i(sc, sc);
  return _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8s);  // 4 partial i32 sums
}

// Every i16 lane = lane j of `scales` (a pshufb instead of a scalar load and broadcast).
inline __m256i scale_pair_k4(__m256i scales, int j) {
  const __m256i idx = _mm256_set1_epi16(static_cast<short>((2 * j) | ((2 * j + 1) << 8)));
  return _mm256_shuffle_epi8(scales, idx);
}

inline float hsum128(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// gpu/quant.cpp's quantize_row_q8_0, 8 lanes at a time; the same bytes.
void quantize_q8_0_avx2(const float* x, block_q8_0* dst, std::int64_t n) {
  for (std::int64_t b = 0; b < n / qk8_0; ++b, x += qk8_0) {
    const __m256 m = _mm256_max_ps(
        _mm256_max_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_loadu_ps(x)),
                      _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_loadu_ps(x + 8))),
        _mm256_max_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_loadu_ps(x + 16)),
                      _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_loadu_ps(x + 24))));
    dst[b].d = f32_to_f16(amax8(m) / 127.0f);
    const float d = f16_to_f32(dst[b].d);
    __m256i q32[4];
    if (d > 0) {
      round32<true>(x, _mm256_set1_ps(d), dst[b].qs, q32);
    } else {
      std::memset(dst[b].qs, 0, sizeof dst[b].qs);
    }
  }
}

// gpu/quant.cpp's quantize_row_q8_k, 8 lanes at a time; the same bytes and sums.
void quantize_q8_k_avx2(const float* x, block_q8_k* dst, std::int64_t n) {
  for (std::int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < qk_k; i += 8) {
      m = _mm256_max_ps(m, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_loadu_ps(x + i)));
    }
    const float d = amax8(m) / 127.0f;
    const float id = d > 0 ? 1.0f / d : 0.0f;
    dst[b].d = d;
    for (int g = 0; g < qk_k / 32; ++g) {
      __m256i q32[4];
      round32<false>(x + 32 * g, _mm256_set1_ps(id), dst[b].qs + 32 * g, q32);
      dst[b].bsums[2 * g] = static_cast<std::int16_t>(hsum_i32(_mm256_add_epi32(q32[0], q32[1])));
      dst[b].bsums[2 * g + 1] = static_cast<std::int16_t>(hsum_i32(_mm256_add_epi32(q32[2], q32[3])));
    }
  }
}

}  // namespace
#endif

void quantize_activation(tensor_type act, const float* x, void* dst, std::int64_t n) {
#ifdef HOLO_CPU_AVX2
  if (act == tensor_type::q8_0) {
    quantize_q8_0_avx2(x, static_cast<block_q8_0*>(dst), n);
  } else {
    quantize_q8_k_avx2(x, static_cast<block_q8_k*>(dst), n);
  }
#else
  if (act == tensor_type::q8_0) {
    quantize_row_q8_0(x, static_cast<block_q8_0*>(dst), n);
  } else {
    quantize_row_q8_k(x, static_cast<block_q8_k*>(dst), n);
  }
#endif
}

float vec_dot_q4_0_q8_0(const void* wv, const void* xv, std::int64_t n) {
  const auto* w = static_cast<const block_q4_0*>(wv);
  const auto* x = static_cast<const block_q8_0*>(xv);
  const std::int64_t nb = n / qk4_0;
#ifdef HOLO_CPU_AVX2
  const __m256i m4 = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    if ((b & 1) == 0) prefetch_page_ahead<1>(w + b);
    const __m256 d = _mm256_set1_ps(fp16(w[b].d) * fp16(x[b].d));
    // Byte i holds element i (low nibble) and i+16 (high): low lane <- low nibbles, high <- high.
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    __m256i qw = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), m4);
    qw = _mm256_sub_epi8(qw, eight);
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, qx), acc);
  }
  return hsum(acc);
#else
  float sum = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    int s = 0;
    for (int i = 0; i < qk4_0 / 2; ++i) {
      s += ((w[b].qs[i] & 0x0f) - 8) * x[b].qs[i] + ((w[b].qs[i] >> 4) - 8) * x[b].qs[i + qk4_0 / 2];
    }
    sum += fp16(w[b].d) * fp16(x[b].d) * float(s);
  }
  return sum;
#endif
}

float vec_dot_q8_0_q8_0(const void* wv, const void* xv, std::int64_t n) {
  const auto* w = static_cast<const block_q8_0*>(wv);
  const auto* x = static_cast<const block_q8_0*>(xv);
  const std::int64_t nb = n / qk8_0;
#ifdef HOLO_CPU_AVX2
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    if ((b & 1) == 0) prefetch_page_ahead<1>(w + b);
    const __m256 d = _mm256_set1_ps(fp16(w[b].d) * fp16(x[b].d));
    const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, qx), acc);
  }
  return hsum(acc);
#else
  float sum = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    int s = 0;
    for (int i = 0; i < qk8_0; ++i) s += w[b].qs[i] * x[b].qs[i];
    sum += fp16(w[b].d) * fp16(x[b].d) * float(s);
  }
  return sum;
#endif
}

std::size_t decode_scales_offset(std::int64_t n) {
  const auto blocks = static_cast<std::size_t>(n / qk8_0) * sizeof(block_q8_0);
  return (blocks + 63) / 64 * 64;
}

void append_scales_q8_0(void* xv, std::int64_t n) {
  const auto* x = static_cast<const block_q8_0*>(xv);
  auto* d = reinterpret_cast<float*>(static_cast<std::byte*>(xv) + decode_scales_offset(n));
  for (std::int64_t b = 0; b < n / qk8_0; ++b) d[b] = fp16(x[b].d);
}

// Two pages ahead, not one as the other dots: this dot reads a page in fewer cycles than the
// K-quant ones, so one page ahead is too little time for the line to arrive (1B Q8_0 decode, 9 of
// 13 alternated pairs faster at 8 KiB, +4% median; Q4_K_M was slower at 8 KiB in the same test).
constexpr int q8_0_decode_ahead_bytes = 2 * page_ahead_bytes;

float vec_dot_q8_0_q8_0_decode(const void* wv, const void* xv, std::int64_t n) {
  const auto* w = static_cast<const block_q8_0*>(wv);
  const auto* x = static_cast<const block_q8_0*>(xv);
  const auto* xd = reinterpret_cast<const float*>(static_cast<const std::byte*>(xv) + decode_scales_offset(n));
  const std::int64_t nb = n / qk8_0;
#ifdef HOLO_CPU_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + q8_0_decode_ahead_bytes, _MM_HINT_T0);
    const __m256 d0 = _mm256_set1_ps(fp16(w[b].d) * xd[b]);
    const __m256 d1 = _mm256_set1_ps(fp16(w[b + 1].d) * xd[b + 1]);
    const __m256i qw0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i qw1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b + 1].qs));
    const __m256i qx0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const __m256i qx1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b + 1].qs));
    acc0 = _mm256_fmadd_ps(d0, mul_sum_i8(qw0, qx0), acc0);
    acc1 = _mm256_fmadd_ps(d1, mul_sum_i8(qw1, qx1), acc1);
  }
  for (; b < nb; ++b) {
    const __m256 d = _mm256_set1_ps(fp16(w[b].d) * xd[b]);
    const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    acc0 = _mm256_fmadd_ps(d, mul_sum_i8(qw, qx), acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
#else
  float sum = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    int s = 0;
    for (int i = 0; i < qk8_0; ++i) s += w[b].qs[i] * x[b].qs[i];
    sum += fp16(w[b].d) * xd[b] * float(s);
  }
  return sum;
#endif
}

#if defined(HOLO_CPU_AVX2) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define HOLO_CPU_ZMM_KQUANT_DOTS 1
namespace {

// Decode dots of the K-quants with 512-bit registers: 64 weights per instruction. A zmm holds two
// sub-blocks' 4-6-bit values as bytes, maddubs pairs them with the 64 contiguous activation bytes
// (-> 32 i16), and vpdpwssd multiplies by the sub-block scales and accumulates in one instruction.
// The scales come from one vpermw per pair of sub-blocks (constant index vectors).

// i16 lanes 0-15 = lane a, 16-31 = lane b of the source.
inline __m512i halves_index(int a, int b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(a))),
                            _mm256_set1_epi16(static_cast<short>(b)), 1);
}
// i16 lanes 8k..8k+7 = lane base + k (k < 4): four sub-blocks of 16 values.
inline __m512i quarters_index(int base) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16(static_cast<short>(base + 1)),
                                              _mm_set1_epi16(static_cast<short>(base)))),
      _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(base + 3)), _mm_set1_epi16(static_cast<short>(base + 2))),
      1);
}
// Per-16-bit-lane shift counts: a for the low 256 bits, b for the high.
inline __m512i halves_shift(int a, int b) { return halves_index(a, b); }

// Q4_K and (with the fifth bits of qh) Q5_K.
template <class Block>
float dot_k45_zmm(const Block* w, const block_q8_k* x, std::int64_t nb) {
  constexpr bool five = std::is_same_v<Block, block_q5_k>;
  const __m512i m4 = _mm512_set1_epi8(0x0f), m1 = _mm512_set1_epi8(1), nibble_shift = halves_shift(0, 4);
  const __m512i pair_idx[4] = {halves_index(0, 1), halves_index(2, 3), halves_index(4, 5), halves_index(6, 7)};
  // Q5_K: the fifth bit of value 64j + l is bit 2j of qh[l], of 64j + 32 + l bit 2j + 1.
  const __m512i fifth_shift[4] = {halves_shift(0, 1), halves_shift(2, 3), halves_shift(4, 5), halves_shift(6, 7)};
  __m512 acc = _mm512_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    prefetch_page_ahead<(sizeof(Block) + 63) / 64>(w + b);
    __m256i scales;
    const __m128i mins = k4_header(w[b].scales, x[b].bsums, &scales);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(x[b].d * fp16(w[b].dmin)), _mm_cvtepi32_ps(mins), acc_m);
    const __m512i sc = _mm512_castsi256_si512(scales);
    __m512i qh = _mm512_setzero_si512();
    if constexpr (five) qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh)));
    __m512i sumi = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {  // bytes 32j..: low nibbles sub-block 2j, high 2j+1 = q8 64j..64j+63
      const __m512i bits = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * j)));
      __m512i nib = _mm512_and_si512(_mm512_srlv_epi16(bits, nibble_shift), m4);
      if constexpr (five) {
        // Shifting 16-bit lanes right by k < 8 leaves bit k of every byte at that byte's bit 0.
        nib = _mm512_or_si512(nib, _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, fifth_shift[j]), m1), 4));
      }
      const __m512i p = _mm512_maddubs_epi16(nib, _mm512_loadu_si512(x[b].qs + 64 * j));
      sumi = _mm512_dpwssd_epi32(sumi, p, _mm512_permutexvar_epi16(pair_idx[j], sc));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(x[b].d * fp16(w[b].d)), _mm512_cvtepi32_ps(sumi), acc);
  }
  return _mm512_reduce_add_ps(acc) - hsum128(acc_m);
}

float dot_q6_k_zmm(const block_q6_k* w, const block_q8_k* x, std::int64_t nb) {
  const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3);
  const __m512i shift_a = halves_shift(0, 2), shift_b = halves_shift(4, 6);
  const __m512i quarter_idx[4] = {quarters_index(0), quarters_index(4), quarters_index(8), quarters_index(12)};
  __m512 acc = _mm512_setzero_ps();
  __m256 acc_o = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    prefetch_page_ahead<(sizeof(block_q6_k) + 63) / 64>(w + b);
    const float d = x[b].d * fp16(w[b].d);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    // (q - 32) . x: the 32 * sum(x) part from Q8_K's per-16 sums, once per super-block.
    const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].bsums)));
    acc_o = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(off), acc_o);
    const __m512i sc = _mm512_castsi256_si512(sc16);
    __m512i sumi = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {  // halves of 128 values (layout: gpu/quant.cpp)
      const __m512i l = _mm512_loadu_si512(w[b].ql + 64 * h);  // [ql 0..31 | ql 32..63]
      const __m512i hq = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * h)));
      // a = values 128h + 0..63 (quarters 0, 1), b = 128h + 64..127 (quarters 2, 3): 0..63 unsigned
      const __m512i a = _mm512_or_si512(_mm512_and_si512(l, m4),
                                        _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(hq, shift_a), m3), 4));
      const __m512i bq = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                         _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(hq, shift_b), m3), 4));
      const __m512i pa = _mm512_maddubs_epi16(a, _mm512_loadu_si512(x[b].qs + 128 * h));
      const __m512i pb = _mm512_maddubs_epi16(bq, _mm512_loadu_si512(x[b].qs + 128 * h + 64));
      sumi = _mm512_dpwssd_epi32(sumi, pa, _mm512_permutexvar_epi16(quarter_idx[2 * h], sc));
      sumi = _mm512_dpwssd_epi32(sumi, pb, _mm512_permutexvar_epi16(quarter_idx[2 * h + 1], sc));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
  }
  return _mm512_reduce_add_ps(acc) - 32.0f * hsum(acc_o);
}

}  // namespace
#endif

namespace {

// Q4_K and Q5_K (Q5_K = Q4_K plus a fifth bit per value in qh) against Q8_K, sharing one loop.
template <class Block>
float dot_k45(const Block* w, const block_q8_k* x, std::int64_t nb) {
  constexpr bool five = std::is_same_v<Block, block_q5_k>;
#ifdef HOLO_CPU_AVX2
  const __m256i m4 = _mm256_set1_epi8(0x0f), m1 = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    prefetch_page_ahead<(sizeof(Block) + 63) / 64>(w + b);
    __m256i scales;
    const __m128i mins = k4_header(w[b].scales, x[b].bsums, &scales);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(x[b].d * fp16(w[b].dmin)), _mm_cvtepi32_ps(mins), acc_m);
    const std::uint8_t* q4 = w[b].qs;
    const std::int8_t* q8 = x[b].qs;
    // Q5_K's fifth bits: bit 2j of qh[l] for element 64j+l, bit 2j+1 for 64j+32+l. Shifting whole
    // 16-bit lanes right one bit at a time keeps bit k of each byte at that byte's bit 0 after k
    // shifts.
    __m256i hb = _mm256_setzero_si256();
    if constexpr (five) hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh));
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {  // 64 elements: 32 bytes, low nibbles sub-block 2j, high 2j+1
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4 + 32 * j));
      __m256i lo = _mm256_and_si256(bits, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
      if constexpr (five) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, m1), 4));
        hb = _mm256_srli_epi16(hb, 1);
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(hb, m1), 4));
        hb = _mm256_srli_epi16(hb, 1);
      }
      __m256i pl =
          _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 64 * j)));
      __m256i ph =
          _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 64 * j + 32)));
      pl = _mm256_madd_epi16(scale_pair_k4(scales, 2 * j), pl);
      ph = _mm256_madd_epi16(scale_pair_k4(scales, 2 * j + 1), ph);
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(x[b].d * fp16(w[b].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc) - hsum128(acc_m);
#else
  float sum = 0.0f, sum_mins = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    std::uint8_t sc[8], m[8];
    unpack_k4(w[b].scales, sc, m);
    sum_mins += x[b].d * fp16(w[b].dmin) * float(mins_dot(m, x[b].bsums));
    const std::uint8_t* q4 = w[b].qs;
    const std::int8_t* q8 = x[b].qs;
    int sumi = 0;
    for (int j = 0; j < 4; ++j) {
      int sl = 0, sh = 0;
      for (int l = 0; l < 32; ++l) {
        int lo = q4[32 * j + l] & 0x0f, hi = q4[32 * j + l] >> 4;
        if constexpr (five) {
          lo |= ((w[b].qh[l] >> (2 * j)) & 1) << 4;
          hi |= ((w[b].qh[l] >> (2 * j + 1)) & 1) << 4;
        }
        sl += lo * q8[64 * j + l];
        sh += hi * q8[64 * j + 32 + l];
      }
      sumi += sc[2 * j] * sl + sc[2 * j + 1] * sh;
    }
    sum += x[b].d * fp16(w[b].d) * float(sumi);
  }
  return sum - sum_mins;
#endif
}

// The widest Q4_K/Q5_K kernel this build has.
template <class Block>
float dot_k45_best(const void* wv, const void* xv, std::int64_t n) {
  const auto* w = static_cast<const Block*>(wv);
  const auto* x = static_cast<const block_q8_k*>(xv);
#if defined(HOLO_CPU_ZMM_KQUANT_DOTS)
  return dot_k45_zmm(w, x, n / qk_k);
#else
  return dot_k45(w, x, n / qk_k);
#endif
}

}  // namespace

float vec_dot_q4_k_q8_k(const void* wv, const void* xv, std::int64_t n) { return dot_k45_best<block_q4_k>(wv, xv, n); }

float vec_dot_q5_k_q8_k(const void* wv, const void* xv, std::int64_t n) { return dot_k45_best<block_q5_k>(wv, xv, n); }

float vec_dot_q6_k_q8_k(const void* wv, const void* xv, std::int64_t n) {
  const auto* w = static_cast<const block_q6_k*>(wv);
  const auto* x = static_cast<const block_q8_k*>(xv);
  const std::int64_t nb = n / qk_k;
#if defined(HOLO_CPU_ZMM_KQUANT_DOTS)
  return dot_q6_k_zmm(w, x, nb);
#elif defined(HOLO_CPU_AVX2)
  const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    prefetch_page_ahead<(sizeof(block_q6_k) + 63) / 64>(w + b);
    const float d = x[b].d * fp16(w[b].d);
    // The 16 int8 scales; pair (s, s+1) widened to i16 by one pshufb and one sign extension.
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales));
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {  // halves of 128 elements (layout: gpu/quant.cpp)
      const std::uint8_t* ql = w[b].ql + 64 * h;
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i hq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * h));
      __m256i q[4];  // chunk r: elements 128h + 32r + l, unsigned 0..63 (value + 32)
      q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hq, m3), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hq, 2), m3), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hq, 4), m3), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hq, 6), m3), 4));
      for (int r = 0; r < 4; ++r) {
        const __m256i q8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 128 * h + 32 * r));
        // (q - 32) . x = q . x - 32 * sum(x)
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[r], q8), _mm256_maddubs_epi16(k32, q8));
        const int s = 8 * h + 2 * r;  // sub-blocks of 16: low lane s, high lane s+1
        const __m128i pair = _mm_shuffle_epi8(sc, _mm_set_epi64x(0x0101010101010101LL * (s + 1),
                                                                 0x0101010101010101LL * s));
        const __m256i scale = _mm256_cvtepi8_epi16(pair);
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale, p));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
#else
  float sum = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    int sumi = 0;
    for (int h = 0; h < 2; ++h) {
      const std::uint8_t* ql = w[b].ql + 64 * h;
      const std::uint8_t* qh = w[b].qh + 32 * h;
      for (int r = 0; r < 4; ++r) {
        int s16[2] = {0, 0};
        for (int l = 0; l < 32; ++l) {
          const int lo = (ql[l + 32 * (r & 1)] >> (4 * (r >> 1))) & 0x0f;
          const int q = (lo | (((qh[l] >> (2 * r)) & 3) << 4)) - 32;
          s16[l / 16] += q * x[b].qs[128 * h + 32 * r + l];
        }
        const int s = 8 * h + 2 * r;
        sumi += w[b].scales[s] * s16[0] + w[b].scales[s + 1] * s16[1];
      }
    }
    sum += x[b].d * fp16(w[b].d) * float(sumi);
  }
  return sum;
#endif
}

}  // namespace holo::gpu::cpu
