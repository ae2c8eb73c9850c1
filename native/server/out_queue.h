// A connection's output that the kernel has not taken yet: segments of
// reference-counted blocks, so a publish queued for many slow subscribers is
// one block, not one copy each. Empty (and allocation-free) while nothing waits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/shared_bytes.h"
#include "transport.h"

namespace corews::server {

class OutQueue {
 public:
  OutQueue() = default;
  ~OutQueue() { clear(); }
  OutQueue(const OutQueue&) = delete;
  OutQueue& operator=(const OutQueue&) = delete;

  bool empty() const { return bytes_ == 0; }
  size_t bytes() const { return bytes_; }

  // Copies `len` bytes in (into the last private block when they fit).
  void append_copy(const uint8_t* data, size_t len);
  // Queues bytes of a shared block, taking a reference (short ones are copied).
  void append_shared(core::SharedBytes* block, size_t offset, size_t len);
  // Offers the queue's head to the transport and drops what it took; the
  // transport's answer is returned as it came (kDone: how many bytes left).
  IoResult write_to(Transport& transport);
  void clear();
  // Segments held, written ones included (metadata, for tests).
  size_t segment_count() const { return segments_.size(); }

 private:
  struct Segment {
    core::SharedBytes* block;
    size_t offset;
    size_t len;
    bool owned;  // a private block appended to by append_copy
  };
  void consume(size_t written);  // drops the first `written` bytes

  std::vector<Segment> segments_;
  size_t head_ = 0;  // first unwritten segment
  size_t bytes_ = 0;
};

}  // namespace corews::server
