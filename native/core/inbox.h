// Many producers, one consumer, whole buffers at a time: producers hand over a
// buffer of encoded commands, the consumer takes every buffer queued so far,
// oldest first. Buffers are queued side by side, never concatenated: when the
// consumer is behind, concatenating would copy megabytes on the producer's
// thread (the JS thread). The consumer gives emptied buffers back, and a push
// hands one to the producer, so steady traffic circulates a few allocations
// instead of growing new ones into fresh pages.
#pragma once
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include "byte_buffer.h"

namespace corews::core {

class Inbox {
 public:
  using Buffer = ByteBuffer;

  // Moves `batch` in (an empty one is ignored) and leaves `batch` empty,
  // holding a recycled buffer's memory when there is one; true when the
  // inbox was empty before, i.e. when the consumer needs a wakeup.
  bool push(Buffer& batch) {
    if (batch.empty()) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    bool was_empty = queued_.empty();
    queued_.push_back(std::move(batch));
    if (!spare_.empty()) {
      batch.swap(spare_.back());
      spare_.pop_back();
    }
    return was_empty;
  }

  // Moves every queued buffer, oldest first, into `out` (which should be empty).
  void take(std::vector<Buffer>& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.swap(out);
  }

  // A consumed buffer back for the producers; kept only up to a few.
  void recycle(Buffer&& buffer) {
    buffer.clear();
    std::lock_guard<std::mutex> lock(mutex_);
    if (spare_.size() < kSpares) spare_.push_back(std::move(buffer));
  }

 private:
  static constexpr size_t kSpares = 4;
  std::mutex mutex_;
  std::vector<Buffer> queued_;
  std::vector<Buffer> spare_;
};

}  // namespace corews::core
