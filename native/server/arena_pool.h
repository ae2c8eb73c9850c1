// Batch arenas given back once JS is done with them, for the worker's next
// batches. A fresh arena of a megabyte is fresh pages: malloc maps them, the
// kernel faults each in and zeroes it, and the free gives them back, every
// batch. A reused one is memory already mapped and warm in the cache.
//
// Arenas come back from the JS thread: a text-only batch when it has been
// dispatched, a binary one from its ArrayBuffer's finalizer, whenever the GC
// gets to it (possibly after the worker is gone: holders share the pool). The
// pool keeps at most `keep` arenas of at most `largest` bytes each and frees
// the rest, so what it holds is bounded however long JS holds message buffers
// or however large one message made an arena.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace corews::server {

class ArenaPool {
 public:
  ArenaPool(size_t keep, size_t largest) : keep_(keep), largest_(largest) {}

  // An empty arena: a pooled one (its capacity kept) when there is one.
  std::vector<uint8_t> take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return {};
    std::vector<uint8_t> a = std::move(free_.back());
    free_.pop_back();
    ++reused_;
    return a;
  }

  // From any thread. A mutex, not a lock-free list: it is taken twice per
  // batch (not per message), by two threads at most, and a lock nobody holds
  // costs a few nanoseconds.
  void give(std::vector<uint8_t>&& arena) {
    if (arena.capacity() == 0 || arena.capacity() > largest_) return;  // freed by the caller's vector
    arena.clear();
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < keep_) free_.push_back(std::move(arena));
  }

  // For tests and stats: arenas waiting, and how many take() calls found one.
  size_t pooled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return free_.size();
  }
  uint64_t reused() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reused_;
  }

 private:
  const size_t keep_;
  const size_t largest_;
  mutable std::mutex mu_;
  std::vector<std::vector<uint8_t>> free_;
  uint64_t reused_ = 0;
};

}  // namespace corews::server
