// Timeouts that share one duration (all handshakes, all closings) expire in the
// order they were armed, so a FIFO list is an exact timer structure: arm and
// cancel are O(1), expiry pops from the front, and nothing is allocated.
#pragma once
#include <cstdint>

namespace corews::core {

struct DeadlineNode {
  DeadlineNode* prev = nullptr;
  DeadlineNode* next = nullptr;
  int64_t deadline = 0;
  bool armed() const { return prev != nullptr; }
};

class DeadlineList {
 public:
  explicit DeadlineList(int64_t duration_ms) : duration_(duration_ms) { head_.prev = head_.next = &head_; }
  DeadlineList(const DeadlineList&) = delete;
  DeadlineList& operator=(const DeadlineList&) = delete;

  int64_t duration() const { return duration_; }

  // (Re)arms `n` to expire `duration` from `now`.
  void arm(DeadlineNode* n, int64_t now) {
    if (n->armed()) unlink(n);
    n->deadline = now + duration_;
    n->prev = head_.prev;
    n->next = &head_;
    head_.prev->next = n;
    head_.prev = n;
  }

  static void cancel(DeadlineNode* n) {
    if (n->armed()) unlink(n);
  }

  // The earliest deadline, or -1 when empty.
  int64_t next_deadline() const { return head_.next == &head_ ? -1 : head_.next->deadline; }

  // Unlinks and returns one node whose deadline has passed, or null.
  DeadlineNode* pop_expired(int64_t now) {
    DeadlineNode* n = head_.next;
    if (n == &head_ || n->deadline > now) return nullptr;
    unlink(n);
    return n;
  }

 private:
  static void unlink(DeadlineNode* n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = nullptr;
  }

  DeadlineNode head_;
  int64_t duration_;
};

}  // namespace corews::core
