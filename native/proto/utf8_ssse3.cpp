// The lookup validator (utf8_lookup.h) over 16-byte blocks with SSSE3, whose
// pshufb does the table lookups. Compiled with a target attribute, called only
// when the CPU has SSSE3 (utf8.cpp).
#include "utf8_bulk.h"

#if COREWS_X86_DISPATCH
#include <immintrin.h>

#include <cstring>

#include "utf8_lookup.h"

namespace corews::proto::utf8_bulk {
namespace {

#define COREWS_SSSE3 __attribute__((target("ssse3"), always_inline)) inline

struct State {
  __m128i hi1, lo1, hi2, nibble, open_limits;
  __m128i prev;       // the block before
  __m128i open;       // non-zero: prev ends inside a sequence
  __m128i errors;     // non-zero: invalid
  __m128i high;       // the OR of every non-ASCII block
};

COREWS_SSSE3 __m128i load(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// One block, with the 15..13 bytes of the block before it in view.
COREWS_SSSE3 void block(State& s, __m128i in) {
  __m128i prev1 = _mm_alignr_epi8(in, s.prev, 15);
  __m128i prev2 = _mm_alignr_epi8(in, s.prev, 14);
  __m128i prev3 = _mm_alignr_epi8(in, s.prev, 13);
  __m128i e = _mm_and_si128(
      _mm_and_si128(_mm_shuffle_epi8(s.hi1, _mm_and_si128(_mm_srli_epi16(prev1, 4), s.nibble)),
                    _mm_shuffle_epi8(s.lo1, _mm_and_si128(prev1, s.nibble))),
      _mm_shuffle_epi8(s.hi2, _mm_and_si128(_mm_srli_epi16(in, 4), s.nibble)));
  // Bit 7 where a lead two back is E0.. (x - 0x60 >= 0x80) or three back F0..
  // (x - 0x70 >= 0x80): there a continuation after a continuation is due.
  __m128i due = _mm_and_si128(_mm_or_si128(_mm_subs_epu8(prev2, _mm_set1_epi8(0x60)),
                                           _mm_subs_epu8(prev3, _mm_set1_epi8(0x70))),
                              _mm_set1_epi8(char(utf8_lookup::kTwoConts)));
  s.errors = _mm_or_si128(s.errors, _mm_xor_si128(e, due));
  s.open = _mm_subs_epu8(in, s.open_limits);
  s.high = _mm_or_si128(s.high, in);
  s.prev = in;
}

// An all-ASCII block: only a sequence left open before it can be wrong.
COREWS_SSSE3 void ascii_block(State& s, __m128i in) {
  s.errors = _mm_or_si128(s.errors, s.open);
  s.open = _mm_setzero_si128();
  s.prev = in;
}

COREWS_SSSE3 bool any_high(__m128i v) { return _mm_movemask_epi8(v) != 0; }

}  // namespace

__attribute__((target("ssse3"))) Result ssse3(const uint8_t* p, size_t n) {
  State s;
  s.prev = s.open = s.errors = s.high = _mm_setzero_si128();
  s.hi1 = load(utf8_lookup::kHi1.data());
  s.lo1 = load(utf8_lookup::kLo1.data());
  s.hi2 = load(utf8_lookup::kHi2.data());
  s.nibble = _mm_set1_epi8(0x0f);
  s.open_limits = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, char(utf8_lookup::kOpenLimit3),
                                char(utf8_lookup::kOpenLimit2), char(utf8_lookup::kOpenLimit1));
  size_t i = 0;
  // 64 bytes at a time; ASCII runs cost four loads, three ORs and one test.
  for (; i + 64 <= n; i += 64) {
    __m128i a = load(p + i), b = load(p + i + 16), c = load(p + i + 32), d = load(p + i + 48);
    if (!any_high(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d)))) {
      ascii_block(s, d);
      continue;
    }
    block(s, a);
    block(s, b);
    block(s, c);
    block(s, d);
  }
  for (; i + 16 <= n; i += 16) block(s, load(p + i));
  // The rest in a zero-padded block: the zeros are ASCII, so a sequence cut
  // off by the end shows as one followed by ASCII.
  if (i < n) {
    alignas(16) uint8_t last[16] = {};
    std::memcpy(last, p + i, n - i);
    block(s, load(last));
  }
  s.errors = _mm_or_si128(s.errors, s.open);
  bool valid = _mm_movemask_epi8(_mm_cmpeq_epi8(s.errors, _mm_setzero_si128())) == 0xffff;
  return {valid, !any_high(s.high)};
}

}  // namespace corews::proto::utf8_bulk
#endif
