#include "utf8.h"

#include <cstring>

namespace corews::proto {

bool Utf8Validator::feed(const uint8_t* p, size_t n) {
  if (failed_) return false;
  const uint8_t* end = p + n;
  while (p < end) {
    if (need_ == 0) {
      // ASCII fast path: eight bytes at a time while no high bit is set.
      while (end - p >= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        if (word & 0x8080808080808080ull) break;
        p += 8;
      }
      if (p == end) break;
      uint8_t b = *p++;
      if (b < 0x80) continue;
      ascii_ = false;
      lo_ = 0x80;
      hi_ = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) {
        need_ = 1;
      } else if (b >= 0xe0 && b <= 0xef) {
        need_ = 2;
        if (b == 0xe0) lo_ = 0xa0;        // no overlong 3-byte forms
        else if (b == 0xed) hi_ = 0x9f;   // no UTF-16 surrogates
      } else if (b >= 0xf0 && b <= 0xf4) {
        need_ = 3;
        if (b == 0xf0) lo_ = 0x90;        // no overlong 4-byte forms
        else if (b == 0xf4) hi_ = 0x8f;   // nothing above U+10FFFF
      } else {
        failed_ = true;                   // 80..C1, F5..FF never lead
        return false;
      }
    } else {
      uint8_t b = *p++;
      if (b < lo_ || b > hi_) {
        failed_ = true;
        return false;
      }
      lo_ = 0x80;
      hi_ = 0xbf;
      --need_;
    }
  }
  return true;
}

bool is_valid_utf8(const uint8_t* p, size_t n) {
  Utf8Validator v;
  return v.feed(p, n) && v.complete();
}

}  // namespace corews::proto
