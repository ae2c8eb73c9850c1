#include "http_body.h"

#include <string_view>

namespace corews::proto {

namespace {

constexpr size_t kMaxLengthDigits = 15;  // up to ~1 PB: no overflow, and no real body is longer

// One Content-Length value (a list of identical values counts as one): digits only.
bool parse_length(std::string_view value, uint64_t& out) {
  bool any = false;
  while (true) {
    size_t comma = value.find(',');
    std::string_view element = trim_ows(value.substr(0, comma));
    if (element.empty() || element.size() > kMaxLengthDigits) return false;
    uint64_t n = 0;
    for (char c : element) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + uint64_t(c - '0');
    }
    if (any && n != out) return false;
    out = n;
    any = true;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// chunk-ext (§7.1.1): *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ).
bool valid_extensions(std::string_view s) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  auto token = [&] {
    size_t start = i;
    while (i < s.size() && is_tchar(static_cast<unsigned char>(s[i]))) ++i;
    return i > start;
  };
  while (true) {
    skip_ws();
    if (i == s.size()) return true;
    if (s[i] != ';') return false;
    ++i;
    skip_ws();
    if (!token()) return false;
    skip_ws();
    if (i < s.size() && s[i] == '=') {
      ++i;
      skip_ws();
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"') {
          unsigned char c = static_cast<unsigned char>(s[i]);
          if (c == '\\') {
            if (++i == s.size()) return false;
            c = static_cast<unsigned char>(s[i]);
          }
          if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
          ++i;
        }
        if (i == s.size()) return false;
        ++i;
      } else if (!token()) {
        return false;
      }
    }
  }
}

// A trailer field line: name ":" value, as in the head.
bool valid_field_line(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return false;
  for (unsigned char c : line.substr(colon + 1)) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

BodyFraming body_framing(const HttpRequest& req) {
  BodyFraming f;
  bool has_length = false;
  bool has_coding = false;
  size_t codings = 0;
  bool chunked_last = false;
  bool chunked_twice = false;
  for (size_t i = 0; i < req.header_count; ++i) {
    const HttpHeader& h = req.headers[i];
    if (iequals(h.name, "content-length")) {
      uint64_t n = 0;
      if (!parse_length(h.value, n) || (has_length && n != f.length)) return {BodyFraming::kBad, 0};
      f.length = n;
      has_length = true;
    } else if (iequals(h.name, "transfer-encoding")) {
      has_coding = true;
      std::string_view list = h.value;
      while (true) {
        size_t comma = list.find(',');
        std::string_view coding = trim_ows(list.substr(0, comma));
        if (!coding.empty()) {  // empty list elements are allowed and ignored (RFC 9110 §5.6.1)
          if (chunked_last) chunked_twice = true;  // a coding after chunked
          chunked_last = iequals(coding, "chunked");
          ++codings;
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
  }
  if (has_coding) {
    // §6.1: TE in 1.0 is faulty framing; §6.3: chunked must be the final coding, once.
    if (has_length || req.version_major != 1 || req.version_minor == 0) return {BodyFraming::kBad, 0};
    if (!chunked_last || chunked_twice) return {BodyFraming::kBad, 0};
    if (codings > 1) return {BodyFraming::kUnsupported, 0};
    return {BodyFraming::kChunked, 0};
  }
  if (has_length && f.length > 0) f.kind = BodyFraming::kLength;
  return f;
}

bool wants_keep_alive(const HttpRequest& req) {
  if (req.has_token("connection", "close")) return false;
  if (req.version_major == 1 && req.version_minor >= 1) return true;
  return req.has_token("connection", "keep-alive");
}

ChunkedDecoder::Status ChunkedDecoder::feed(const char* data, size_t len, size_t max_body, std::string& body,
                                            size_t& used) {
  std::string_view in(data, len);
  used = 0;
  while (true) {
    std::string_view rest = in.substr(used);
    switch (phase_) {
      case Phase::kSize:
      case Phase::kTrailer: {
        size_t eol = rest.find("\r\n");
        if (eol == std::string_view::npos) {
          // A bare LF anywhere, or a line longer than the bound, is never a line.
          if (rest.find('\n') != std::string_view::npos || rest.size() > kMaxChunkLine + 1) return Status::kBad;
          return Status::kIncomplete;
        }
        std::string_view line = rest.substr(0, eol);
        if (line.size() > kMaxChunkLine || line.find_first_of("\r\n") != std::string_view::npos) return Status::kBad;
        used += eol + 2;
        if (phase_ == Phase::kTrailer) {
          if (line.empty()) {
            phase_ = Phase::kDone;
            return Status::kComplete;
          }
          if (!valid_field_line(line)) return Status::kBad;
          break;
        }
        size_t digits = 0;
        uint64_t size = 0;
        while (digits < line.size() && hex_value(line[digits]) >= 0) {
          if (digits == kMaxLengthDigits) return Status::kTooLarge;
          size = size * 16 + uint64_t(hex_value(line[digits]));
          ++digits;
        }
        if (digits == 0 || !valid_extensions(line.substr(digits))) return Status::kBad;
        if (size == 0) {
          phase_ = Phase::kTrailer;
          break;
        }
        if (size > max_body || body.size() > max_body - size) return Status::kTooLarge;
        remaining_ = size;
        phase_ = Phase::kData;
        break;
      }
      case Phase::kData: {
        size_t n = rest.size() < remaining_ ? rest.size() : size_t(remaining_);
        body.append(rest.data(), n);
        used += n;
        remaining_ -= n;
        if (remaining_ > 0) return Status::kIncomplete;
        phase_ = Phase::kDataEnd;
        break;
      }
      case Phase::kDataEnd:
        if (rest.size() < 2) {
          if (!rest.empty() && rest[0] != '\r') return Status::kBad;
          return Status::kIncomplete;
        }
        if (rest.substr(0, 2) != "\r\n") return Status::kBad;
        used += 2;
        phase_ = Phase::kSize;
        break;
      case Phase::kDone:
        return Status::kComplete;
    }
  }
}

}  // namespace corews::proto
