#include "http_response.h"

#include "handshake.h"

namespace corews::proto {

bool status_has_body(int status) { return status >= 200 && status != 204 && status != 304; }

std::string build_response_head(const ResponseHead& head) {
  std::string out;
  out.reserve(128 + head.extra_headers.size());
  out += "HTTP/1.1 ";
  out += std::to_string(head.status);
  out += ' ';
  out += reason_phrase(head.status);
  if (head.keep_alive) {
    out += "\r\nConnection: keep-alive\r\n";
    if (head.keep_alive_seconds > 0) {
      out += "Keep-Alive: timeout=";
      out += std::to_string(head.keep_alive_seconds);
      out += "\r\n";
    }
  } else {
    out += "\r\nConnection: close\r\n";
  }
  out += head.extra_headers;
  if (status_has_body(head.status)) {
    if (head.chunked) {
      out += "Transfer-Encoding: chunked\r\n";
    } else {
      out += "Content-Length: ";
      out += std::to_string(head.content_length);
      out += "\r\n";
    }
  }
  out += "\r\n";
  return out;
}

size_t write_chunk_header(char* out, size_t len) {
  static constexpr char kHex[] = "0123456789abcdef";
  char digits[16];
  size_t n = 0;
  do {
    digits[n++] = kHex[len & 15];
    len >>= 4;
  } while (len != 0);
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\r';
  out[n + 1] = '\n';
  return n + 2;
}

}  // namespace corews::proto
