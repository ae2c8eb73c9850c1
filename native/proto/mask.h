// Masking (RFC 6455 §5.3): octet i of the payload is XORed with octet i % 4 of
// the key. `offset` is how many payload octets came before `p`, so a payload
// that arrives in pieces unmasks piece by piece.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace corews::proto {

inline void apply_mask(uint8_t* p, size_t n, const uint8_t key[4], size_t offset) {
  // The key as a word whose first octet in memory is key[offset % 4]. Built
  // with a rotate, not byte stores: a word load right after byte stores to the
  // same place stalls store forwarding, and this runs for every frame.
  uint32_t k32;
  std::memcpy(&k32, key, 4);
  unsigned shift = unsigned(offset & 3) * 8;
  if constexpr (std::endian::native == std::endian::little) {
    k32 = std::rotr(k32, int(shift));
  } else {
    k32 = std::rotl(k32, int(shift));
  }
  uint64_t k64 = uint64_t(k32) | uint64_t(k32) << 32;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k64;
    std::memcpy(p + i, &w, 8);
  }
  uint8_t k[8];
  std::memcpy(k, &k64, 8);
  for (; i < n; ++i) p[i] ^= k[i & 7];
}

}  // namespace corews::proto
