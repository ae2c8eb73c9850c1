// The client side of the opening handshake (RFC 6455 §4.1), as the load
// generator uses it, and a round trip through the server side.
#include <string>

#include "check.h"
#include "proto/client_handshake.h"
#include "proto/handshake.h"
#include "proto/http_request.h"

using namespace corews::proto;

namespace {

const char* name(ClientHandshakeStatus s) {
  switch (s) {
    case ClientHandshakeStatus::kIncomplete: return "incomplete";
    case ClientHandshakeStatus::kOk: return "ok";
    case ClientHandshakeStatus::kBad: return "bad";
  }
  return "?";
}

const std::string kKey = "dGhlIHNhbXBsZSBub25jZQ==";
const std::string kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string check_response(const std::string& text, size_t* head_len_out = nullptr) {
  size_t head_len = 0;
  std::string copy = text;  // exact-size heap copy for ASan
  std::string s = name(check_server_response(copy.data(), copy.size(), kKey, head_len));
  if (head_len_out) *head_len_out = head_len;
  return s;
}

std::string response(const std::string& upgrade, const std::string& connection, const std::string& accept) {
  return "HTTP/1.1 101 Switching Protocols\r\n" + upgrade + "\r\n" + connection + "\r\n" + accept + "\r\n\r\n";
}

}  // namespace

TEST(client_key_and_request_bytes) {
  const uint8_t nonce[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p', 'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};
  CHECK_EQ(make_client_key(nonce), kKey);
  CHECK_EQ(build_client_request("example.com:8080", "/chat?x=1", kKey, ""),
           "GET /chat?x=1 HTTP/1.1\r\n"
           "Host: example.com:8080\r\n"
           "Upgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "\r\n");
  CHECK_EQ(build_client_request("h", "/", kKey, "chat, superchat"),
           "GET / HTTP/1.1\r\n"
           "Host: h\r\n"
           "Upgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: chat, superchat\r\n"
           "\r\n");
}

TEST(client_checks_server_response) {
  std::string good = response("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: " + kAccept);
  size_t head_len = 0;
  CHECK_EQ(check_response(good + "\x81\x02hi", &head_len), "ok");
  CHECK_EQ(head_len, good.size());
  // Case-insensitive names and values; header order does not matter.
  CHECK_EQ(check_response("HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: " + kAccept +
                          "\r\nCONNECTION: upgrade\r\nupgrade: WebSocket\r\nX-Other: 1\r\n\r\n"),
           "ok");
  // Every proper prefix is incomplete.
  for (size_t n = 0; n < good.size(); ++n) {
    CTX("prefix %zu", n);
    CHECK_EQ(check_response(good.substr(0, n)), "incomplete");
  }
  // Not 101, or not HTTP/1.1.
  CHECK_EQ(check_response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), "bad");
  CHECK_EQ(check_response("HTTP/1.1 403 Forbidden\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: " + kAccept + "\r\n\r\n"),
           "bad");
  CHECK_EQ(check_response("HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: " + kAccept + "\r\n\r\n"),
           "bad");
  // Missing or wrong fields (§4.1 items 2–4).
  CHECK_EQ(check_response(response("X: 1", "Connection: Upgrade", "Sec-WebSocket-Accept: " + kAccept)), "bad");
  CHECK_EQ(check_response(response("Upgrade: h2c", "Connection: Upgrade", "Sec-WebSocket-Accept: " + kAccept)), "bad");
  CHECK_EQ(check_response(response("Upgrade: websocket", "X: 1", "Sec-WebSocket-Accept: " + kAccept)), "bad");
  CHECK_EQ(check_response(response("Upgrade: websocket", "Connection: close", "Sec-WebSocket-Accept: " + kAccept)), "bad");
  CHECK_EQ(check_response(response("Upgrade: websocket", "Connection: Upgrade", "X: 1")), "bad");
  CHECK_EQ(check_response(response("Upgrade: websocket", "Connection: Upgrade",
                                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo")), "bad");
  CHECK_EQ(check_response(response("Upgrade: websocket", "Connection: Upgrade",
                                   "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=")), "bad");
  // A line without a colon.
  CHECK_EQ(check_response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: " + kAccept + "\r\ngarbage\r\n\r\n"),
           "bad");
  // A head that never ends.
  CHECK_EQ(check_response("HTTP/1.1 101 Switching Protocols\r\nX: " + std::string(kMaxRequestHead, 'a')), "bad");
}

// RFC 6455 §4.1 item 3: the client fails the connection if the Connection
// field "doesn't contain a token that is an ASCII case-insensitive match for
// the value 'Upgrade'" — a token list containing Upgrade is acceptable.
// Field values may also be surrounded by HTAB as well as SP (RFC 9110 §5.5 OWS).
TEST(client_accepts_connection_token_list) {
  CHECK_EQ(check_response(response("Upgrade: websocket", "Connection: keep-alive, Upgrade",
                                   "Sec-WebSocket-Accept: " + kAccept)),
           "ok");
  CHECK_EQ(check_response(response("Upgrade: websocket", "Connection: Upgrade, Keep-Alive",
                                   "Sec-WebSocket-Accept: " + kAccept)),
           "ok");
  CHECK_EQ(check_response(response("Upgrade:\twebsocket", "Connection:\tUpgrade",
                                   "Sec-WebSocket-Accept:\t" + kAccept)),
           "ok");
}

// The client's request, judged by the server, answered, and checked by the client.
TEST(client_server_handshake_round_trip) {
  const uint8_t nonce[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 255};
  std::string key = make_client_key(nonce);
  std::string request = build_client_request("localhost:9001", "/ws?x", key, "v2, v1");
  HttpRequest req;
  size_t head_len = 0;
  CHECK(parse_request_head(request.data(), request.size(), req, head_len) == HeadStatus::kComplete);
  CHECK_EQ(head_len, request.size());
  HandshakePolicy policy;
  policy.path = "/ws";
  policy.protocols = {"v1"};
  HandshakeDecision d = decide_upgrade(req, policy);
  CHECK(d.kind == HandshakeDecision::kAccept);
  CHECK_EQ(d.key, key);
  CHECK_EQ(d.protocol, "v1");
  std::string resp = build_switching_protocols(d.key, d.protocol, "X-Server: corews\r\n");
  size_t resp_len = 0;
  CHECK(check_server_response(resp.data(), resp.size(), key, resp_len) == ClientHandshakeStatus::kOk);
  CHECK_EQ(resp_len, resp.size());
  // A different key's answer does not pass.
  std::string other = build_switching_protocols(kKey, "", "");
  CHECK(check_server_response(other.data(), other.size(), key, resp_len) == ClientHandshakeStatus::kBad);
}
