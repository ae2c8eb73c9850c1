// permessage-deflate on the client side (RFC 7692 §5, §7.1): the offer a
// client sends and the check of the server's answer, as the load generator
// uses them. The server side is deflate_negotiation.h.
#pragma once
#include <string_view>

#include "deflate_negotiation.h"

namespace corews::proto {

// What the load generator offers: permessage-deflate with no parameter but
// client_max_window_bits (without a value: "the server may limit my window"),
// as browsers and ws do.
inline constexpr std::string_view kClientDeflateOffer = "permessage-deflate; client_max_window_bits";

enum class ClientDeflateStatus {
  kNone,      // no Sec-WebSocket-Extensions in the response: no compression
  kAccepted,  // permessage-deflate agreed, with `params`
  kBad,       // an answer the client must fail the connection for (§7.1: "the client MUST _Fail_")
};

// Checks the response's Sec-WebSocket-Extensions value (several header lines
// joined with ", ") against kClientDeflateOffer: exactly one extension,
// permessage-deflate, with known parameters each at most once, window bits
// 8..15 with a value (§7.1.2.1, §7.1.2.2), and nothing the offer did not
// allow. An empty value is kNone.
ClientDeflateStatus read_deflate_response(std::string_view value, DeflateParams& params);

}  // namespace corews::proto
