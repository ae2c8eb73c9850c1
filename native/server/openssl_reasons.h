// OpenSSL's reasons for its latest failures, for error messages of the TLS layer
// (server/tls_context) and of the load generator's TLS client (client/tls_client).
#pragma once

#include <openssl/err.h>

#include <string>

namespace corews::tls {

// The queued reasons, oldest first, joined by "; "; the queue is cleared. Empty when
// OpenSSL queued none (callers say what failed instead).
inline std::string openssl_reasons() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason ? reason : "unknown OpenSSL error";
  }
  return out;
}

}  // namespace corews::tls
