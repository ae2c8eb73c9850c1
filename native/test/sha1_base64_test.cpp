// SHA-1 (FIPS 180 vectors and padding-boundary lengths), base64 (RFC 4648 §10)
// and the RFC 6455 accept key.
#include <string>
#include <vector>

#include "check.h"
#include "proto/base64.h"
#include "proto/handshake.h"
#include "proto/sha1.h"

using namespace corews::proto;

namespace {

std::string hex(const Sha1Digest& d) {
  std::string s;
  for (uint8_t b : d) s += check::strf("%02x", b);
  return s;
}

std::string sha1_hex(const std::string& s) { return hex(sha1(s.data(), s.size())); }

// The byte pattern the reference digests below were computed over with
// python3 hashlib: bytes((i*7+3)&0xff for i in range(n)).
std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 7 + 3) & 0xff);
  return s;
}

std::string b64(std::string_view s) {
  return base64_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

TEST(sha1_fips180_vectors) {
  CHECK_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
           "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  // A null pointer with length 0 is the empty message.
  CHECK_EQ(hex(sha1(nullptr, 0)), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(sha1_padding_boundaries) {
  struct {
    size_t len;
    const char* digest;  // python3 -c 'import hashlib; ...' over pattern(len)
  } cases[] = {
      {55, "ddf57317ef34bfee3b6df83d359098930eb278bc"},
      {56, "a0d492bb0fc889d0eca3bc137066ab6f4f74f369"},
      {63, "c55856749bef509bdfe6bfebfc7bf4e793e82132"},
      {64, "bede92be29c3874e1b54ddc77988d606fc857a8e"},
      {65, "b05a80522b053d6dc7e0a517d0e70212c7dad11f"},
      {119, "504e27376a6e0f0dba8295b85cb25dc4dfa17d23"},
      {120, "82134b02fb3f702491be9bed581eeab59334acb2"},
      {128, "a09133e6730ffe899efb70204cb5646cd5dc24ee"},
  };
  for (const auto& c : cases) {
    CTX("len %zu", c.len);
    // Exact-size heap buffer so that ASan sees any read past the end.
    std::string s = pattern(c.len);
    std::vector<uint8_t> buf(s.begin(), s.end());
    CHECK_EQ(hex(sha1(buf.data(), buf.size())), c.digest);
  }
}

TEST(base64_encode_rfc4648_vectors) {
  CHECK_EQ(b64(""), "");
  CHECK_EQ(b64("f"), "Zg==");
  CHECK_EQ(b64("fo"), "Zm8=");
  CHECK_EQ(b64("foo"), "Zm9v");
  CHECK_EQ(b64("foob"), "Zm9vYg==");
  CHECK_EQ(b64("fooba"), "Zm9vYmE=");
  CHECK_EQ(b64("foobar"), "Zm9vYmFy");
  // The whole alphabet, including '+' and '/'.
  CHECK_EQ(b64(std::string("\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51\x55\x97"
                           "\x61\x96\x9b\x71\xd7\x9f\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf"
                           "\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf",
                           48)),
           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
  CHECK_EQ(b64(std::string("\xff\xff\xff", 3)), "////");
}

TEST(base64_decoded_size_valid) {
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBsZSBub25jZQ=="), 16);
  CHECK_EQ(base64_decoded_size("AAAAAAAAAAAAAAAAAAAAAA=="), 16);
  CHECK_EQ(base64_decoded_size("/////////////////////w=="), 16);
  CHECK_EQ(base64_decoded_size("++++++++++++++++++++++++"), 18);
  CHECK_EQ(base64_decoded_size("Zg=="), 1);
  CHECK_EQ(base64_decoded_size("Zm8="), 2);
  CHECK_EQ(base64_decoded_size("Zm9v"), 3);
  CHECK_EQ(base64_decoded_size("Zm9vYmFy"), 6);
  // Every 16-byte value round-trips: encode, then measure.
  for (int seed = 0; seed < 256; ++seed) {
    uint8_t key[16];
    for (int i = 0; i < 16; ++i) key[i] = uint8_t(seed * 31 + i * 17 + (seed >> 3) * i);
    std::string k = base64_encode(key, 16);
    CTX("key %s", k.c_str());
    CHECK_EQ(k.size(), 24u);
    CHECK_EQ(base64_decoded_size(k), 16);
  }
}

TEST(base64_decoded_size_invalid) {
  // Wrong lengths.
  CHECK_EQ(base64_decoded_size(""), -1);
  CHECK_EQ(base64_decoded_size("A"), -1);
  CHECK_EQ(base64_decoded_size("AA"), -1);
  CHECK_EQ(base64_decoded_size("AAA"), -1);
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBsZSBub25jZQ="), -1);
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBsZSBub25jZQ=== "), -1);
  // Missing padding.
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBsZSBub25jZQ"), -1);
  CHECK_EQ(base64_decoded_size("Zg"), -1);
  CHECK_EQ(base64_decoded_size("Zm8"), -1);
  // Bad characters, anywhere, including URL-safe base64 and whitespace.
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBsZSBub25jZQ-="), -1);
  CHECK_EQ(base64_decoded_size("-GhlIHNhbXBsZSBub25jZQ=="), -1);
  CHECK_EQ(base64_decoded_size("dGhl_HNhbXBsZSBub25jZQ=="), -1);
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBs ZSBub25jZQ="), -1);
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBsZSBub25jZ\xc3\xa9="), -1);
  CHECK_EQ(base64_decoded_size(std::string_view("dGhlIHNhbXBsZSBub25jZQ\0=", 24)), -1);
  // '=' in the wrong places.
  CHECK_EQ(base64_decoded_size("===="), -1);
  CHECK_EQ(base64_decoded_size("A==="), -1);
  CHECK_EQ(base64_decoded_size("=AAA"), -1);
  CHECK_EQ(base64_decoded_size("AA=A"), -1);
  CHECK_EQ(base64_decoded_size("AA==AAAA"), -1);
  CHECK_EQ(base64_decoded_size("AAA=AAAA"), -1);
  // Non-canonical: the unused low bits of the last character are not zero.
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBsZSBub25jZR=="), -1);  // R = 17, low 4 bits 0001
  CHECK_EQ(base64_decoded_size("dGhlIHNhbXBsZSBub25jZf=="), -1);  // f = 31
  CHECK_EQ(base64_decoded_size("Zh=="), -1);
  CHECK_EQ(base64_decoded_size("Zm9="), -1);  // 9 = 61, low 2 bits 01
  CHECK_EQ(base64_decoded_size("Zm+="), -1);
  CHECK_EQ(base64_decoded_size("Zm/="), -1);
  // ... but Zm8= (8 = 60, low 2 bits 00) is fine, as is Zw== (w = 48).
  CHECK_EQ(base64_decoded_size("Zw=="), 1);
  // Every second-to-last character of a one-pad quad: valid iff its low 2 bits are 0.
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int v = 0; v < 64; ++v) {
    std::string one = std::string("Zm") + alphabet[v] + "=";
    std::string two = std::string("Z") + alphabet[v] + "==";
    CTX("v %d", v);
    CHECK_EQ(base64_decoded_size(one), (v & 3) ? -1 : 2);
    CHECK_EQ(base64_decoded_size(two), (v & 15) ? -1 : 1);
  }
  // A 16-byte key with any byte outside the alphabet is rejected.
  for (int c = 0; c < 256; ++c) {
    std::string k = "dGhlIHNhbXBsZSBub25jZQ==";
    k[5] = char(c);
    bool in_alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '+' || c == '/';
    CTX("byte 0x%02x", c);
    CHECK_EQ(base64_decoded_size(k), in_alphabet ? 16 : -1);
  }
}

TEST(accept_key_rfc6455_example) {
  CHECK_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
