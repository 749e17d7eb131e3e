#define BOOST_TEST_MODULE phi_accrual
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "runtime/phi_accrual.hpp"

using holo::phi_accrual;
using namespace std::chrono_literals;

namespace {

// A synthetic steady clock: tests move time by hand.
const phi_accrual::time_point t0 = phi_accrual::time_point{} + 1000h;

phi_accrual::params cluster_params() {
  phi_accrual::params p;
  p.window = 100;
  p.min_std_ms = 100;
  p.acceptable_pause_ms = 500;
  p.first_interval_ms = 250;
  return p;
}

// `n` heartbeats `interval` apart from t0; returns the time of the last one.
phi_accrual::time_point beat_regularly(phi_accrual& d, int n, std::chrono::milliseconds interval) {
  auto t = t0;
  for (int i = 0; i < n; ++i) {
    t = t0 + i * interval;
    d.heartbeat(t);
  }
  return t;
}

}  // namespace

BOOST_AUTO_TEST_CASE(phi_is_zero_before_any_heartbeat) {
  phi_accrual d(cluster_params());
  BOOST_CHECK(!d.has_heartbeat());
  BOOST_CHECK_EQUAL(d.phi(t0), 0.0);
  BOOST_CHECK_EQUAL(d.phi(t0 + 1h), 0.0);
}

BOOST_AUTO_TEST_CASE(regular_heartbeats_keep_phi_low) {
  phi_accrual d(cluster_params());
  auto t = t0;
  for (int i = 0; i < 200; ++i, t += 250ms) {
    d.heartbeat(t);
    BOOST_CHECK_LT(d.phi(t + 250ms), 0.5);  // the next one is due: no suspicion at all
    BOOST_CHECK_LT(d.phi(t + 500ms), 1.0);  // one missed beat is well inside the pause
  }
  BOOST_CHECK_CLOSE(d.mean_interval_ms(), 250.0, 1e-9);  // the bootstrap pair left the window
  BOOST_CHECK_SMALL(d.std_interval_ms(), 1e-9);
}

BOOST_AUTO_TEST_CASE(silence_crosses_8_between_1_and_1_5_seconds) {
  // 250 ms heartbeats, min std 100 ms, pause 500 ms: the expected interval is 750 ms, std 100 ms.
  phi_accrual d(cluster_params());
  auto last = beat_regularly(d, 200, 250ms);  // enough that the bootstrap pair has left the window
  BOOST_CHECK_CLOSE(d.mean_interval_ms(), 250.0, 1e-9);
  BOOST_CHECK_LT(d.phi(last + 1000ms), 8.0);
  BOOST_CHECK_GT(d.phi(last + 1500ms), 8.0);
  // y = (1000 - 750) / 100 = 2.5 -> phi = log10(1 + exp(2.5 (1.5976 + 0.070566 * 6.25))) ~ 2.22
  BOOST_CHECK_CLOSE(d.phi(last + 1000ms), 2.2163, 0.1);

  // phi rises monotonically with the silence, and first reaches 8 near 1272 ms.
  double prev = 0;
  int crossed_ms = -1;
  for (int ms = 0; ms <= 3000; ++ms) {
    double p = d.phi(last + std::chrono::milliseconds(ms));
    BOOST_CHECK_GE(p, prev);
    prev = p;
    if (crossed_ms < 0 && p >= 8) crossed_ms = ms;
  }
  BOOST_CHECK_GE(crossed_ms, 1250);
  BOOST_CHECK_LE(crossed_ms, 1300);
  // The suspect threshold (4) comes earlier: between 1.0 and 1.2 s.
  BOOST_CHECK_LT(d.phi(last + 1000ms), 4.0);
  BOOST_CHECK_GT(d.phi(last + 1200ms), 4.0);
}

BOOST_AUTO_TEST_CASE(jitter_raises_the_tolerance) {
  phi_accrual steady(cluster_params());
  phi_accrual jittery(cluster_params());
  auto t_steady = beat_regularly(steady, 100, 250ms);
  auto t = t0;
  for (int i = 0; i < 100; ++i) {  // alternating 100 / 400 ms: same 250 ms mean, std 150 ms
    jittery.heartbeat(t);
    t += (i % 2) ? 100ms : 400ms;
  }
  auto t_jittery = t - ((99 % 2) ? 100ms : 400ms);  // time of the last heartbeat
  BOOST_CHECK_CLOSE(jittery.mean_interval_ms(), 250.0, 2.0);
  BOOST_CHECK_GT(jittery.std_interval_ms(), 140.0);

  for (auto silence : {900ms, 1100ms, 1300ms, 1500ms})
    BOOST_CHECK_LT(jittery.phi(t_jittery + silence), steady.phi(t_steady + silence));
  BOOST_CHECK_GT(steady.phi(t_steady + 1300ms), 8.0);
  BOOST_CHECK_LT(jittery.phi(t_jittery + 1300ms), 8.0);
}

BOOST_AUTO_TEST_CASE(first_heartbeat_bootstraps_with_first_interval) {
  auto p = cluster_params();
  p.first_interval_ms = 1000;
  phi_accrual d(p);
  d.heartbeat(t0);
  BOOST_CHECK(d.has_heartbeat());
  BOOST_CHECK_EQUAL(d.samples(), 2u);                  // 750 and 1250
  BOOST_CHECK_CLOSE(d.mean_interval_ms(), 1000.0, 1e-9);
  BOOST_CHECK_CLOSE(d.std_interval_ms(), 250.0, 1e-9);
  // At exactly mean + pause the peer is as likely late as not: phi = log10(2).
  BOOST_CHECK_CLOSE(d.phi(t0 + 1500ms), std::log10(2.0), 0.1);
  BOOST_CHECK_LT(d.phi(t0 + 1000ms), 1.0);
  // One real interval joins the two seeds.
  d.heartbeat(t0 + 250ms);
  BOOST_CHECK_EQUAL(d.samples(), 3u);
  BOOST_CHECK_CLOSE(d.mean_interval_ms(), 750.0, 1e-9);
}

BOOST_AUTO_TEST_CASE(window_is_a_ring_buffer) {
  auto p = cluster_params();
  p.window = 4;
  phi_accrual d(p);
  auto t = beat_regularly(d, 10, 250ms);
  BOOST_CHECK_EQUAL(d.samples(), 4u);
  BOOST_CHECK_CLOSE(d.mean_interval_ms(), 250.0, 1e-9);
  for (int i = 0; i < 4; ++i) d.heartbeat(t += 1000ms);  // the old intervals all fall out
  BOOST_CHECK_EQUAL(d.samples(), 4u);
  BOOST_CHECK_CLOSE(d.mean_interval_ms(), 1000.0, 1e-9);
  BOOST_CHECK_SMALL(d.std_interval_ms(), 1e-9);
}

BOOST_AUTO_TEST_CASE(phi_is_always_finite_and_capped) {
  phi_accrual d(cluster_params());
  auto last = beat_regularly(d, 50, 250ms);
  for (auto silence : {std::chrono::nanoseconds(10s), std::chrono::nanoseconds(1h),
                       std::chrono::nanoseconds(24h * 365 * 100)}) {
    double p = d.phi(last + silence);
    BOOST_CHECK(std::isfinite(p));
    BOOST_CHECK_LE(p, phi_accrual::phi_max);
    BOOST_CHECK_GT(p, 8.0);
  }
  BOOST_CHECK_EQUAL(d.phi(last + 24h * 365 * 100), phi_accrual::phi_max);
  // A time before the last heartbeat (only a synthetic clock does this): finite, near 0.
  double early = d.phi(last - 1h);
  BOOST_CHECK(std::isfinite(early));
  BOOST_CHECK_GE(early, 0.0);
  BOOST_CHECK_LT(early, 1e-6);
  // So is a heartbeat from the past: it counts as a zero interval.
  d.heartbeat(last - 1s);
  BOOST_CHECK(std::isfinite(d.mean_interval_ms()));
  BOOST_CHECK(std::isfinite(d.phi(last + 1s)));
}

BOOST_AUTO_TEST_CASE(degenerate_params_are_made_safe) {
  phi_accrual::params p;
  p.window = 0;
  p.min_std_ms = 0;
  p.acceptable_pause_ms = -5;
  p.first_interval_ms = 0;
  phi_accrual d(p);
  BOOST_CHECK_EQUAL(d.parameters().window, 2u);
  BOOST_CHECK_GT(d.parameters().min_std_ms, 0.0);
  for (int i = 0; i < 10; ++i) d.heartbeat(t0 + i * 100ms);  // std 0, floor tiny
  BOOST_CHECK(std::isfinite(d.phi(t0 + 1s)));
  BOOST_CHECK(std::isfinite(d.phi(t0 + 900ms)));
}

BOOST_AUTO_TEST_CASE(reset_forgets_everything) {
  phi_accrual d(cluster_params());
  auto last = beat_regularly(d, 20, 250ms);
  BOOST_CHECK_GT(d.phi(last + 10s), 8.0);
  d.reset();
  BOOST_CHECK(!d.has_heartbeat());
  BOOST_CHECK_EQUAL(d.samples(), 0u);
  BOOST_CHECK_EQUAL(d.phi(last + 10s), 0.0);
  d.heartbeat(last + 10s);
  BOOST_CHECK_EQUAL(d.samples(), 2u);  // bootstrapped again
  BOOST_CHECK_LT(d.phi(last + 10s + 250ms), 1.0);
}
