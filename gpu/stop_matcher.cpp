#include "gpu/stop_matcher.hpp"

#include <algorithm>

namespace holo::gpu {

stop_matcher::stop_matcher(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

stop_matcher::step stop_matcher::push(std::string_view text) {
  step out;
  if (stopped_) return out;
  held_.append(text);
  // The earliest complete occurrence of any stop string ends the stream there.
  std::size_t hit = std::string::npos;
  for (const std::string& s : stops_) hit = std::min(hit, held_.find(s));
  if (hit != std::string::npos) {
    out.emit = held_.substr(0, hit);
    out.stopped = true;
    stopped_ = true;
    held_.clear();
    return out;
  }
  // Longest tail of held_ that is a proper prefix of some stop string: it must wait.
  std::size_t keep = 0;
  for (const std::string& s : stops_) {
    const std::size_t most = std::min(s.size() - 1, held_.size());
    for (std::size_t k = most; k > keep; --k) {
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
    }
  }
  out.emit = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string stop_matcher::flush() {
  std::string out = std::move(held_);
  held_.clear();
  return stopped_ ? std::string() : out;
}

}  // namespace holo::gpu
