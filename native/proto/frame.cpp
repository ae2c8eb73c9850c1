#include "frame.h"

#include <cstring>

namespace corews::proto {

namespace {

size_t write_header(uint8_t* out, uint8_t b0, uint64_t len, const uint8_t* mask) {
  out[0] = b0;
  uint8_t mask_bit = mask ? 0x80 : 0;
  size_t n;
  if (len < 126) {
    out[1] = uint8_t(mask_bit | len);
    n = 2;
  } else if (len <= 0xffff) {
    out[1] = uint8_t(mask_bit | 126);
    out[2] = uint8_t(len >> 8);
    out[3] = uint8_t(len);
    n = 4;
  } else {
    out[1] = uint8_t(mask_bit | 127);
    for (int i = 0; i < 8; ++i) out[2 + i] = uint8_t(len >> (56 - 8 * i));
    n = 10;
  }
  if (mask) {
    std::memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

}  // namespace

size_t write_frame_header(uint8_t* out, Opcode op, uint64_t len, const uint8_t* mask, bool rsv1) {
  return write_header(out, uint8_t(0x80 | (rsv1 ? 0x40 : 0) | op), len, mask);
}

size_t write_fragment_header(uint8_t* out, Opcode op, uint64_t len, const uint8_t* mask, bool first, bool fin,
                             bool compressed) {
  uint8_t b0 = first ? uint8_t(op | (compressed ? 0x40 : 0)) : uint8_t(kOpContinuation);
  if (fin) b0 |= 0x80;
  return write_header(out, b0, len, mask);
}

}  // namespace corews::proto
