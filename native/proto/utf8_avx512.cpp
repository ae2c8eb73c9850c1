// The lookup validator (utf8_lookup.h) over 64-byte blocks with AVX-512BW
// (vpshufb looks up in each 16-byte lane, so each table is loaded into all
// four). Compiled with a target attribute, called only when the CPU has
// AVX512F and AVX512BW (utf8.cpp). Node's own Buffer.isUtf8 (simdutf) runs
// 64-byte vectors on such CPUs; with 32-byte ones corews would trail it.
#include "utf8_bulk.h"

#if COREWS_X86_DISPATCH
#include <immintrin.h>

#include <array>

#include "utf8_lookup.h"

namespace corews::proto::utf8_bulk {
namespace {

#define COREWS_AVX512 __attribute__((target("avx512f,avx512bw"), always_inline)) inline

struct State {
  __m512i hi1, lo1, hi2, nibble, open_limits;
  __m512i prev;    // the block before
  __m512i open;    // non-zero: prev ends inside a sequence
  __m512i errors;  // non-zero: invalid
  __m512i high;    // the OR of every non-ASCII block
};

COREWS_AVX512 __m512i load(const uint8_t* p) { return _mm512_loadu_si512(p); }

COREWS_AVX512 __m512i table(const std::array<uint8_t, 16>& t) {
  // The zero-masking forms here and in before(): GCC 12's plain forms trip its
  // own -Wuninitialized (their headers start from an undefined vector).
  return _mm512_maskz_broadcast_i32x4(__mmask16(0xffff), _mm_load_si128(reinterpret_cast<const __m128i*>(t.data())));
}

// The block shifted right by k bytes with the last k bytes of `prev` in
// front. alignr works per 16-byte lane, so each lane takes its bytes from the
// lane below, the lowest from prev's top lane (valignq by six quadwords lines
// those lanes up).
template <int K>
COREWS_AVX512 __m512i before(__m512i in, __m512i prev) {
  return _mm512_alignr_epi8(in, _mm512_maskz_alignr_epi64(__mmask8(0xff), in, prev, 6), 16 - K);
}

COREWS_AVX512 void block(State& s, __m512i in) {
  __m512i prev1 = before<1>(in, s.prev);
  __m512i prev2 = before<2>(in, s.prev);
  __m512i prev3 = before<3>(in, s.prev);
  __m512i e = _mm512_and_si512(
      _mm512_and_si512(_mm512_shuffle_epi8(s.hi1, _mm512_and_si512(_mm512_srli_epi16(prev1, 4), s.nibble)),
                       _mm512_shuffle_epi8(s.lo1, _mm512_and_si512(prev1, s.nibble))),
      _mm512_shuffle_epi8(s.hi2, _mm512_and_si512(_mm512_srli_epi16(in, 4), s.nibble)));
  // Bit 7 where a lead two back is E0.. (x - 0x60 >= 0x80) or three back F0..
  // (x - 0x70 >= 0x80): there a continuation after a continuation is due.
  __m512i due = _mm512_and_si512(_mm512_or_si512(_mm512_subs_epu8(prev2, _mm512_set1_epi8(0x60)),
                                                 _mm512_subs_epu8(prev3, _mm512_set1_epi8(0x70))),
                                 _mm512_set1_epi8(char(utf8_lookup::kTwoConts)));
  s.errors = _mm512_or_si512(s.errors, _mm512_xor_si512(e, due));
  s.open = _mm512_subs_epu8(in, s.open_limits);
  s.high = _mm512_or_si512(s.high, in);
  s.prev = in;
}

// An all-ASCII block: only a sequence left open before it can be wrong.
COREWS_AVX512 void ascii_block(State& s, __m512i in) {
  s.errors = _mm512_or_si512(s.errors, s.open);
  s.open = _mm512_setzero_si512();
  s.prev = in;
}

COREWS_AVX512 bool any_high(__m512i v) { return _mm512_movepi8_mask(v) != 0; }

}  // namespace

// 0xff but for the last three bytes: kOpenLimit3, 2, 1.
alignas(64) constexpr auto kOpenLimits = [] {
  std::array<uint8_t, 64> a{};
  for (auto& b : a) b = 0xff;
  a[61] = utf8_lookup::kOpenLimit3;
  a[62] = utf8_lookup::kOpenLimit2;
  a[63] = utf8_lookup::kOpenLimit1;
  return a;
}();

__attribute__((target("avx512f,avx512bw"))) Result avx512(const uint8_t* p, size_t n) {
  State s;
  s.prev = s.open = s.errors = s.high = _mm512_setzero_si512();
  s.hi1 = table(utf8_lookup::kHi1);
  s.lo1 = table(utf8_lookup::kLo1);
  s.hi2 = table(utf8_lookup::kHi2);
  s.nibble = _mm512_set1_epi8(0x0f);
  s.open_limits = _mm512_load_si512(kOpenLimits.data());
  size_t i = 0;
  // 256 bytes at a time; ASCII runs cost four loads, three ORs and one test.
  for (; i + 256 <= n; i += 256) {
    __m512i a = load(p + i), b = load(p + i + 64), c = load(p + i + 128), d = load(p + i + 192);
    if (!any_high(_mm512_or_si512(_mm512_or_si512(a, b), _mm512_or_si512(c, d)))) {
      ascii_block(s, d);
      continue;
    }
    block(s, a);
    block(s, b);
    block(s, c);
    block(s, d);
  }
  for (; i + 64 <= n; i += 64) block(s, load(p + i));
  // The rest by a masked load, which reads nothing past the end and zeroes
  // the lanes it skips: the zeros are ASCII, so a sequence cut off by the
  // end shows as one followed by ASCII.
  if (i < n) block(s, _mm512_maskz_loadu_epi8(__mmask64((1ull << (n - i)) - 1), p + i));
  s.errors = _mm512_or_si512(s.errors, s.open);
  return {_mm512_test_epi8_mask(s.errors, s.errors) == 0, !any_high(s.high)};
}

}  // namespace corews::proto::utf8_bulk
#endif
