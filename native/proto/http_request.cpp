#include "http_request.h"

#include <cstring>

namespace corews::proto {

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

namespace {

// field-value characters: visible ASCII, obs-text, and inner SP / HTAB.
bool is_field_value(std::string_view s) {
  for (unsigned char c : s) {
    if (c == '\t' || c == ' ') continue;
    if (c < 0x21 || c == 0x7f) return false;
  }
  return true;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; }

bool parse_request_line(std::string_view line, HttpRequest& out) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(out.method) || out.target.empty()) return false;
  for (unsigned char c : out.target) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.') return false;
  if (version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') return false;
  out.version_major = version[5] - '0';
  out.version_minor = version[7] - '0';
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view HttpRequest::get(std::string_view name) const {
  for (size_t i = 0; i < header_count; ++i) {
    if (iequals(headers[i].name, name)) return headers[i].value;
  }
  return {};
}

size_t HttpRequest::count(std::string_view name) const {
  size_t n = 0;
  for (size_t i = 0; i < header_count; ++i) n += iequals(headers[i].name, name);
  return n;
}

bool HttpRequest::has_token(std::string_view name, std::string_view token) const {
  for (size_t i = 0; i < header_count; ++i) {
    if (iequals(headers[i].name, name) && list_contains(headers[i].value, token, true)) return true;
  }
  return false;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool list_contains(std::string_view list, std::string_view item, bool ignore_case) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (ignore_case ? iequals(element, item) : element == item) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view HttpRequest::path() const {
  return target.substr(0, target.find('?'));
}

HeadStatus parse_request_head(const char* buf, size_t len, HttpRequest& out, size_t& head_len) {
  std::string_view all(buf, len < kMaxRequestHead ? len : kMaxRequestHead);
  // RFC 9112 §2.2: ignore empty lines before the request line (some clients
  // send a CRLF after a previous body).
  size_t skipped = 0;
  while (all.substr(skipped, 2) == "\r\n") skipped += 2;
  if (skipped == all.size()) return len >= kMaxRequestHead ? HeadStatus::kTooLarge : HeadStatus::kIncomplete;
  size_t end = all.find("\r\n\r\n", skipped);
  if (end == std::string_view::npos) {
    return len >= kMaxRequestHead ? HeadStatus::kTooLarge : HeadStatus::kIncomplete;
  }
  head_len = end + 4;
  std::string_view head = all.substr(skipped, end + 2 - skipped);  // every line ends in CRLF

  out = HttpRequest{};
  size_t eol = head.find("\r\n");
  if (!parse_request_line(head.substr(0, eol), out)) return HeadStatus::kBad;
  head.remove_prefix(eol + 2);
  while (!head.empty()) {
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    // A bare CR or LF inside a line, or obs-fold (a line starting with
    // whitespace, RFC 9112 §5.2), is rejected rather than guessed at.
    if (line.find_first_of("\r\n") != std::string_view::npos) return HeadStatus::kBad;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return HeadStatus::kBad;
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_token(name) || !is_field_value(value)) return HeadStatus::kBad;
    if (out.header_count == kMaxHeaderFields) return HeadStatus::kTooLarge;
    out.headers[out.header_count++] = {name, value};
  }
  return HeadStatus::kComplete;
}

}  // namespace corews::proto
