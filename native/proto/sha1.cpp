// SHA-1 is OpenSSL's (the node binary's in the addon, the system's in the
// native tests): one well-kept implementation, not one of our own.
#include "sha1.h"

#include <openssl/evp.h>

namespace corews::proto {

Sha1Digest sha1(const void* data, size_t len) {
  Sha1Digest out{};
  unsigned int n = 0;
  static const unsigned char kEmpty = 0;
  EVP_Digest(data != nullptr ? data : &kEmpty, len, out.data(), &n, EVP_sha1(), nullptr);
  return out;
}

}  // namespace corews::proto
