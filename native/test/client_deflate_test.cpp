// permessage-deflate on the client side, as the load generator uses it: the
// offer in the request, the server's answer read back (every parameter, and
// what a client must fail the connection for), and a round trip through the
// server's negotiation.
#include <string>

#include "check.h"
#include "proto/client_deflate.h"
#include "proto/client_handshake.h"
#include "proto/deflate_negotiation.h"

using namespace corews::proto;

namespace {

std::string read(std::string_view value) {
  DeflateParams p;
  switch (read_deflate_response(value, p)) {
    case ClientDeflateStatus::kNone:
      return "none";
    case ClientDeflateStatus::kBad:
      return "bad";
    case ClientDeflateStatus::kAccepted:
      break;
  }
  return check::strf("snct=%d cnct=%d smwb=%d cmwb=%d", p.server_no_context_takeover, p.client_no_context_takeover,
                     p.server_max_window_bits, p.client_max_window_bits);
}

}  // namespace

TEST(client_deflate_offer_in_the_request) {
  std::string req = build_client_request("h", "/", "dGhlIHNhbXBsZSBub25jZQ==", "", kClientDeflateOffer);
  CHECK_EQ(req,
           "GET / HTTP/1.1\r\n"
           "Host: h\r\n"
           "Upgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
           "\r\n");
}

TEST(client_deflate_reads_the_answer) {
  CHECK_EQ(read(""), "none");
  CHECK_EQ(read("  "), "none");
  CHECK_EQ(read("permessage-deflate"), "snct=0 cnct=0 smwb=15 cmwb=15");
  CHECK_EQ(read("Permessage-Deflate"), "snct=0 cnct=0 smwb=15 cmwb=15");
  CHECK_EQ(read("permessage-deflate; server_no_context_takeover"), "snct=1 cnct=0 smwb=15 cmwb=15");
  CHECK_EQ(read("permessage-deflate; client_no_context_takeover; server_no_context_takeover"),
           "snct=1 cnct=1 smwb=15 cmwb=15");
  CHECK_EQ(read("permessage-deflate;server_max_window_bits=10;client_max_window_bits=8"),
           "snct=0 cnct=0 smwb=10 cmwb=8");
  CHECK_EQ(read("permessage-deflate ; client_max_window_bits = \"12\" "), "snct=0 cnct=0 smwb=15 cmwb=12");
  CHECK_EQ(read("permessage-deflate, "), "snct=0 cnct=0 smwb=15 cmwb=15");
  // §7.1: what the client must fail the connection for.
  CHECK_EQ(read("x-webkit-deflate-frame"), "bad");                                // not offered
  CHECK_EQ(read("permessage-deflate, permessage-deflate"), "bad");                // two answers
  CHECK_EQ(read("permessage-deflate; foo"), "bad");                               // unknown parameter
  CHECK_EQ(read("permessage-deflate; server_no_context_takeover; server_no_context_takeover"), "bad");
  CHECK_EQ(read("permessage-deflate; server_no_context_takeover=1"), "bad");      // a value where none goes
  CHECK_EQ(read("permessage-deflate; client_max_window_bits"), "bad");            // §7.1.2.2: a value is required
  CHECK_EQ(read("permessage-deflate; server_max_window_bits"), "bad");
  CHECK_EQ(read("permessage-deflate; server_max_window_bits=7"), "bad");
  CHECK_EQ(read("permessage-deflate; server_max_window_bits=16"), "bad");
  CHECK_EQ(read("permessage-deflate; server_max_window_bits=010"), "bad");
  CHECK_EQ(read("permessage-deflate; client_max_window_bits=\"1\"5"), "bad");
  CHECK_EQ(read("permessage-deflate;"), "bad");
  CHECK_EQ(read("permessage-deflate; client_max_window_bits=\""), "bad");
}

// Whatever the server's negotiation answers to the load generator's offer,
// the client reads back as the same agreement.
TEST(client_deflate_round_trip_with_the_server) {
  for (int snct = 0; snct < 2; ++snct) {
    for (int cnct = 0; cnct < 2; ++cnct) {
      for (int smwb : {0, 8, 9, 12, 15}) {
        for (int cmwb : {0, 8, 11, 15}) {
          for (int force = 0; force < 2; ++force) {
            CTX("snct=%d cnct=%d smwb=%d cmwb=%d force=%d", snct, cnct, smwb, cmwb, force);
            DeflateConfig config;
            config.server_no_context_takeover = snct;
            config.client_no_context_takeover = cnct;
            config.server_max_window_bits = uint8_t(smwb);
            config.client_max_window_bits = uint8_t(cmwb);
            DeflateAgreement a = negotiate_permessage_deflate(kClientDeflateOffer, config, force);
            CHECK(a.accepted);
            DeflateParams p;
            CHECK(read_deflate_response(a.response, p) == ClientDeflateStatus::kAccepted);
            CHECK_EQ(p.server_no_context_takeover, a.params.server_no_context_takeover);
            CHECK_EQ(p.client_no_context_takeover, a.params.client_no_context_takeover);
            CHECK_EQ(int(p.server_max_window_bits), int(a.params.server_max_window_bits));
            CHECK_EQ(int(p.client_max_window_bits), int(a.params.client_max_window_bits));
          }
        }
      }
    }
  }
}

TEST(client_handshake_returns_the_extensions_answer) {
  std::string resp =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate\r\n"
      "sec-websocket-extensions: client_max_window_bits=9\r\n\r\n";
  size_t head_len = 0;
  std::string extensions = "left over";
  CHECK(check_server_response(resp.data(), resp.size(), "dGhlIHNhbXBsZSBub25jZQ==", head_len, &extensions) ==
        ClientHandshakeStatus::kOk);
  CHECK_EQ(extensions, "permessage-deflate, client_max_window_bits=9");
  // Joined, the second line is a second extension, which was never offered.
  DeflateParams p;
  CHECK(read_deflate_response(extensions, p) == ClientDeflateStatus::kBad);
  std::string plain =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  CHECK(check_server_response(plain.data(), plain.size(), "dGhlIHNhbXBsZSBub25jZQ==", head_len, &extensions) ==
        ClientHandshakeStatus::kOk);
  CHECK_EQ(extensions, "");
}
