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
#include <new>
#include <utility>
#include <vector>

namespace corews::server {

// Leaves new elements uninitialised (value-initialisation of a byte is a
// zero): resizing an arena to write into it, as the frame parser does when it
// unmasks a payload straight into place, costs one pass over the bytes, not
// a memset first.
template <class T>
struct UninitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <class U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// A batch's bytes: payloads and strings for JS.
using Arena = std::vector<uint8_t, UninitAllocator<uint8_t>>;

class ArenaPool {
 public:
  ArenaPool(size_t keep, size_t largest) : keep_(keep), largest_(largest) {}

  // An empty arena: a pooled one (its capacity kept) when there is one.
  Arena take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return {};
    Arena a = std::move(free_.back());
    free_.pop_back();
    ++reused_;
    return a;
  }

  // From any thread. A mutex, not a lock-free list: it is taken twice per
  // batch (not per message), by two threads at most, and a lock nobody holds
  // costs a few nanoseconds.
  void give(Arena&& arena) {
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
  std::vector<Arena> free_;
  uint64_t reused_ = 0;
};

}  // namespace corews::server
