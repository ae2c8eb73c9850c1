#include "base64.h"

#include <openssl/evp.h>

namespace corews::proto {
namespace {

int value_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

// Encoding is OpenSSL's EVP_EncodeBlock; the strict decoded-size check below
// (what the handshake needs of a key) is ours, as OpenSSL's decoder is lenient.
std::string base64_encode(const uint8_t* data, size_t len) {
  std::string out((len + 2) / 3 * 4 + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, int(len));
  out.resize(size_t(n));
  return out;
}

int base64_decoded_size(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return -1;
  size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i < text.size() - pad; ++i) {
    if (value_of(text[i]) < 0) return -1;
  }
  // Canonical encoding: the bits below the last character's used ones are zero.
  if (pad == 1 && (value_of(text[text.size() - 2]) & 3) != 0) return -1;
  if (pad == 2 && (value_of(text[text.size() - 3]) & 15) != 0) return -1;
  return int(text.size() / 4 * 3 - pad);
}

}  // namespace corews::proto
