// The client's side of the opening handshake (RFC 6455 §4.1): the request, and
// the checks §4.1 requires of the server's answer.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace corews::proto {

// A fresh Sec-WebSocket-Key: base64 of 16 bytes from `random16`.
std::string make_client_key(const uint8_t random16[16]);

// `extensions`, when not empty, goes out as Sec-WebSocket-Extensions.
std::string build_client_request(std::string_view host, std::string_view path, std::string_view key,
                                 std::string_view protocol, std::string_view extensions = {});

enum class ClientHandshakeStatus { kIncomplete, kOk, kBad };

// Checks the response head at the start of buf[0..len): status 101, Upgrade
// and Connection tokens, and the accept key for `key` (§4.1, items 1–4 of the
// server's response). On kOk, `head_len` is the size of the head and, when
// `extensions` is given, it holds the Sec-WebSocket-Extensions lines joined
// with ", " (empty when there are none).
ClientHandshakeStatus check_server_response(const char* buf, size_t len, std::string_view key, size_t& head_len,
                                            std::string* extensions = nullptr);

}  // namespace corews::proto
