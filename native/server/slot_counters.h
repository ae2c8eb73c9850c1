// One number per connection that the worker publishes for JS to read without
// asking, so ws.bufferedAmount costs no thread hop: for slot i, the bytes of JS
// sends the worker has taken from its inbox so far, minus the bytes queued in
// the connection's output (sends, publishes, control frames alike).
//
// JS keeps the bytes it handed over (`accepted`); what is not yet written to
// the kernel is then accepted − settled. The two quantities the worker tracks
// change together (a send taken and partly queued), and JS reads without
// atomics: as two numbers a reader on arm64 could see one update and not the
// other. One number, stored whole (an aligned 8-byte store, single-copy atomic
// on every 64-bit CPU Node runs on), has no such order to get wrong.
//
// Shared by the worker and a JS ArrayBuffer, whichever lives longer frees it.
// Only the worker writes.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace corews::server {

class SlotCounters {
 public:
  static SlotCounters* create(size_t slots) {
    // calloc of a large block maps zero pages lazily: only slots in use cost memory.
    void* mem = std::calloc(slots, sizeof(double));
    if (mem == nullptr) throw std::bad_alloc();
    return new SlotCounters(static_cast<double*>(mem), slots);
  }

  void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::free(values_);
      delete this;
    }
  }

  size_t slots() const { return slots_; }
  double* data() { return values_; }
  size_t byte_size() const { return slots_ * sizeof(double); }

  // Worker thread: `taken` send bytes so far, `queued` bytes in the output now.
  void publish(uint32_t slot, uint64_t taken, size_t queued) {
    std::atomic_ref<double>(values_[slot]).store(double(taken) - double(queued), std::memory_order_release);
  }
  void reset(uint32_t slot) { std::atomic_ref<double>(values_[slot]).store(0, std::memory_order_release); }
  // What JS reads (tests).
  double settled(uint32_t slot) const {
    return std::atomic_ref<double>(values_[slot]).load(std::memory_order_acquire);
  }

 private:
  SlotCounters(double* values, size_t slots) : values_(values), slots_(slots) {}

  double* values_;
  size_t slots_;
  std::atomic<uint32_t> refs_{1};
};

}  // namespace corews::server
