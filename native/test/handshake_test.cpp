// decide_upgrade (RFC 6455 §4.2.1 and the policy), and the exact bytes of the
// responses.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "proto/handshake.h"

using namespace corews::proto;

namespace {

// A request built from lines; parsed into storage that outlives the decision.
struct Req {
  std::string text;
  HttpRequest req;
  bool parsed = false;

  explicit Req(const std::vector<std::string>& lines) {
    for (const auto& l : lines) text += l + "\r\n";
    text += "\r\n";
    size_t head_len = 0;
    parsed = parse_request_head(text.data(), text.size(), req, head_len) == HeadStatus::kComplete;
  }
};

std::vector<std::string> good_lines() {
  return {
      "GET /ws?token=1 HTTP/1.1",
      "Host: example.com",
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      "Origin: https://app.example.com",
  };
}

// Replaces (or with value "" removes) the line starting with `prefix`.
std::vector<std::string> with(std::vector<std::string> lines, const std::string& prefix, const std::string& line) {
  for (auto it = lines.begin(); it != lines.end(); ++it) {
    if (it->compare(0, prefix.size(), prefix) == 0) {
      if (line.empty()) {
        lines.erase(it);
      } else {
        *it = line;
      }
      return lines;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

const char* kind_name(HandshakeDecision::Kind k) {
  switch (k) {
    case HandshakeDecision::kAccept: return "accept";
    case HandshakeDecision::kReject: return "reject";
    case HandshakeDecision::kNotUpgrade: return "not-upgrade";
  }
  return "?";
}

struct Outcome {
  std::string kind;
  int status;
  std::string reason;
  std::string key;
  std::string protocol;
};

Outcome decide(const std::vector<std::string>& lines, const HandshakePolicy& policy) {
  Req r(lines);
  if (!r.parsed) return {"unparsed", 0, "", "", ""};
  HandshakeDecision d = decide_upgrade(r.req, policy);
  return {kind_name(d.kind), d.status, d.reason ? d.reason : "(null)", std::string(d.key), std::string(d.protocol)};
}

#define CHECK_DECISION(lines, policy, kind_, status_, reason_word)                                         \
  do {                                                                                                     \
    Outcome o_ = decide(lines, policy);                                                                    \
    if (o_.kind == (kind_) && o_.status == (status_) && o_.reason.find(reason_word) != std::string::npos) { \
      check::pass();                                                                                       \
    } else {                                                                                               \
      FAIL_MSG("decision %s %d \"%s\", expected %s %d with \"%s\"", o_.kind.c_str(), o_.status,           \
               o_.reason.c_str(), kind_, status_, reason_word);                                            \
    }                                                                                                      \
  } while (0)

HandshakePolicy strict_policy() {
  HandshakePolicy p;
  p.path = "/ws";
  p.origins = {"https://app.example.com", "https://other.example"};
  p.protocols = {"chat.v2", "chat"};
  return p;
}

}  // namespace

TEST(handshake_accepts_valid_upgrade) {
  Outcome o = decide(good_lines(), strict_policy());
  CHECK_EQ(o.kind, "accept");
  CHECK_EQ(o.status, 101);
  CHECK_EQ(o.key, "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK_EQ(o.protocol, "");
  // The default policy accepts any path and origin, and no origin at all.
  HandshakePolicy open;
  CHECK_EQ(decide(with(good_lines(), "Origin", ""), open).kind, "accept");
  CHECK_EQ(decide(with(good_lines(), "GET", "GET /anything/else HTTP/1.1"), open).kind, "accept");
  // Case-insensitive header names and tokens; token lists.
  auto l = good_lines();
  l = with(l, "Upgrade", "upgrade: WebSocket");
  l = with(l, "Connection", "connection: keep-alive, UPGRADE");
  l = with(l, "Host", "HOST: example.com");
  l = with(l, "Sec-WebSocket-Key", "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==");
  l = with(l, "Sec-WebSocket-Version", "SEC-WEBSOCKET-VERSION: 13");
  Outcome o2 = decide(l, strict_policy());
  CHECK_EQ(o2.kind, "accept");
  CHECK_EQ(o2.key, "AAAAAAAAAAAAAAAAAAAAAA==");
  CHECK_EQ(decide(with(good_lines(), "Upgrade", "Upgrade: foo/1, websocket"), strict_policy()).kind, "accept");
  // HTTP/1.2 is "1.1 or higher".
  CHECK_EQ(decide(with(good_lines(), "GET", "GET /ws HTTP/1.2"), strict_policy()).kind, "accept");
}

TEST(handshake_not_upgrade) {
  HandshakePolicy open;
  // No Upgrade: websocket at all: a plain HTTP request, whatever else it has.
  CHECK_DECISION(with(good_lines(), "Upgrade", ""), open, "not-upgrade", 426, "WebSocket");
  CHECK_DECISION(with(good_lines(), "Upgrade", "Upgrade: h2c"), open, "not-upgrade", 426, "");
  CHECK_DECISION(with(good_lines(), "Upgrade", "Upgrade: websockets"), open, "not-upgrade", 426, "");
  CHECK_DECISION((std::vector<std::string>{"GET / HTTP/1.1", "Host: x"}), open, "not-upgrade", 426, "");
  // Plain requests with other methods or versions go to the http hook too
  // (the worker hands kNotUpgrade to it), so method/version are not judged here.
  CHECK_DECISION((std::vector<std::string>{"POST /form HTTP/1.1", "Host: x"}), open, "not-upgrade", 426, "");
  CHECK_DECISION((std::vector<std::string>{"GET / HTTP/1.0"}), open, "not-upgrade", 426, "");
}

// Each rejection in the documented order: a request that breaks every rule
// is fixed one rule at a time, and each step yields the next rejection.
TEST(handshake_rejections_in_order) {
  HandshakePolicy policy = strict_policy();
  std::vector<std::string> l = {
      "POST /elsewhere HTTP/1.0",
      "Upgrade: websocket",
      "Sec-WebSocket-Key: short",
      "Sec-WebSocket-Version: 8",
      "Origin: https://evil.example",
  };
  CHECK_DECISION(l, policy, "reject", 405, "GET");
  l = with(l, "POST", "GET /elsewhere HTTP/1.0");
  CHECK_DECISION(l, policy, "reject", 400, "HTTP/1.1");
  l = with(l, "GET", "GET /elsewhere HTTP/1.1");
  CHECK_DECISION(l, policy, "reject", 404, "path");
  l = with(l, "GET", "GET /ws HTTP/1.1");
  CHECK_DECISION(l, policy, "reject", 400, "Connection");
  l = with(l, "Connection", "Connection: upgrade");
  CHECK_DECISION(l, policy, "reject", 400, "Host");
  l = with(l, "Host", "Host: example.com");
  CHECK_DECISION(l, policy, "reject", 400, "Sec-WebSocket-Key");
  l = with(l, "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
  CHECK_DECISION(l, policy, "reject", 426, "13");
  l = with(l, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 13");
  CHECK_DECISION(l, policy, "reject", 403, "origin");
  l = with(l, "Origin", "Origin: https://other.example");
  CHECK_DECISION(l, policy, "accept", 101, "");
}

TEST(handshake_each_rejection) {
  HandshakePolicy policy = strict_policy();
  auto g = good_lines();
  // Method (405): anything but GET, case-sensitively.
  for (const char* m : {"POST", "PUT", "HEAD", "get", "OPTIONS"}) {
    CTX("method %s", m);
    CHECK_DECISION(with(g, "GET", std::string(m) + " /ws HTTP/1.1"), policy, "reject", 405, "GET");
  }
  // Version (400).
  CHECK_DECISION(with(g, "GET", "GET /ws HTTP/1.0"), policy, "reject", 400, "HTTP/1.1");
  CHECK_DECISION(with(g, "GET", "GET /ws HTTP/0.9"), policy, "reject", 400, "HTTP/1.1");
  // Path (404): exact, case-sensitive, query ignored.
  CHECK_DECISION(with(g, "GET", "GET /ws/ HTTP/1.1"), policy, "reject", 404, "path");
  CHECK_DECISION(with(g, "GET", "GET /WS HTTP/1.1"), policy, "reject", 404, "path");
  CHECK_DECISION(with(g, "GET", "GET / HTTP/1.1"), policy, "reject", 404, "path");
  CHECK_DECISION(with(g, "GET", "GET /ws?a=/x HTTP/1.1"), policy, "accept", 101, "");
  CHECK_DECISION(with(g, "GET", "GET /ws HTTP/1.1"), policy, "accept", 101, "");
  // Connection (400).
  CHECK_DECISION(with(g, "Connection", ""), policy, "reject", 400, "Connection");
  CHECK_DECISION(with(g, "Connection", "Connection: keep-alive"), policy, "reject", 400, "Connection");
  CHECK_DECISION(with(g, "Connection", "Connection: upgrades"), policy, "reject", 400, "Connection");
  // Host (400): missing or repeated.
  CHECK_DECISION(with(g, "Host", ""), policy, "reject", 400, "Host");
  auto two_hosts = g;
  two_hosts.push_back("host: example.com");
  CHECK_DECISION(two_hosts, policy, "reject", 400, "Host");
  // Key (400): missing, repeated, not 16 bytes, not canonical base64.
  CHECK_DECISION(with(g, "Sec-WebSocket-Key", ""), policy, "reject", 400, "Sec-WebSocket-Key");
  auto two_keys = g;
  two_keys.push_back("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
  CHECK_DECISION(two_keys, policy, "reject", 400, "Sec-WebSocket-Key");
  for (const char* key : {"", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZR==", "dGhlIHNhbXBsZSBub25j",
                          "dGhlIHNhbXBsZSBub25jZWVl", "dGhlIHNhbXBsZSBub25jZQ-=", "AAAAAAAAAAAAAAAAAAAAAAAA"}) {
    CTX("key '%s'", key);
    CHECK_DECISION(with(g, "Sec-WebSocket-Key", std::string("Sec-WebSocket-Key: ") + key), policy, "reject", 400,
                   "Sec-WebSocket-Key");
  }
  // Version (426): missing, other, repeated.
  CHECK_DECISION(with(g, "Sec-WebSocket-Version", ""), policy, "reject", 426, "13");
  CHECK_DECISION(with(g, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), policy, "reject", 426, "13");
  CHECK_DECISION(with(g, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"), policy, "reject", 426, "13");
  CHECK_DECISION(with(g, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 013"), policy, "reject", 426, "13");
  auto two_versions = g;
  two_versions.push_back("Sec-WebSocket-Version: 13");
  CHECK_DECISION(two_versions, policy, "reject", 426, "13");
  // Origin (403): missing or not listed; listed origins match case-insensitively.
  CHECK_DECISION(with(g, "Origin", ""), policy, "reject", 403, "origin");
  CHECK_DECISION(with(g, "Origin", "Origin: https://evil.example"), policy, "reject", 403, "origin");
  CHECK_DECISION(with(g, "Origin", "Origin: https://app.example.com.evil"), policy, "reject", 403, "origin");
  CHECK_DECISION(with(g, "Origin", "Origin: null"), policy, "reject", 403, "origin");
  CHECK_DECISION(with(g, "Origin", "Origin: HTTPS://APP.EXAMPLE.COM"), policy, "accept", 101, "");
}

TEST(handshake_protocol_selection) {
  HandshakePolicy policy;
  policy.protocols = {"chat.v2", "chat", "json"};
  auto g = good_lines();
  auto proto = [&](std::vector<std::string> extra) {
    auto l = g;
    for (auto& e : extra) l.push_back(e);
    Outcome o = decide(l, policy);
    return o.kind == "accept" ? o.protocol : "<" + o.kind + ">";
  };
  // The server's preference wins over the client's order.
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: chat, chat.v2"}), "chat.v2");
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: json, chat"}), "chat");
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: json"}), "json");
  // Offers across several header lines, with optional whitespace.
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: xml", "sec-websocket-protocol:  json ,\tchat "}), "chat");
  // Case-sensitive names, no substring matches.
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: CHAT, Json"}), "");
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: chat.v2x, cha, chat.v"}), "");
  // Nothing offered, nothing in common, empty list entries.
  CHECK_EQ(proto({}), "");
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: soap, wamp"}), "");
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: , ,json,"}), "json");
  // A server without protocols picks none, whatever the client offers.
  policy.protocols.clear();
  CHECK_EQ(proto({"Sec-WebSocket-Protocol: chat"}), "");
}

TEST(handshake_accept_response_bytes) {
  CHECK_EQ(build_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", "", ""),
           "HTTP/1.1 101 Switching Protocols\r\n"
           "Upgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
           "\r\n");
  CHECK_EQ(build_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", "chat", "X-A: 1\r\nX-B: two\r\n"),
           "HTTP/1.1 101 Switching Protocols\r\n"
           "Upgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
           "Sec-WebSocket-Protocol: chat\r\n"
           "X-A: 1\r\n"
           "X-B: two\r\n"
           "\r\n");
}

TEST(handshake_refusal_response_bytes) {
  CHECK_EQ(build_response(404, "", "no WebSocket endpoint at this path", true),
           "HTTP/1.1 404 Not Found\r\n"
           "Connection: close\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Length: 34\r\n"
           "\r\n"
           "no WebSocket endpoint at this path");
  CHECK_EQ(build_response(426, "", "v13", true),
           "HTTP/1.1 426 Upgrade Required\r\n"
           "Connection: close\r\n"
           "Upgrade: websocket\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Length: 3\r\n"
           "\r\n"
           "v13");
  CHECK_EQ(build_response(405, "", "", false),
           "HTTP/1.1 405 Method Not Allowed\r\n"
           "Connection: close\r\n"
           "Allow: GET\r\n"
           "Content-Length: 0\r\n"
           "\r\n");
  CHECK_EQ(build_response(200, "Content-Type: application/json\r\nX-Y: z\r\n", "{}", false),
           "HTTP/1.1 200 OK\r\n"
           "Connection: close\r\n"
           "Content-Type: application/json\r\n"
           "X-Y: z\r\n"
           "Content-Length: 2\r\n"
           "\r\n"
           "{}");
  CHECK_EQ(build_response(299, "", "", false),
           "HTTP/1.1 299 Status\r\n"
           "Connection: close\r\n"
           "Content-Length: 0\r\n"
           "\r\n");
  // Bodies with arbitrary bytes are counted in bytes.
  std::string body("a\0\xff\r\n", 5);
  CHECK_EQ(build_response(431, "", body, true),
           std::string("HTTP/1.1 431 Request Header Fields Too Large\r\n"
                       "Connection: close\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Length: 5\r\n"
                       "\r\n") +
               body);
  CHECK_EQ(std::string(reason_phrase(400)), "Bad Request");
  CHECK_EQ(std::string(reason_phrase(403)), "Forbidden");
  CHECK_EQ(std::string(reason_phrase(503)), "Service Unavailable");
  CHECK_EQ(std::string(reason_phrase(599)), "Status");
}
