#include "runtime/phi_accrual.hpp"

#include <algorithm>
#include <cmath>

namespace holo {

namespace {

// log(1 + exp(z)) without overflow for large z nor loss of precision for very negative z.
double softplus(double z) {
  if (z > 0) return z + std::log1p(std::exp(-z));
  return std::log1p(std::exp(z));
}

double to_ms(phi_accrual::clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

phi_accrual::phi_accrual() : phi_accrual(params{}) {}

phi_accrual::phi_accrual(params p) : params_(p) {
  params_.window = std::max<std::size_t>(params_.window, 2);
  // A zero or negative floor would let a perfectly regular peer divide by zero; NaN fails every
  // comparison, so test for "not greater" rather than "less".
  if (!(params_.min_std_ms > 1e-3)) params_.min_std_ms = 1e-3;
  if (!(params_.acceptable_pause_ms >= 0)) params_.acceptable_pause_ms = 0;
  if (!(params_.first_interval_ms > 0)) params_.first_interval_ms = 1;
  intervals_ms_.assign(params_.window, 0.0);
}

void phi_accrual::reset() {
  next_ = 0;
  count_ = 0;
  mean_ms_ = 0;
  std_ms_ = 0;
  has_last_ = false;
  last_ = {};
}

void phi_accrual::add_interval(double ms) {
  intervals_ms_[next_] = ms;
  next_ = (next_ + 1) % intervals_ms_.size();
  count_ = std::min(count_ + 1, intervals_ms_.size());
  // Recomputed over the window (at most `window` additions) rather than kept as running sums:
  // exact forever, no drift after millions of heartbeats, and cheap at 4 heartbeats a second.
  double sum = 0;
  for (std::size_t i = 0; i < count_; ++i) sum += intervals_ms_[i];
  mean_ms_ = sum / static_cast<double>(count_);
  double sq = 0;
  for (std::size_t i = 0; i < count_; ++i) sq += (intervals_ms_[i] - mean_ms_) * (intervals_ms_[i] - mean_ms_);
  std_ms_ = std::sqrt(sq / static_cast<double>(count_));
}

void phi_accrual::heartbeat(time_point now) {
  if (!has_last_) {
    const double first = params_.first_interval_ms;
    add_interval(first - first / 4);
    add_interval(first + first / 4);
  } else {
    add_interval(std::max(0.0, to_ms(now - last_)));
  }
  has_last_ = true;
  last_ = now;
}

double phi_accrual::phi(time_point now) const {
  if (!has_last_) return 0;
  const double elapsed_ms = to_ms(now - last_);
  const double mean = mean_ms_ + params_.acceptable_pause_ms;
  const double std_dev = std::max(std_ms_, params_.min_std_ms);
  const double y = (elapsed_ms - mean) / std_dev;
  // P(later) = 1 - CDF(y) = e / (1 + e) with e = exp(-z), so phi = -log10(e / (1 + e))
  // = log10(1 + exp(z)) = softplus(z) / ln 10.
  const double z = y * (1.5976 + 0.070566 * y * y);
  const double phi = softplus(z) / std::log(10.0);
  if (!(phi < phi_max)) return phi_max;  // also catches NaN (elapsed beyond any double range)
  return std::max(0.0, phi);
}

}  // namespace holo
