#include "gpu/sampler.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace holo::gpu {
namespace {

// splitmix64's finaliser: a bijective 64-bit mixer with good avalanche.
std::uint64_t mix(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool finite_range(float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; }

}  // namespace

double sampling_uniform(std::uint64_t seed, std::uint64_t request_key, std::uint64_t token_index) {
  // Counter-based: hash the triple, no state carried between tokens.
  const std::uint64_t h = mix(mix(mix(seed) ^ request_key) ^ token_index);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

status validate(const sampling_params& p) {
  if (!finite_range(p.temperature, 0.0f, 1e6f)) return status::invalid_argument("temperature must be >= 0");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return status::invalid_argument("top_p must be in (0, 1]");
  if (!finite_range(p.min_p, 0.0f, 1.0f)) return status::invalid_argument("min_p must be in [0, 1]");
  if (!(std::isfinite(p.repeat_penalty) && p.repeat_penalty > 0.0f)) {
    return status::invalid_argument("repeat_penalty must be > 0");
  }
  if (p.repeat_last_n < -1) return status::invalid_argument("repeat_last_n must be >= -1");
  if (!std::isfinite(p.frequency_penalty) || !std::isfinite(p.presence_penalty)) {
    return status::invalid_argument("frequency_penalty and presence_penalty must be finite");
  }
  if (p.max_tokens < -1) return status::invalid_argument("max_tokens must be >= -1");
  if (p.stop.size() > stop_strings_max) return status::invalid_argument("more than stop_strings_max stop strings");
  for (const std::string& s : p.stop) {
    if (s.empty()) return status::invalid_argument("empty stop string");
    if (s.size() > stop_string_bytes_max) return status::invalid_argument("stop string longer than stop_string_bytes_max");
  }
  return ok_status();
}

result<sampler> sampler::create(sampling_params params, std::int32_t n_vocab) {
  if (n_vocab <= 0) return status::invalid_argument("n_vocab must be > 0");
  HOLO_TRY(validate(params));
  return sampler(std::move(params), n_vocab);
}

sampler::sampler(sampling_params p, std::int32_t n_vocab)
    : params_(std::move(p)), n_vocab_(n_vocab), candidates_(n_vocab), counts_(n_vocab, 0) {}

void sampler::apply_penalties(std::span<float> logits, const std::vector<std::int32_t>& history) {
  const sampling_params& p = params_;
  if (p.repeat_last_n == 0) return;
  if (p.repeat_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f) return;
  const std::size_t window = p.repeat_last_n < 0 ? history.size() : static_cast<std::size_t>(p.repeat_last_n);
  const std::size_t start = history.size() > window ? history.size() - window : 0;
  auto in_vocab = [&](std::int32_t id) { return id >= 0 && static_cast<std::size_t>(id) < logits.size(); };
  for (std::size_t i = start; i < history.size(); ++i) {
    if (in_vocab(history[i])) ++counts_[history[i]];
  }
  // Second pass: penalise each distinct id once, resetting its count so counts_ is zero again.
  for (std::size_t i = start; i < history.size(); ++i) {
    const std::int32_t id = history[i];
    if (!in_vocab(id) || counts_[id] == 0) continue;
    const float count = static_cast<float>(counts_[id]);
    float& l = logits[id];
    l = l <= 0.0f ? l * p.repeat_penalty : l / p.repeat_penalty;  // as llama.cpp
    l -= count * p.frequency_penalty + p.presence_penalty;
    counts_[id] = 0;
  }
}

std::int32_t sampler::argmax(std::span<const float> logits) const {
  std::int32_t best = 0;
  float best_logit = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best_logit) {  // strict: the lowest id wins ties; NaN never wins
      best_logit = logits[i];
      best = static_cast<std::int32_t>(i);
    }
  }
  return best;
}

std::int32_t sampler::sample(std::span<float> logits, const std::vector<std::int32_t>& history,
                             std::uint64_t request_key, std::uint64_t token_index) {
  assert(logits.size() == static_cast<std::size_t>(n_vocab_));
  if (logits.size() > static_cast<std::size_t>(n_vocab_)) logits = logits.first(n_vocab_);
  apply_penalties(logits, history);
  const sampling_params& p = params_;
  if (p.temperature <= 0.0f) return argmax(logits);

  std::size_t n = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    if (std::isnan(l) || l == -std::numeric_limits<float>::infinity()) continue;
    candidates_[n++] = {l, static_cast<std::int32_t>(i), 0.0};
  }
  if (n == 0) return 0;
  // A strict total order, so every selection below is deterministic.
  auto before = [](const candidate& a, const candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  const auto first = candidates_.begin();
  if (p.top_k > 0 && static_cast<std::size_t>(p.top_k) < n) {
    std::nth_element(first, first + p.top_k, first + static_cast<std::ptrdiff_t>(n), before);
    n = static_cast<std::size_t>(p.top_k);
  }
  // Softmax with temperature; p is relative to the largest (1 for it), the sum normalises.
  float l_max = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < n; ++i) l_max = std::max(l_max, candidates_[i].logit);
  if (std::isinf(l_max)) return std::min_element(first, first + static_cast<std::ptrdiff_t>(n), before)->id;
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    candidates_[i].p = std::exp((static_cast<double>(candidates_[i].logit) - l_max) / p.temperature);
    sum += candidates_[i].p;
  }
  // Performance bet: min-p keeps every candidate with p >= min_p * p_max, which is a prefix of the
  // sorted order, and top-p keeps a prefix too; so applying min-p first and sorting only its
  // survivors gives the same set as top-p then min-p, without sorting the whole vocabulary.
  std::size_t m = n;
  if (p.min_p > 0.0f) {
    m = static_cast<std::size_t>(
        std::partition(first, first + static_cast<std::ptrdiff_t>(n),
                       [&](const candidate& c) { return c.p >= p.min_p; }) - first);
  }
  std::sort(first, first + static_cast<std::ptrdiff_t>(m), before);
  std::size_t keep = m;
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
      cum += candidates_[i].p / sum;
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0.0;
  for (std::size_t i = 0; i < keep; ++i) kept += candidates_[i].p;
  const double target = sampling_uniform(p.seed, request_key, token_index) * kept;
  double cum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    cum += candidates_[i].p;
    if (target < cum) return candidates_[i].id;
  }
  return candidates_[keep - 1].id;
}

}  // namespace holo::gpu
