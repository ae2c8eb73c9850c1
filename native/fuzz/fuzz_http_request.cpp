// Fuzzes the server's opening handshake: proto::parse_request_head on
// arbitrary bytes, proto::decide_upgrade under a few policies, and the
// responses built from the decision (RFC 9112 §2–5, RFC 6455 §4.2).
//
// Input: the bytes as they arrive from a client, at the start of the read
// buffer. Checks:
//   - kComplete: head_len ≤ input size and ≤ kMaxRequestHead, the head ends
//     in CRLF CRLF, every view (method, target, header names and values)
//     points inside the head; names are tokens, values carry no CR, LF or
//     surrounding whitespace. The head's own bytes, re-parsed from a copy,
//     give kComplete with the same head_len, header count and fields; the
//     head minus its last byte gives kIncomplete (a server reading in pieces
//     sees the same head).
//   - kIncomplete only below kMaxRequestHead bytes.
//   - decide_upgrade agrees with a reference written here from the order
//     handshake.h documents (upgrade?, 405, 400 version, 404, 400 Connection,
//     400 Host, 400 key, 426 version, 403 origin), and picks the first of the
//     policy's protocols the client offered.
//   - the 101 response passes proto::check_server_response with the same key;
//     any other response has the right status line and Content-Length.
//   - check_server_response on the raw input (as a client reading a server's
//     answer) stays inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "proto/client_handshake.h"
#include "proto/handshake.h"
#include "proto/http_request.h"

using namespace corews::proto;
using std::string_view;

namespace {

// ---- reference helpers, independent of http_request.cpp ----------------------

char ref_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool ref_ieq(string_view a, string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ref_lower(a[i]) != ref_lower(b[i])) return false;
  }
  return true;
}

string_view ref_trim(string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

// The elements of a comma-separated list, trimmed.
std::vector<string_view> ref_elements(string_view list) {
  std::vector<string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i == list.size() || list[i] == ',') {
      out.push_back(ref_trim(list.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

size_t ref_count(const HttpRequest& r, string_view name) {
  size_t n = 0;
  for (size_t i = 0; i < r.header_count; ++i) n += ref_ieq(r.headers[i].name, name);
  return n;
}

string_view ref_first(const HttpRequest& r, string_view name) {
  for (size_t i = 0; i < r.header_count; ++i) {
    if (ref_ieq(r.headers[i].name, name)) return r.headers[i].value;
  }
  return {};
}

bool ref_has_token(const HttpRequest& r, string_view name, string_view token, bool ignore_case) {
  for (size_t i = 0; i < r.header_count; ++i) {
    if (!ref_ieq(r.headers[i].name, name)) continue;
    for (string_view e : ref_elements(r.headers[i].value)) {
      if (ignore_case ? ref_ieq(e, token) : e == token) return true;
    }
  }
  return false;
}

// 16 bytes in canonical base64: 22 alphabet characters, the last of which has
// its low 4 bits zero (they would be bits of a 17th byte), then "==".
bool ref_key_ok(string_view k) {
  static const char kAlpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (k.size() != 24 || k[22] != '=' || k[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    const char* at = std::strchr(kAlpha, k[i]);
    if (k[i] == '\0' || at == nullptr) return false;
    if (i == 21 && ((at - kAlpha) & 15) != 0) return false;
  }
  return true;
}

// The status decide_upgrade should give: 101 accept, 426 for a plain request
// (kNotUpgrade) or a bad version, else the rejection's status.
int ref_status(const HttpRequest& r, const HandshakePolicy& pol, bool& not_upgrade) {
  not_upgrade = !ref_has_token(r, "upgrade", "websocket", true);
  if (not_upgrade) return 426;
  if (r.method != "GET") return 405;
  if (!(r.version_major == 1 && r.version_minor >= 1)) return 400;
  if (!pol.path.empty()) {
    string_view path = r.target.substr(0, r.target.find('?'));
    if (path != pol.path) return 404;
  }
  if (!ref_has_token(r, "connection", "upgrade", true)) return 400;
  if (ref_count(r, "host") != 1) return 400;
  if (ref_count(r, "sec-websocket-key") != 1 || !ref_key_ok(ref_first(r, "sec-websocket-key"))) return 400;
  if (ref_count(r, "sec-websocket-version") != 1 || ref_first(r, "sec-websocket-version") != "13") return 426;
  if (!pol.origins.empty()) {
    string_view origin = ref_first(r, "origin");
    bool ok = false;
    for (const auto& o : pol.origins) ok = ok || (!origin.empty() && ref_ieq(origin, o));
    if (!ok) return 403;
  }
  return 101;
}

bool inside(string_view v, const char* base, size_t len) {
  if (v.empty()) return true;
  return v.data() >= base && v.data() + v.size() <= base + len;
}

bool ref_is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

const HandshakePolicy& policy(int i) {
  static const HandshakePolicy kPolicies[] = {
      {},
      {"/chat", {"https://example.com", "http://localhost:8080"}, {"chat", "superchat"}},
      {"/", {}, {"v2.json", "v1.json", "graphql-ws"}},
  };
  return kPolicies[i];
}

void check_decision(const HttpRequest& req, const char* head, size_t head_len, const HandshakePolicy& pol) {
  HandshakeDecision d = decide_upgrade(req, pol);
  bool not_upgrade = false;
  int want = ref_status(req, pol, not_upgrade);
  FUZZ_CHECK_MSG(d.status == want, "decide_upgrade status %d, reference %d", d.status, want);
  FUZZ_CHECK(d.reason != nullptr);
  if (not_upgrade) {
    FUZZ_CHECK(d.kind == HandshakeDecision::kNotUpgrade);
  } else if (want == 101) {
    FUZZ_CHECK(d.kind == HandshakeDecision::kAccept);
  } else {
    FUZZ_CHECK(d.kind == HandshakeDecision::kReject);
    FUZZ_CHECK(*d.reason != '\0');
  }

  if (d.kind == HandshakeDecision::kAccept) {
    FUZZ_CHECK(inside(d.key, head, head_len));
    FUZZ_CHECK(ref_key_ok(d.key));
    // The first of the server's protocols that some Sec-WebSocket-Protocol offers.
    string_view want_proto;
    for (const auto& p : pol.protocols) {
      if (ref_has_token(req, "sec-websocket-protocol", p, false)) {
        want_proto = p;
        break;
      }
    }
    FUZZ_CHECK(d.protocol == want_proto);

    std::string accept = accept_key(d.key);
    FUZZ_CHECK(accept.size() == 28);
    std::string resp = build_switching_protocols(d.key, d.protocol, "X-Test: 1\r\n");
    FUZZ_CHECK(resp.compare(0, 13, "HTTP/1.1 101 ") == 0);
    FUZZ_CHECK(resp.size() >= 4 && resp.compare(resp.size() - 4, 4, "\r\n\r\n") == 0);
    FUZZ_CHECK(resp.find("\r\nSec-WebSocket-Accept: " + accept + "\r\n") != std::string::npos);
    FUZZ_CHECK((resp.find("\r\nSec-WebSocket-Protocol: ") != std::string::npos) == !d.protocol.empty());
    // What our client would make of it.
    fuzz::ExactBuf buf(reinterpret_cast<const uint8_t*>(resp.data()), resp.size());
    size_t hl = 0;
    auto st = check_server_response(reinterpret_cast<const char*>(buf.p), buf.n, d.key, hl);
    FUZZ_CHECK(st == ClientHandshakeStatus::kOk);
    FUZZ_CHECK(hl == resp.size());
  } else {
    std::string resp = build_response(d.status, "", d.reason, true);
    std::string line = "HTTP/1.1 " + std::to_string(d.status) + " " + reason_phrase(d.status) + "\r\n";
    FUZZ_CHECK(resp.compare(0, line.size(), line) == 0);
    size_t body = std::strlen(d.reason);
    FUZZ_CHECK(resp.size() >= body + 4);
    FUZZ_CHECK(resp.compare(resp.size() - body - 4, 4, "\r\n\r\n") == 0);
    FUZZ_CHECK(resp.find("\r\nContent-Length: " + std::to_string(body) + "\r\n") != std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* buf = reinterpret_cast<const char*>(data);

  // As a client reading a server's answer: only must not crash or overrun.
  {
    size_t hl = 0;
    auto st = check_server_response(buf, size, "dGhlIHNhbXBsZSBub25jZQ==", hl);
    if (st == ClientHandshakeStatus::kOk) {
      FUZZ_CHECK(hl <= size && hl >= 4);
      FUZZ_CHECK(std::memcmp(buf + hl - 4, "\r\n\r\n", 4) == 0);
    }
  }

  HttpRequest req;
  size_t head_len = 0;
  HeadStatus st = parse_request_head(buf, size, req, head_len);

  if (st == HeadStatus::kIncomplete) {
    FUZZ_CHECK(size < kMaxRequestHead);
    return 0;
  }
  if (st != HeadStatus::kComplete) return 0;

  FUZZ_CHECK_MSG(head_len <= size, "head_len %zu > input size %zu", head_len, size);
  FUZZ_CHECK(head_len <= kMaxRequestHead);
  FUZZ_CHECK(head_len >= 4);
  FUZZ_CHECK(std::memcmp(buf + head_len - 4, "\r\n\r\n", 4) == 0);
  FUZZ_CHECK(req.header_count <= kMaxHeaderFields);
  FUZZ_CHECK(inside(req.method, buf, head_len) && !req.method.empty());
  FUZZ_CHECK(inside(req.target, buf, head_len) && !req.target.empty());
  for (unsigned char c : req.method) FUZZ_CHECK(ref_is_tchar(c));
  for (unsigned char c : req.target) FUZZ_CHECK(c > 0x20 && c < 0x7f);
  FUZZ_CHECK(req.version_major >= 0 && req.version_major <= 9);
  FUZZ_CHECK(req.version_minor >= 0 && req.version_minor <= 9);
  for (size_t i = 0; i < req.header_count; ++i) {
    const HttpHeader& h = req.headers[i];
    FUZZ_CHECK(inside(h.name, buf, head_len) && inside(h.value, buf, head_len));
    FUZZ_CHECK(!h.name.empty());
    for (unsigned char c : h.name) FUZZ_CHECK(ref_is_tchar(c));
    for (unsigned char c : h.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
    FUZZ_CHECK(ref_trim(h.value) == h.value);
  }

  // The head's own bytes, from a fresh exact-size copy.
  {
    fuzz::ExactBuf copy(data, head_len);
    HttpRequest again;
    size_t hl2 = 0;
    HeadStatus st2 = parse_request_head(reinterpret_cast<const char*>(copy.p), copy.n, again, hl2);
    FUZZ_CHECK_MSG(st2 == HeadStatus::kComplete, "re-parse of the %zu-byte head gave status %d", head_len, int(st2));
    FUZZ_CHECK(hl2 == head_len);
    FUZZ_CHECK_MSG(again.header_count == req.header_count, "re-parse: %zu headers, first parse %zu",
                   again.header_count, req.header_count);
    FUZZ_CHECK(again.method == req.method && again.target == req.target);
    FUZZ_CHECK(again.version_major == req.version_major && again.version_minor == req.version_minor);
    for (size_t i = 0; i < req.header_count; ++i) {
      FUZZ_CHECK(again.headers[i].name == req.headers[i].name);
      FUZZ_CHECK(again.headers[i].value == req.headers[i].value);
    }
  }
  // One byte short: still incomplete.
  {
    fuzz::ExactBuf copy(data, head_len - 1);
    HttpRequest part;
    size_t hl3 = 0;
    HeadStatus st3 = parse_request_head(reinterpret_cast<const char*>(copy.p), copy.n, part, hl3);
    FUZZ_CHECK_MSG(st3 == HeadStatus::kIncomplete, "the head minus its last byte gave status %d", int(st3));
  }

  for (int i = 0; i < 3; ++i) check_decision(req, buf, head_len, policy(i));
  return 0;
}
