// The tables of the "lookup" UTF-8 validation algorithm (Keiser & Lemire,
// "Validating UTF-8 in less than one instruction per byte", Software: Practice
// and Experience, 2021), built here from the rules they encode.
//
// Every error of UTF-8 shows in a pair of adjacent bytes, or in a byte that a
// lead two or three places back says must be a continuation. For the pairs:
// each kind of error below is a set of (first byte, second byte) pairs of the
// form "first byte's high nibble in H1, its low nibble in L1, second byte's
// high nibble in H2". Give each kind one bit; then three 16-entry tables,
// indexed by those three nibbles, whose entries are the bits of the kinds that
// admit the nibble, AND together to exactly the kinds the pair commits. A
// vector byte shuffle (pshufb) is a 16-entry table lookup for 16 or 32 bytes
// at once, so a block costs three shuffles and two ANDs.
//
// Continuations two and three bytes after a lead are the one thing a pair
// cannot see: the pair rule "continuation after continuation" (kTwoConts)
// fires on them, and the block code XORs it with "a lead of 3+ bytes two back,
// or of 4 bytes three back": a difference either way is an error.
#pragma once
#include <array>
#include <cstdint>

namespace corews::proto::utf8_lookup {

// Nibble sets as 16-bit masks.
constexpr uint16_t nibbles(int lo, int hi) {
  uint16_t m = 0;
  for (int i = lo; i <= hi; ++i) m = uint16_t(m | 1u << i);
  return m;
}
constexpr uint16_t kAny = 0xffff;

struct Rule {
  uint8_t bit;
  uint16_t hi1, lo1, hi2;
};

inline constexpr Rule kRules[] = {
    // A lead (C0..FF) not followed by a continuation: sequence too short.
    {0x01, nibbles(0xc, 0xf), kAny, uint16_t(nibbles(0x0, 0x7) | nibbles(0xc, 0xf))},
    // ASCII followed by a continuation: a continuation with no lead.
    {0x02, nibbles(0x0, 0x7), kAny, nibbles(0x8, 0xb)},
    // E0 80..9F: overlong 3-byte form (below U+0800).
    {0x04, nibbles(0xe, 0xe), nibbles(0x0, 0x0), nibbles(0x8, 0x9)},
    // F4 90..BF, F5..FF 90..BF: above U+10FFFF (or no lead at all).
    {0x08, nibbles(0xf, 0xf), nibbles(0x4, 0xf), nibbles(0x9, 0xb)},
    // ED A0..BF: UTF-16 surrogates U+D800..U+DFFF.
    {0x10, nibbles(0xe, 0xe), nibbles(0xd, 0xd), nibbles(0xa, 0xb)},
    // C0, C1 then a continuation: overlong 2-byte form (below U+0080).
    {0x20, nibbles(0xc, 0xc), nibbles(0x0, 0x1), nibbles(0x8, 0xb)},
    // F0 80..8F (overlong 4-byte form) and F5..FF 80..8F (too large): one
    // bit for both, as their union is still one nibble product.
    {0x40, nibbles(0xf, 0xf), uint16_t(nibbles(0x0, 0x0) | nibbles(0x5, 0xf)), nibbles(0x8, 0x8)},
    // A continuation after a continuation: right only where a lead two or
    // three back asks for it (the XOR in the block code).
    {0x80, nibbles(0x8, 0xb), kAny, nibbles(0x8, 0xb)},
};
inline constexpr uint8_t kTwoConts = 0x80;

enum class Field { kHi1, kLo1, kHi2 };

constexpr std::array<uint8_t, 16> table(Field f) {
  std::array<uint8_t, 16> t{};
  for (int n = 0; n < 16; ++n) {
    for (const Rule& r : kRules) {
      uint16_t set = f == Field::kHi1 ? r.hi1 : f == Field::kLo1 ? r.lo1 : r.hi2;
      if (set >> n & 1) t[size_t(n)] = uint8_t(t[size_t(n)] | r.bit);
    }
  }
  return t;
}

alignas(16) inline constexpr std::array<uint8_t, 16> kHi1 = table(Field::kHi1);
alignas(16) inline constexpr std::array<uint8_t, 16> kLo1 = table(Field::kLo1);
alignas(16) inline constexpr std::array<uint8_t, 16> kHi2 = table(Field::kHi2);

// The pair verdict for one (first, second) byte pair, as the vector code
// computes it (the tests check it against the rules' own definition).
constexpr uint8_t pair_errors(uint8_t first, uint8_t second) {
  return uint8_t(kHi1[first >> 4] & kLo1[first & 15] & kHi2[second >> 4]);
}

// A block's last three bytes leave a sequence open when byte 13 >= F0, byte 14
// >= E0 or byte 15 >= C0 (of 16; likewise at the end of 32): a saturating
// subtraction of these limits is non-zero exactly then.
constexpr uint8_t kOpenLimit3 = 0xf0 - 1, kOpenLimit2 = 0xe0 - 1, kOpenLimit1 = 0xc0 - 1;

}  // namespace corews::proto::utf8_lookup
