// A growable byte buffer whose new bytes are not initialised: callers that
// append by writing into reserved space (frames, masked payloads) pay for one
// pass over the bytes, not two as with std::vector::resize.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace corews::core {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ~ByteBuffer() { std::free(data_); }
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& other) noexcept { swap(other); }
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    ByteBuffer(std::move(other)).swap(*this);
    return *this;
  }
  void swap(ByteBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }

  // Grows by n bytes and returns where they start; their content is undefined.
  uint8_t* extend(size_t n) {
    if (size_ + n > capacity_) grow(size_ + n);
    uint8_t* p = data_ + size_;
    size_ += n;
    return p;
  }
  // Room for `need` bytes in all, so that appending up to there does not reallocate.
  void reserve(size_t need) {
    if (need > capacity_) grow(need);
  }
  void append(const void* p, size_t n) {
    if (n) std::memcpy(extend(n), p, n);
  }
  // Gives back the last n bytes of an extend() that wrote fewer.
  void shrink_by(size_t n) { size_ -= n; }
  void clear() { size_ = 0; }
  // Frees the memory too (an idle owner keeps no buffer).
  void release() {
    std::free(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

 private:
  void grow(size_t need) {
    size_t cap = capacity_ ? capacity_ * 2 : 256;
    while (cap < need) cap *= 2;
    void* p = std::realloc(data_, cap);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(p);
    capacity_ = cap;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace corews::core
