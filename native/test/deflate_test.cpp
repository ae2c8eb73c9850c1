// The permessage-deflate codec (RFC 7692 §7.2): the Deflater and the Inflater
// against the RFC's examples byte for byte (§7.2.3), inflation with the input
// split at every offset, round trips over every window size with and without
// context takeover, the zip-bomb bound, and the memory they hold.
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "proto/deflater.h"
#include "proto/frame.h"
#include "proto/inflater.h"

using namespace corews::proto;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes H(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(uint8_t(x));
  return b;
}
std::string S(const Bytes& b) { return std::string(b.begin(), b.end()); }
std::string hex(const Bytes& b) {
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) s += check::strf(i ? " %02x" : "%02x", b[i]);
  return s;
}

uint64_t g_rng = 0x9e3779b97f4a7c15ull;
uint32_t rnd(uint32_t n) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return uint32_t(g_rng % n);
}

// Collects what an Inflater hands out; can stop after `stop_after` bytes.
struct Collector {
  Bytes out;
  size_t calls = 0;
  size_t largest = 0;
  bool operator()(const uint8_t* p, size_t n) {
    ++calls;
    if (n > largest) largest = n;
    out.insert(out.end(), p, p + n);
    return true;
  }
};

constexpr uint64_t kNoLimit = UINT64_MAX;

// Inflates one message fed in pieces cut at `cuts`; each piece in its own
// exact-size allocation, so ASan catches a pointer kept into one.
InflateStatus inflate_pieces(Inflater& inf, const Bytes& payload, const std::vector<size_t>& cuts, Bytes& out,
                             uint64_t limit = kNoLimit) {
  Collector c;
  size_t start = 0;
  InflateStatus st = InflateStatus::kOk;
  for (size_t k = 0; k <= cuts.size() && st == InflateStatus::kOk; ++k) {
    size_t end = k < cuts.size() ? cuts[k] : payload.size();
    std::unique_ptr<uint8_t[]> piece(new uint8_t[end - start + 1]);
    if (end > start) std::memcpy(piece.get(), payload.data() + start, end - start);
    st = inf.write(piece.get(), end - start, limit, c);
    start = end;
  }
  if (st == InflateStatus::kOk) st = inf.finish(limit, c);
  out = std::move(c.out);
  return st;
}

InflateStatus inflate_whole(Inflater& inf, const Bytes& payload, Bytes& out, uint64_t limit = kNoLimit) {
  return inflate_pieces(inf, payload, {}, out, limit);
}

Bytes compress(Deflater& d, const Bytes& msg) {
  Bytes out;
  if (!d.compress(msg.data(), msg.size(), out)) FAIL_MSG("compress failed");
  return out;
}

DeflaterOptions DO(int bits, bool nct, int level = -1, int mem = 8) {
  DeflaterOptions o;
  o.window_bits = bits;
  o.no_context_takeover = nct;
  o.level = level;
  o.mem_level = mem;
  return o;
}
InflaterOptions IO(int bits, bool nct, size_t chunk = 16 * 1024) {
  InflaterOptions o;
  o.window_bits = bits;
  o.no_context_takeover = nct;
  o.chunk_size = chunk;
  return o;
}

// Message contents: text, random bytes, long repeats, repeats at distances
// around 256 (the 8-bit window's edge) and far back.
Bytes make_message(int kind, size_t n) {
  Bytes m(n);
  switch (kind) {
    case 0: {
      static const char* words[] = {"the ", "quick ", "brown ", "fox ", "jumps ", "über ", "den ", "€ ", "lazy "};
      m.clear();
      while (m.size() < n) {
        const char* w = words[rnd(9)];
        m.insert(m.end(), w, w + std::strlen(w));
      }
      m.resize(n);
      break;
    }
    case 1:
      for (auto& b : m) b = uint8_t(rnd(256));
      break;
    case 2:
      for (size_t i = 0; i < n; ++i) m[i] = uint8_t("abcabcabd"[i % 9]);
      break;
    case 3: {
      // Random blocks repeated at distances 251..600.
      for (size_t i = 0; i < n; ++i) {
        size_t d = 251 + (i / 700) % 350;
        m[i] = i >= d && rnd(8) != 0 ? m[i - d] : uint8_t(rnd(256));
      }
      break;
    }
    default: {
      // Random data repeated 20 000 bytes later: only big windows reach it.
      for (size_t i = 0; i < n; ++i) m[i] = i >= 20000 ? m[i - 20000] : uint8_t(rnd(256));
      break;
    }
  }
  return m;
}

const Bytes kHello = B("Hello");

}  // namespace

// ---- RFC 7692 §7.2.3 ---------------------------------------------------------

TEST(deflate_rfc_7_2_3_1_one_compressed_block) {
  // "Hello" compressed: 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00, in one text
  // frame 0xc1 0x07 ... (FIN, RSV1, text).
  const Bytes payload = H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  Deflater d;
  Bytes c = compress(d, kHello);
  CHECK_EQ(hex(c), hex(payload));
  uint8_t hdr[kMaxFrameHeader];
  size_t n = write_frame_header(hdr, kOpText, c.size(), nullptr, true);
  Bytes frame(hdr, hdr + n);
  frame.insert(frame.end(), c.begin(), c.end());
  CHECK_EQ(hex(frame), hex(H({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})));
  Inflater inf;
  Bytes out;
  CHECK(inflate_whole(inf, payload, out) == InflateStatus::kOk);
  CHECK_EQ(S(out), "Hello");

  // The same message in two fragments: 0x41 0x03 0xf2 0x48 0xcd and
  // 0x80 0x04 0xc9 0xc9 0x07 0x00 (RSV1 on the first frame only).
  n = write_fragment_header(hdr, kOpText, 3, nullptr, true, false, true);
  CHECK_EQ(hex(Bytes(hdr, hdr + n)), "41 03");
  n = write_fragment_header(hdr, kOpText, 4, nullptr, false, true, true);
  CHECK_EQ(hex(Bytes(hdr, hdr + n)), "80 04");
  Inflater inf2;
  CHECK(inflate_pieces(inf2, payload, {3}, out) == InflateStatus::kOk);
  CHECK_EQ(S(out), "Hello");
}

TEST(deflate_rfc_7_2_3_2_sharing_the_window) {
  // With context takeover the second "Hello" is 0xf2 0x00 0x11 0x00 0x00:
  // a match 5 bytes back, into the first message.
  const Bytes first = H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  const Bytes second = H({0xf2, 0x00, 0x11, 0x00, 0x00});
  Deflater d;
  CHECK_EQ(hex(compress(d, kHello)), hex(first));
  CHECK_EQ(hex(compress(d, kHello)), hex(second));
  Inflater inf;
  Bytes out;
  CHECK(inflate_whole(inf, first, out) == InflateStatus::kOk);
  CHECK_EQ(S(out), "Hello");
  CHECK(inflate_whole(inf, second, out) == InflateStatus::kOk);
  CHECK_EQ(S(out), "Hello");
  // Without context takeover every message is compressed alone ...
  Deflater alone(DO(15, true));
  CHECK_EQ(hex(compress(alone, kHello)), hex(first));
  CHECK_EQ(hex(compress(alone, kHello)), hex(first));
  // ... and an inflater without context takeover cannot resolve the match.
  Inflater fresh(IO(15, true));
  CHECK(inflate_whole(fresh, first, out) == InflateStatus::kOk);
  CHECK(inflate_whole(fresh, second, out) == InflateStatus::kBadData);
}

TEST(deflate_rfc_7_2_3_3_stored_block) {
  // A DEFLATE block with no compression: frame 0xc1 0x0b then
  // 0x00 0x05 0x00 0xfa 0xff 0x48 0x65 0x6c 0x6c 0x6f 0x00.
  const Bytes payload = H({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
  Inflater inf;
  Bytes out;
  CHECK(inflate_whole(inf, payload, out) == InflateStatus::kOk);
  CHECK_EQ(S(out), "Hello");
  // zlib at level 0 writes exactly that.
  Deflater d(DO(15, false, 0));
  CHECK_EQ(hex(compress(d, kHello)), hex(payload));
}

TEST(deflate_rfc_7_2_3_4_bfinal_set) {
  // A block with BFINAL set: 0xf3 0x48 0xcd 0xc9 0xc9 0x07 0x00 0x00 (the
  // last octet is the empty stored block's header and padding).
  const Bytes payload = H({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00});
  for (bool nct : {false, true}) {
    CTX("no context takeover %d", nct);
    Inflater inf(IO(15, nct));
    Bytes out;
    CHECK(inflate_whole(inf, payload, out) == InflateStatus::kOk);
    CHECK_EQ(S(out), "Hello");
    // The stream goes on after the final block: the same again, and with
    // context takeover a message that refers back into the first one.
    CHECK(inflate_whole(inf, payload, out) == InflateStatus::kOk);
    CHECK_EQ(S(out), "Hello");
    if (!nct) {
      CHECK(inflate_whole(inf, H({0xf2, 0x00, 0x11, 0x00, 0x00}), out) == InflateStatus::kOk);
      CHECK_EQ(S(out), "Hello");
    }
    // Without the padding octet (a Z_FINISH-style sender) it still inflates.
    CHECK(inflate_whole(inf, Bytes(payload.begin(), payload.end() - 1), out) == InflateStatus::kOk);
    CHECK_EQ(S(out), "Hello");
  }
}

TEST(deflate_rfc_7_2_3_5_two_blocks) {
  // Two DEFLATE blocks in one message: "He" and "llo", with an empty stored
  // block (a sync flush) between them.
  const Bytes payload = H({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00});
  Inflater inf;
  Bytes out;
  CHECK(inflate_whole(inf, payload, out) == InflateStatus::kOk);
  CHECK_EQ(S(out), "Hello");
}

TEST(deflate_rfc_7_2_3_6_empty_message) {
  // An empty message is the single octet 0x00, with and without history.
  for (bool nct : {false, true}) {
    CTX("no context takeover %d", nct);
    Deflater d(DO(15, nct));
    Bytes none;
    CHECK_EQ(hex(compress(d, none)), "00");
    CHECK_EQ(hex(compress(d, kHello)), "f2 48 cd c9 c9 07 00");
    CHECK_EQ(hex(compress(d, none)), "00");
    CHECK_EQ(hex(compress(d, none)), "00");
    // The stream is intact after them.
    CHECK_EQ(hex(compress(d, kHello)), nct ? "f2 48 cd c9 c9 07 00" : "f2 00 11 00 00");
    Inflater inf(IO(15, nct));
    Bytes out;
    for (const Bytes& p : {H({0x00}), H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), H({0x00}), H({0x00})}) {
      CHECK(inflate_whole(inf, p, out) == InflateStatus::kOk);
    }
    CHECK(out.empty());
    if (!nct) {
      CHECK(inflate_whole(inf, H({0xf2, 0x00, 0x11, 0x00, 0x00}), out) == InflateStatus::kOk);
      CHECK_EQ(S(out), "Hello");
    }
  }
  // A message fed as empty pieces only is empty too.
  Deflater d;
  Bytes out;
  CHECK(d.write(nullptr, 0, out) && d.write(nullptr, 0, out) && d.finish(out));
  CHECK_EQ(hex(out), "00");
}

TEST(deflate_empty_payload_is_an_empty_message) {
  // No octets at all (not what §7.2.1 makes, but what a sender that drops an
  // empty flush sends): an empty message, the stream left as it was.
  Inflater inf;
  Bytes out;
  CHECK(inflate_whole(inf, H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out) == InflateStatus::kOk);
  CHECK(inflate_whole(inf, Bytes{}, out) == InflateStatus::kOk);
  CHECK(out.empty());
  CHECK(inflate_whole(inf, H({0xf2, 0x00, 0x11, 0x00, 0x00}), out) == InflateStatus::kOk);
  CHECK_EQ(S(out), "Hello");
}

// ---- inflation in pieces -------------------------------------------------------

TEST(inflate_split_at_every_offset) {
  std::vector<std::pair<Bytes, Bytes>> cases = {
      {H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), kHello},
      {H({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), kHello},
      {H({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), kHello},
      {H({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}), kHello},
      {H({0x00}), {}},
  };
  // Larger messages from the Deflater: dynamic Huffman blocks, stored
  // blocks, several blocks.
  for (int kind = 0; kind < 4; ++kind) {
    Bytes m = make_message(kind, kind == 2 ? 30000 : 3000);
    Deflater d(DO(15, true, kind == 1 ? 0 : 6));
    cases.push_back({compress(d, m), m});
  }
  for (size_t c = 0; c < cases.size(); ++c) {
    const Bytes& payload = cases[c].first;
    const Bytes& expect = cases[c].second;
    CTX("case %zu, %zu compressed bytes", c, payload.size());
    for (size_t chunk : {size_t(1), size_t(7), size_t(16 * 1024)}) {
      CTX("chunk %zu", chunk);
      bool ok = true;
      for (size_t at = 0; at <= payload.size() && ok; ++at) {
        Inflater inf(IO(15, false, chunk));
        Bytes out;
        ok = CHECK(inflate_pieces(inf, payload, {at}, out) == InflateStatus::kOk) && CHECK(out == expect);
        if (!ok) FAIL_MSG("split at %zu", at);
      }
      // Byte by byte.
      std::vector<size_t> every;
      for (size_t i = 1; i < payload.size(); ++i) every.push_back(i);
      Inflater inf(IO(15, false, chunk));
      Bytes out;
      CHECK(inflate_pieces(inf, payload, every, out) == InflateStatus::kOk);
      CHECK(out == expect);
    }
  }
}

TEST(inflate_chunks_are_bounded) {
  Bytes m = make_message(2, 100000);
  Deflater d;
  Bytes c = compress(d, m);
  for (size_t chunk : {size_t(1), size_t(100), size_t(4096), size_t(65536)}) {
    CTX("chunk %zu", chunk);
    Inflater inf(IO(15, false, chunk));
    Collector col;
    CHECK(inf.write(c.data(), c.size(), kNoLimit, col) == InflateStatus::kOk);
    CHECK(inf.finish(kNoLimit, col) == InflateStatus::kOk);
    CHECK(col.out == m);
    CHECK(col.largest <= chunk);
    CHECK(col.calls >= m.size() / chunk);
  }
}

// ---- round trips -----------------------------------------------------------------

TEST(deflate_round_trips_every_window) {
  for (int bits = 8; bits <= 15; ++bits) {
    for (bool nct : {false, true}) {
      CTX("window bits %d, no context takeover %d", bits, nct);
      for (int level : {1, 6, 9}) {
        CTX("level %d", level);
        Deflater d(DO(bits, nct, level, level == 1 ? 1 : 8));
        // The inflater runs with the same window: a distance beyond it would
        // be an error, so this also checks that the 8-bit window (zlib at 9
        // bits) never reaches past 256 bytes.
        Inflater inf(IO(bits, nct, 4096));
        for (int msg = 0; msg < 12; ++msg) {
          int kind = msg % 5;
          size_t n = msg == 11 ? 70000 : size_t(rnd(3000));
          Bytes m = make_message(kind, n);
          Bytes c;
          if (msg % 3 == 0) {
            // In random pieces.
            size_t at = 0;
            while (at < m.size()) {
              size_t k = std::min<size_t>(m.size() - at, rnd(500) + 1);
              if (!CHECK(d.write(m.data() + at, k, c))) break;
              at += k;
            }
            CHECK(d.finish(c));
          } else {
            c = compress(d, m);
          }
          if (m.empty()) CHECK_EQ(hex(c), "00");
          Bytes out;
          std::vector<size_t> cuts;
          for (size_t i = rnd(300) + 1; i < c.size(); i += rnd(300) + 1) cuts.push_back(i);
          InflateStatus st = inflate_pieces(inf, c, cuts, out);
          if (!CHECK(st == InflateStatus::kOk) || !CHECK(out == m)) {
            FAIL_MSG("message %d (kind %d, %zu bytes): status %d, %s", msg, kind, m.size(), int(st), inf.error());
            break;
          }
        }
      }
    }
  }
}

TEST(deflate_context_takeover_compresses_repeats) {
  Bytes m = make_message(1, 2000);  // random: only the history can help
  Deflater keep(DO(15, false));
  Deflater fresh(DO(15, true));
  Bytes a = compress(keep, m), b = compress(keep, m);
  Bytes x = compress(fresh, m), y = compress(fresh, m);
  CHECK(b.size() < a.size() / 10);
  CHECK_EQ(x.size(), y.size());
  CHECK(x == y);
  Inflater inf;
  Bytes out;
  CHECK(inflate_whole(inf, a, out) == InflateStatus::kOk && out == m);
  CHECK(inflate_whole(inf, b, out) == InflateStatus::kOk && out == m);
  // release() between messages is allowed even with context takeover: the
  // compressor just stops referring back; the peer's inflater is unaffected.
  keep.release();
  CHECK(!keep.holds_stream());
  Bytes c = compress(keep, m);
  CHECK(c.size() > a.size() / 2);
  CHECK(inflate_whole(inf, c, out) == InflateStatus::kOk && out == m);
}

TEST(inflate_window_is_enforced) {
  // Data that refers 20 000 bytes back, compressed with a 15-bit window,
  // does not inflate with a 9-bit one (the client broke the agreed limit).
  Bytes m = make_message(4, 40000);
  Deflater d(DO(15, true));
  Bytes c = compress(d, m);
  Inflater small(IO(9, false));
  Bytes out;
  CHECK(inflate_whole(small, c, out) == InflateStatus::kBadData);
  CHECK_EQ(std::string(small.error()), "a DEFLATE distance beyond the agreed window");
  Inflater big(IO(15, false));
  CHECK(inflate_whole(big, c, out) == InflateStatus::kOk && out == m);
  // The 8-bit check in the round trips has teeth: data with repeats 251 to
  // 600 bytes back, compressed with a 10-bit window, breaks an 8-bit
  // inflater, while the Deflater's 8 (zlib at 9) never does.
  // (A small chunk: zlib also accepts distances into the chunk it is
  // writing, see inflater.h.)
  Bytes near = make_message(3, 20000);
  Deflater d10(DO(10, true));
  Inflater i8(IO(8, false, 16));
  CHECK(inflate_whole(i8, compress(d10, near), out) == InflateStatus::kBadData);
  Deflater d8(DO(8, true));
  Inflater j8(IO(8, false));
  CHECK(inflate_whole(j8, compress(d8, near), out) == InflateStatus::kOk && out == near);
}

TEST(inflate_bad_data) {
  Bytes out;
  // Not DEFLATE: BTYPE 11 is reserved.
  {
    Inflater inf;
    CHECK(inflate_whole(inf, H({0xff, 0xff, 0xff}), out) == InflateStatus::kBadData);
    CHECK(!inf.holds_stream());
    CHECK_EQ(inf.memory(), 0u);
    // The failure sticks until release().
    CHECK(inflate_whole(inf, H({0x00}), out) == InflateStatus::kBadData);
    inf.release();
    CHECK(inflate_whole(inf, H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out) == InflateStatus::kOk);
    CHECK_EQ(S(out), "Hello");
  }
  // A stored block whose NLEN is not the complement of LEN.
  {
    Inflater inf;
    CHECK(inflate_whole(inf, H({0x00, 0x05, 0x00, 0xfa, 0xfe, 'H', 'e', 'l', 'l', 'o', 0x00}), out) ==
          InflateStatus::kBadData);
  }
  // Cut short: the message does not end on a block boundary.
  for (size_t keep : {1, 3, 5, 6}) {
    CTX("first %zu bytes of Hello", keep);
    Bytes p = H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
    p.resize(keep);
    Inflater inf;
    CHECK(inflate_whole(inf, p, out) == InflateStatus::kBadData);
  }
  // A stored block longer than the message.
  {
    Inflater inf;
    CHECK(inflate_whole(inf, H({0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e'}), out) == InflateStatus::kBadData);
  }
}

TEST(inflate_stopped_by_the_sink) {
  Bytes m = make_message(0, 50000);
  Deflater d;
  Bytes c = compress(d, m);
  Inflater inf(IO(15, false, 1000));
  size_t seen = 0;
  auto stop_at_10k = [&](const uint8_t*, size_t n) {
    seen += n;
    return seen < 10000;
  };
  CHECK(inf.write(c.data(), c.size(), kNoLimit, stop_at_10k) == InflateStatus::kStopped);
  CHECK_EQ(seen, 10000u);
  CHECK(!inf.holds_stream());
}

// ---- the zip-bomb bound -----------------------------------------------------------

TEST(inflate_zip_bomb_stops_at_the_limit) {
  // One segment: 1 MiB of zeros, sync-flushed (about 1 KiB). The same
  // segment again continues the stream (the window is zeros), so feeding it
  // 1024 times is a 1 GiB message.
  Bytes zeros(1 << 20, 0);
  Deflater d(DO(15, false, 9));
  Bytes segment;
  CHECK(d.write(zeros.data(), zeros.size(), segment));
  Bytes tail;
  CHECK(d.finish(tail));
  segment.insert(segment.end(), tail.begin(), tail.end());
  const Bytes last = segment;  // a message's last segment: its 00 00 ff ff removed
  segment.insert(segment.end(), {0x00, 0x00, 0xff, 0xff});  // keep the flush between segments
  CHECK(segment.size() < 2048);
  // Sanity: two segments are 2 MiB of zeros.
  {
    Inflater inf;
    Bytes two = segment;
    two.insert(two.end(), last.begin(), last.end());
    Bytes out;
    CHECK(inflate_whole(inf, two, out) == InflateStatus::kOk);
    CHECK_EQ(out.size(), size_t(2) << 20);
  }
  for (size_t chunk : {size_t(16 * 1024), size_t(4096)}) {
    CTX("chunk %zu", chunk);
    const uint64_t limit = 1 << 20;  // maxPayload 1 MiB
    Inflater inf(IO(15, false, chunk));
    uint64_t handed_out = 0;
    size_t peak_memory = 0;
    auto sink = [&](const uint8_t*, size_t n) {
      handed_out += n;
      return true;
    };
    InflateStatus st = InflateStatus::kOk;
    int segments_fed = 0;
    uint64_t produced = 0;
    for (int k = 0; k < 1024 && st == InflateStatus::kOk; ++k) {
      st = inf.write(segment.data(), segment.size(), limit, sink);
      ++segments_fed;
      if (inf.memory() > peak_memory) peak_memory = inf.memory();
      produced = std::max<uint64_t>(produced, inf.message_size());
    }
    CHECK(st == InflateStatus::kTooBig);
    // Stopped in the second segment: at most the limit plus one chunk was
    // ever inflated, and no more than the limit handed out.
    CHECK_EQ(segments_fed, 2);
    CHECK(handed_out <= limit);
    CHECK(handed_out + chunk > limit);
    CHECK(produced <= limit);
    // What the inflater held meanwhile: zlib's state, a 32 KiB window, one chunk.
    CHECK(peak_memory < 64 * 1024 + chunk);
    CHECK(peak_memory > 32 * 1024 + chunk);
    CHECK_EQ(inf.memory(), 0u);  // freed at the failure
  }
  // Exactly at the limit passes.
  {
    Inflater inf;
    Bytes out;
    CHECK(inflate_whole(inf, last, out, 1 << 20) == InflateStatus::kOk);
    CHECK_EQ(out.size(), size_t(1) << 20);
    Inflater inf2;
    CHECK(inflate_whole(inf2, last, out, (1 << 20) - 1) == InflateStatus::kTooBig);
  }
}

// ---- memory ------------------------------------------------------------------------

TEST(deflate_memory_accounting) {
  size_t total = 0;
  DeflaterOptions o = DO(15, false);
  o.memory_total = &total;
  Deflater d(o);
  CHECK(!d.holds_stream());
  CHECK_EQ(d.memory(), 0u);
  Bytes out;
  // An empty message needs no stream.
  CHECK(d.compress(nullptr, 0, out));
  CHECK(!d.holds_stream());
  Bytes m = make_message(0, 5000);
  CHECK(d.compress(m.data(), m.size(), out));
  // 15-bit window, memLevel 8: window 64 KiB, prev 64 KiB, head 64 KiB,
  // pending 64 KiB, and the state.
  CHECK(d.memory() > 256 * 1024);
  CHECK(d.memory() < 300 * 1024);
  CHECK_EQ(total, d.memory());
  // Context takeover keeps it between messages.
  CHECK(d.compress(m.data(), m.size(), out));
  CHECK(d.holds_stream());
  // A smaller window and memLevel cost less.
  DeflaterOptions o2 = DO(9, true, 6, 1);
  o2.memory_total = &total;
  o2.release_after_message = false;
  Deflater small(o2);
  CHECK(small.compress(m.data(), m.size(), out));
  CHECK(small.holds_stream());
  CHECK(small.memory() < 16 * 1024);
  CHECK_EQ(total, d.memory() + small.memory());
  d.release();
  CHECK_EQ(d.memory(), 0u);
  CHECK_EQ(total, small.memory());
  small.release();
  CHECK_EQ(total, 0u);
  // Without context takeover the state is freed after each message.
  DeflaterOptions o3 = DO(15, true);
  o3.memory_total = &total;
  Deflater idle(o3);
  for (int k = 0; k < 3; ++k) {
    CHECK(idle.write(m.data(), 100, out));
    CHECK(idle.holds_stream());
    CHECK(idle.mid_message());
    CHECK(total > 0);
    CHECK(idle.finish(out));
    CHECK(!idle.holds_stream());
    CHECK(!idle.mid_message());
    CHECK_EQ(total, 0u);
  }
  // A moved Deflater keeps its stream (zlib's pointers stay valid).
  Deflater a(DO(15, false));
  Bytes first = compress(a, kHello);
  Deflater b(std::move(a));
  CHECK_EQ(hex(compress(b, kHello)), "f2 00 11 00 00");
}

TEST(inflate_memory_accounting) {
  size_t total = 0;
  InflaterOptions o = IO(15, false);
  o.memory_total = &total;
  Inflater inf(o);
  CHECK_EQ(inf.memory(), 0u);
  Bytes out;
  // An empty payload needs no stream.
  CHECK(inflate_whole(inf, Bytes{}, out) == InflateStatus::kOk);
  CHECK(!inf.holds_stream());
  Bytes m = make_message(0, 5000);
  Deflater d;
  Bytes c = compress(d, m);
  CHECK(inflate_whole(inf, c, out) == InflateStatus::kOk && out == m);
  // State (about 7 KiB), a 32 KiB window, the 16 KiB chunk; kept for the
  // next message (context takeover).
  CHECK(inf.holds_stream());
  CHECK(inf.memory() > 48 * 1024);
  CHECK(inf.memory() < 64 * 1024);
  CHECK_EQ(total, inf.memory());
  // The agreed window size sets what zlib allocates.
  InflaterOptions o9 = IO(9, false, 1024);
  o9.memory_total = &total;
  Inflater small(o9);
  Deflater d9(DO(9, false));
  Bytes c9 = compress(d9, m);
  CHECK(inflate_whole(small, c9, out) == InflateStatus::kOk && out == m);
  CHECK(small.memory() < 10 * 1024);
  CHECK_EQ(total, inf.memory() + small.memory());
  inf.release();
  small.release();
  CHECK_EQ(total, 0u);
  // Without context takeover the state is freed after each message, or
  // kept and reset when asked to.
  InflaterOptions on = IO(15, true);
  on.memory_total = &total;
  Inflater idle(on);
  on.release_after_message = false;
  Inflater reused(on);
  Deflater fresh(DO(15, true));
  for (int k = 0; k < 3; ++k) {
    Bytes ck = compress(fresh, m);
    CHECK(inflate_whole(idle, ck, out) == InflateStatus::kOk && out == m);
    CHECK(!idle.holds_stream());
    CHECK(inflate_whole(reused, ck, out) == InflateStatus::kOk && out == m);
    CHECK(reused.holds_stream());
    CHECK_EQ(total, reused.memory());
  }
  // A moved Inflater keeps its window.
  Inflater a;
  CHECK(inflate_whole(a, H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out) == InflateStatus::kOk);
  Inflater b(std::move(a));
  CHECK(!a.holds_stream());
  CHECK(inflate_whole(b, H({0xf2, 0x00, 0x11, 0x00, 0x00}), out) == InflateStatus::kOk);
  CHECK_EQ(S(out), "Hello");
}

TEST(deflate_bad_options) {
  Bytes out;
  for (int bits : {0, 7, 16}) {
    CTX("bits %d", bits);
    Deflater d(DO(bits, false));
    CHECK(!d.compress(kHello.data(), kHello.size(), out));
    CHECK(!d.holds_stream());
    Inflater inf(IO(bits, false));
    CHECK(inflate_whole(inf, H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), out) == InflateStatus::kNoMemory);
  }
  Deflater d(DO(15, false, 10));
  CHECK(!d.compress(kHello.data(), kHello.size(), out));
  Deflater d2(DO(15, false, 6, 10));
  CHECK(!d2.compress(kHello.data(), kHello.size(), out));
}
