#include "gpu/cpu/ops_ref.hpp"

#include <cassert>
#include <cmath>
#include <vector>

#include "gpu/f16.hpp"
#include "gpu/quant.hpp"

namespace holo::gpu::ref {

void get_rows(const tensor_view& table, const std::int32_t* ids, std::int64_t n, float* out) {
  for (std::int64_t t = 0; t < n; ++t) {  // table (vocab, cols)[ids[t]] -> out[t] (cols,)
    const status s = dequantize_row(table.type, table.row(ids[t]), out + t * table.cols, table.cols);
    assert(s.ok());
    (void)s;
  }
}

void matmul(const tensor_view& w, const float* x, std::int64_t n, const float* bias, float* out) {
  std::vector<float> wrow(static_cast<std::size_t>(w.cols));
  for (std::int64_t r = 0; r < w.rows; ++r) {  // W (rows, cols) @ x (n, cols)^T -> out (n, rows)
    const status s = dequantize_row(w.type, w.row(r), wrow.data(), w.cols);
    assert(s.ok());
    (void)s;
    for (std::int64_t t = 0; t < n; ++t) {
      double sum = 0.0;
      for (std::int64_t c = 0; c < w.cols; ++c) sum += double(wrow[c]) * double(x[t * w.cols + c]);
      if (bias != nullptr) sum += bias[r];
      out[t * w.rows + r] = float(sum);
    }
  }
}

void rmsnorm(const float* x, const float* weight, std::int64_t n, std::int64_t dim, float eps, float* out) {
  for (std::int64_t t = 0; t < n; ++t) {  // x (n, dim) -> out (n, dim)
    const float* xt = x + t * dim;
    double ss = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) ss += double(xt[i]) * double(xt[i]);
    const double inv = 1.0 / std::sqrt(ss / double(dim) + double(eps));
    for (std::int64_t i = 0; i < dim; ++i) out[t * dim + i] = float(double(xt[i]) * inv * double(weight[i]));
  }
}

void add(const float* a, const float* b, std::int64_t count, float* out) {
  for (std::int64_t i = 0; i < count; ++i) out[i] = a[i] + b[i];
}

void swiglu(const float* gate, const float* up, std::int64_t count, float* out) {
  for (std::int64_t i = 0; i < count; ++i) {
    const double g = gate[i];
    out[i] = float(g / (1.0 + std::exp(-g)) * double(up[i]));
  }
}

void scale(float* x, std::int64_t count, float s) {
  for (std::int64_t i = 0; i < count; ++i) x[i] *= s;
}

void softmax(float* x, std::int64_t n, std::int64_t dim) {
  for (std::int64_t t = 0; t < n; ++t) {  // row t of x (n, dim)
    float* row = x + t * dim;
    float mx = row[0];
    for (std::int64_t i = 1; i < dim; ++i) mx = std::max(mx, row[i]);
    double sum = 0.0;
    for (std::int64_t i = 0; i < dim; ++i) sum += std::exp(double(row[i]) - double(mx));
    for (std::int64_t i = 0; i < dim; ++i) row[i] = float(std::exp(double(row[i]) - double(mx)) / sum);
  }
}

double rope_theta(std::int32_t pos, std::int32_t i, const rope_params& p) {
  return double(pos) * double(p.freq_scale) * std::pow(double(p.freq_base), -2.0 * i / double(p.n_rot));
}

void rope(float* x, std::int64_t n_tokens, std::int32_t n_heads, std::int32_t head_dim,
          const std::int32_t* positions, const rope_params& p) {
  const std::int32_t half = p.n_rot / 2;
  for (std::int64_t t = 0; t < n_tokens; ++t) {  // x (n_tokens, n_heads, head_dim)
    for (std::int32_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (std::int32_t i = 0; i < half; ++i) {
        const double theta = rope_theta(positions[t], i, p);
        const double c = std::cos(theta), s = std::sin(theta);
        // normal: pair (2i, 2i+1); neox: pair (i, i + n_rot/2). Dimensions >= n_rot pass through.
        const std::int32_t a = p.mode == rope_mode::normal ? 2 * i : i;
        const std::int32_t b = p.mode == rope_mode::normal ? 2 * i + 1 : i + half;
        const double x0 = v[a], x1 = v[b];
        v[a] = float(x0 * c - x1 * s);
        v[b] = float(x0 * s + x1 * c);
      }
    }
  }
}

void kv_store(const kv_layer& cache, const attention_shape& s, std::int64_t pos0, std::int64_t n_tokens,
              const float* k, const float* v) {
  const std::int64_t row = std::int64_t(s.n_head_kv) * s.head_dim;  // halves per position
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    for (std::int64_t i = 0; i < row; ++i) {
      cache.k[(pos0 + t) * row + i] = f32_to_f16(k[t * row + i]);
      cache.v[(pos0 + t) * row + i] = f32_to_f16(v[t * row + i]);
    }
  }
}

void attention(const float* q, const kv_layer& cache, const attention_shape& s, std::int64_t pos0,
               std::int64_t n_tokens, float* out) {
  const std::int64_t d = s.head_dim;
  const std::int64_t kv_row = std::int64_t(s.n_head_kv) * d;
  const std::int32_t group = s.n_head / s.n_head_kv;
  const double inv_sqrt_d = 1.0 / std::sqrt(double(d));
  std::vector<double> score(static_cast<std::size_t>(pos0 + n_tokens));
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    const std::int64_t n_keys = pos0 + t + 1;  // causal: positions 0 .. pos0+t
    for (std::int32_t h = 0; h < s.n_head; ++h) {
      const float* qh = q + (t * s.n_head + h) * d;
      const std::int64_t kvh = h / group;
      double mx = -INFINITY;
      for (std::int64_t p = 0; p < n_keys; ++p) {  // score[p] = q . K[p][kvh] / sqrt(d)
        const f16_bits* kp = cache.k + p * kv_row + kvh * d;
        double dot = 0.0;
        for (std::int64_t i = 0; i < d; ++i) dot += double(qh[i]) * double(f16_to_f32(kp[i]));
        score[p] = dot * inv_sqrt_d;
        mx = std::max(mx, score[p]);
      }
      double sum = 0.0;
      for (std::int64_t p = 0; p < n_keys; ++p) sum += (score[p] = std::exp(score[p] - mx));
      float* oh = out + (t * s.n_head + h) * d;
      for (std::int64_t i = 0; i < d; ++i) {  // out = sum_p softmax(score)[p] * V[p][kvh]
        double acc = 0.0;
        for (std::int64_t p = 0; p < n_keys; ++p) {
          acc += score[p] * double(f16_to_f32(cache.v[p * kv_row + kvh * d + i]));
        }
        oh[i] = float(acc / sum);
      }
    }
  }
}

}  // namespace holo::gpu::ref
