// Shared helpers for the libFuzzer harnesses in native/fuzz: a check macro
// that aborts (so libFuzzer saves the input as a crash), a small PRNG for
// split points, and a reference UTF-8 decoder written independently of
// proto/utf8.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

// A failed invariant: print what and where, then abort. libFuzzer treats the
// abort as a crash and writes the input to crash-<sha1>.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

#define FUZZ_CHECK_MSG(cond, ...)                                                        \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d: ", #cond, __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                                                 \
      std::fprintf(stderr, "\n");                                                        \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace fuzz {

constexpr size_t npos = size_t(-1);

// xorshift64*: deterministic split points from a seed taken from the input.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull) {
    if (s == 0) s = 1;
  }
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
  // Uniform-ish in [0, n); n > 0.
  size_t below(size_t n) { return size_t(next() % n); }
};

// A copy of bytes in an allocation of exactly their size, so ASan reports any
// read or write past the end of a piece.
struct ExactBuf {
  uint8_t* p = nullptr;
  size_t n = 0;
  ExactBuf(const uint8_t* src, size_t len) : p(new uint8_t[len ? len : 1]), n(len) {
    for (size_t i = 0; i < len; ++i) p[i] = src[i];
  }
  ~ExactBuf() { delete[] p; }
  ExactBuf(const ExactBuf&) = delete;
  ExactBuf& operator=(const ExactBuf&) = delete;
};

// ---- reference UTF-8 ---------------------------------------------------------
//
// Decodes code point by code point (lead byte length classes 110xxxxx,
// 1110xxxx, 11110xxx) and, after every byte of a sequence, asks whether any
// completion of the bits read so far can still land in the Unicode scalar
// values of that length: [min, U+D7FF] or [U+E000, U+10FFFF], where min is
// U+0080 / U+0800 / U+10000 for 2 / 3 / 4 bytes (no overlong forms). The first
// byte after which the answer is no is `bad_at`: the byte at which a validator
// that fails as early as possible (RFC 6455 §8.1) must fail.
struct RefUtf8 {
  size_t bad_at = npos;         // first byte that no continuation can make valid
  bool complete = false;        // no bad byte and the input ends on a boundary
  bool valid = false;           // bad_at == npos && complete
  std::vector<uint8_t> boundary;  // boundary[i]: the first i bytes end on a code point boundary
  std::vector<uint8_t> ascii;     // ascii[i]: the first i bytes are all < 0x80
};

// Whether [lo, hi] meets [min, U+D7FF] ∪ [U+E000, U+10FFFF], each part cut
// to start at `min` (an empty part meets nothing).
inline bool ref_range_viable(uint32_t lo, uint32_t hi, uint32_t min) {
  auto meets = [&](uint32_t a, uint32_t b) {
    if (a < min) a = min;
    return a <= b && lo <= b && hi >= a;
  };
  return meets(0, 0xd7ff) || meets(0xe000, 0x10ffff);
}

inline RefUtf8 ref_utf8(const uint8_t* s, size_t n) {
  RefUtf8 r;
  r.boundary.assign(n + 1, 0);
  r.ascii.assign(n + 1, 0);
  r.boundary[0] = 1;
  r.ascii[0] = 1;
  for (size_t i = 0; i < n; ++i) r.ascii[i + 1] = r.ascii[i] && s[i] < 0x80;
  size_t i = 0;
  while (i < n) {
    uint8_t b = s[i];
    if (b < 0x80) {
      ++i;
      r.boundary[i] = 1;
      continue;
    }
    int len;
    uint32_t cp;
    if ((b & 0xe0) == 0xc0) {
      len = 2;
      cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3;
      cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4;
      cp = b & 0x07;
    } else {
      r.bad_at = i;  // a continuation byte or F8..FF where a lead is due
      return r;
    }
    uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    for (int k = 1;; ++k) {  // k bytes of the sequence read, their bits in cp
      int rem = len - k;
      uint32_t lo = cp << (6 * rem);
      uint32_t hi = lo | ((1u << (6 * rem)) - 1);
      if (!ref_range_viable(lo, hi, min)) {
        r.bad_at = i + size_t(k) - 1;
        return r;
      }
      if (rem == 0) break;
      if (i + size_t(k) >= n) return r;  // truncated: viable but not complete
      uint8_t c = s[i + size_t(k)];
      if ((c & 0xc0) != 0x80) {
        r.bad_at = i + size_t(k);
        return r;
      }
      cp = cp << 6 | (c & 0x3f);
    }
    i += size_t(len);
    r.boundary[i] = 1;
  }
  r.complete = true;
  r.valid = true;
  return r;
}

inline bool ref_utf8_valid(const uint8_t* s, size_t n) { return ref_utf8(s, n).valid; }

// ---- reference close codes -------------------------------------------------
//
// RFC 6455 §7.4.1 codes an endpoint may send (1000–1003, 1007–1011), the IANA
// "WebSocket Close Code Number Registry" additions 1012 (Service Restart),
// 1013 (Try Again Later), 1014 (Bad Gateway), and §7.4.2's 3000–3999
// (registered, libraries) and 4000–4999 (private use). Everything else —
// 0–999, 1004 (reserved), 1005 / 1006 / 1015 (must never be sent), the
// unassigned 1016–2999 and 5000+ — is invalid in a Close frame.
inline bool ref_close_code_ok(uint32_t code) {
  switch (code) {
    case 1000: case 1001: case 1002: case 1003:
    case 1007: case 1008: case 1009: case 1010: case 1011:
    case 1012: case 1013: case 1014:
      return true;
    default:
      return code >= 3000 && code <= 4999;
  }
}

}  // namespace fuzz
