// Incremental UTF-8 validation (Unicode §3.9, Table 3-7 "Well-Formed UTF-8 Byte
// Sequences"). RFC 6455 §8.1 asks a text message to be failed as soon as its
// bytes cannot be valid UTF-8, so the validator rejects a call's bytes the
// moment they hold a byte that no continuation can make valid, and keeps its
// state across frames and reads.
//
// A call's bytes go three ways: the rest of a sequence begun in an earlier
// call and a sequence left open at the end go through the byte-wise automaton
// (feed_bytewise), the run between them, whole code points only, through the
// vector validator this CPU runs best (utf8_bulk.h). The verdict is the same
// as byte by byte: the run is valid and the ends are viable exactly when the
// call's bytes are.
#pragma once
#include <cstddef>
#include <cstdint>

#include "utf8_bulk.h"

namespace corews::proto {

class Utf8Validator {
 public:
  // Consumes bytes; false as soon as a byte fed so far can never be valid.
  // After a false the validator stays failed until reset().
  bool feed(const uint8_t* p, size_t n) { return feed_with(utf8_bulk::best(), p, n); }
  // feed() with a given whole-run validator (tests compare every body).
  bool feed_with(utf8_bulk::Fn bulk, const uint8_t* p, size_t n);
  // The byte-wise automaton alone (with an 8-byte ASCII skip).
  bool feed_bytewise(const uint8_t* p, size_t n);
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
