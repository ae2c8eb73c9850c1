// Per-connection numbers the worker publishes for JS to read without asking:
// for slot i, [2i] is the bytes queued in the connection's output and [2i+1]
// the bytes of JS sends the worker has taken from its inbox so far. JS reads
// them as a Float64Array, so ws.bufferedAmount costs no thread hop.
//
// Shared by the worker and a JS ArrayBuffer, whichever lives longer frees it.
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
    void* mem = std::calloc(slots * 2, sizeof(double));
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
  size_t byte_size() const { return slots_ * 2 * sizeof(double); }

  void set_queued(uint32_t slot, size_t bytes) { store(2 * size_t(slot), double(bytes)); }
  void add_consumed(uint32_t slot, size_t bytes) {
    double* p = &values_[2 * size_t(slot) + 1];
    store(2 * size_t(slot) + 1, std::atomic_ref<double>(*p).load(std::memory_order_relaxed) + double(bytes));
  }
  void reset(uint32_t slot) {
    store(2 * size_t(slot), 0);
    store(2 * size_t(slot) + 1, 0);
  }

 private:
  SlotCounters(double* values, size_t slots) : values_(values), slots_(slots) {}
  void store(size_t i, double v) { std::atomic_ref<double>(values_[i]).store(v, std::memory_order_relaxed); }

  double* values_;
  size_t slots_;
  std::atomic<uint32_t> refs_{1};
};

}  // namespace corews::server
