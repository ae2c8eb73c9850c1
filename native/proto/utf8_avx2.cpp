// The lookup validator (utf8_lookup.h) over 32-byte blocks with AVX2 (vpshufb
// looks up in each 16-byte lane, so each table is loaded into both). Compiled
// with a target attribute, called only when the CPU has AVX2 (utf8.cpp).
#include "utf8_bulk.h"

#if COREWS_X86_DISPATCH
#include <immintrin.h>

#include <cstring>

#include "utf8_lookup.h"

namespace corews::proto::utf8_bulk {
namespace {

#define COREWS_AVX2 __attribute__((target("avx2"), always_inline)) inline

struct State {
  __m256i hi1, lo1, hi2, nibble, open_limits;
  __m256i prev;    // the block before
  __m256i open;    // non-zero: prev ends inside a sequence
  __m256i errors;  // non-zero: invalid
  __m256i high;    // the OR of every non-ASCII block
};

COREWS_AVX2 __m256i load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

COREWS_AVX2 __m256i table(const std::array<uint8_t, 16>& t) {
  return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(t.data())));
}

// The block shifted right by k bytes with the last k bytes of `prev` in
// front. alignr works per 16-byte lane, so the lower lane takes its bytes
// from prev's upper lane.
template <int K>
COREWS_AVX2 __m256i before(__m256i in, __m256i prev) {
  return _mm256_alignr_epi8(in, _mm256_permute2x128_si256(prev, in, 0x21), 16 - K);
}

COREWS_AVX2 void block(State& s, __m256i in) {
  __m256i prev1 = before<1>(in, s.prev);
  __m256i prev2 = before<2>(in, s.prev);
  __m256i prev3 = before<3>(in, s.prev);
  __m256i e = _mm256_and_si256(
      _mm256_and_si256(_mm256_shuffle_epi8(s.hi1, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), s.nibble)),
                       _mm256_shuffle_epi8(s.lo1, _mm256_and_si256(prev1, s.nibble))),
      _mm256_shuffle_epi8(s.hi2, _mm256_and_si256(_mm256_srli_epi16(in, 4), s.nibble)));
  // Bit 7 where a lead two back is E0.. (x - 0x60 >= 0x80) or three back F0..
  // (x - 0x70 >= 0x80): there a continuation after a continuation is due.
  __m256i due = _mm256_and_si256(_mm256_or_si256(_mm256_subs_epu8(prev2, _mm256_set1_epi8(0x60)),
                                                 _mm256_subs_epu8(prev3, _mm256_set1_epi8(0x70))),
                                 _mm256_set1_epi8(char(utf8_lookup::kTwoConts)));
  s.errors = _mm256_or_si256(s.errors, _mm256_xor_si256(e, due));
  s.open = _mm256_subs_epu8(in, s.open_limits);
  s.high = _mm256_or_si256(s.high, in);
  s.prev = in;
}

// An all-ASCII block: only a sequence left open before it can be wrong.
COREWS_AVX2 void ascii_block(State& s, __m256i in) {
  s.errors = _mm256_or_si256(s.errors, s.open);
  s.open = _mm256_setzero_si256();
  s.prev = in;
}

COREWS_AVX2 bool any_high(__m256i v) { return _mm256_movemask_epi8(v) != 0; }

}  // namespace

__attribute__((target("avx2"))) Result avx2(const uint8_t* p, size_t n) {
  State s;
  s.prev = s.open = s.errors = s.high = _mm256_setzero_si256();
  s.hi1 = table(utf8_lookup::kHi1);
  s.lo1 = table(utf8_lookup::kLo1);
  s.hi2 = table(utf8_lookup::kHi2);
  s.nibble = _mm256_set1_epi8(0x0f);
  const char l3 = char(utf8_lookup::kOpenLimit3), l2 = char(utf8_lookup::kOpenLimit2),
             l1 = char(utf8_lookup::kOpenLimit1);
  s.open_limits = _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                   -1, -1, -1, -1, -1, -1, -1, -1, -1, l3, l2, l1);
  size_t i = 0;
  // 128 bytes at a time; ASCII runs cost four loads, three ORs and one test.
  for (; i + 128 <= n; i += 128) {
    __m256i a = load(p + i), b = load(p + i + 32), c = load(p + i + 64), d = load(p + i + 96);
    if (!any_high(_mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d)))) {
      ascii_block(s, d);
      continue;
    }
    block(s, a);
    block(s, b);
    block(s, c);
    block(s, d);
  }
  for (; i + 32 <= n; i += 32) block(s, load(p + i));
  // The rest in a zero-padded block: the zeros are ASCII, so a sequence cut
  // off by the end shows as one followed by ASCII.
  if (i < n) {
    alignas(32) uint8_t last[32] = {};
    std::memcpy(last, p + i, n - i);
    block(s, load(last));
  }
  s.errors = _mm256_or_si256(s.errors, s.open);
  return {_mm256_testz_si256(s.errors, s.errors) != 0, !any_high(s.high)};
}

}  // namespace corews::proto::utf8_bulk
#endif
