// Masking (RFC 6455 §5.3): octet i of the payload is XORed with octet i % 4 of
// the key. `offset` is how many payload octets came before `p`, so a payload
// that arrives in pieces unmasks piece by piece.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace corews::proto {

inline void apply_mask(uint8_t* p, size_t n, const uint8_t key[4], size_t offset) {
  uint8_t k[8];
  for (int i = 0; i < 8; ++i) k[i] = key[(offset + i) & 3];
  uint64_t k64;
  std::memcpy(&k64, k, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k64;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] ^= k[i & 7];
}

}  // namespace corews::proto
