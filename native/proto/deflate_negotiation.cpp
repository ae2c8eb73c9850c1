#include "deflate_negotiation.h"

#include <string>

namespace corews::proto {

namespace {

// RFC 9110 §5.6.4: qdtext and the octets a quoted-pair may escape.
bool is_qdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}
bool is_quotable(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

struct Param {
  std::string_view name;
  bool has_value = false;
  std::string value;  // unquoted and unescaped
};

// A cursor over the header value with the pieces of RFC 6455 §9.1's grammar:
//   extension-list = 1#extension
//   extension      = extension-token *( ";" extension-param )
//   extension-param = token [ "=" (token | quoted-string) ]
// with optional whitespace around the separators (the implied *LWS of the
// RFC 2616 ABNF that §9.1 uses).
struct Cursor {
  std::string_view s;
  size_t i = 0;

  bool at_end() const { return i >= s.size(); }
  char peek() const { return s[i]; }
  void skip_ows() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  bool token(std::string_view& out) {
    size_t start = i;
    while (i < s.size() && is_tchar(static_cast<unsigned char>(s[i]))) ++i;
    out = s.substr(start, i - start);
    return i > start;
  }
  // At a DQUOTE: reads the quoted-string, unescaping quoted-pairs.
  bool quoted(std::string& out) {
    ++i;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i++]);
      if (c == '"') return true;
      if (c == '\\') {
        if (i >= s.size() || !is_quotable(static_cast<unsigned char>(s[i]))) return false;
        out += s[i++];
      } else if (is_qdtext(c)) {
        out += char(c);
      } else {
        return false;
      }
    }
    return false;  // no closing quote
  }
  // From `from`, moves past the next comma outside quoted strings (or to the
  // end): how a malformed element is skipped without taking a comma inside
  // its quotes for the end of it. An unclosed quote takes the rest.
  void skip_element_from(size_t from) {
    i = from;
    bool in_quotes = false;
    while (i < s.size()) {
      char c = s[i++];
      if (in_quotes) {
        if (c == '\\') {
          if (i < s.size()) ++i;
        } else if (c == '"') {
          in_quotes = false;
        }
      } else if (c == '"') {
        in_quotes = true;
      } else if (c == ',') {
        return;
      }
    }
  }
};

// One permessage-deflate offer, read from its parameters (§7.1).
struct Offer {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  uint8_t server_max_window_bits = 0;  // 0: absent
  bool client_max_window_bits = false;  // present, with or without a value
  uint8_t client_max_window_bits_value = 0;  // 0: no value
};

// Fills `offer`; false when §7.1 says to decline: a parameter not defined for
// offers, one given twice, or one with an invalid value (also a value on a
// parameter that takes none, and none where one is required).
bool read_offer(const Param* params, size_t n, Offer& offer) {
  bool seen[4] = {};
  for (size_t k = 0; k < n; ++k) {
    const Param& p = params[k];
    int which;
    if (iequals(p.name, "server_no_context_takeover")) which = 0;
    else if (iequals(p.name, "client_no_context_takeover")) which = 1;
    else if (iequals(p.name, "server_max_window_bits")) which = 2;
    else if (iequals(p.name, "client_max_window_bits")) which = 3;
    else return false;
    if (seen[which]) return false;
    seen[which] = true;
    switch (which) {
      case 0:
        if (p.has_value) return false;
        offer.server_no_context_takeover = true;
        break;
      case 1:
        if (p.has_value) return false;
        offer.client_no_context_takeover = true;
        break;
      case 2:
        // §7.1.2.1: in an offer this parameter always has a value.
        if (!p.has_value) return false;
        offer.server_max_window_bits = parse_window_bits(p.value);
        if (offer.server_max_window_bits == 0) return false;
        break;
      case 3:
        offer.client_max_window_bits = true;
        if (p.has_value) {
          offer.client_max_window_bits_value = parse_window_bits(p.value);
          if (offer.client_max_window_bits_value == 0) return false;
        }
        break;
    }
  }
  return true;
}

void append_bits(std::string& out, uint8_t bits) {
  if (bits >= 10) {
    out += '1';
    out += char('0' + bits - 10);
  } else {
    out += char('0' + bits);
  }
}

// The response to an acceptable offer, or false to decline it.
bool answer(const Offer& offer, const DeflateConfig& config, bool force_nct, DeflateAgreement& out) {
  DeflateParams p;
  // §7.1.1.1: an offered server_no_context_takeover must be in the response;
  // the server may add it unasked.
  p.server_no_context_takeover = offer.server_no_context_takeover || config.server_no_context_takeover || force_nct;
  // §7.1.1.2: the server may add client_no_context_takeover unasked. When the
  // client offers it (a hint that it will not take over context anyway), it
  // is echoed, so the inflater can drop its window between messages.
  p.client_no_context_takeover = offer.client_no_context_takeover || config.client_no_context_takeover || force_nct;

  // §7.1.2.1: the server's window is at most what the client offered, and
  // the server may name a smaller one, offered or not. An offer of 8 is
  // accepted as 8: the Deflater runs zlib at 9 bits (zlib refuses raw
  // deflate at 8), and zlib's deflate never emits a distance over
  // window - 262 bytes, 250 for 9 bits, so the stream fits a 256-byte window.
  // Answering 9 would not be allowed ("the same or smaller value").
  uint8_t server_bits = offer.server_max_window_bits ? offer.server_max_window_bits : 15;
  if (config.server_max_window_bits && config.server_max_window_bits < server_bits) {
    server_bits = config.server_max_window_bits;
  }
  bool name_server_bits = offer.server_max_window_bits != 0 || server_bits < 15;
  p.server_max_window_bits = server_bits;

  // §7.1.2.2: client_max_window_bits may be answered only when offered. The
  // server's limit, when it has one below 15, can therefore only be agreed
  // with a client that offered the parameter; others are declined. An offered
  // value is a limit the client sets itself, so the smaller one holds.
  uint8_t client_bits = 15;
  if (config.client_max_window_bits && config.client_max_window_bits < 15) {
    if (!offer.client_max_window_bits) return false;
    client_bits = config.client_max_window_bits;
  }
  if (offer.client_max_window_bits_value && offer.client_max_window_bits_value < client_bits) {
    client_bits = offer.client_max_window_bits_value;
  }
  bool name_client_bits = client_bits < 15;
  p.client_max_window_bits = client_bits;

  std::string r = "permessage-deflate";
  if (p.server_no_context_takeover) r += "; server_no_context_takeover";
  if (p.client_no_context_takeover) r += "; client_no_context_takeover";
  if (name_server_bits) {
    r += "; server_max_window_bits=";
    append_bits(r, server_bits);
  }
  if (name_client_bits) {
    r += "; client_max_window_bits=";
    append_bits(r, client_bits);
  }
  out.accepted = true;
  out.params = p;
  out.response = std::move(r);
  return true;
}

constexpr size_t kMaxParams = 8;  // more than the four names twice: declined anyway

}  // namespace

uint8_t parse_window_bits(std::string_view v) {
  if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return uint8_t(v[0] - '0');
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return uint8_t(10 + (v[1] - '0'));
  return 0;
}

bool is_valid_deflate_config(const DeflateConfig& config) {
  auto ok = [](uint8_t b) { return b == 0 || (b >= 8 && b <= 15); };
  return ok(config.server_max_window_bits) && ok(config.client_max_window_bits);
}

DeflateAgreement negotiate_permessage_deflate(std::string_view offers, const DeflateConfig& config,
                                              bool force_no_context_takeover) {
  DeflateAgreement result;
  if (!is_valid_deflate_config(config)) return result;
  Cursor c{offers};
  while (true) {
    c.skip_ows();
    if (c.at_end()) break;
    if (c.peek() == ',') {  // an empty list element (RFC 9110 §5.6.1)
      ++c.i;
      continue;
    }
    size_t start = c.i;
    std::string_view name;
    Param params[kMaxParams];
    size_t n = 0;
    bool ok = c.token(name);
    c.skip_ows();
    while (ok && !c.at_end() && c.peek() == ';') {
      ++c.i;
      c.skip_ows();
      Param p;
      if (!c.token(p.name)) {
        ok = false;
        break;
      }
      c.skip_ows();
      if (!c.at_end() && c.peek() == '=') {
        ++c.i;
        c.skip_ows();
        p.has_value = true;
        if (c.at_end()) {
          ok = false;
        } else if (c.peek() == '"') {
          // RFC 6455 §9.1: a quoted value, unescaped, must still be a token.
          ok = c.quoted(p.value) && is_token(p.value);
        } else {
          std::string_view v;
          ok = c.token(v);
          p.value.assign(v);
        }
        if (!ok) break;
        c.skip_ows();
      }
      if (n == kMaxParams) {
        ok = false;  // too many to be an acceptable offer; still skipped whole
        break;
      }
      params[n++] = std::move(p);
    }
    if (ok && !c.at_end() && c.peek() != ',') ok = false;
    if (!ok) {
      c.skip_element_from(start);
      continue;
    }
    if (!c.at_end()) ++c.i;  // the comma
    if (!iequals(name, "permessage-deflate")) continue;
    Offer offer;
    if (read_offer(params, n, offer) && answer(offer, config, force_no_context_takeover, result)) break;
  }
  return result;
}

DeflateAgreement negotiate_permessage_deflate(const HttpRequest& request, const DeflateConfig& config,
                                              bool force_no_context_takeover) {
  std::string joined;
  for (size_t k = 0; k < request.header_count; ++k) {
    if (!iequals(request.headers[k].name, "sec-websocket-extensions")) continue;
    if (!joined.empty()) joined += ", ";
    joined.append(request.headers[k].value);
  }
  return negotiate_permessage_deflate(joined, config, force_no_context_takeover);
}

}  // namespace corews::proto
