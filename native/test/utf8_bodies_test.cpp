// Every whole-run UTF-8 validator this CPU runs (scalar, SSSE3, AVX2, AVX-512; see
// proto/utf8_bulk.h), alone and inside Utf8Validator, against the reference
// decoder of the fuzzers (fuzz/fuzz_util.h, written apart from proto/): all
// short sequences placed across block edges, and random text at every length
// 0..300 and alignment, fed whole and in random pieces.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "fuzz/fuzz_util.h"
#include "proto/utf8.h"
#include "proto/utf8_lookup.h"

using namespace corews::proto;
using Bytes = std::vector<uint8_t>;

namespace {

std::string hexs(const uint8_t* s, size_t n, size_t limit = 40) {
  std::string out;
  for (size_t i = 0; i < n && i < limit; ++i) out += check::strf("%02x ", s[i]);
  if (n > limit) out += check::strf("... (%zu bytes)", n);
  return out;
}

bool cont(int b) { return b >= 0x80 && b < 0xc0; }

// Random text: code points of every length, biased to range edges, with
// corruption (stray bytes, truncation, flipped bits) in some inputs.
Bytes random_text(fuzz::Rng& rng, size_t len) {
  static const uint32_t edges[] = {0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x10ffff};
  int mode = int(rng.below(4));  // 0: valid, 1: rare stray byte, 2: rare truncation, 3: rare bit flip
  Bytes s;
  while (s.size() < len) {
    size_t r = rng.below(100);
    uint32_t cp = r < 40 ? uint32_t(rng.below(0x80)) : r < 70 ? edges[rng.below(9)] : uint32_t(rng.below(0x110000));
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    uint8_t e[4];
    size_t k;
    if (cp < 0x80) {
      e[0] = uint8_t(cp), k = 1;
    } else if (cp < 0x800) {
      e[0] = uint8_t(0xc0 | cp >> 6), e[1] = uint8_t(0x80 | (cp & 0x3f)), k = 2;
    } else if (cp < 0x10000) {
      e[0] = uint8_t(0xe0 | cp >> 12), e[1] = uint8_t(0x80 | (cp >> 6 & 0x3f)), e[2] = uint8_t(0x80 | (cp & 0x3f)), k = 3;
    } else {
      e[0] = uint8_t(0xf0 | cp >> 18), e[1] = uint8_t(0x80 | (cp >> 12 & 0x3f));
      e[2] = uint8_t(0x80 | (cp >> 6 & 0x3f)), e[3] = uint8_t(0x80 | (cp & 0x3f)), k = 4;
    }
    bool hit = rng.below(len / 4 + 8) == 0;
    if (mode == 1 && hit) s.push_back(uint8_t(rng.next()));
    if (mode == 2 && hit && k > 1) --k;
    if (mode == 3 && hit) e[rng.below(k)] ^= uint8_t(1u << rng.below(8));
    s.insert(s.end(), e, e + k);
  }
  s.resize(len);  // may cut the last sequence: an open end
  return s;
}

}  // namespace

// The three lookup tables, ANDed, flag exactly the byte pairs each rule names
// (stated here in byte ranges, not nibbles).
TEST(utf8_lookup_tables_match_their_rules) {
  long bad = 0;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      uint8_t want = 0;
      if (a >= 0xc0 && !cont(b)) want |= 0x01;
      if (a < 0x80 && cont(b)) want |= 0x02;
      if (a == 0xe0 && b >= 0x80 && b < 0xa0) want |= 0x04;
      if (a >= 0xf4 && b >= 0x90 && b < 0xc0) want |= 0x08;
      if (a == 0xed && b >= 0xa0 && b < 0xc0) want |= 0x10;
      if (a >= 0xc0 && a <= 0xc1 && cont(b)) want |= 0x20;
      if ((a == 0xf0 || a >= 0xf5) && b >= 0x80 && b < 0x90) want |= 0x40;
      if (cont(a) && cont(b)) want |= 0x80;
      uint8_t got = utf8_lookup::pair_errors(uint8_t(a), uint8_t(b));
      if (got != want) {
        ++bad;
        FAIL_MSG("pair %02x %02x: tables give %02x, rules %02x", a, b, got, want);
      }
    }
  }
  CHECK_EQ(bad, 0);
}

TEST(utf8_bodies_this_cpu_runs) {
  auto bodies = utf8_bulk::available();
  CHECK(!bodies.empty());
  CHECK(std::string(bodies[0].name) == "scalar");
  CHECK(utf8_bulk::best() == bodies.back().fn);
#if COREWS_X86_DISPATCH
  // Every x86-64 of the last fifteen years has SSSE3; say so if this one lacks it.
  CHECK(bodies.size() >= 2);
  const auto& f = corews::core::cpu_features();
  CHECK_EQ(bodies.size(), size_t(f.avx2 ? (f.avx512bw ? 4 : 3) : 2));
#endif
}

// Every 1- and 2-byte sequence and 3- and 4-byte ones over edge bytes, alone
// and embedded in ASCII so that they straddle each body's 16/32-byte blocks,
// its 64/128-byte ASCII groups, and the zero-padded last block.
TEST(utf8_bodies_exhaustive_short_sequences) {
  const uint8_t alphabet3[] = {0x00, 0x41, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
                               0xc3, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5,
                               0xf7, 0xf8, 0xfb, 0xfc, 0xfe, 0xff};
  const uint8_t alphabet4[] = {0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
                               0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
  // (buffer length, position of the sequence): alone, across 16/32/64/128
  // edges, at the end of a short and of a long buffer.
  struct Place {
    size_t len, pos;
  };
  const Place places[] = {{0, 0}, {200, 14}, {200, 30}, {200, 62}, {200, 126}, {37, 33}, {200, 196}};
  std::vector<Bytes> seqs;
  for (int a = 0; a < 256; ++a) seqs.push_back({uint8_t(a)});
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b) seqs.push_back({uint8_t(a), uint8_t(b)});
  for (uint8_t a : alphabet3)
    for (uint8_t b : alphabet3)
      for (uint8_t c : alphabet3) seqs.push_back({a, b, c});
  for (uint8_t a : alphabet4)
    for (uint8_t b : alphabet4)
      for (uint8_t c : alphabet4)
        for (uint8_t d : alphabet4) seqs.push_back({a, b, c, d});
  for (const utf8_bulk::Body& body : utf8_bulk::available()) {
    CTX("body %s", body.name);
    long bad = 0;
    for (const Place& pl : places) {
      for (const Bytes& s : seqs) {
        size_t len = pl.len ? pl.len : s.size();
        if (pl.pos + s.size() > len) continue;
        // An exact-size heap buffer: ASan sees any read past its end.
        std::unique_ptr<uint8_t[]> buf(new uint8_t[len]);
        std::fill(buf.get(), buf.get() + len, uint8_t('a'));
        std::copy(s.begin(), s.end(), buf.get() + pl.pos);
        fuzz::RefUtf8 ref = fuzz::ref_utf8(s.data(), s.size());  // ASCII around it changes nothing
        bool ascii = ref.ascii[s.size()];
        utf8_bulk::Result r = body.fn(buf.get(), len);
        if (r.valid != ref.valid || (r.valid && r.ascii != ascii)) {
          if (++bad <= 20) {
            FAIL_MSG("%s at %zu of %zu: valid=%d ascii=%d, reference valid=%d ascii=%d", hexs(s.data(), s.size()).c_str(),
                     pl.pos, len, r.valid, r.ascii, ref.valid, ascii);
          }
        }
      }
    }
    CHECK_EQ(bad, 0);
  }
}

// Random text at every length 0..300 and every alignment 0..31: each body
// alone, then Utf8Validator with it, fed whole and in random pieces (each in
// its own exact-size buffer): every piece's verdict is "no bad byte so far",
// the first false comes with the piece holding the first bad byte, and
// complete() / ascii() match the reference after every piece.
TEST(utf8_bodies_random_text_lengths_alignments_pieces) {
  fuzz::Rng rng(2024);
  for (const utf8_bulk::Body& body : utf8_bulk::available()) {
    CTX("body %s", body.name);
    long bad = 0, invalid = 0, cases = 0;
    std::unique_ptr<uint8_t[]> arena(new uint8_t[300 + 64]);
    for (size_t len = 0; len <= 300; ++len) {
      for (size_t align = 0; align < 32; ++align) {
        Bytes s = random_text(rng, len);
        fuzz::RefUtf8 ref = fuzz::ref_utf8(s.data(), s.size());
        ++cases;
        invalid += !ref.valid;
        uint8_t* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(arena.get()) + 31) & ~uintptr_t(31)) + align;
        std::copy(s.begin(), s.end(), p);
        utf8_bulk::Result r = body.fn(p, len);
        bool ok = r.valid == ref.valid && (!r.valid || r.ascii == bool(ref.ascii[len]));
        // Whole, through the validator.
        Utf8Validator whole;
        bool fed = whole.feed_with(body.fn, p, len);
        ok = ok && fed == (ref.bad_at == fuzz::npos) && (!fed || (whole.complete() == ref.complete &&
                                                                 whole.ascii() == bool(ref.ascii[len])));
        // In pieces of 1..80 bytes (so both the byte-wise and the run paths serve).
        Utf8Validator v;
        bool failed = false;
        for (size_t pos = 0; pos < len && ok;) {
          size_t n = std::min(len - pos, 1 + rng.below(rng.below(2) ? 8 : 80));
          fuzz::ExactBuf piece(s.data() + pos, n);
          bool got = v.feed_with(body.fn, piece.p, n);
          bool want = !failed && (ref.bad_at == fuzz::npos || ref.bad_at >= pos + n);
          ok = got == want && (!got || (v.complete() == bool(ref.boundary[pos + n]) &&
                                        v.ascii() == bool(ref.ascii[pos + n])));
          failed = !got;
          pos += n;
        }
        if (!ok && ++bad <= 10) {
          FAIL_MSG("len %zu align %zu: %s: run valid=%d, validator whole=%d; reference valid=%d bad_at=%zd", len,
                   align, hexs(s.data(), len).c_str(), r.valid, fed, ref.valid,
                   ref.bad_at == fuzz::npos ? ssize_t(-1) : ssize_t(ref.bad_at));
        }
      }
    }
    CHECK_EQ(bad, 0);
    // The generator gives both verdicts in fair numbers.
    CHECK(invalid > cases / 10);
    CHECK(invalid < cases * 9 / 10);
  }
}
