// A node's decode speed, measured: decoding a token reads every weight once, so tokens/s on a CPU
// is close to memory read bandwidth / model bytes. The placement planner compares nodes by this
// (planner_node::speed) instead of their core counts. Measured once at node start, in ~0.1-0.3 s.
#pragma once

#include <cstddef>

namespace holo {

// Read bandwidth in GB/s with `threads` threads summing a `bytes` buffer (far larger than any
// cache), the best of `passes`. 0 when the buffer cannot be allocated.
double measure_read_bandwidth_gbs(int threads, std::size_t bytes = std::size_t{128} << 20, int passes = 3);

}  // namespace holo
