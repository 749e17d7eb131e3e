// One generation as a sequence of bounded steps: what a model shard interleaves at token
// granularity (several requests on one model), and what `generate` (gpu/engine.hpp) runs to the end.
//
//   auto g = generation::create(session, prompt_ids, options, delivered_ids);
//   while (!g->finished()) { auto ev = g->step(); ... }
//
// A step does one bounded piece of work: one prefill batch (batch_max tokens), up to
// `replay_per_step` replayed tokens, or one sampled token. Resuming a request elsewhere (failover)
// passes the tokens the client already has as `delivered`: they are fed exactly as the original run
// fed them (prompt prefill, then one decode per token, the same calls in the same order), and run
// through the detokenizer and stop matcher without emitting, so the next sampled token, its text and
// every later one equal the undisturbed run's bit for bit. (A batched prefill of prompt + delivered
// would be faster but rounds differently and may flip a near tie.)
//
// Owns its sampler, detokenizer and stop matcher; borrows the session, which must outlive it and be
// used by nothing else meanwhile. Failure: create validates sampling parameters; step returns the
// session's errors (out_of_range: context full or bad id) and the generation is then finished.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gpu/engine.hpp"
#include "gpu/stop_matcher.hpp"

namespace holo::gpu {

class generation {
 public:
  struct event {
    bool has_token = false;     // a token was sampled (and not replayed) in this step
    std::int32_t id = -1;
    std::int64_t index = 0;     // its index within the request
    std::string text;           // text released by the sampled token
    std::string tail;           // at the end: text held back until then (incomplete UTF-8, a
                                // partial stop-string match)
    bool finished = false;      // the generation ended in this step
  };

  static result<std::unique_ptr<generation>> create(session& s, std::vector<std::int32_t> prompt,
                                                    const generation_options& options,
                                                    std::vector<std::int32_t> delivered = {});

  result<event> step();
  // Stops it; the next step (if any) reports nothing more.
  void cancel();

  bool finished() const { return finished_; }
  finish_reason reason() const { return reason_; }
  std::int64_t next_index() const { return next_index_; }
  std::int64_t prompt_tokens() const { return static_cast<std::int64_t>(prompt_.size()); }
  bool prefilled() const { return prompt_done_ >= prompt_.size(); }
  const generation_timings& timings() const { return timings_; }
  std::int32_t replay_per_step = 32;

 private:
  generation(session& s, std::vector<std::int32_t> prompt, const generation_options& o, sampler smp,
             std::vector<std::int32_t> delivered);
  result<event> finish(event ev, finish_reason r);
  void arm_remote_sample();
  void took(std::span<float> logits);  // a prefill's or decode's result

  session& s_;
  std::vector<std::int32_t> prompt_;
  std::vector<std::int32_t> delivered_;
  generation_options options_;
  sampler sampler_;
  detokenizer detok_;
  stop_matcher stops_;
  std::size_t prompt_done_ = 0;
  std::size_t replayed_ = 0;
  std::int64_t next_index_ = 0;
  std::span<float> logits_;
  std::optional<std::int32_t> remote_id_;  // the next token, when the session's tail sampled it
  bool finished_ = false;
  finish_reason reason_ = finish_reason::length;
  generation_timings timings_;
};

}  // namespace holo::gpu
