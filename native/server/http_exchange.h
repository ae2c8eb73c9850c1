// One request to the http hook and its answer, from the end of the request
// head to the end of the response. Allocated per request and freed after its
// response, so a keep-alive connection waiting for its next request holds
// none of it (DESIGN.md: no per-connection buffer while idle).
#pragma once
#include <cstddef>
#include <string>

#include "../proto/http_body.h"

namespace corews::server {

struct HttpExchange {
  size_t head_len = 0;         // the request head's bytes at the start of Connection::http
  size_t request_end = 0;      // once complete: where the next request starts in Connection::http
  proto::BodyFraming framing;
  proto::ChunkedDecoder chunked;
  std::string body;            // a chunked body, decoded so far (Content-Length bodies stay in Connection::http)
  bool keep_alive = false;     // the client lets the connection persist
  bool head_only = false;      // HEAD: the response has no body
};

}  // namespace corews::server
