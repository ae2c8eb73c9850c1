#include "client_handshake.h"

#include "base64.h"
#include "handshake.h"
#include "http_request.h"

namespace corews::proto {

std::string make_client_key(const uint8_t random16[16]) { return base64_encode(random16, 16); }

std::string build_client_request(std::string_view host, std::string_view path, std::string_view key,
                                 std::string_view protocol, std::string_view extensions) {
  std::string out;
  out.reserve(192 + host.size() + path.size());
  out.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  out.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  out.append("\r\nSec-WebSocket-Version: 13\r\n");
  if (!protocol.empty()) out.append("Sec-WebSocket-Protocol: ").append(protocol).append("\r\n");
  if (!extensions.empty()) out.append("Sec-WebSocket-Extensions: ").append(extensions).append("\r\n");
  out.append("\r\n");
  return out;
}

ClientHandshakeStatus check_server_response(const char* buf, size_t len, std::string_view key, size_t& head_len,
                                            std::string* extensions) {
  std::string_view all(buf, len);
  size_t end = all.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return len > kMaxRequestHead ? ClientHandshakeStatus::kBad : ClientHandshakeStatus::kIncomplete;
  }
  head_len = end + 4;
  std::string_view head = all.substr(0, end + 2);
  if (extensions) extensions->clear();
  if (head.substr(0, 13) != "HTTP/1.1 101 ") return ClientHandshakeStatus::kBad;
  bool upgrade = false, connection = false, accept = false;
  std::string expected = accept_key(key);
  size_t eol = head.find("\r\n");
  head.remove_prefix(eol + 2);
  while (!head.empty()) {
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return ClientHandshakeStatus::kBad;
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    // §4.1: Upgrade must be "websocket"; Connection must contain the token "Upgrade".
    if (iequals(name, "upgrade")) upgrade = iequals(value, "websocket");
    else if (iequals(name, "connection")) connection = connection || list_contains(value, "upgrade", true);
    else if (iequals(name, "sec-websocket-accept")) accept = value == expected;
    else if (extensions && iequals(name, "sec-websocket-extensions")) {
      if (!extensions->empty()) extensions->append(", ");
      extensions->append(value);
    }
  }
  return upgrade && connection && accept ? ClientHandshakeStatus::kOk : ClientHandshakeStatus::kBad;
}

}  // namespace corews::proto
