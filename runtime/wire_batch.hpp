// Batches: several cluster frames in one ZeroMQ message.
//
//   batch = 0xc1, then for each frame: its length (4 bytes, little-endian, >= 1), its bytes
//
// 0xc1 is the one byte MessagePack never uses, so no envelope (a MessagePack array) starts with it:
// a receiver tells a batch from a single frame by its first byte. Each frame inside is exactly what
// would have been sent alone; a batch never holds a batch (a frame starting with 0xc1 fails the
// envelope decoder like any other garbage). cluster_io coalesces the frames a sender queues for a
// peer in a burst into one batch: one ZeroMQ message, one encryption with CURVE, one wake-up of
// each I/O thread on the way, instead of one per frame (docs/protocol.md, docs/benchmarks.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace holo::wire {

inline constexpr char batch_marker = static_cast<char>(0xc1);
inline constexpr std::size_t batch_prefix_bytes = 4;

inline bool is_batch(std::string_view message) { return !message.empty() && message[0] == batch_marker; }

// Appends `frame` to `batch` (starting it with the marker when empty). Frames must be non-empty
// and shorter than 4 GiB (cluster frames are bounded by frame_bytes_max, 64 MiB).
inline void append_to_batch(std::string& batch, std::string_view frame) {
  if (batch.empty()) batch.push_back(batch_marker);
  auto n = static_cast<std::uint32_t>(frame.size());
  char len[batch_prefix_bytes] = {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16),
                                  static_cast<char>(n >> 24)};
  batch.append(len, batch_prefix_bytes);
  batch.append(frame);
}

// The frame of a batch that holds exactly one (what a batch of one is sent as: the frame alone).
inline std::string_view only_frame_of_batch(const std::string& batch) {
  return std::string_view(batch).substr(1 + batch_prefix_bytes);
}

// Calls on_frame(std::string_view) for each frame of `batch`, in order, each a view into `batch`.
// Returns false when the batch is malformed (no marker, a zero length, a length running past the
// end, nothing inside): the frames before the fault have been delivered, the rest is dropped. Every
// read is checked against the message's size, so no input reads out of bounds.
template <typename F>
bool for_each_batched_frame(std::string_view batch, F&& on_frame) {
  if (!is_batch(batch) || batch.size() == 1) return false;
  std::size_t at = 1;
  while (at < batch.size()) {
    if (batch.size() - at < batch_prefix_bytes) return false;
    auto b = reinterpret_cast<const unsigned char*>(batch.data() + at);
    std::size_t n = static_cast<std::size_t>(b[0]) | static_cast<std::size_t>(b[1]) << 8 |
                    static_cast<std::size_t>(b[2]) << 16 | static_cast<std::size_t>(b[3]) << 24;
    at += batch_prefix_bytes;
    if (n == 0 || n > batch.size() - at) return false;
    on_frame(batch.substr(at, n));
    at += n;
  }
  return true;
}

}  // namespace holo::wire
