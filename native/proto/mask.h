// Masking (RFC 6455 §5.3): octet i of the payload is XORed with octet i % 4 of
// the key. `offset` is how many payload octets came before `p`, so a payload
// that arrives in pieces unmasks piece by piece.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace corews::proto {

// The key repeated over a 64-bit word whose first octet in memory is
// key[offset % 4]. Built with a rotate, not byte stores: a word load right
// after byte stores to the same place stalls store forwarding, and this runs
// for every frame.
inline uint64_t mask_word(const uint8_t key[4], size_t offset) {
  uint32_t k32;
  std::memcpy(&k32, key, 4);
  unsigned shift = unsigned(offset & 3) * 8;
  if constexpr (std::endian::native == std::endian::little) {
    k32 = std::rotr(k32, int(shift));
  } else {
    k32 = std::rotl(k32, int(shift));
  }
  return uint64_t(k32) | uint64_t(k32) << 32;
}

// dst[i] = src[i] ^ key octet, in one pass; dst may equal src.
inline void mask_copy(uint8_t* dst, const uint8_t* src, size_t n, uint64_t k64) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t w[4];
    std::memcpy(w, src + i, 32);
    w[0] ^= k64;
    w[1] ^= k64;
    w[2] ^= k64;
    w[3] ^= k64;
    std::memcpy(dst + i, w, 32);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= k64;
    std::memcpy(dst + i, &w, 8);
  }
  uint8_t k[8];
  std::memcpy(k, &k64, 8);
  for (; i < n; ++i) dst[i] = src[i] ^ k[i & 7];
}

inline void apply_mask(uint8_t* p, size_t n, const uint8_t key[4], size_t offset) {
  mask_copy(p, p, n, mask_word(key, offset));
}

}  // namespace corews::proto
