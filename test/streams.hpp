// Many generations at once over real ZeroMQ client sockets, for multi-process serving tests: one
// DEALER per node endpoint, every event checked as it arrives (indexes contiguous, no repeat, no
// gap), arrival times kept to measure stalls.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/serving_protocol.hpp"

namespace holo::test {

struct stream_record {
  std::string id;
  std::string endpoint;
  std::vector<std::int32_t> tokens;
  std::string text;                     // token texts + the done event's text
  std::vector<std::chrono::steady_clock::time_point> arrivals;  // per event
  std::chrono::steady_clock::time_point sent;
  bool done = false;
  proto::done_event final;
  std::string error;                    // "code: message" of an error event
  std::vector<std::string> violations;  // index gaps, repeats, events after done
  std::int64_t events = 0;
  std::int64_t max_tokens_per_event = 0;
  // Longest time between two consecutive events (or from sending to the first).
  double worst_gap_ms() const;
};

class stream_set {
 public:
  // `small_buffers`: the sockets buffer as little as the kernel and ZeroMQ allow (slow-client tests).
  explicit stream_set(bool small_buffers = false);
  ~stream_set();
  // Sends a generate on `endpoint`'s socket (one socket per endpoint, opened on first use).
  void start(const std::string& endpoint, const proto::generate_request& req);
  // Sends a raw frame on `endpoint`'s socket (a resume, a cancel, garbage).
  void send_raw(const std::string& endpoint, const std::string& frame);
  // Closes `endpoint`'s socket at once (a client that disconnects); the next use opens a new one.
  void disconnect(const std::string& endpoint);
  // Reads events until every stream is done or failed, or the timeout. True when all ended.
  bool run(std::chrono::milliseconds timeout);
  // Reads events for at most `d` (or until `until` says stop).
  void pump(std::chrono::milliseconds d);
  template <class Pred>
  bool pump_until(std::chrono::milliseconds timeout, Pred until) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (until()) return true;
      pump(std::chrono::milliseconds(20));
    }
    return until();
  }
  // Frames that were not generation events (replies to raw frames), oldest first.
  std::vector<std::string>& other_frames() { return others_; }
  std::map<std::string, stream_record>& streams() { return streams_; }
  stream_record& operator[](const std::string& id) { return streams_.at(id); }
  // Stops reading one endpoint for a while: the socket is left alone (a slow client).
  void pause_reading(const std::string& endpoint, bool paused);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::map<std::string, stream_record> streams_;
  std::vector<std::string> others_;
};

}  // namespace holo::test
