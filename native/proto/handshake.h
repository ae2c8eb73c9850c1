// The server's opening handshake (RFC 6455 §4.2): deciding whether a request
// is an acceptable upgrade, and writing the responses.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "http_request.h"

namespace corews::proto {

struct HandshakePolicy {
  std::string path;                    // empty: any path
  std::vector<std::string> origins;    // empty: any origin
  std::vector<std::string> protocols;  // server's subprotocols, in preference order
};

struct HandshakeDecision {
  enum Kind {
    kAccept,      // a valid upgrade: answer 101
    kReject,      // answer `status` with `reason` as the body
    kNotUpgrade,  // a plain HTTP request: the http hook's, or 426
  } kind = kReject;
  int status = 400;
  const char* reason = "";
  std::string_view key;       // kAccept: Sec-WebSocket-Key
  std::string_view protocol;  // kAccept: the chosen subprotocol, maybe empty
};

// Checks a parsed request against §4.2.1 and the policy, in this order:
// upgrade or not (a request without "Upgrade: websocket" is plain HTTP, for the
// http hook or 426, whatever its method), method (405), HTTP version (400),
// path (404), Connection (400), Host (400), key (400), version (426), origin
// (403); then picks the first of the server's protocols that the client offered.
HandshakeDecision decide_upgrade(const HttpRequest& req, const HandshakePolicy& policy);

// base64(SHA-1(key + GUID)) (§4.2.2 step 5.4).
std::string accept_key(std::string_view key);

// "HTTP/1.1 101 Switching Protocols" with the accept key, the protocol if any,
// and `extra_headers` (CRLF-terminated lines) appended verbatim.
std::string build_switching_protocols(std::string_view key, std::string_view protocol,
                                      std::string_view extra_headers);

// A complete non-101 response that closes the connection: status line,
// `extra_headers` (CRLF-terminated lines), Content-Length, and `body`.
// A body-less call (as for refusals) gets a text/plain body.
std::string build_response(int status, std::string_view extra_headers, std::string_view body,
                           bool add_text_content_type);

const char* reason_phrase(int status);

}  // namespace corews::proto
