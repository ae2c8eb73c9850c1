// permessage-deflate negotiation (RFC 7692 §5, §7.1): every parameter, each
// malformed form, duplicates, several offers in preference order, other
// extensions mixed in, the server's settings, and the exact responses.
#include <string>
#include <string_view>

#include "check.h"
#include "proto/deflate_negotiation.h"
#include "proto/http_request.h"

using namespace corews::proto;

namespace {

// The response for `offers`, or "declined".
std::string answer(std::string_view offers, const DeflateConfig& config = {}, bool force = false) {
  DeflateAgreement a = negotiate_permessage_deflate(offers, config, force);
  if (!a.accepted) {
    if (!a.response.empty()) return "declined, but with a response";
    return "declined";
  }
  return a.response;
}

DeflateParams params(std::string_view offers, const DeflateConfig& config = {}, bool force = false) {
  return negotiate_permessage_deflate(offers, config, force).params;
}

std::string to_string(const DeflateParams& p) {
  return check::strf("{snct=%d cnct=%d smwb=%d cmwb=%d}", p.server_no_context_takeover, p.client_no_context_takeover,
                     p.server_max_window_bits, p.client_max_window_bits);
}
DeflateParams P(bool snct, bool cnct, int smwb, int cmwb) {
  DeflateParams p;
  p.server_no_context_takeover = snct;
  p.client_no_context_takeover = cnct;
  p.server_max_window_bits = uint8_t(smwb);
  p.client_max_window_bits = uint8_t(cmwb);
  return p;
}

DeflateConfig C(bool snct, bool cnct, int smwb, int cmwb) {
  DeflateConfig c;
  c.server_no_context_takeover = snct;
  c.client_no_context_takeover = cnct;
  c.server_max_window_bits = uint8_t(smwb);
  c.client_max_window_bits = uint8_t(cmwb);
  return c;
}

const char* const PMD = "permessage-deflate";

}  // namespace

TEST(negotiation_plain_offers) {
  CHECK_EQ(answer(""), "declined");
  CHECK_EQ(answer("   "), "declined");
  CHECK_EQ(answer("permessage-deflate"), PMD);
  CHECK_EQ(to_string(params("permessage-deflate")), to_string(P(false, false, 15, 15)));
  // Chrome's offer: client_max_window_bits without a value says the client
  // can take a limit; with no server limit there is nothing to name.
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits"), PMD);
  CHECK_EQ(to_string(params("permessage-deflate; client_max_window_bits")), to_string(P(false, false, 15, 15)));
  // Other extensions only.
  CHECK_EQ(answer("x-webkit-deflate-frame"), "declined");
  CHECK_EQ(answer("deflate-stream, mux; max-channels=4"), "declined");
  // Names compare case-insensitively; the response is lower case.
  CHECK_EQ(answer("PerMessage-Deflate; Client_Max_Window_Bits=10"), "permessage-deflate; client_max_window_bits=10");
}

TEST(negotiation_each_parameter) {
  CHECK_EQ(answer("permessage-deflate; server_no_context_takeover"), "permessage-deflate; server_no_context_takeover");
  CHECK_EQ(to_string(params("permessage-deflate; server_no_context_takeover")), to_string(P(true, false, 15, 15)));
  // §7.1.1.2: an offered client_no_context_takeover is echoed (the inflater
  // may then drop its window between messages).
  CHECK_EQ(answer("permessage-deflate; client_no_context_takeover"), "permessage-deflate; client_no_context_takeover");
  CHECK_EQ(to_string(params("permessage-deflate; client_no_context_takeover")), to_string(P(false, true, 15, 15)));
  for (int b = 8; b <= 15; ++b) {
    CTX("bits %d", b);
    std::string n = std::to_string(b);
    // §7.1.2.1: an offered server_max_window_bits is answered with the same
    // value (no server limit), 8 included.
    CHECK_EQ(answer("permessage-deflate; server_max_window_bits=" + n), "permessage-deflate; server_max_window_bits=" + n);
    CHECK_EQ(to_string(params("permessage-deflate; server_max_window_bits=" + n)), to_string(P(false, false, b, 15)));
    // §7.1.2.2: a client_max_window_bits value is the client's own limit,
    // named back so both ends agree on it (15 needs no naming).
    std::string expect = b < 15 ? "permessage-deflate; client_max_window_bits=" + n : std::string(PMD);
    CHECK_EQ(answer("permessage-deflate; client_max_window_bits=" + n), expect);
    CHECK_EQ(to_string(params("permessage-deflate; client_max_window_bits=" + n)), to_string(P(false, false, 15, b)));
    // Quoted values are allowed (RFC 6455 §9.1), also with quoted-pairs.
    CHECK_EQ(answer("permessage-deflate; server_max_window_bits=\"" + n + "\""),
             "permessage-deflate; server_max_window_bits=" + n);
    CHECK_EQ(answer("permessage-deflate; client_max_window_bits=\"" + n + "\""), expect);
  }
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=\"1\\2\""), "permessage-deflate; server_max_window_bits=12");
  // All four at once, in any order.
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits=9; server_max_window_bits=10; "
                  "client_no_context_takeover; server_no_context_takeover"),
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
           "client_max_window_bits=9");
  CHECK_EQ(to_string(params("permessage-deflate; client_max_window_bits=9; server_max_window_bits=10; "
               "client_no_context_takeover; server_no_context_takeover")), to_string(P(true, true, 10, 9)));
}

TEST(negotiation_whitespace) {
  // Optional whitespace around ';', '=' and ',' (the *LWS of §9.1's ABNF).
  CHECK_EQ(answer("  permessage-deflate ;server_max_window_bits = 10 ;\tclient_max_window_bits\t,  "),
           "permessage-deflate; server_max_window_bits=10");
  CHECK_EQ(answer("permessage-deflate;server_no_context_takeover;client_max_window_bits=12"),
           "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
  // Empty list elements (RFC 9110 §5.6.1).
  CHECK_EQ(answer(", ,permessage-deflate,,"), PMD);
}

TEST(negotiation_malformed_offers_are_declined) {
  const char* bad[] = {
      // unknown parameters
      "permessage-deflate; foo",
      "permessage-deflate; foo=1",
      "permessage-deflate; server_no_context_takeover; x",
      "permessage-deflate; max_window_bits=10",
      "permessage-deflate; server_max_window_bit=10",
      // duplicates (also in other spellings)
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; client_no_context_takeover; CLIENT_NO_CONTEXT_TAKEOVER",
      "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
      "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
      "permessage-deflate; client_max_window_bits; client_max_window_bits",
      "permessage-deflate; client_max_window_bits=10; client_max_window_bits",
      // values where none is allowed
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; server_no_context_takeover=true",
      "permessage-deflate; client_no_context_takeover=\"\"",
      "permessage-deflate; client_no_context_takeover=x",
      // no value where one is required
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=",
      "permessage-deflate; client_max_window_bits=",
      // bad values
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=0",
      "permessage-deflate; server_max_window_bits=08",
      "permessage-deflate; server_max_window_bits=010",
      "permessage-deflate; server_max_window_bits=+9",
      "permessage-deflate; server_max_window_bits=-9",
      "permessage-deflate; server_max_window_bits=9.0",
      "permessage-deflate; server_max_window_bits=1e1",
      "permessage-deflate; server_max_window_bits=ten",
      "permessage-deflate; server_max_window_bits=255",
      "permessage-deflate; server_max_window_bits=4294967306",
      "permessage-deflate; client_max_window_bits=7",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=09",
      "permessage-deflate; client_max_window_bits=\"\"",
      "permessage-deflate; client_max_window_bits=\" 10\"",
      "permessage-deflate; client_max_window_bits=\"10 \"",
      "permessage-deflate; server_max_window_bits=\"1 0\"",
      // bad quoting (balanced; the unbalanced kind is below)
      "permessage-deflate; server_max_window_bits=\"1\"0",
      "permessage-deflate; \"server_no_context_takeover\"",
      "\"permessage-deflate\"",
      // bad syntax
      "permessage-deflate;",
      "permessage-deflate; ",
      "permessage-deflate;;server_no_context_takeover",
      "permessage-deflate server_no_context_takeover",
      "permessage-deflate; server_no_context_takeover client_no_context_takeover",
      "permessage-deflate; =10",
      "permessage-deflate; server_max_window_bits==10",
      "permessage-deflate; server_max_window_bits=1 0",
      "permessage-deflate=1",
      "permessage-deflate/2",
      "; permessage-deflate",
      "permessage-deflate\x01",
      "permessage-deflate; server_max_window_bits=\"1\x01\"",
      // too many parameters to be acceptable
      "permessage-deflate; a; b; c; d; e; f; g; h; i; j",
  };
  for (const char* offer : bad) {
    CTX("offer %s", check::escape(offer).c_str());
    CHECK_EQ(answer(offer), "declined");
    // A declined offer does not spoil a good one after it.
    CHECK_EQ(answer(std::string(offer) + ", permessage-deflate; client_max_window_bits=11"),
             "permessage-deflate; client_max_window_bits=11");
  }
  // An unclosed quoted string runs to the end of the header: the offers after
  // it are inside it, and declined with it.
  const char* unclosed[] = {
      "permessage-deflate; server_max_window_bits=\"10",
      "permessage-deflate; server_max_window_bits=10\"",
      "permessage-deflate; server_max_window_bits=\"10\"\"",
      "permessage-deflate; server_max_window_bits=\"10\\\"",
  };
  for (const char* offer : unclosed) {
    CTX("offer %s", check::escape(offer).c_str());
    CHECK_EQ(answer(offer), "declined");
    CHECK_EQ(answer(std::string(offer) + ", permessage-deflate"), "declined");
    CHECK_EQ(answer(std::string("permessage-deflate; client_max_window_bits=11, ") + offer),
             "permessage-deflate; client_max_window_bits=11");
  }
}

TEST(negotiation_quoting_does_not_split_elements) {
  // A comma inside a quoted string is not a list separator: the whole
  // element is skipped, and what follows the closing quote is read again.
  CHECK_EQ(answer("x-ext; a=\"1, permessage-deflate\", permessage-deflate; server_max_window_bits=9"),
           "permessage-deflate; server_max_window_bits=9");
  CHECK_EQ(answer("x-ext; a=\"1, permessage-deflate\""), "declined");
  CHECK_EQ(answer("permessage-deflate; foo=\"a,b\", permessage-deflate; client_no_context_takeover"),
           "permessage-deflate; client_no_context_takeover");
  CHECK_EQ(answer("permessage-deflate; foo=\"a\\\",b\", permessage-deflate"), PMD);
  // An unclosed quote takes the rest of the header with it.
  CHECK_EQ(answer("x-ext; a=\"1, permessage-deflate"), "declined");
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=\"10, permessage-deflate"), "declined");
  // A bad character inside quotes: skipped from the element's start.
  CHECK_EQ(answer("x; a=\"\x7f,\", permessage-deflate"), PMD);
}

TEST(negotiation_several_offers_in_preference_order) {
  // The first acceptable offer wins.
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=10, permessage-deflate"),
           "permessage-deflate; server_max_window_bits=10");
  CHECK_EQ(answer("permessage-deflate, permessage-deflate; server_max_window_bits=10"), PMD);
  // Two header lines joined with ", " and other extensions mixed in.
  CHECK_EQ(answer("x-webkit-deflate-frame; no_context_takeover, foo, "
                  "permessage-deflate; client_max_window_bits=8; client_no_context_takeover, bar; baz=\"q\""),
           "permessage-deflate; client_no_context_takeover; client_max_window_bits=8");
  // The server's limit on the client's window passes over an offer that
  // cannot take it (§7.1.2.2) to one that can.
  CHECK_EQ(answer("permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits",
                  C(false, false, 0, 10)),
           "permessage-deflate; client_max_window_bits=10");
  // Malformed first offers are declined, not fatal.
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=99, "
                  "permessage-deflate; server_no_context_takeover; server_no_context_takeover, "
                  "permessage-deflate; server_max_window_bits=12"),
           "permessage-deflate; server_max_window_bits=12");
}

TEST(negotiation_server_config) {
  // server_no_context_takeover: asked for unasked (§7.1.1.1 lets the server add it).
  CHECK_EQ(answer("permessage-deflate", C(true, false, 0, 0)), "permessage-deflate; server_no_context_takeover");
  CHECK_EQ(answer("permessage-deflate; server_no_context_takeover", C(true, false, 0, 0)),
           "permessage-deflate; server_no_context_takeover");
  // client_no_context_takeover: likewise (§7.1.1.2).
  CHECK_EQ(answer("permessage-deflate", C(false, true, 0, 0)), "permessage-deflate; client_no_context_takeover");
  CHECK_EQ(to_string(params("permessage-deflate", C(false, true, 0, 0))), to_string(P(false, true, 15, 15)));
  // server_max_window_bits: named even when not offered (§7.1.2.1 allows
  // it), and the smaller of the server's and the client's limit otherwise.
  CHECK_EQ(answer("permessage-deflate", C(false, false, 10, 0)), "permessage-deflate; server_max_window_bits=10");
  CHECK_EQ(to_string(params("permessage-deflate", C(false, false, 10, 0))), to_string(P(false, false, 10, 15)));
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=12", C(false, false, 10, 0)),
           "permessage-deflate; server_max_window_bits=10");
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=9", C(false, false, 10, 0)),
           "permessage-deflate; server_max_window_bits=9");
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=8", C(false, false, 10, 0)),
           "permessage-deflate; server_max_window_bits=8");
  CHECK_EQ(answer("permessage-deflate", C(false, false, 15, 0)), PMD);
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=15", C(false, false, 15, 0)),
           "permessage-deflate; server_max_window_bits=15");
  CHECK_EQ(answer("permessage-deflate", C(false, false, 8, 0)), "permessage-deflate; server_max_window_bits=8");
  // client_max_window_bits: only to a client that offered the parameter
  // (§7.1.2.2 MUST NOT otherwise), so a server limit declines the others.
  CHECK_EQ(answer("permessage-deflate", C(false, false, 0, 10)), "declined");
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=10", C(false, false, 0, 12)), "declined");
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits", C(false, false, 0, 10)),
           "permessage-deflate; client_max_window_bits=10");
  CHECK_EQ(to_string(params("permessage-deflate; client_max_window_bits", C(false, false, 0, 10))), to_string(P(false, false, 15, 10)));
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits=12", C(false, false, 0, 10)),
           "permessage-deflate; client_max_window_bits=10");
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits=9", C(false, false, 0, 10)),
           "permessage-deflate; client_max_window_bits=9");
  // A server "limit" of 15 is no limit: nothing to decline or name.
  CHECK_EQ(answer("permessage-deflate", C(false, false, 0, 15)), PMD);
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits", C(false, false, 0, 15)), PMD);
  // Everything together.
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits", C(true, true, 11, 9)),
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; "
           "client_max_window_bits=9");
  CHECK_EQ(to_string(params("permessage-deflate; client_max_window_bits", C(true, true, 11, 9))), to_string(P(true, true, 11, 9)));
}

TEST(negotiation_forced_no_context_takeover) {
  const char* both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  CHECK_EQ(answer("permessage-deflate", {}, true), both);
  CHECK_EQ(to_string(params("permessage-deflate", {}, true)), to_string(P(true, true, 15, 15)));
  CHECK_EQ(answer("permessage-deflate; server_no_context_takeover; client_no_context_takeover", {}, true), both);
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits=10", C(false, false, 12, 0), true),
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; "
           "client_max_window_bits=10");
  // It does not make an unacceptable offer acceptable.
  CHECK_EQ(answer("permessage-deflate; foo", {}, true), "declined");
  CHECK_EQ(answer("", {}, true), "declined");
}

TEST(negotiation_invalid_config_declines) {
  CHECK(is_valid_deflate_config({}));
  CHECK(is_valid_deflate_config(C(true, true, 8, 15)));
  for (int b : {1, 7, 16, 255}) {
    CTX("bits %d", b);
    CHECK(!is_valid_deflate_config(C(false, false, b, 0)));
    CHECK(!is_valid_deflate_config(C(false, false, 0, b)));
    CHECK_EQ(answer("permessage-deflate; client_max_window_bits", C(false, false, b, 0)), "declined");
    CHECK_EQ(answer("permessage-deflate; client_max_window_bits", C(false, false, 0, b)), "declined");
  }
}

TEST(negotiation_from_a_parsed_request) {
  std::string head =
      "GET /chat HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Extensions: x-foo; permessage-deflate=\"1\"\r\n"
      "Sec-WebSocket-Version: 13\r\n"
      "sec-websocket-extensions:  permessage-deflate; server_max_window_bits=11 \r\n"
      "Sec-WebSocket-Extensions: permessage-deflate\r\n"
      "\r\n";
  HttpRequest req;
  size_t head_len = 0;
  if (!CHECK(parse_request_head(head.data(), head.size(), req, head_len) == HeadStatus::kComplete)) return;
  DeflateAgreement a = negotiate_permessage_deflate(req, DeflateConfig{});
  CHECK(a.accepted);
  CHECK_EQ(a.response, "permessage-deflate; server_max_window_bits=11");
  // No header at all.
  std::string plain = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  HttpRequest req2;
  if (!CHECK(parse_request_head(plain.data(), plain.size(), req2, head_len) == HeadStatus::kComplete)) return;
  CHECK(!negotiate_permessage_deflate(req2, DeflateConfig{}).accepted);
}
