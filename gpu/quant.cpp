#include "gpu/quant.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "gpu/f16.hpp"

namespace holo::gpu {
namespace {

// Candidate scales tried on each side of the plain max-based one; steps of 0.1 quant level. More
// steps buy little: least squares refinement below does most of the work.
constexpr int scale_search_steps = 12;
constexpr int refine_steps = 2;

int round_int(float v) { return static_cast<int>(std::lrintf(v)); }

float f16_round(float v) { return f16_to_f32(f32_to_f16(v)); }

// Best s for x[i] ~= s * q[i] with integer q[i] in [qmin, qmax]; tries scales that put the
// largest-magnitude element at either end of the range, refines each by least squares on its q.
float fit_symmetric(const float* x, int n, int qmin, int qmax) {
  float amax = 0.0f;
  float vmax = 0.0f;  // the element with the largest magnitude, sign kept
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); vmax = x[i]; }
  }
  if (amax == 0.0f) return 0.0f;
  float best_s = vmax / float(qmin);
  float best_err = std::numeric_limits<float>::infinity();
  for (const int end : {qmin, qmax}) {
    for (int k = -scale_search_steps; k <= scale_search_steps; ++k) {
      const float target = float(end) + (end < 0 ? -0.1f : 0.1f) * float(k);
      if (target == 0.0f) continue;
      const float iscale = target / vmax;
      double sqx = 0.0;
      double sqq = 0.0;
      for (int i = 0; i < n; ++i) {
        const int q = std::clamp(round_int(iscale * x[i]), qmin, qmax);
        sqx += double(q) * x[i];
        sqq += double(q) * q;
      }
      if (sqq == 0.0) continue;
      float s = float(sqx / sqq);
      // A few Lloyd steps: re-assign q to the refined scale, refit. Each step cannot raise the error.
      for (int step = 0; step < refine_steps; ++step) {
        sqx = 0.0;
        sqq = 0.0;
        for (int i = 0; i < n; ++i) {
          const int q = std::clamp(round_int(x[i] / s), qmin, qmax);
          sqx += double(q) * x[i];
          sqq += double(q) * q;
        }
        if (sqq == 0.0) break;
        s = float(sqx / sqq);
      }
      float err = 0.0f;
      for (int i = 0; i < n; ++i) {
        const int q = std::clamp(round_int(x[i] / s), qmin, qmax);
        const float e = s * float(q) - x[i];
        err += e * e;
      }
      if (err < best_err) { best_err = err; best_s = s; }
    }
  }
  return best_s;
}

// Best (s, m), m >= 0, for x[i] ~= s * q[i] - m with q[i] in [0, qmax]. Tries scales spanning
// [min(x,0), max(x)] with small stretches, refits s and m by least squares for each q pattern.
void fit_scale_min(const float* x, int n, int qmax, float* scale, float* min) {
  float lo = *std::min_element(x, x + n);
  const float hi = *std::max_element(x, x + n);
  if (lo > 0.0f) lo = 0.0f;  // the format's offset only subtracts
  if (hi == lo) { *scale = 0.0f; *min = -lo; return; }
  float best_err = std::numeric_limits<float>::infinity();
  *scale = (hi - lo) / float(qmax);
  *min = -lo;
  for (int k = -scale_search_steps; k <= scale_search_steps; ++k) {
    const float iscale = (float(qmax) + 0.1f * float(k)) / (hi - lo);
    double sq = 0.0, sx = 0.0, sqq = 0.0, sqx = 0.0;
    for (int i = 0; i < n; ++i) {
      const int q = std::clamp(round_int(iscale * (x[i] - lo)), 0, qmax);
      sq += q; sx += x[i]; sqq += double(q) * q; sqx += double(q) * x[i];
    }
    const double det = n * sqq - sq * sq;
    if (det <= 0.0) continue;
    double s = (n * sqx - sq * sx) / det;
    double b = (sx - s * sq) / n;  // x ~= s*q + b
    if (b > 0.0) { b = 0.0; s = sqx / sqq; }
    if (s <= 0.0) continue;
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int q = std::clamp(round_int(float((x[i] - b) / s)), 0, qmax);
      const float e = float(s * q + b) - x[i];
      err += e * e;
    }
    if (err < best_err) { best_err = err; *scale = float(s); *min = float(-b); }
  }
}

// Super-block step shared by Q4_K and Q5_K: 8 sub-blocks of 32, 6-bit scales and mins against f16
// super-scales d and dmin. Writes d, dmin, the packed scales, and q[256] in [0, qmax].
void quantize_k_superblock(const float* x, int qmax, f16_bits* d_out, f16_bits* dmin_out,
                           std::uint8_t* packed, std::uint8_t* q) {
  float scale[8];
  float min[8];
  float scale_max = 0.0f;
  float min_max = 0.0f;
  for (int j = 0; j < 8; ++j) {
    fit_scale_min(x + 32 * j, 32, qmax, &scale[j], &min[j]);
    scale_max = std::max(scale_max, scale[j]);
    min_max = std::max(min_max, min[j]);
  }
  const float d = f16_round(scale_max / 63.0f);
  const float dmin = f16_round(min_max / 63.0f);
  std::uint8_t ls[8];
  std::uint8_t lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = static_cast<std::uint8_t>(d > 0 ? std::clamp(round_int(scale[j] / d), 0, 63) : 0);
    lm[j] = static_cast<std::uint8_t>(dmin > 0 ? std::clamp(round_int(min[j] / dmin), 0, 63) : 0);
  }
  *d_out = f32_to_f16(d);
  *dmin_out = f32_to_f16(dmin);
  pack_scale_min_k4(ls, lm, packed);
  // Re-quantize against the scales as stored, so rounding of d, dmin, ls, lm is compensated.
  for (int j = 0; j < 8; ++j) {
    const float s = d * ls[j];
    const float m = dmin * lm[j];
    for (int i = 0; i < 32; ++i) {
      const int v = s > 0 ? round_int((x[32 * j + i] + m) / s) : 0;
      q[32 * j + i] = static_cast<std::uint8_t>(std::clamp(v, 0, qmax));
    }
  }
}

}  // namespace

void unpack_scale_min_k4(int j, const std::uint8_t* scales, std::uint8_t* scale, std::uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<std::uint8_t>((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4));
    *min = static_cast<std::uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

void pack_scale_min_k4(const std::uint8_t* scale, const std::uint8_t* min, std::uint8_t* scales) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = static_cast<std::uint8_t>((scale[j] & 63) | ((scale[j + 4] >> 4) << 6));
    scales[j + 4] = static_cast<std::uint8_t>((min[j] & 63) | ((min[j + 4] >> 4) << 6));
    scales[j + 8] = static_cast<std::uint8_t>((scale[j + 4] & 0x0f) | ((min[j + 4] & 0x0f) << 4));
  }
}

// ---- dequantize -------------------------------------------------------------------------------

void dequantize_row_q8_0(const block_q8_0* src, float* dst, std::int64_t n) {
  assert(n % qk8_0 == 0);
  for (std::int64_t b = 0; b < n / qk8_0; ++b) {  // (blocks, 32) -> dst
    const float d = f16_to_f32(src[b].d);
    for (int i = 0; i < qk8_0; ++i) dst[b * qk8_0 + i] = d * float(src[b].qs[i]);
  }
}

void dequantize_row_q4_0(const block_q4_0* src, float* dst, std::int64_t n) {
  assert(n % qk4_0 == 0);
  for (std::int64_t b = 0; b < n / qk4_0; ++b) {
    const float d = f16_to_f32(src[b].d);
    float* y = dst + b * qk4_0;
    for (int i = 0; i < qk4_0 / 2; ++i) {  // byte i: element i low, element i+16 high
      y[i] = d * float((src[b].qs[i] & 0x0f) - 8);
      y[i + qk4_0 / 2] = d * float((src[b].qs[i] >> 4) - 8);
    }
  }
}

void dequantize_row_q4_k(const block_q4_k* src, float* dst, std::int64_t n) {
  assert(n % qk_k == 0);
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const block_q4_k& blk = src[b];
    const float d = f16_to_f32(blk.d);
    const float dmin = f16_to_f32(blk.dmin);
    float* y = dst + b * qk_k;
    // Chunks of 64: 32 bytes of qs, low nibbles are sub-block 2c, high nibbles sub-block 2c+1.
    for (int c = 0; c < 4; ++c) {
      std::uint8_t sc0, m0, sc1, m1;
      unpack_scale_min_k4(2 * c, blk.scales, &sc0, &m0);
      unpack_scale_min_k4(2 * c + 1, blk.scales, &sc1, &m1);
      const std::uint8_t* qs = blk.qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        y[64 * c + l] = d * sc0 * float(qs[l] & 0x0f) - dmin * m0;
        y[64 * c + 32 + l] = d * sc1 * float(qs[l] >> 4) - dmin * m1;
      }
    }
  }
}

void dequantize_row_q5_k(const block_q5_k* src, float* dst, std::int64_t n) {
  assert(n % qk_k == 0);
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const block_q5_k& blk = src[b];
    const float d = f16_to_f32(blk.d);
    const float dmin = f16_to_f32(blk.dmin);
    float* y = dst + b * qk_k;
    // As Q4_K; the fifth bit of element 64c+l is bit 2c of qh[l], of 64c+32+l bit 2c+1.
    for (int c = 0; c < 4; ++c) {
      std::uint8_t sc0, m0, sc1, m1;
      unpack_scale_min_k4(2 * c, blk.scales, &sc0, &m0);
      unpack_scale_min_k4(2 * c + 1, blk.scales, &sc1, &m1);
      const std::uint8_t* qs = blk.qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        const int hi0 = (blk.qh[l] >> (2 * c)) & 1;
        const int hi1 = (blk.qh[l] >> (2 * c + 1)) & 1;
        y[64 * c + l] = d * sc0 * float((qs[l] & 0x0f) | (hi0 << 4)) - dmin * m0;
        y[64 * c + 32 + l] = d * sc1 * float((qs[l] >> 4) | (hi1 << 4)) - dmin * m1;
      }
    }
  }
}

void dequantize_row_q6_k(const block_q6_k* src, float* dst, std::int64_t n) {
  assert(n % qk_k == 0);
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const block_q6_k& blk = src[b];
    const float d = f16_to_f32(blk.d);
    float* y = dst + b * qk_k;
    // Halves of 128: ql bytes [64h, 64h+64), qh bytes [32h, 32h+32). For l < 32, element
    // 128h + 32r + l has its low nibble in ql[64h + l + 32(r&1)] (high nibble when r >= 2) and its
    // top 2 bits at bit 2r of qh[32h + l]. Sub-block = element / 16.
    for (int h = 0; h < 2; ++h) {
      const std::uint8_t* ql = blk.ql + 64 * h;
      const std::uint8_t* qh = blk.qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        for (int r = 0; r < 4; ++r) {
          const int lo = (ql[l + 32 * (r & 1)] >> (4 * (r >> 1))) & 0x0f;
          const int q = (lo | (((qh[l] >> (2 * r)) & 3) << 4)) - 32;
          const int e = 128 * h + 32 * r + l;
          y[e] = d * float(blk.scales[e / 16]) * float(q);
        }
      }
    }
  }
}

void dequantize_row_q8_k(const block_q8_k* src, float* dst, std::int64_t n) {
  assert(n % qk_k == 0);
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    for (int i = 0; i < qk_k; ++i) dst[b * qk_k + i] = src[b].d * float(src[b].qs[i]);
  }
}

// ---- quantize ---------------------------------------------------------------------------------

void quantize_row_q8_0(const float* src, block_q8_0* dst, std::int64_t n) {
  assert(n % qk8_0 == 0);
  for (std::int64_t b = 0; b < n / qk8_0; ++b) {
    const float* x = src + b * qk8_0;
    float amax = 0.0f;
    for (int i = 0; i < qk8_0; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = f16_round(amax / 127.0f);
    dst[b].d = f32_to_f16(d);
    for (int i = 0; i < qk8_0; ++i) {
      const int q = d > 0 ? std::clamp(round_int(x[i] / d), -127, 127) : 0;
      dst[b].qs[i] = static_cast<std::int8_t>(q);
    }
  }
}

void quantize_row_q4_0(const float* src, block_q4_0* dst, std::int64_t n) {
  assert(n % qk4_0 == 0);
  for (std::int64_t b = 0; b < n / qk4_0; ++b) {
    const float* x = src + b * qk4_0;
    const float d = f16_round(fit_symmetric(x, qk4_0, -8, 7));
    dst[b].d = f32_to_f16(d);
    std::uint8_t q[qk4_0];
    for (int i = 0; i < qk4_0; ++i) {
      const int v = d != 0 ? std::clamp(round_int(x[i] / d), -8, 7) : 0;
      q[i] = static_cast<std::uint8_t>(v + 8);
    }
    for (int i = 0; i < qk4_0 / 2; ++i) {
      dst[b].qs[i] = static_cast<std::uint8_t>(q[i] | (q[i + qk4_0 / 2] << 4));
    }
  }
}

void quantize_row_q4_k(const float* src, block_q4_k* dst, std::int64_t n) {
  assert(n % qk_k == 0);
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    std::uint8_t q[qk_k];
    quantize_k_superblock(src + b * qk_k, 15, &dst[b].d, &dst[b].dmin, dst[b].scales, q);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        dst[b].qs[32 * c + l] = static_cast<std::uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
      }
    }
  }
}

void quantize_row_q5_k(const float* src, block_q5_k* dst, std::int64_t n) {
  assert(n % qk_k == 0);
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    std::uint8_t q[qk_k];
    quantize_k_superblock(src + b * qk_k, 31, &dst[b].d, &dst[b].dmin, dst[b].scales, q);
    std::memset(dst[b].qh, 0, sizeof dst[b].qh);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const std::uint8_t q0 = q[64 * c + l];
        const std::uint8_t q1 = q[64 * c + 32 + l];
        dst[b].qs[32 * c + l] = static_cast<std::uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
        dst[b].qh[l] |= static_cast<std::uint8_t>(((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1)));
      }
    }
  }
}

void quantize_row_q6_k(const float* src, block_q6_k* dst, std::int64_t n) {
  assert(n % qk_k == 0);
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const float* x = src + b * qk_k;
    block_q6_k& blk = dst[b];
    float scale[16];
    float scale_amax = 0.0f;
    for (int j = 0; j < 16; ++j) {
      scale[j] = fit_symmetric(x + 16 * j, 16, -32, 31);
      scale_amax = std::max(scale_amax, std::fabs(scale[j]));
    }
    const float d = f16_round(scale_amax / 127.0f);
    blk.d = f32_to_f16(d);
    std::uint8_t q[qk_k];
    for (int j = 0; j < 16; ++j) {
      const int sc = d > 0 ? std::clamp(round_int(scale[j] / d), -127, 127) : 0;
      blk.scales[j] = static_cast<std::int8_t>(sc);
      const float s = d * float(sc);
      for (int i = 0; i < 16; ++i) {
        const int v = s != 0 ? std::clamp(round_int(x[16 * j + i] / s), -32, 31) : 0;
        q[16 * j + i] = static_cast<std::uint8_t>(v + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {  // the inverse of dequantize_row_q6_k's layout
      for (int l = 0; l < 32; ++l) {
        const std::uint8_t* e = q + 128 * h + l;
        const std::uint8_t q0 = e[0], q1 = e[32], q2 = e[64], q3 = e[96];
        blk.ql[64 * h + l] = static_cast<std::uint8_t>((q0 & 0x0f) | ((q2 & 0x0f) << 4));
        blk.ql[64 * h + l + 32] = static_cast<std::uint8_t>((q1 & 0x0f) | ((q3 & 0x0f) << 4));
        blk.qh[32 * h + l] =
            static_cast<std::uint8_t>((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
      }
    }
  }
}

void quantize_row_q8_k(const float* src, block_q8_k* dst, std::int64_t n) {
  assert(n % qk_k == 0);
  for (std::int64_t b = 0; b < n / qk_k; ++b) {
    const float* x = src + b * qk_k;
    float amax = 0.0f;
    for (int i = 0; i < qk_k; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d > 0 ? 1.0f / d : 0.0f;
    dst[b].d = d;
    for (int i = 0; i < qk_k; ++i) {
      dst[b].qs[i] = static_cast<std::int8_t>(std::clamp(round_int(x[i] * id), -127, 127));
    }
    for (int g = 0; g < qk_k / 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += dst[b].qs[16 * g + i];
      dst[b].bsums[g] = static_cast<std::int16_t>(sum);
    }
  }
}

// ---- dispatch ---------------------------------------------------------------------------------

bool quant_supported(tensor_type type) {
  switch (type) {
    case tensor_type::f32: case tensor_type::f16: case tensor_type::bf16: case tensor_type::q8_0:
    case tensor_type::q4_0: case tensor_type::q4_k: case tensor_type::q5_k: case tensor_type::q6_k:
    case tensor_type::q8_k:
      return true;
    default:
      return false;
  }
}

namespace {

status check_row(tensor_type type, std::int64_t n) {
  const auto tr = traits(type);
  if (!quant_supported(type)) {
    return status::invalid_argument("quant: type " + std::string(tr.name) + " (id " +
                                    std::to_string(unsigned(type)) + ") is not supported");
  }
  if (n < 0 || n % std::int64_t(tr.block_elems) != 0) {
    return status::invalid_argument("quant: row of " + std::to_string(n) + " elements is not a multiple of " +
                                    std::string(tr.name) + "'s block of " + std::to_string(tr.block_elems));
  }
  return ok_status();
}

}  // namespace

status dequantize_row(tensor_type type, const void* src, float* dst, std::int64_t n) {
  HOLO_TRY(check_row(type, n));
  switch (type) {
    case tensor_type::f32: if (n > 0) std::memcpy(dst, src, std::size_t(n) * sizeof(float)); break;
    case tensor_type::f16: f16_to_f32_row(static_cast<const f16_bits*>(src), dst, n); break;
    case tensor_type::bf16: bf16_to_f32_row(static_cast<const bf16_bits*>(src), dst, n); break;
    case tensor_type::q8_0: dequantize_row_q8_0(static_cast<const block_q8_0*>(src), dst, n); break;
    case tensor_type::q4_0: dequantize_row_q4_0(static_cast<const block_q4_0*>(src), dst, n); break;
    case tensor_type::q4_k: dequantize_row_q4_k(static_cast<const block_q4_k*>(src), dst, n); break;
    case tensor_type::q5_k: dequantize_row_q5_k(static_cast<const block_q5_k*>(src), dst, n); break;
    case tensor_type::q6_k: dequantize_row_q6_k(static_cast<const block_q6_k*>(src), dst, n); break;
    case tensor_type::q8_k: dequantize_row_q8_k(static_cast<const block_q8_k*>(src), dst, n); break;
    default: return status::internal("quant: dispatch out of step with quant_supported");
  }
  return ok_status();
}

status quantize_row(tensor_type type, const float* src, void* dst, std::int64_t n) {
  HOLO_TRY(check_row(type, n));
  switch (type) {
    case tensor_type::f32: if (n > 0) std::memcpy(dst, src, std::size_t(n) * sizeof(float)); break;
    case tensor_type::f16: f32_to_f16_row(src, static_cast<f16_bits*>(dst), n); break;
    case tensor_type::bf16: f32_to_bf16_row(src, static_cast<bf16_bits*>(dst), n); break;
    case tensor_type::q8_0: quantize_row_q8_0(src, static_cast<block_q8_0*>(dst), n); break;
    case tensor_type::q4_0: quantize_row_q4_0(src, static_cast<block_q4_0*>(dst), n); break;
    case tensor_type::q4_k: quantize_row_q4_k(src, static_cast<block_q4_k*>(dst), n); break;
    case tensor_type::q5_k: quantize_row_q5_k(src, static_cast<block_q5_k*>(dst), n); break;
    case tensor_type::q6_k: quantize_row_q6_k(src, static_cast<block_q6_k*>(dst), n); break;
    case tensor_type::q8_k: quantize_row_q8_k(src, static_cast<block_q8_k*>(dst), n); break;
    default: return status::internal("quant: dispatch out of step with quant_supported");
  }
  return ok_status();
}

}  // namespace holo::gpu
