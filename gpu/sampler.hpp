// Token sampling: from one step's logits to one token id.
//
// Order, as llama.cpp's default chain: penalties (repeat, frequency, presence over the last
// repeat_last_n tokens) -> top-k -> softmax with temperature -> top-p -> min-p -> draw.
// temperature 0 is greedy: the argmax after penalties, lowest id on ties.
//
// Determinism: the one random number a step uses is a pure function of (seed, request_key,
// token_index) (see sampling_uniform), and candidate order is a strict total order (logit, then id),
// so the same logits give the same token on any node running the same build -- a request resumed
// elsewhere continues exactly as it would have.
//
// Ownership and threads: a sampler owns working buffers sized to the vocabulary, allocated once in
// `create`; `sample` allocates nothing. One sampler per thread at a time (keep one per request or
// per engine worker). Failure: `create` validates the parameters; `sample` cannot fail.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/status.hpp"

namespace holo::gpu {

struct sampling_params {
  float temperature = 0.8f;        // 0: greedy
  std::int32_t top_k = 40;         // <= 0 or >= n_vocab: off
  float top_p = 0.95f;             // 1: off; in (0, 1]
  float min_p = 0.05f;             // 0: off; in [0, 1]
  float repeat_penalty = 1.0f;     // 1: off; > 0
  std::int32_t repeat_last_n = 64; // tokens of history the penalties look at; 0: off, -1: all
  float frequency_penalty = 0.0f;  // subtracted once per occurrence
  float presence_penalty = 0.0f;   // subtracted once if present
  std::uint64_t seed = 0;
  std::int32_t max_tokens = -1;    // generation length limit for the caller; -1: none
  std::vector<std::string> stop;   // stop strings, see gpu/stop_matcher.hpp
};

// Limits on what a request may ask for.
inline constexpr std::size_t stop_strings_max = 16;
inline constexpr std::size_t stop_string_bytes_max = 256;

// Validates `p` on its own (ranges, stop string limits); create() calls it.
status validate(const sampling_params& p);

// The uniform double in [0, 1) used to draw token `token_index` of request `request_key`.
double sampling_uniform(std::uint64_t seed, std::uint64_t request_key, std::uint64_t token_index);

class sampler {
 public:
  // Errors: invalid_argument (a parameter out of range, n_vocab <= 0).
  static result<sampler> create(sampling_params params, std::int32_t n_vocab);

  // Picks the next token. `logits` (n_vocab values) are modified in place: penalties are applied
  // to them. `history` is the sequence so far (prompt and generated), oldest first; ids outside the
  // vocabulary are ignored. NaN logits count as -inf; if no token has a finite logit, returns 0.
  std::int32_t sample(std::span<float> logits, const std::vector<std::int32_t>& history,
                      std::uint64_t request_key, std::uint64_t token_index);

  const sampling_params& params() const { return params_; }

 private:
  struct candidate {
    float logit;
    std::int32_t id;
    double p;
  };

  sampler(sampling_params p, std::int32_t n_vocab);
  void apply_penalties(std::span<float> logits, const std::vector<std::int32_t>& history);
  std::int32_t argmax(std::span<const float> logits) const;

  sampling_params params_;
  std::int32_t n_vocab_;
  std::vector<candidate> candidates_;  // n_vocab_
  std::vector<std::uint32_t> counts_;  // n_vocab_, zero between calls
};

}  // namespace holo::gpu
