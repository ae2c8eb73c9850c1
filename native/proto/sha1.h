// SHA-1 (FIPS 180-4 §6.1), used only for the RFC 6455 §4.2.2 accept key.
// Written here rather than taken from OpenSSL so that the protocol core builds
// and fuzzes without Node or libcrypto.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace corews::proto {

using Sha1Digest = std::array<uint8_t, 20>;

Sha1Digest sha1(const void* data, size_t len);

}  // namespace corews::proto
