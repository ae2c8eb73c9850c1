#include "utf8.h"

#include <cstring>

namespace corews::proto {
namespace {

// Below this many bytes a call goes byte-wise: cutting it and setting up
// vectors would cost more than they save.
constexpr size_t kBulkMin = 32;

// Where the last sequence of p[0, n) starts if it is left open, else n. Only
// a lead can open one, and an open one has at most two continuations after
// it, so looking back over three continuations finds it.
size_t open_tail(const uint8_t* p, size_t n) {
  size_t stop = n > 4 ? n - 4 : 0;
  for (size_t j = n; j > stop; --j) {
    uint8_t b = p[j - 1];
    if ((b & 0xc0) == 0x80) continue;  // a continuation: look further back
    size_t len = b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    return j - 1 + len > n ? j - 1 : n;
  }
  return n;  // only continuations: the run's validator says no
}

}  // namespace

bool Utf8Validator::feed_bytewise(const uint8_t* p, size_t n) {
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

bool Utf8Validator::feed_with(utf8_bulk::Fn bulk, const uint8_t* p, size_t n) {
  if (failed_ || n < kBulkMin) return feed_bytewise(p, n);
  // The rest of a sequence an earlier call began (at most three bytes).
  size_t head = need_;
  if (!feed_bytewise(p, head)) return false;
  p += head;
  n -= head;
  size_t run = open_tail(p, n);
  utf8_bulk::Result r = bulk(p, run);
  if (!r.valid) {
    failed_ = true;
    return false;
  }
  if (!r.ascii) ascii_ = false;
  return feed_bytewise(p + run, n - run);
}

bool is_valid_utf8(const uint8_t* p, size_t n) {
  if (n >= kBulkMin) return utf8_bulk::best()(p, n).valid;
  Utf8Validator v;
  return v.feed_bytewise(p, n) && v.complete();
}

namespace utf8_bulk {

Result scalar(const uint8_t* p, size_t n) {
  Utf8Validator v;
  bool valid = v.feed_bytewise(p, n) && v.complete();
  return {valid, v.ascii()};
}

std::span<const Body> available() {
  static const Body all[] = {
      {"scalar", scalar},
#if COREWS_X86_DISPATCH
      {"ssse3", ssse3},
      {"avx2", avx2},
      {"avx512", avx512},
#endif
  };
  static const size_t count = [] {
    size_t k = 1;
#if COREWS_X86_DISPATCH
    const core::CpuFeatures& f = core::cpu_features();
    if (f.ssse3) k = 2;
    if (f.ssse3 && f.avx2) k = 3;
    if (f.ssse3 && f.avx2 && f.avx512bw) k = 4;
#endif
    return k;
  }();
  return {all, count};
}

Fn best() {
  static const Fn fn = available().back().fn;
  return fn;
}

}  // namespace utf8_bulk
}  // namespace corews::proto
