// Base64 (RFC 4648 §4), only what the handshake needs: encoding the accept key
// and measuring how many bytes a Sec-WebSocket-Key decodes to.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace corews::proto {

std::string base64_encode(const uint8_t* data, size_t len);

// Number of bytes `text` decodes to, or -1 when it is not canonical padded base64.
int base64_decoded_size(std::string_view text);

}  // namespace corews::proto
