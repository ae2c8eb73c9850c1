// An HTTP/1.1 request head (RFC 9112 §2–5), parsed strictly and only as far as
// a WebSocket upgrade or a small hook request needs: request line and header
// fields, no body. Views point into the caller's buffer.
#pragma once
#include <cstddef>
#include <string_view>

namespace corews::proto {

constexpr size_t kMaxRequestHead = 16 * 1024;  // beyond this: 431
constexpr size_t kMaxHeaderFields = 64;        // beyond this: 431

struct HttpHeader {
  std::string_view name;
  std::string_view value;  // without surrounding whitespace
};

struct HttpRequest {
  std::string_view method;
  std::string_view target;
  int version_major = 0;
  int version_minor = 0;
  HttpHeader headers[kMaxHeaderFields];
  size_t header_count = 0;

  // First value of a header, matched case-insensitively; empty when absent.
  std::string_view get(std::string_view name) const;
  // How many times a header occurs.
  size_t count(std::string_view name) const;
  // True when `token` is one of the comma-separated tokens of any occurrence of
  // header `name` (case-insensitive), as for Connection and Upgrade.
  bool has_token(std::string_view name, std::string_view token) const;
  // The path part of the target, without the query.
  std::string_view path() const;
};

enum class HeadStatus {
  kIncomplete,  // need more bytes
  kComplete,
  kBad,         // 400
  kTooLarge,    // 431
};

// Parses the head at the start of buf[0..len). On kComplete, `head_len` is the
// number of bytes up to and including the blank line.
HeadStatus parse_request_head(const char* buf, size_t len, HttpRequest& out, size_t& head_len);

bool iequals(std::string_view a, std::string_view b);

// tchar and token (RFC 9110 §5.6.2), for the header grammars built on them
// (Sec-WebSocket-Extensions too).
bool is_tchar(unsigned char c);
bool is_token(std::string_view s);

// Without optional whitespace (spaces and tabs) at either end.
std::string_view trim_ows(std::string_view s);

// True when the comma-separated list (RFC 9110 §5.6.1) has `item` as one of
// its elements; HTTP tokens compare case-insensitively, subprotocol names not.
bool list_contains(std::string_view list, std::string_view item, bool ignore_case);

}  // namespace corews::proto
