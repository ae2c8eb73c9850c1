// Many producers, one consumer, whole batches at a time: producers append a
// buffer of encoded commands, the consumer takes everything queued so far. The
// buffers swap rather than copy when the inbox is empty, so steady traffic
// ping-pongs two allocations instead of making new ones.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

namespace corews::core {

class Inbox {
 public:
  // Moves `batch` in (leaving it empty); true when the inbox was empty before,
  // i.e. when the consumer needs a wakeup.
  bool push(std::vector<uint8_t>& batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    bool was_empty = queued_.empty();
    if (was_empty) {
      queued_.swap(batch);
    } else {
      queued_.insert(queued_.end(), batch.begin(), batch.end());
    }
    batch.clear();
    return was_empty;
  }

  // Swaps everything queued into `out` (which should be empty).
  void take(std::vector<uint8_t>& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.swap(out);
  }

 private:
  std::mutex mutex_;
  std::vector<uint8_t> queued_;
};

}  // namespace corews::core
