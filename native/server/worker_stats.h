// What a worker counts, for server.stats() and server.metrics(). Written by the
// worker thread, read by the JS thread: every field is a relaxed atomic.
#pragma once
#include <atomic>
#include <cstdint>

namespace corews::server {

// HTTP statuses a handshake can be refused with, in the order stats report them.
constexpr int kRejectStatuses[] = {400, 403, 404, 405, 408, 426, 429, 431, 500, 503};
constexpr int kRejectStatusCount = sizeof(kRejectStatuses) / sizeof(int);

// Close codes are counted for 1000–1015 one by one, everything else together.
constexpr int kCloseCodeSlots = 17;
inline int close_code_slot(uint32_t code) { return code >= 1000 && code <= 1015 ? int(code - 1000) : 16; }

struct WorkerStats {
  using Counter = std::atomic<uint64_t>;
  Counter connections_open{0};  // a gauge
  Counter connections_total{0};
  Counter handshakes_accepted{0};
  Counter handshakes_rejected[kRejectStatusCount + 1] = {};  // last: any other status
  Counter messages_in{0};
  Counter bytes_in{0};
  Counter messages_out{0};
  Counter bytes_out{0};
  Counter close_received[kCloseCodeSlots] = {};
  Counter close_sent[kCloseCodeSlots] = {};
  Counter backpressure_events{0};  // a queue passed the low mark
  Counter backpressure_drops{0};
  Counter backpressure_closes{0};
  Counter read_pauses{0};          // reading stopped because JS fell behind
  Counter output_pauses{0};        // a connection's reading stopped because its queue reached maxBackpressure
  Counter rate_limit_closes{0};
  Counter idle_closes{0};
  Counter pings_sent{0};
  Counter loop_iterations{0};

  static void add(Counter& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  static void sub(Counter& c, uint64_t n = 1) { c.fetch_sub(n, std::memory_order_relaxed); }
  void rejected(int status) {
    int i = 0;
    while (i < kRejectStatusCount && kRejectStatuses[i] != status) ++i;
    add(handshakes_rejected[i]);
  }
};

}  // namespace corews::server
