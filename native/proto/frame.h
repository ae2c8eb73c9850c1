// The base framing protocol (RFC 6455 §5.2): opcodes and frame headers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace corews::proto {

enum Opcode : uint8_t {
  kOpContinuation = 0x0,
  kOpText = 0x1,
  kOpBinary = 0x2,
  kOpClose = 0x8,
  kOpPing = 0x9,
  kOpPong = 0xA,
};

constexpr bool is_control(uint8_t op) { return op & 0x8; }
constexpr bool is_known_opcode(uint8_t op) {
  return op <= kOpBinary || (op >= kOpClose && op <= kOpPong);
}

constexpr size_t kMaxFrameHeader = 14;     // 2 + 8 (64-bit length) + 4 (mask)
constexpr size_t kMaxControlPayload = 125;  // §5.5

// Size of the header for a payload of `len` octets, using the minimal length
// encoding §5.2 requires.
constexpr size_t frame_header_size(uint64_t len, bool masked) {
  return (len < 126 ? 2 : len <= 0xffff ? 4 : 10) + (masked ? 4 : 0);
}

// Writes a header with FIN set into `out` (at least kMaxFrameHeader bytes);
// `mask` is null for server frames. `rsv1` marks a compressed message's
// single frame (RFC 7692 §6: permessage-deflate, when negotiated). Returns
// the header size.
size_t write_frame_header(uint8_t* out, Opcode op, uint64_t len, const uint8_t* mask,
                          bool rsv1 = false);

// The header of one frame of a message sent in fragments (§5.4): the first
// frame carries the message's opcode `op` (text or binary) and, when
// `compressed`, RSV1 (RFC 7692 §6.1: on the first frame only); later frames
// are continuations with RSV1 clear, whatever `op` and `compressed` say.
// `fin` marks the last frame. Returns the header size.
size_t write_fragment_header(uint8_t* out, Opcode op, uint64_t len, const uint8_t* mask, bool first, bool fin,
                             bool compressed);

}  // namespace corews::proto
