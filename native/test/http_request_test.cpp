// The strict HTTP/1.1 request-head parser.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "proto/http_request.h"

using namespace corews::proto;

namespace {

const char* name(HeadStatus s) {
  switch (s) {
    case HeadStatus::kIncomplete: return "incomplete";
    case HeadStatus::kComplete: return "complete";
    case HeadStatus::kBad: return "bad";
    case HeadStatus::kTooLarge: return "too-large";
  }
  return "?";
}

// Parses from an exact-size heap copy so that ASan sees any over-read.
struct Parsed {
  HeadStatus status;
  size_t head_len;
  std::unique_ptr<char[]> buf;  // the views in `req` point here
  std::unique_ptr<HttpRequest> req;
};

Parsed parse(std::string_view text) {
  Parsed p;
  p.buf.reset(new char[text.size() ? text.size() : 1]);
  if (!text.empty()) std::memcpy(p.buf.get(), text.data(), text.size());
  p.req = std::make_unique<HttpRequest>();
  p.head_len = 12345;
  p.status = parse_request_head(p.buf.get(), text.size(), *p.req, p.head_len);
  return p;
}

#define CHECK_STATUS(text, expected)                                                        \
  do {                                                                                      \
    std::string t_{std::string_view(text)};                                                 \
    HeadStatus got_ = parse(t_).status;                                                     \
    if (got_ == (expected)) {                                                               \
      check::pass();                                                                        \
    } else {                                                                                \
      FAIL_MSG("parse(%s): %s, expected %s", check::escape(t_).c_str(), name(got_), name(expected)); \
    }                                                                                       \
  } while (0)

// A string literal with embedded NULs.
#define SV(lit) std::string_view(lit, sizeof(lit) - 1)

const std::string kGood =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

}  // namespace

TEST(http_complete_request) {
  Parsed p = parse(kGood + "trailing frame bytes");
  CHECK_EQ(name(p.status), "complete");
  CHECK_EQ(p.head_len, kGood.size());
  const HttpRequest& r = *p.req;
  CHECK_EQ(r.method, "GET");
  CHECK_EQ(r.target, "/chat?room=1");
  CHECK_EQ(r.path(), "/chat");
  CHECK_EQ(r.version_major, 1);
  CHECK_EQ(r.version_minor, 1);
  CHECK_EQ(r.header_count, 5u);
  CHECK_EQ(r.headers[0].name, "Host");
  CHECK_EQ(r.headers[0].value, "example.com");
  CHECK_EQ(r.headers[4].name, "Sec-WebSocket-Version");
  CHECK_EQ(r.headers[4].value, "13");
  // A head with no fields at all.
  Parsed q = parse("GET / HTTP/1.1\r\n\r\n");
  CHECK_EQ(name(q.status), "complete");
  CHECK_EQ(q.head_len, 18u);
  CHECK_EQ(q.req->header_count, 0u);
  CHECK_EQ(q.req->path(), "/");
  // Other methods and versions parse (the handshake decides what to accept).
  Parsed m = parse("POST /x HTTP/1.0\r\nA: b\r\n\r\n");
  CHECK_EQ(name(m.status), "complete");
  CHECK_EQ(m.req->method, "POST");
  CHECK_EQ(m.req->version_major, 1);
  CHECK_EQ(m.req->version_minor, 0);
  CHECK_STATUS("M-SEARCH * HTTP/1.1\r\n\r\n", HeadStatus::kComplete);
  CHECK_STATUS("GET http://example.com/a?b HTTP/1.1\r\n\r\n", HeadStatus::kComplete);
}

TEST(http_field_values) {
  Parsed p = parse(
      "GET / HTTP/1.1\r\n"
      "A:   spaced value  \t\r\n"
      "B:\tx\r\n"
      "Empty:\r\n"
      "Empty2:    \r\n"
      "Obs: caf\xc3\xa9\r\n"
      "Inner: a  b\tc\r\n"
      "\r\n");
  CHECK_EQ(name(p.status), "complete");
  const HttpRequest& r = *p.req;
  CHECK_EQ(r.get("a"), "spaced value");
  CHECK_EQ(r.get("b"), "x");
  CHECK_EQ(r.get("empty"), "");
  CHECK_EQ(r.count("empty"), 1u);
  CHECK_EQ(r.get("empty2"), "");
  CHECK_EQ(r.get("obs"), "caf\xc3\xa9");
  CHECK_EQ(r.get("inner"), "a  b\tc");
}

TEST(http_incomplete) {
  CHECK_STATUS("", HeadStatus::kIncomplete);
  CHECK_STATUS("G", HeadStatus::kIncomplete);
  CHECK_STATUS("GET / HTTP/1.1\r\n", HeadStatus::kIncomplete);
  CHECK_STATUS("GET / HTTP/1.1\r\nHost: x\r\n", HeadStatus::kIncomplete);
  CHECK_STATUS("GET / HTTP/1.1\r\nHost: x\r\n\r", HeadStatus::kIncomplete);
  // Every proper prefix of a good request is incomplete, never bad.
  for (size_t n = 0; n < kGood.size(); ++n) {
    CTX("prefix %zu", n);
    CHECK_STATUS(kGood.substr(0, n), HeadStatus::kIncomplete);
  }
  CHECK_STATUS(kGood, HeadStatus::kComplete);
}

TEST(http_too_large) {
  // Over 16 KiB without the end of the head.
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(kMaxRequestHead, 'a');
  CHECK_STATUS(big, HeadStatus::kTooLarge);
  CHECK_STATUS(big.substr(0, kMaxRequestHead), HeadStatus::kTooLarge);
  CHECK_STATUS(big.substr(0, kMaxRequestHead - 1), HeadStatus::kIncomplete);
  // A head of exactly 16 KiB (including the blank line) is fine; one byte more is not.
  std::string head = "GET / HTTP/1.1\r\nX: ";
  std::string exact = head + std::string(kMaxRequestHead - head.size() - 4, 'b') + "\r\n\r\n";
  CHECK_EQ(exact.size(), kMaxRequestHead);
  CHECK_STATUS(exact, HeadStatus::kComplete);
  CHECK_STATUS(exact + "extra body bytes", HeadStatus::kComplete);
  std::string over = head + std::string(kMaxRequestHead - head.size() - 3, 'b') + "\r\n\r\n";
  CHECK_STATUS(over, HeadStatus::kTooLarge);
  // 64 fields are fine, 65 are too many.
  std::string fields = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i < kMaxHeaderFields; ++i) fields += check::strf("F%zu: v\r\n", i);
  CHECK_STATUS(fields + "\r\n", HeadStatus::kComplete);
  CHECK_EQ(parse(fields + "\r\n").req->header_count, kMaxHeaderFields);
  CHECK_STATUS(fields + "F64: v\r\n\r\n", HeadStatus::kTooLarge);
}

TEST(http_bad_requests) {
  // Header lines.
  CHECK_STATUS("GET / HTTP/1.1\r\nNoColon\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / HTTP/1.1\r\nA: b\r\n continued\r\n\r\n", HeadStatus::kBad);   // obs-fold
  CHECK_STATUS("GET / HTTP/1.1\r\nA: b\r\n\tcontinued\r\n\r\n", HeadStatus::kBad);  // obs-fold
  CHECK_STATUS("GET / HTTP/1.1\r\n Host: x\r\n\r\n", HeadStatus::kBad);             // leading space
  CHECK_STATUS("GET / HTTP/1.1\r\nHost : x\r\n\r\n", HeadStatus::kBad);             // space before colon
  CHECK_STATUS("GET / HTTP/1.1\r\n: x\r\n\r\n", HeadStatus::kBad);                  // empty name
  CHECK_STATUS("GET / HTTP/1.1\r\nA(b): x\r\n\r\n", HeadStatus::kBad);              // non-tchar in name
  CHECK_STATUS("GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n", HeadStatus::kBad);           // bare LF
  CHECK_STATUS("GET / HTTP/1.1\r\nA: b\rC: d\r\n\r\n", HeadStatus::kBad);           // bare CR
  CHECK_STATUS("GET / HTTP/1.1\nHost: x\r\n\r\n", HeadStatus::kBad);                // bare LF after request line
  CHECK_STATUS(SV("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n"), HeadStatus::kBad);  // NUL in value
  CHECK_STATUS(SV("GET / HTTP/1.1\r\nA\0: b\r\n\r\n"), HeadStatus::kBad);   // NUL in name
  CHECK_STATUS("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", HeadStatus::kBad);             // DEL in value
  CHECK_STATUS("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", HeadStatus::kBad);
  // Request line.
  CHECK_STATUS("GET\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET /\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET  / HTTP/1.1\r\n\r\n", HeadStatus::kBad);       // empty target
  CHECK_STATUS(" GET / HTTP/1.1\r\n\r\n", HeadStatus::kBad);       // empty method
  CHECK_STATUS("GET / HTTP/1.1 \r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET /a b HTTP/1.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GE(T / HTTP/1.1\r\n\r\n", HeadStatus::kBad);       // bad method token
  CHECK_STATUS("G\xc3\xa9T / HTTP/1.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET,POST / HTTP/1.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET /\x7f HTTP/1.1\r\n\r\n", HeadStatus::kBad);    // bad target byte
  CHECK_STATUS("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET /\t HTTP/1.1\r\n\r\n", HeadStatus::kBad);
  // Versions.
  CHECK_STATUS("GET / HTTP/1.1x\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / HTTP/11\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / HTTP/1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / http/1.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / HTTP/1,1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / HTTP/a.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / HTTP/1.b\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / HTTPS/1.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / HTTP/1.10\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("GET / \r\n\r\n", HeadStatus::kBad);
  // Version digits parse.
  Parsed v = parse("GET / HTTP/2.0\r\n\r\n");
  CHECK_EQ(name(v.status), "complete");
  CHECK_EQ(v.req->version_major, 2);
  CHECK_EQ(v.req->version_minor, 0);
}

TEST(http_lookup_is_case_insensitive) {
  Parsed p = parse(
      "GET /p HTTP/1.1\r\n"
      "Host: one\r\n"
      "X-Multi: first\r\n"
      "x-multi: second\r\n"
      "CONNECTION: keep-alive\r\n"
      "connection: Upgrade ,  other\r\n"
      "Upgrade: h2c,\tWebSocket , foo\r\n"
      "List: a,,b, ,c\r\n"
      "\r\n");
  CHECK_EQ(name(p.status), "complete");
  const HttpRequest& r = *p.req;
  CHECK_EQ(r.get("host"), "one");
  CHECK_EQ(r.get("HOST"), "one");
  CHECK_EQ(r.get("HoSt"), "one");
  CHECK_EQ(r.get("missing"), "");
  CHECK_EQ(r.get("hos"), "");
  CHECK_EQ(r.get("hostx"), "");
  CHECK_EQ(r.get("X-MULTI"), "first");  // the first occurrence
  CHECK_EQ(r.count("x-multi"), 2u);
  CHECK_EQ(r.count("X-Multi"), 2u);
  CHECK_EQ(r.count("missing"), 0u);
  CHECK_EQ(r.count("connection"), 2u);
  // Tokens: any occurrence, comma-separated, trimmed, case-insensitive.
  CHECK(r.has_token("connection", "upgrade"));
  CHECK(r.has_token("Connection", "UPGRADE"));
  CHECK(r.has_token("connection", "keep-alive"));
  CHECK(r.has_token("connection", "other"));
  CHECK(!r.has_token("connection", "upgrad"));
  CHECK(!r.has_token("connection", "upgrade ,"));
  CHECK(r.has_token("upgrade", "websocket"));
  CHECK(r.has_token("upgrade", "h2c"));
  CHECK(r.has_token("upgrade", "foo"));
  CHECK(!r.has_token("upgrade", "web"));
  CHECK(!r.has_token("upgrade", "h2c,\tWebSocket"));
  CHECK(r.has_token("list", "a"));
  CHECK(r.has_token("list", "b"));
  CHECK(r.has_token("list", "c"));
  CHECK(!r.has_token("missing", "a"));
  CHECK(!r.has_token("host", "on"));
  CHECK(r.has_token("host", "one"));
  CHECK(iequals("Sec-WebSocket-Key", "sec-websocket-key"));
  CHECK(!iequals("Sec-WebSocket-Key", "sec-websocket-keys"));
  CHECK(!iequals("a", "b"));
  CHECK(iequals("", ""));
  // Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ by 0x20 too.
  CHECK(!iequals("@", "`"));
  CHECK(!iequals("[", "{"));
}

TEST(http_path_strips_query) {
  auto path_of = [](const char* target) {
    HttpRequest r;
    r.target = target;
    return std::string(r.path());
  };
  CHECK_EQ(path_of("/"), "/");
  CHECK_EQ(path_of("/a/b"), "/a/b");
  CHECK_EQ(path_of("/a/b?x=1&y=2"), "/a/b");
  CHECK_EQ(path_of("/a?"), "/a");
  CHECK_EQ(path_of("/a?b?c"), "/a");
  CHECK_EQ(path_of("?q"), "");
  CHECK_EQ(path_of("*"), "*");
}

// RFC 9112 §2.2: empty lines (CRLF) before the request line are ignored, and
// count toward head_len and the size limit.
TEST(http_empty_lines_before_request_line) {
  Parsed p = parse("\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\nbody");
  CHECK_EQ(name(p.status), "complete");
  CHECK_EQ(p.head_len, 30u);  // 2 + 17 + 9 + 2
  CHECK_EQ(p.req->method, "GET");
  CHECK_EQ(p.req->target, "/a");
  CHECK_EQ(p.req->get("host"), "x");
  Parsed q = parse("\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  CHECK_EQ(name(q.status), "complete");
  CHECK_EQ(q.head_len, 24u);
  CHECK_EQ(q.req->header_count, 0u);
  // Only empty lines so far: wait for more.
  CHECK_STATUS("\r\n", HeadStatus::kIncomplete);
  CHECK_STATUS("\r\n\r\n", HeadStatus::kIncomplete);
  CHECK_STATUS("\r\n\r", HeadStatus::kIncomplete);
  CHECK_STATUS("\r\nGET / HTTP/1.1\r\n", HeadStatus::kIncomplete);
  // ... but not forever.
  std::string crlfs;
  while (crlfs.size() < kMaxRequestHead) crlfs += "\r\n";
  CHECK_STATUS(crlfs, HeadStatus::kTooLarge);
  CHECK_STATUS(crlfs + "GET / HTTP/1.1\r\n\r\n", HeadStatus::kTooLarge);
  // A bare LF or whitespace is not an empty line.
  CHECK_STATUS("\nGET / HTTP/1.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("\r\n GET / HTTP/1.1\r\n\r\n", HeadStatus::kBad);
  CHECK_STATUS("\r\rGET / HTTP/1.1\r\n\r\n", HeadStatus::kBad);
}
