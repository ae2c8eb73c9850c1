// Fuzzes proto::negotiate_permessage_deflate (RFC 7692 §5, §7.1).
//
// Input layout:
//   byte 0   bit 0 server_no_context_takeover, bit 1 client_no_context_takeover,
//            bit 2 forced no context takeover
//   byte 1   server_max_window_bits: b % 9 == 0 none, else 7 + b % 9 (8..15)
//   byte 2   client_max_window_bits, the same way
//   byte 3   where to cut the rest: the header is rest[0..cut), the tail rest[cut..)
//   rest     Sec-WebSocket-Extensions value, and a tail
// Checks:
//   - an accepted answer names permessage-deflate and only the four
//     parameters, each once, windows 8..15, within the server's limits, and
//     with the no_context_takeover flags the server asked for;
//   - the response, read back as an offer with no server limits, is accepted
//     with the same parameters and the same response;
//   - once an offer is accepted, whatever follows it in the header does not
//     change the answer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "proto/deflate_negotiation.h"

using namespace corews::proto;

namespace {

bool same(const DeflateAgreement& a, const DeflateAgreement& b) {
  return a.accepted == b.accepted && a.response == b.response &&
         a.params.server_no_context_takeover == b.params.server_no_context_takeover &&
         a.params.client_no_context_takeover == b.params.client_no_context_takeover &&
         a.params.server_max_window_bits == b.params.server_max_window_bits &&
         a.params.client_max_window_bits == b.params.client_max_window_bits;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  DeflateConfig config;
  config.server_no_context_takeover = data[0] & 1;
  config.client_no_context_takeover = data[0] & 2;
  const bool force = data[0] & 4;
  config.server_max_window_bits = data[1] % 9 ? uint8_t(7 + data[1] % 9) : 0;
  config.client_max_window_bits = data[2] % 9 ? uint8_t(7 + data[2] % 9) : 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 4), size - 4);
  size_t cut = rest.empty() ? 0 : data[3] % (rest.size() + 1);
  std::string header(rest.substr(0, cut));
  std::string tail(rest.substr(cut));

  DeflateAgreement a = negotiate_permessage_deflate(header, config, force);
  if (!a.accepted) {
    FUZZ_CHECK(a.response.empty());
    return 0;
  }
  const DeflateParams& p = a.params;
  FUZZ_CHECK(p.server_max_window_bits >= 8 && p.server_max_window_bits <= 15);
  FUZZ_CHECK(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15);
  if (config.server_max_window_bits) FUZZ_CHECK(p.server_max_window_bits <= config.server_max_window_bits);
  if (config.client_max_window_bits) FUZZ_CHECK(p.client_max_window_bits <= config.client_max_window_bits);
  if (config.server_no_context_takeover || force) FUZZ_CHECK(p.server_no_context_takeover);
  if (config.client_no_context_takeover || force) FUZZ_CHECK(p.client_no_context_takeover);

  // The response is well formed: exactly what was agreed.
  std::string expect = "permessage-deflate";
  if (p.server_no_context_takeover) expect += "; server_no_context_takeover";
  if (p.client_no_context_takeover) expect += "; client_no_context_takeover";
  size_t at = a.response.find("; server_max_window_bits=");
  if (at != std::string::npos || p.server_max_window_bits < 15) {
    expect += "; server_max_window_bits=" + std::to_string(p.server_max_window_bits);
  }
  if (p.client_max_window_bits < 15) expect += "; client_max_window_bits=" + std::to_string(p.client_max_window_bits);
  FUZZ_CHECK_MSG(a.response == expect, "response \"%s\", expected \"%s\"", a.response.c_str(), expect.c_str());

  // Read back as an offer, with no server settings: the same agreement.
  DeflateAgreement again = negotiate_permessage_deflate(a.response, DeflateConfig{});
  FUZZ_CHECK_MSG(same(a, again), "response \"%s\" read back as \"%s\"", a.response.c_str(), again.response.c_str());

  // Nothing after the accepted offer matters.
  DeflateAgreement longer = negotiate_permessage_deflate(header + ", " + tail, config, force);
  FUZZ_CHECK(same(a, longer));
  return 0;
}
