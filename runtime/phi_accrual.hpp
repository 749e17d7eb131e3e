// The phi-accrual failure detector (Hayashibara et al. 2004, as Akka and Cassandra use it): instead
// of a yes/no timeout it gives a suspicion level phi that grows with the silence since the last
// heartbeat, scaled by how regular the heartbeats have been. phi = -log10(P(a heartbeat arrives
// later than now)), with heartbeat intervals modelled as normal(mean + acceptable_pause, std); so
// phi 1 means a 10% chance that the peer is merely late, phi 8 a 1e-8 chance.
//
// As in Akka:
// - std is at least min_std_ms, so perfectly regular heartbeats (std 0) do not make a few ms of
//   jitter look fatal;
// - acceptable_pause_ms is added to the mean, tolerating a GC-like or scheduling pause;
// - the first heartbeat seeds the window with two intervals, first_interval_ms -/+ a quarter of it,
//   so phi is meaningful before real intervals arrive;
// - the normal CDF is the logistic approximation 1/(1 + exp(-y(1.5976 + 0.070566 y^2))) (error
//   < 1.4e-4); here phi is computed as softplus(...)/ln 10, which never overflows: phi is finite,
//   never NaN, and capped at phi_max.
// Before the first heartbeat phi is 0: nothing is known, and "never heard" is the caller's state.
//
// Thread-safety: none; one owner (the health actor) calls everything. No allocation after
// construction (the interval window is a ring buffer sized once). Times are steady_clock only:
// a wall clock that jumps would fake silences or heartbeats.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

namespace holo {

class phi_accrual {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  struct params {
    std::size_t window = 100;          // intervals kept; at least 2 (smaller values are raised)
    double min_std_ms = 100;           // floor for the interval standard deviation; > 0
    double acceptable_pause_ms = 500;  // added to the mean interval
    double first_interval_ms = 500;    // the interval assumed before any has been measured
  };

  static constexpr double phi_max = 1e6;

  phi_accrual();  // default params
  explicit phi_accrual(params p);

  // Records a heartbeat arriving at `now`. A `now` earlier than the previous heartbeat (only a
  // synthetic clock can do that) counts as a zero interval.
  void heartbeat(time_point now);

  // Suspicion at `now`: 0 before the first heartbeat, otherwise in [0, phi_max].
  double phi(time_point now) const;

  // Forgets every interval and the last heartbeat (a peer restarted); allocates nothing.
  void reset();

  bool has_heartbeat() const { return has_last_; }
  time_point last_heartbeat() const { return last_; }
  std::size_t samples() const { return count_; }
  double mean_interval_ms() const { return mean_ms_; }  // of the window, without the pause
  double std_interval_ms() const { return std_ms_; }    // of the window, before the floor
  const params& parameters() const { return params_; }

 private:
  void add_interval(double ms);

  params params_;
  std::vector<double> intervals_ms_;  // ring buffer, size params_.window
  std::size_t next_ = 0;              // where the next interval goes
  std::size_t count_ = 0;             // intervals held, <= window
  double mean_ms_ = 0;
  double std_ms_ = 0;
  bool has_last_ = false;
  time_point last_{};
};

}  // namespace holo
