// Close codes (RFC 6455 §7.4) and which of them may travel in a Close frame.
#pragma once
#include <cstdint>

namespace corews::proto {

enum CloseCode : uint16_t {
  kCloseNormal = 1000,
  kCloseGoingAway = 1001,
  kCloseProtocolError = 1002,
  kCloseUnsupportedData = 1003,
  kCloseNoStatus = 1005,        // never sent: "the Close frame had no code"
  kCloseAbnormal = 1006,        // never sent: "the connection dropped"
  kCloseInvalidPayload = 1007,
  kClosePolicyViolation = 1008,
  kCloseMessageTooBig = 1009,
  kCloseInternalError = 1011,
};

// True for codes an endpoint may put in a Close frame: the §7.4.1 codes in use
// (1000–1003, 1007–1011), the IANA registry's 1012–1014, and 3000–4999 for
// libraries and applications. 1004–1006 and 1015 are reserved; the rest of
// 0–2999 is unassigned and invalid on the wire.
constexpr bool is_valid_close_code(uint32_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace corews::proto
