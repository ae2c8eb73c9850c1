// Masking (RFC 6455 §5.3) and the frame header writer (§5.2).
#include <algorithm>
#include <string>
#include <vector>

#include "check.h"
#include "proto/frame.h"
#include "proto/mask.h"

using namespace corews::proto;
using Bytes = std::vector<uint8_t>;

TEST(mask_matches_naive_xor) {
  const uint8_t key[4] = {0x12, 0x9a, 0xf0, 0x5c};
  for (size_t len = 0; len <= 40; ++len) {
    for (size_t offset = 0; offset < 4; ++offset) {
      CTX("len %zu offset %zu", len, offset);
      Bytes data(len);
      for (size_t i = 0; i < len; ++i) data[i] = uint8_t(i * 37 + 11);
      Bytes expect = data;
      for (size_t i = 0; i < len; ++i) expect[i] ^= key[(offset + i) % 4];
      Bytes got = data;  // exact-size buffer: ASan catches overruns
      apply_mask(got.data(), got.size(), key, offset);
      CHECK(got == expect);
      // Offsets beyond 3 behave like offset % 4 (offset counts payload bytes).
      Bytes got2 = data;
      apply_mask(got2.data(), got2.size(), key, offset + 4 * 1000001);
      CHECK(got2 == expect);
      // Masking twice restores the data.
      apply_mask(got.data(), got.size(), key, offset);
      CHECK(got == data);
    }
  }
}

TEST(mask_split_equals_one_shot) {
  const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t len = 0; len <= 40; ++len) {
    Bytes data(len);
    for (size_t i = 0; i < len; ++i) data[i] = uint8_t(255 - i * 3);
    Bytes whole = data;
    apply_mask(whole.data(), whole.size(), key, 0);
    for (size_t cut = 0; cut <= len; ++cut) {
      for (size_t cut2 = cut; cut2 <= len; ++cut2) {
        CTX("len %zu pieces [0,%zu) [%zu,%zu) [%zu,%zu)", len, cut, cut, cut2, cut2, len);
        // Each piece in its own buffer, masked with its payload offset.
        Bytes a(data.begin(), data.begin() + long(cut));
        Bytes b(data.begin() + long(cut), data.begin() + long(cut2));
        Bytes c(data.begin() + long(cut2), data.end());
        apply_mask(a.data(), a.size(), key, 0);
        apply_mask(b.data(), b.size(), key, cut);
        apply_mask(c.data(), c.size(), key, cut2);
        Bytes joined = a;
        joined.insert(joined.end(), b.begin(), b.end());
        joined.insert(joined.end(), c.begin(), c.end());
        CHECK(joined == whole);
      }
    }
  }
}

TEST(mask_unaligned_pointer) {
  // The 8-byte loop must not assume alignment.
  const uint8_t key[4] = {1, 2, 3, 4};
  Bytes buf(64 + 7, 0);
  for (size_t start = 0; start < 8; ++start) {
    CTX("start %zu", start);
    Bytes copy = buf;
    apply_mask(copy.data() + start, 64, key, 0);
    bool ok = true;
    for (size_t i = 0; i < copy.size(); ++i) {
      uint8_t want = (i >= start && i < start + 64) ? key[(i - start) % 4] : 0;
      ok = ok && copy[i] == want;
    }
    CHECK(ok);
  }
}

// Every body (word loop, SSE2, AVX2 when the CPU has it, NEON on arm64) and
// the dispatching mask_copy, in place and copying, at every destination and
// source alignment 0..31, length 0..300 and key offset 0..3, against a byte
// loop; the bytes around the destination stay untouched.
TEST(mask_bodies_every_alignment_length_offset) {
  using Body = void (*)(uint8_t*, const uint8_t*, size_t, uint64_t);
  struct Named {
    const char* name;
    Body fn;
  };
  std::vector<Named> bodies = {{"mask_copy", mask_copy}, {"scalar", mask_impl::scalar}};
#if COREWS_X86_DISPATCH
  bodies.push_back({"sse2", mask_impl::sse2});
  if (corews::core::cpu_features().avx2) bodies.push_back({"avx2", mask_impl::avx2});
#elif defined(__aarch64__)
  bodies.push_back({"neon", mask_impl::neon});
#endif
  const uint8_t key[4] = {0x3c, 0xa5, 0x0f, 0xd2};
  Bytes src_arena(300 + 96), dst_arena(300 + 96);
  auto aligned = [](Bytes& b) {
    return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(b.data()) + 31) & ~uintptr_t(31));
  };
  for (const Named& body : bodies) {
    long bad = 0;
    for (size_t len = 0; len <= 300; ++len) {
      for (size_t da = 0; da < 32; ++da) {
        for (size_t offset = 0; offset < 4; ++offset) {
          // In place, then copying from a source at another alignment.
          for (int copy = 0; copy < 2; ++copy) {
            size_t sa = copy ? (da * 7 + len) % 32 : da;
            for (size_t i = 0; i < src_arena.size(); ++i) src_arena[i] = uint8_t(i * 131 + len);
            std::fill(dst_arena.begin(), dst_arena.end(), uint8_t(0x5a));
            uint8_t* src = aligned(src_arena) + sa;
            uint8_t* dst = copy ? aligned(dst_arena) + da : src;
            Bytes before_src(src, src + len);
            Bytes want(len);
            for (size_t i = 0; i < len; ++i) want[i] = before_src[i] ^ key[(offset + i) % 4];
            Bytes arena_before = copy ? dst_arena : src_arena;
            body.fn(dst, src, len, mask_word(key, offset));
            bool ok = std::equal(want.begin(), want.end(), dst);
            Bytes& arena = copy ? dst_arena : src_arena;
            uint8_t* base = arena.data();
            for (size_t i = 0; i < arena.size() && ok; ++i) {
              bool inside = base + i >= dst && base + i < dst + len;
              if (!inside) ok = arena[i] == arena_before[i];
            }
            if (copy) ok = ok && std::equal(before_src.begin(), before_src.end(), src);
            if (!ok && ++bad <= 10) {
              FAIL_MSG("%s: len %zu dst align %zu src align %zu offset %zu %s", body.name, len, da, sa, offset,
                       copy ? "copy" : "in place");
            }
          }
        }
      }
    }
    CTX("%s", body.name);
    CHECK_EQ(bad, 0);
  }
}

namespace {

Bytes header(Opcode op, uint64_t len, const uint8_t* mask, bool rsv1 = false) {
  uint8_t out[kMaxFrameHeader + 2];
  std::fill(out, out + sizeof out, 0xcc);
  size_t n = write_frame_header(out, op, len, mask, rsv1);
  CHECK(n <= kMaxFrameHeader);
  // Nothing written past the returned size.
  for (size_t i = n; i < sizeof out; ++i) CHECK_EQ(out[i], 0xcc);
  return Bytes(out, out + n);
}

}  // namespace

TEST(frame_header_sizes) {
  CHECK_EQ(frame_header_size(0, false), 2u);
  CHECK_EQ(frame_header_size(125, false), 2u);
  CHECK_EQ(frame_header_size(126, false), 4u);
  CHECK_EQ(frame_header_size(65535, false), 4u);
  CHECK_EQ(frame_header_size(65536, false), 10u);
  CHECK_EQ(frame_header_size(uint64_t(1) << 32, false), 10u);
  CHECK_EQ(frame_header_size(0, true), 6u);
  CHECK_EQ(frame_header_size(125, true), 6u);
  CHECK_EQ(frame_header_size(126, true), 8u);
  CHECK_EQ(frame_header_size(65535, true), 8u);
  CHECK_EQ(frame_header_size(65536, true), 14u);
  CHECK_EQ(frame_header_size(uint64_t(1) << 32, true), 14u);
  CHECK_EQ(kMaxFrameHeader, 14u);
}

TEST(frame_header_bytes_unmasked) {
  CHECK(header(kOpText, 0, nullptr) == (Bytes{0x81, 0x00}));
  CHECK(header(kOpBinary, 125, nullptr) == (Bytes{0x82, 0x7d}));
  CHECK(header(kOpBinary, 126, nullptr) == (Bytes{0x82, 0x7e, 0x00, 0x7e}));
  CHECK(header(kOpText, 65535, nullptr) == (Bytes{0x81, 0x7e, 0xff, 0xff}));
  CHECK(header(kOpBinary, 65536, nullptr) == (Bytes{0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
  CHECK(header(kOpBinary, uint64_t(1) << 32, nullptr) == (Bytes{0x82, 0x7f, 0, 0, 0, 0x01, 0, 0, 0, 0}));
  CHECK(header(kOpBinary, 0x0102030405060708ull, nullptr) ==
        (Bytes{0x82, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
  CHECK(header(kOpClose, 2, nullptr) == (Bytes{0x88, 0x02}));
  CHECK(header(kOpPing, 0, nullptr) == (Bytes{0x89, 0x00}));
  CHECK(header(kOpPong, 125, nullptr) == (Bytes{0x8a, 0x7d}));
  CHECK(header(kOpContinuation, 1, nullptr) == (Bytes{0x80, 0x01}));
  CHECK(header(kOpText, 5, nullptr, true) == (Bytes{0xc1, 0x05}));
}

TEST(frame_header_bytes_masked) {
  const uint8_t m[4] = {0x37, 0xfa, 0x21, 0x3d};
  CHECK(header(kOpText, 0, m) == (Bytes{0x81, 0x80, 0x37, 0xfa, 0x21, 0x3d}));
  CHECK(header(kOpText, 5, m) == (Bytes{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}));
  CHECK(header(kOpBinary, 125, m) == (Bytes{0x82, 0xfd, 0x37, 0xfa, 0x21, 0x3d}));
  CHECK(header(kOpBinary, 126, m) == (Bytes{0x82, 0xfe, 0x00, 0x7e, 0x37, 0xfa, 0x21, 0x3d}));
  CHECK(header(kOpBinary, 65535, m) == (Bytes{0x82, 0xfe, 0xff, 0xff, 0x37, 0xfa, 0x21, 0x3d}));
  CHECK(header(kOpBinary, 65536, m) ==
        (Bytes{0x82, 0xff, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x37, 0xfa, 0x21, 0x3d}));
  CHECK(header(kOpBinary, uint64_t(1) << 32, m) ==
        (Bytes{0x82, 0xff, 0, 0, 0, 0x01, 0, 0, 0, 0, 0x37, 0xfa, 0x21, 0x3d}));
  CHECK(header(kOpClose, 2, m, true) == (Bytes{0xc8, 0x82, 0x37, 0xfa, 0x21, 0x3d}));
  // The returned size agrees with frame_header_size for every length class.
  for (uint64_t len : {0ull, 1ull, 125ull, 126ull, 127ull, 65535ull, 65536ull, 1ull << 32, (1ull << 63) - 1}) {
    CTX("len %llu", (unsigned long long)len);
    CHECK_EQ(header(kOpBinary, len, nullptr).size(), frame_header_size(len, false));
    CHECK_EQ(header(kOpBinary, len, m).size(), frame_header_size(len, true));
  }
}

TEST(frame_opcode_predicates) {
  for (int op = 0; op < 16; ++op) {
    CTX("op %d", op);
    CHECK_EQ(is_control(uint8_t(op)), op >= 8);
    bool known = op == 0 || op == 1 || op == 2 || op == 8 || op == 9 || op == 10;
    CHECK_EQ(is_known_opcode(uint8_t(op)), known);
  }
}
