#include "gpu/generation.hpp"

#include <chrono>

namespace holo::gpu {

namespace {
using clock_type = std::chrono::steady_clock;
double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}
}  // namespace

generation::generation(session& s, std::vector<std::int32_t> prompt, const generation_options& o, sampler smp,
                       std::vector<std::int32_t> delivered)
    : s_(s),
      prompt_(std::move(prompt)),
      delivered_(std::move(delivered)),
      options_(o),
      sampler_(std::move(smp)),
      detok_(s.owner().vocab(), decode_options{true, o.unparse_special, false}),
      stops_(o.sampling.stop),
      next_index_(static_cast<std::int64_t>(o.first_token_index)) {}

result<std::unique_ptr<generation>> generation::create(session& s, std::vector<std::int32_t> prompt,
                                                       const generation_options& options,
                                                       std::vector<std::int32_t> delivered) {
  if (prompt.empty()) return status::invalid_argument("generation: empty prompt");
  auto smp = sampler::create(options.sampling, s.owner().config().n_vocab);
  if (!smp) return smp.error();
  if (static_cast<std::int64_t>(prompt.size()) > s.ctx_size() - s.position())
    return status::out_of_range("prompt of " + std::to_string(prompt.size()) + " tokens does not fit the context of " +
                                std::to_string(s.ctx_size() - s.position()) + " tokens");
  return std::unique_ptr<generation>(
      new generation(s, std::move(prompt), options, std::move(*smp), std::move(delivered)));
}

void generation::cancel() {
  if (finished_) return;
  finished_ = true;
  reason_ = finish_reason::cancelled;
}

// A pipeline head has the last stage sample: the call about to run yields token next_index_
// (every call does: the prompt's last batch, a replayed token, a sampled one), so the draw there is
// the one step 3 would make here.
void generation::arm_remote_sample() {
  if (s_.needs_tail()) s_.sample_next(&options_.sampling, options_.request_key, static_cast<std::uint64_t>(next_index_));
}

void generation::took(std::span<float> logits) {
  logits_ = logits;
  remote_id_ = s_.sampled();
}

result<generation::event> generation::finish(event ev, finish_reason r) {
  finished_ = true;
  reason_ = r;
  ev.finished = true;
  if (r != finish_reason::stop && r != finish_reason::cancelled && options_.text) {
    ev.tail = stops_.push(detok_.flush()).emit;
    ev.tail += stops_.flush();
  }
  timings_.generated_tokens = next_index_ - static_cast<std::int64_t>(options_.first_token_index);
  return ev;
}

result<generation::event> generation::step() {
  event ev;
  if (finished_) {
    ev.finished = true;
    return ev;
  }
  const auto t0 = clock_type::now();
  // 1. The prompt, one batch per step (the same batch boundaries as one whole prefill call).
  if (prompt_done_ < prompt_.size()) {
    const std::size_t n = std::min<std::size_t>(prompt_.size() - prompt_done_,
                                                 static_cast<std::size_t>(s_.owner().batch_max()));
    arm_remote_sample();
    auto l = s_.prefill(std::span<const std::int32_t>(prompt_).subspan(prompt_done_, n));
    if (!l) {
      finished_ = true;
      return l.error();
    }
    took(*l);
    prompt_done_ += n;
    timings_.prompt_tokens = static_cast<std::int64_t>(prompt_done_);
    timings_.prompt_ms += ms_since(t0);
    return ev;
  }
  // max_tokens counts from first_token_index: delivered tokens count, like the ones sampled here.
  const std::int64_t max_tokens = options_.sampling.max_tokens < 0
                                      ? -1
                                      : static_cast<std::int64_t>(options_.first_token_index) + options_.sampling.max_tokens;
  const std::int64_t produced = next_index_;
  // 2. Tokens the client already has: fed as the original run fed them, their text swallowed.
  if (replayed_ < delivered_.size()) {
    for (std::int32_t k = 0; k < replay_per_step && replayed_ < delivered_.size(); ++k) {
      const std::int32_t id = delivered_[replayed_++];
      const auto step = stops_.push(options_.text ? detok_.push(id) : std::string());
      ++next_index_;
      if (step.stopped) return finish(ev, finish_reason::stop);
      if (max_tokens >= 0 && next_index_ >= max_tokens) return finish(ev, finish_reason::length);
      if (s_.position() >= s_.ctx_size()) return finish(ev, finish_reason::context);
      arm_remote_sample();
      auto l = s_.decode(id);
      if (!l) {
        finished_ = true;
        return l.error();
      }
      took(*l);
    }
    timings_.prompt_ms += ms_since(t0);
    return ev;
  }
  // 3. One new token.
  if (max_tokens >= 0 && produced >= max_tokens) return finish(ev, finish_reason::length);
  const std::int32_t id = remote_id_ ? *remote_id_
                                     : sampler_.sample(logits_, s_.tokens(), options_.request_key,
                                                       static_cast<std::uint64_t>(produced));
  ev.id = id;
  ev.index = produced;
  if (options_.stop_at_eog && s_.owner().vocab().is_eog(id)) {
    auto r = finish(ev, finish_reason::eog);
    timings_.gen_ms += ms_since(t0);
    return r;
  }
  ev.has_token = true;
  ++next_index_;
  const auto step = stops_.push(options_.text ? detok_.push(id) : std::string());
  ev.text = step.emit;
  result<event> out = ev;
  if (step.stopped) {
    out = finish(ev, finish_reason::stop);
  } else if (max_tokens >= 0 && next_index_ >= max_tokens) {
    out = finish(ev, finish_reason::length);  // the last one is sampled, never fed
  } else if (s_.position() >= s_.ctx_size()) {
    out = finish(ev, finish_reason::context);
  } else {
    arm_remote_sample();
    auto l = s_.decode(id);
    if (!l) {
      finished_ = true;
      return l.error();
    }
    took(*l);
  }
  timings_.gen_ms += ms_since(t0);
  return out;
}

}  // namespace holo::gpu
