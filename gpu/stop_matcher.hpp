// Stop strings across token boundaries. Generated text arrives in pieces (one detokenizer chunk per
// token); a stop string may straddle pieces. The matcher holds back the shortest tail that could
// still grow into a stop string and releases the rest, so a client never sees any part of a stop
// string, and sees every other byte as early as possible.
//
// One matcher per generation stream, one owner; holds at most (longest stop string - 1) bytes.
// Given valid UTF-8 in, it emits valid UTF-8 (a held tail starts where a stop string starts, which is
// always a character boundary). Never fails.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace holo::gpu {

class stop_matcher {
 public:
  // Empty strings in `stops` are ignored (sampling_params validation rejects them anyway).
  explicit stop_matcher(std::vector<std::string> stops);

  struct step {
    std::string emit;      // text safe to send now
    bool stopped = false;  // a stop string was found: `emit` is the text before it; stop generating
  };

  // Feeds the next piece of generated text. After a stop, further pushes return nothing.
  step push(std::string_view text);
  // The stream ended without a stop string (EOS, max_tokens): returns the held tail.
  std::string flush();

  std::size_t held_bytes() const { return held_.size(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace holo::gpu
