// The head of a response to a plain HTTP request (the http hook's answer):
// status line, the connection's persistence, the body's framing, the hook's
// own header lines; and the framing of one chunk of a streamed body.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace corews::proto {

struct ResponseHead {
  int status = 200;
  std::string_view extra_headers;  // CRLF-terminated lines, checked by the caller
  bool keep_alive = false;         // else Connection: close
  int64_t keep_alive_seconds = 0;  // advertised as Keep-Alive: timeout=N when keeping (0: not advertised)
  bool chunked = false;            // Transfer-Encoding: chunked, else Content-Length
  size_t content_length = 0;
};

// 1xx, 204 and 304 responses have no body and no framing header (RFC 9110 §6.4.1, §8.6).
bool status_has_body(int status);

std::string build_response_head(const ResponseHead& head);

constexpr size_t kMaxChunkHeader = 18;  // 16 hex digits and CRLF

// Writes the chunk-size line for `len` bytes of data (hex, CRLF) to `out`; returns its length.
size_t write_chunk_header(char* out, size_t len);

}  // namespace corews::proto
