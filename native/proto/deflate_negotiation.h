// Negotiation of the permessage-deflate extension (RFC 7692 §5, §7.1) on the
// server side: reading the client's offers from Sec-WebSocket-Extensions and
// choosing the response.
//
// Decisions where the RFC leaves a choice (the why is beside the code):
//  - Nothing in this header ever fails the handshake. An offer this server
//    does not accept, including a malformed one (unknown, duplicate or
//    valueless/valued-wrongly parameter, bad number, bad quoting), is
//    declined (§7.1: "a server MUST decline"); when no offer is left the
//    connection simply runs without compression. Other extensions in the
//    header are skipped, as are syntax errors confined to them.
//  - Offers are tried in the client's order (its preference, RFC 6455 §9.1);
//    the first acceptable one wins.
//  - Extension and parameter names compare case-insensitively, like other
//    HTTP tokens; the response spells them in lower case.
//  - server_max_window_bits=8 is accepted as 8 (see deflater.h: zlib's 9-bit
//    raw deflate never reaches further back than 250 bytes).
//  - A server limit on the client's window (client_max_window_bits in the
//    config) declines offers without client_max_window_bits, because §7.1.2.2
//    forbids naming it to a client that did not offer it and the server could
//    not otherwise hold the client to the limit (ws does the same).
//  - A server limit on its own window meets a client limit with the smaller
//    of the two (ws would decline when the server's is larger).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "http_request.h"

namespace corews::proto {

// The server's settings, as ws's perMessageDeflate options.
struct DeflateConfig {
  // Always ask for no context takeover in this direction (§7.1.1), even when
  // the client did not: less memory between messages, less compression.
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  // 0: no limit of the server's own (15, or what the client asks for);
  // 8..15: the largest window this server compresses with.
  uint8_t server_max_window_bits = 0;
  // 0: no limit (the client may use 15, or what it offers itself);
  // 8..15: the largest window the client may compress with, which is the
  // window the server inflates with.
  uint8_t client_max_window_bits = 0;
};

// What both ends use once the response is sent.
struct DeflateParams {
  bool server_no_context_takeover = false;  // the Deflater resets after each message
  bool client_no_context_takeover = false;  // the Inflater resets after each message
  uint8_t server_max_window_bits = 15;      // the Deflater's window
  uint8_t client_max_window_bits = 15;      // the Inflater's window
};

struct DeflateAgreement {
  bool accepted = false;
  DeflateParams params;
  // The Sec-WebSocket-Extensions value to send, naming exactly what was
  // agreed, e.g. "permessage-deflate; server_no_context_takeover;
  // client_max_window_bits=10". Empty when nothing was accepted.
  std::string response;
};

// A window-bits parameter's value (§7.1.2.1 / §7.1.2.2: "a decimal integer
// value without leading zeroes between 8 to 15, inclusive"), or 0 if not one.
uint8_t parse_window_bits(std::string_view value);

// True when both window settings are 0 or 8..15.
bool is_valid_deflate_config(const DeflateConfig& config);

// `offers` is the Sec-WebSocket-Extensions value; several header lines are
// joined with ", " first (RFC 9110 §5.3). `force_no_context_takeover` (for a
// server whose zlib memory budget is spent) adds both no_context_takeover
// parameters so that neither end keeps a window between messages. An invalid
// config declines everything.
DeflateAgreement negotiate_permessage_deflate(std::string_view offers, const DeflateConfig& config,
                                              bool force_no_context_takeover = false);

// The same for a parsed request: every Sec-WebSocket-Extensions line, joined.
DeflateAgreement negotiate_permessage_deflate(const HttpRequest& request, const DeflateConfig& config,
                                              bool force_no_context_takeover = false);

}  // namespace corews::proto
