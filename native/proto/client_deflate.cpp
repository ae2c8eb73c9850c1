#include "client_deflate.h"

#include <string>

#include "http_request.h"

namespace corews::proto {

namespace {

struct Reader {
  std::string_view s;
  size_t i = 0;
  bool end() const { return i >= s.size(); }
  void ows() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  bool eat(char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool token(std::string_view& out) {
    size_t start = i;
    while (i < s.size() && is_tchar(static_cast<unsigned char>(s[i]))) ++i;
    out = s.substr(start, i - start);
    return i > start;
  }
  // A token, or a quoted-string whose content is a token (RFC 6455 §9.1).
  bool value(std::string& out) {
    if (!eat('"')) {
      std::string_view t;
      if (!token(t)) return false;
      out.assign(t);
      return true;
    }
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\') ++i;
      if (i >= s.size() || !is_tchar(static_cast<unsigned char>(s[i]))) return false;
      out += s[i++];
    }
    return eat('"') && !out.empty();
  }
};

}  // namespace

ClientDeflateStatus read_deflate_response(std::string_view value, DeflateParams& params) {
  params = DeflateParams{};
  Reader r{value};
  r.ows();
  // Empty list elements are allowed around the one extension (RFC 9110 §5.6.1).
  while (r.eat(',')) r.ows();
  if (r.end()) return ClientDeflateStatus::kNone;
  std::string_view name;
  // §9.1 of RFC 6455: an extension the client did not offer fails the connection.
  if (!r.token(name) || !iequals(name, "permessage-deflate")) return ClientDeflateStatus::kBad;
  bool seen[4] = {};
  for (;;) {
    r.ows();
    if (!r.eat(';')) break;
    r.ows();
    std::string_view param;
    if (!r.token(param)) return ClientDeflateStatus::kBad;
    r.ows();
    std::string v;
    bool has_value = false;
    if (r.eat('=')) {
      r.ows();
      if (!r.value(v)) return ClientDeflateStatus::kBad;
      has_value = true;
    }
    int which = iequals(param, "server_no_context_takeover")   ? 0
                : iequals(param, "client_no_context_takeover") ? 1
                : iequals(param, "server_max_window_bits")     ? 2
                : iequals(param, "client_max_window_bits")     ? 3
                                                                : -1;
    if (which < 0 || seen[which]) return ClientDeflateStatus::kBad;  // §7.1: unknown or repeated
    seen[which] = true;
    if (which <= 1) {
      if (has_value) return ClientDeflateStatus::kBad;
      (which == 0 ? params.server_no_context_takeover : params.client_no_context_takeover) = true;
      continue;
    }
    // §7.1.2: in a response both window parameters carry a value.
    uint8_t bits = has_value ? parse_window_bits(v) : 0;
    if (bits == 0) return ClientDeflateStatus::kBad;
    (which == 2 ? params.server_max_window_bits : params.client_max_window_bits) = bits;
  }
  r.ows();
  while (r.eat(',')) r.ows();
  // A second extension in the answer was never offered.
  if (!r.end()) return ClientDeflateStatus::kBad;
  return ClientDeflateStatus::kAccepted;
}

}  // namespace corews::proto
