// Incremental UTF-8 validation (Unicode §3.9, Table 3-7 "Well-Formed UTF-8 Byte
// Sequences"). RFC 6455 §8.1 asks a text message to be failed as soon as its
// bytes cannot be valid UTF-8, so the validator rejects a byte the moment it
// arrives and keeps its state across frames and reads.
#pragma once
#include <cstddef>
#include <cstdint>

namespace corews::proto {

class Utf8Validator {
 public:
  // Consumes bytes; false at the first byte that can never be valid. After a
  // false the validator stays failed until reset().
  bool feed(const uint8_t* p, size_t n);
  // True at a code point boundary (nothing half-read).
  bool complete() const { return need_ == 0; }
  // True while every byte fed since reset() was ASCII.
  bool ascii() const { return ascii_; }
  void reset() { *this = Utf8Validator{}; }

 private:
  uint8_t need_ = 0;    // continuation bytes still expected
  uint8_t lo_ = 0x80;   // allowed range of the next continuation byte
  uint8_t hi_ = 0xbf;
  bool ascii_ = true;
  bool failed_ = false;
};

bool is_valid_utf8(const uint8_t* p, size_t n);

}  // namespace corews::proto
