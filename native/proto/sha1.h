// SHA-1, used only for the RFC 6455 §4.2.2 accept key: OpenSSL's (EVP), the
// node binary's in the addon and libcrypto in the native tests and fuzzers.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace corews::proto {

using Sha1Digest = std::array<uint8_t, 20>;

Sha1Digest sha1(const void* data, size_t len);

}  // namespace corews::proto
