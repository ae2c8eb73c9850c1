// A request's body framing (RFC 9112 §6): none, Content-Length, or chunked,
// decided strictly, so that this server and any proxy in front of it cannot
// disagree about where a request ends (request smuggling); the connection's
// persistence (§9.3); and an incremental chunked decoder.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "http_request.h"

namespace corews::proto {

struct BodyFraming {
  enum Kind : uint8_t {
    kNone,         // no body
    kLength,       // `length` bytes
    kChunked,      // Transfer-Encoding: chunked
    kBad,          // ambiguous or malformed framing: 400, and close
    kUnsupported,  // a transfer coding other than chunked alone: 501
  };
  Kind kind = kNone;
  uint64_t length = 0;
};

// kBad for: Content-Length and Transfer-Encoding together; a Content-Length
// that is not digits (or too long to be a size); Content-Lengths that
// differ (identical repeats are one value, §8.6 of RFC 9110); Transfer-Encoding
// in HTTP/1.0; a coding list whose last coding is not chunked, or that has
// chunked twice. kUnsupported: chunked after another coding (gzip, chunked).
BodyFraming body_framing(const HttpRequest& req);

// Whether the client lets the connection persist after the response: HTTP/1.1
// unless it sent Connection: close; HTTP/1.0 only with Connection: keep-alive.
bool wants_keep_alive(const HttpRequest& req);

constexpr size_t kMaxChunkLine = 4096;  // a chunk-size line (extensions included) or a trailer line

// Decodes a chunked body (RFC 9112 §7.1) as its bytes arrive. Chunk
// extensions are checked and ignored; trailer fields are checked and dropped.
// Lines end in CRLF only: a bare CR or LF is an error, not a line end.
class ChunkedDecoder {
 public:
  enum class Status {
    kIncomplete,  // all of the input that could be decoded was: call again with the rest and more
    kComplete,    // the last chunk and the trailer section are in; `used` ends there
    kBad,         // malformed: 400
    kTooLarge,    // the data would pass `max_body`: 413
  };

  // Decodes from data[0..len), appending chunk data to `body` (never past
  // `max_body` bytes in all). `used` is how many input bytes were consumed:
  // the caller drops them and passes the rest again with what follows.
  Status feed(const char* data, size_t len, size_t max_body, std::string& body, size_t& used);

 private:
  enum class Phase : uint8_t { kSize, kData, kDataEnd, kTrailer, kDone };
  Phase phase_ = Phase::kSize;
  uint64_t remaining_ = 0;  // bytes left of the current chunk's data
};

}  // namespace corews::proto
