// An immutable, reference-counted byte block shared across threads: one framed
// publish is written to every subscriber on every worker from the same bytes.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace corews::core {

class SharedBytes {
 public:
  // A block of `capacity` bytes with one reference (the creator's).
  static SharedBytes* create(size_t capacity) {
    void* p = std::malloc(sizeof(SharedBytes) + capacity);
    if (p == nullptr) throw std::bad_alloc();
    return new (p) SharedBytes(capacity);
  }

  void ref(uint32_t n = 1) { refs_.fetch_add(n, std::memory_order_relaxed); }
  void unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~SharedBytes();
      std::free(this);
    }
  }

  uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // Only while the block is still private to its writer.
  void set_size(size_t n) { size_ = n; }

 private:
  explicit SharedBytes(size_t capacity) : capacity_(capacity) {}
  std::atomic<uint32_t> refs_{1};
  size_t size_ = 0;
  size_t capacity_;
};

}  // namespace corews::core
