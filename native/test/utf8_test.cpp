// The incremental UTF-8 validator against an independent reference that
// decodes code points and checks ranges, overlong forms and surrogates.
#include <algorithm>
#include <string>
#include <vector>

#include "check.h"
#include "proto/utf8.h"

using namespace corews::proto;
using Bytes = std::vector<uint8_t>;

namespace {

// Reference: decode each sequence by its lead byte's length class (the
// classic 1–4 byte forms, with F8..FF and lone continuations invalid), then
// reject overlongs, surrogates and code points above U+10FFFF.
bool ref_valid(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = s[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((b & 0xe0) == 0xc0) {
      len = 2;
      cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3;
      cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      uint8_t c = s[i + k];
      if ((c & 0xc0) != 0x80) return false;
      cp = cp << 6 | (c & 0x3f);
    }
    uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}
bool ref_valid(const Bytes& s) { return ref_valid(s.data(), s.size()); }

// True when some continuation makes `s` valid, i.e. no byte of `s` is yet
// known to be bad. Only the trailing incomplete sequence matters, and one of
// these suffixes completes every viable one: the second byte of a sequence is
// the only constrained one (E0: A0..BF, F0: 90..BF, others within 80..BF).
bool ref_viable(const Bytes& s) {
  static const std::vector<Bytes> suffixes = {
      {}, {0x80}, {0x80, 0x80}, {0x80, 0x80, 0x80}, {0xa0, 0x80}, {0x90, 0x80, 0x80},
  };
  for (const Bytes& suf : suffixes) {
    Bytes t = s;
    t.insert(t.end(), suf.begin(), suf.end());
    if (ref_valid(t)) return true;
  }
  return false;
}

// Index of the first byte at which `s` stops being viable, or s.size().
size_t ref_first_bad(const Bytes& s) {
  // Viability of prefixes is monotone, so binary search the longest viable one.
  size_t lo = 0, hi = s.size();  // prefix of length lo is viable
  while (lo < hi) {
    size_t mid = (lo + hi + 1) / 2;
    if (ref_viable(Bytes(s.begin(), s.begin() + long(mid)))) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Feeds `s` in pieces cut at `cuts` (each piece in its own exact-size heap
// buffer, so ASan catches reads past a piece). Returns the validity verdict.
bool feed_pieces(const Bytes& s, const std::vector<size_t>& cuts) {
  Utf8Validator v;
  size_t start = 0;
  bool ok = true;
  for (size_t k = 0; k <= cuts.size(); ++k) {
    size_t end = k < cuts.size() ? cuts[k] : s.size();
    Bytes piece(s.begin() + long(start), s.begin() + long(end));
    ok = v.feed(piece.data(), piece.size()) && ok;
    start = end;
  }
  return ok && v.complete();
}

bool one_shot(const Bytes& s) {
  Bytes copy = s;
  return is_valid_utf8(copy.data(), copy.size());
}

std::string hexs(const Bytes& s, size_t limit = 24) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < limit; ++i) out += check::strf("%02x ", s[i]);
  if (s.size() > limit) out += check::strf("... (%zu bytes)", s.size());
  return out;
}

void append_cp(Bytes& s, uint32_t cp) {
  if (cp < 0x80) {
    s.push_back(uint8_t(cp));
  } else if (cp < 0x800) {
    s.push_back(uint8_t(0xc0 | cp >> 6));
    s.push_back(uint8_t(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    s.push_back(uint8_t(0xe0 | cp >> 12));
    s.push_back(uint8_t(0x80 | ((cp >> 6) & 0x3f)));
    s.push_back(uint8_t(0x80 | (cp & 0x3f)));
  } else {
    s.push_back(uint8_t(0xf0 | cp >> 18));
    s.push_back(uint8_t(0x80 | ((cp >> 12) & 0x3f)));
    s.push_back(uint8_t(0x80 | ((cp >> 6) & 0x3f)));
    s.push_back(uint8_t(0x80 | (cp & 0x3f)));
  }
}

struct Rng {
  uint64_t x;
  uint64_t next() {
    x += 0x9e3779b97f4a7c15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return uint32_t(next() % n); }
};

}  // namespace

// Sanity of the reference itself on textbook cases.
TEST(utf8_reference_sanity) {
  CHECK(ref_valid(Bytes{}));
  CHECK(ref_valid(Bytes{'a', 0xc2, 0x80, 0xe0, 0xa0, 0x80, 0xf0, 0x90, 0x80, 0x80}));
  CHECK(ref_valid(Bytes{0xdf, 0xbf, 0xef, 0xbf, 0xbf, 0xf4, 0x8f, 0xbf, 0xbf}));
  CHECK(ref_valid(Bytes{0xed, 0x9f, 0xbf, 0xee, 0x80, 0x80}));  // U+D7FF, U+E000
  CHECK(!ref_valid(Bytes{0xc0, 0x80}));
  CHECK(!ref_valid(Bytes{0xc1, 0xbf}));
  CHECK(!ref_valid(Bytes{0xe0, 0x9f, 0xbf}));
  CHECK(!ref_valid(Bytes{0xed, 0xa0, 0x80}));
  CHECK(!ref_valid(Bytes{0xf0, 0x8f, 0xbf, 0xbf}));
  CHECK(!ref_valid(Bytes{0xf4, 0x90, 0x80, 0x80}));
  CHECK(!ref_valid(Bytes{0xf5, 0x80, 0x80, 0x80}));
  CHECK(!ref_valid(Bytes{0x80}));
  CHECK(!ref_valid(Bytes{0xe2, 0x82}));
  CHECK(ref_viable(Bytes{0xe2, 0x82}));
  CHECK(ref_viable(Bytes{0xe0}));
  CHECK(!ref_viable(Bytes{0xe0, 0x80}));
  CHECK(ref_viable(Bytes{0xf0, 0x90}));
  CHECK(!ref_viable(Bytes{0xf4, 0x90}));
  CHECK_EQ(ref_first_bad(Bytes{'a', 'b', 0xe0, 0x80}), 3u);
  CHECK_EQ(ref_first_bad(Bytes{'a', 0xff}), 1u);
  CHECK_EQ(ref_first_bad(Bytes{'a', 0xc3, 0xa9}), 3u);
}

// Table 3-7: every first byte with every second byte, both as a complete
// two-byte input (is_valid_utf8) and as a prefix (feed() without complete()).
TEST(utf8_table_3_7_all_byte_pairs) {
  long mismatches = 0;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      Bytes s{uint8_t(a), uint8_t(b)};
      bool valid = ref_valid(s);
      bool viable = ref_viable(s);
      Utf8Validator v;
      bool fed = v.feed(s.data(), 2);
      Utf8Validator w;  // byte by byte
      bool fed1 = w.feed(s.data(), 1);
      bool fed2 = w.feed(s.data() + 1, 1);
      bool ok = one_shot(s) == valid && fed == viable && (fed && v.complete()) == valid &&
                fed1 == ref_viable(Bytes{uint8_t(a)}) && (fed1 && fed2) == viable &&
                (fed1 && fed2 && w.complete()) == valid;
      if (!ok) {
        ++mismatches;
        FAIL_MSG("bytes %02x %02x: ref valid=%d viable=%d, validator one-shot=%d feed=%d complete=%d "
                 "byte-by-byte=%d,%d",
                 a, b, valid, viable, one_shot(s), fed, v.complete(), fed1, fed2);
      } else {
        check::pass();
      }
    }
  }
  CHECK_EQ(mismatches, 0);
}

// Three- and four-byte sequences: every lead E0..F7, every second byte, and
// the boundary values for the third and fourth bytes.
TEST(utf8_table_3_7_longer_sequences) {
  const uint8_t edges[] = {0x00, 0x41, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff};
  const uint8_t fourth[] = {0x41, 0x80, 0x7f, 0xbf, 0xc0, 0xf4};
  long mismatches = 0;
  for (int a = 0xe0; a <= 0xf7; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (uint8_t c : edges) {
        for (int d = -1; d < int(sizeof fourth); ++d) {
          if (a < 0xf0 && d > 1) break;  // a fourth byte only matters for four-byte leads
          Bytes s{uint8_t(a), uint8_t(b), c};
          if (d >= 0) s.push_back(fourth[d]);
          Utf8Validator v;
          bool fed = v.feed(s.data(), s.size());
          bool exp_valid = ref_valid(s);
          bool exp_viable = ref_viable(s);
          if (one_shot(s) != exp_valid || fed != exp_viable || (fed && v.complete()) != exp_valid) {
            ++mismatches;
            FAIL_MSG("bytes %s: ref valid=%d viable=%d, validator one-shot=%d feed=%d", hexs(s).c_str(), exp_valid,
                     exp_viable, one_shot(s), fed);
          }
        }
      }
    }
  }
  CHECK_EQ(mismatches, 0);
}

TEST(utf8_every_code_point_boundary) {
  // Every scalar value near a boundary encodes to valid UTF-8; surrogates and
  // values past U+10FFFF (encoded the naive way) do not.
  const uint32_t valid[] = {0x0, 0x7f, 0x80, 0x7ff, 0x800, 0xfff, 0x1000, 0xcfff, 0xd000, 0xd7ff, 0xe000,
                            0xfffd, 0xfffe, 0xffff, 0x10000, 0x3ffff, 0x40000, 0xfffff, 0x100000, 0x10ffff};
  for (uint32_t cp : valid) {
    Bytes s;
    append_cp(s, cp);
    CTX("U+%04X", cp);
    CHECK(one_shot(s));
  }
  for (uint32_t cp : {0xd800u, 0xdbffu, 0xdc00u, 0xdfffu, 0x110000u, 0x13ffffu, 0x1fffffu}) {
    Bytes s;
    append_cp(s, cp);
    CTX("U+%04X", cp);
    CHECK(!one_shot(s));
  }
  // All of U+0000..U+10FFFF in one stream, minus surrogates: valid, fed in odd pieces.
  Bytes all;
  for (uint32_t cp = 0; cp <= 0x10ffff; cp += (cp < 0x3000 ? 1 : 61)) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    append_cp(all, cp);
  }
  CHECK(one_shot(all));
  std::vector<size_t> cuts;
  for (size_t i = 7; i < all.size(); i += 13) cuts.push_back(i);
  CHECK(feed_pieces(all, cuts));
}

// A mixed set of inputs, each fed split at every position into two pieces,
// byte by byte, and in three pieces, must give the one-shot verdict.
TEST(utf8_split_feeding_matches_one_shot) {
  std::vector<Bytes> inputs;
  auto str = [](const char* s) {
    std::string_view v(s);
    return Bytes(v.begin(), v.end());
  };
  inputs.push_back(str("plain ascii text that is longer than eight bytes, several times over"));
  inputs.push_back(str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87 \xf4\x8f\xbf\xbf end"));
  inputs.push_back(str("abcdefgh\xc3\xa9ijklmnop\xe2\x82\xac"));
  inputs.push_back(str("truncated at the end \xe2\x82"));
  inputs.push_back(str("truncated 4-byte \xf0\x9f\x98"));
  inputs.push_back(str("overlong \xc0\xaf slash"));
  inputs.push_back(str("overlong 3 \xe0\x80\xaf"));
  inputs.push_back(str("surrogate \xed\xa0\x80 here"));
  inputs.push_back(str("above max \xf4\x90\x80\x80"));
  inputs.push_back(str("lone continuation \x80 here"));
  inputs.push_back(str("F5 lead \xf5\x80\x80\x80"));
  inputs.push_back(str("\xff"));
  inputs.push_back(str("12345678\xc3"));
  inputs.push_back(str("1234567\xc3\xa9""abcdefgh"));
  inputs.push_back(str("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
  inputs.push_back(str("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82"));
  inputs.push_back(str("ascii then bad after long run ------------------------------------\xfe"));
  inputs.push_back(Bytes{});
  for (const Bytes& s : inputs) {
    CTX("input %s", hexs(s).c_str());
    bool expect = ref_valid(s);
    CHECK_EQ(one_shot(s), expect);
    for (size_t i = 0; i <= s.size(); ++i) {
      CTX("split at %zu", i);
      CHECK_EQ(feed_pieces(s, {i}), expect);
    }
    std::vector<size_t> every;
    for (size_t i = 1; i < s.size(); ++i) every.push_back(i);
    {
      CTX("byte by byte");
      CHECK_EQ(feed_pieces(s, every), expect);
    }
    for (size_t i = 0; i <= s.size(); i += 3) {
      for (size_t j = i; j <= s.size(); j += 5) {
        CTX("split at %zu and %zu", i, j);
        CHECK_EQ(feed_pieces(s, {i, j}), expect);
      }
    }
  }
}

// feed() is false exactly at the first bad byte, and stays false afterwards,
// even for valid input, until reset().
TEST(utf8_fail_fast_and_sticky) {
  const Bytes bad_inputs[] = {
      {'a', 'b', 0xc0, 0x80},       {'a', 0xe0, 0x80, 0x80},       {0xed, 0xa0, 0x80},
      {0xf4, 0x90, 0x80, 0x80},     {'x', 0xc3, 'y'},              {0xe2, 0x82, 0x41},
      {0xf0, 0x9f, 0x98, 0x20},     {'1', '2', '3', '4', '5', '6', '7', '8', '9', 0xff},
      {0xc3, 0xa9, 0x80},           {0xf8, 0x88, 0x80, 0x80, 0x80},
  };
  for (const Bytes& s : bad_inputs) {
    CTX("input %s", hexs(s).c_str());
    size_t bad = ref_first_bad(s);
    CHECK(bad < s.size());
    Utf8Validator v;
    for (size_t i = 0; i < s.size(); ++i) {
      CTX("byte %zu", i);
      CHECK_EQ(v.feed(&s[i], 1), i < bad);
    }
    const uint8_t good[] = {'o', 'k'};
    CHECK(!v.feed(good, 2));
    CHECK(!v.feed(good, 0));
    v.reset();
    CHECK(v.feed(good, 2));
    CHECK(v.complete());
    CHECK(v.ascii());
    // One-shot feed of the bad input returns false too, and so does every
    // later feed.
    Utf8Validator w;
    CHECK(!w.feed(s.data(), s.size()));
    CHECK(!w.feed(good, 2));
  }
}

TEST(utf8_complete_and_ascii_flags) {
  Utf8Validator v;
  CHECK(v.complete());
  CHECK(v.ascii());
  const uint8_t e[] = {0xe2, 0x82, 0xac};
  CHECK(v.feed(e, 1));
  CHECK(!v.complete());
  CHECK(!v.ascii());
  CHECK(v.feed(e + 1, 1));
  CHECK(!v.complete());
  CHECK(v.feed(e + 2, 1));
  CHECK(v.complete());
  CHECK(!v.ascii());  // stays false after a non-ASCII code point
  const uint8_t a[] = {'a', 'b'};
  CHECK(v.feed(a, 2));
  CHECK(!v.ascii());
  v.reset();
  CHECK(v.ascii());
  CHECK(v.feed(a, 2));
  CHECK(v.ascii());
  CHECK(v.complete());
  // Empty feeds change nothing.
  CHECK(v.feed(a, 0));
  CHECK(v.complete());
  // Ending mid-sequence: feed() is true but the input is not complete.
  for (const Bytes& s : {Bytes{0xc3}, Bytes{0xe2}, Bytes{0xe2, 0x82}, Bytes{0xf0}, Bytes{0xf0, 0x9f},
                         Bytes{0xf0, 0x9f, 0x98}, Bytes{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 0xf4, 0x8f}}) {
    CTX("input %s", hexs(s).c_str());
    Utf8Validator w;
    CHECK(w.feed(s.data(), s.size()));
    CHECK(!w.complete());
    CHECK(!is_valid_utf8(s.data(), s.size()));
  }
  // ascii() over the 8-byte fast path: a single high byte anywhere in a run.
  for (size_t len = 1; len <= 40; ++len) {
    for (size_t pos = 0; pos < len; ++pos) {
      Bytes s(len, 'a');
      s[pos] = 0xff;
      CTX("len %zu, 0xff at %zu", len, pos);
      Utf8Validator w;
      CHECK(!w.feed(s.data(), s.size()));
      Bytes t(len, 'a');
      Utf8Validator x;
      CHECK(x.feed(t.data(), t.size()));
      CHECK(x.ascii());
      if (pos + 1 < len) {
        t[pos] = 0xc3;
        t[pos + 1] = 0xa9;
        Utf8Validator y;
        CHECK(y.feed(t.data(), t.size()));
        CHECK(y.complete());
        CHECK(!y.ascii());
      }
    }
  }
}

// Fixed-seed random inputs, a few hundred thousand bytes in all: the verdict,
// the first bad byte, and random chunking all agree with the reference.
TEST(utf8_random_inputs_match_reference) {
  Rng rng{12345};
  size_t total = 0;
  long mismatches = 0;
  int valid_count = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Bytes s;
    size_t target = rng.below(200);
    int mode = int(rng.below(4));
    while (s.size() < target) {
      uint32_t r = rng.below(100);
      if (mode == 3 && (r < 10 || r >= 95)) r = 50;  // mode 3: well-formed only
      if (mode == 0 || r < 10) {
        s.push_back(uint8_t(rng.next()));  // any byte
      } else if (r < 40) {
        s.push_back(uint8_t(rng.below(128)));
      } else if (r < 95) {
        // A code point, biased toward range boundaries.
        static const uint32_t edges[] = {0x7f,   0x80,   0x7ff,    0x800,    0xd7ff,  0xd800,
                                         0xdfff, 0xe000, 0xffff,   0x10000,  0x10ffff, 0x110000};
        uint32_t cp = rng.below(2) ? edges[rng.below(12)] : rng.below(0x110000);
        if (mode == 3 && cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
        if (mode == 3 && cp > 0x10ffff) cp = 0x10ffff;
        Bytes enc;
        append_cp(enc, cp);
        if (mode == 1 && rng.below(10) == 0) enc.pop_back();  // truncate
        if (mode == 2 && rng.below(10) == 0) enc[rng.below(uint32_t(enc.size()))] ^= uint8_t(1u << rng.below(8));
        s.insert(s.end(), enc.begin(), enc.end());
      } else {
        // An overlong encoding.
        s.push_back(0xc0 | uint8_t(rng.below(2)));
        s.push_back(0x80 | uint8_t(rng.below(64)));
      }
    }
    total += s.size();
    bool expect = ref_valid(s);
    valid_count += expect;
    size_t first_bad = ref_first_bad(s);
    bool ok = one_shot(s) == expect;
    // Random chunking.
    std::vector<size_t> cuts;
    for (size_t i = rng.below(9) + 1; i < s.size(); i += rng.below(9) + 1) cuts.push_back(i);
    ok = ok && feed_pieces(s, cuts) == expect;
    // Byte by byte: the first false is at first_bad.
    Utf8Validator v;
    size_t got_bad = s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      if (!v.feed(&s[i], 1)) {
        got_bad = i;
        break;
      }
    }
    ok = ok && got_bad == first_bad;
    if (!ok) {
      ++mismatches;
      FAIL_MSG("iter %d input %s: ref valid=%d first_bad=%zu, validator one-shot=%d first_bad=%zu", iter,
               hexs(s, 64).c_str(), expect, first_bad, one_shot(s), got_bad);
    } else {
      check::pass();
    }
  }
  CHECK_EQ(mismatches, 0);
  CHECK(total > 200000);
  // The generator exercises both verdicts.
  CHECK(valid_count > 300);
  CHECK(valid_count < 2700);
}
