// The frame parser with permessage-deflate negotiated (RFC 7692 §6, §7.2.2):
// the RSV1 rules, compressed messages inflated as they arrive (the §7.2.3
// examples as frames), UTF-8 checked on the inflated text, maxPayload and
// the text limit on the inflated size, the zip-bomb bound, and uncompressed
// messages still handed out without a copy. Every stream is fed whole, split
// in two at every position, byte by byte and in random chunks.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "proto/deflater.h"
#include "proto/frame_parser.h"
#include "proto/inflater.h"
#include "test/parser_recorder.h"

using namespace corews::proto;
using namespace parser_test;

namespace {

constexpr uint8_t FIN = 0x80;
constexpr uint8_t RSV1 = 0x40;

Bytes H(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(uint8_t(x));
  return b;
}
uint64_t g_rng = 0x853c49e6748fea9bull;
uint32_t rnd(uint32_t n) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return uint32_t(g_rng % n);
}

Ev TextB(const Bytes& d, bool ascii) { return Msg(kOpText, d, ascii); }

// An Inflater that also counts what passes through it: inflated bytes handed
// to the parser, the most memory it held, and abandon() calls.
struct CountingInflater final : MessageInflater {
  explicit CountingInflater(const InflaterOptions& o) : inner(o) {}
  Inflater inner;
  uint64_t handed_out = 0;
  size_t peak_memory = 0;
  int abandons = 0;
  int finishes = 0;

  struct Ctx {
    CountingInflater* self;
    InflateSink sink;
    void* context;
  };
  static bool pass(void* c, const uint8_t* d, size_t n) {
    Ctx& x = *static_cast<Ctx*>(c);
    x.self->handed_out += n;
    x.self->peak_memory = std::max(x.self->peak_memory, x.self->inner.memory());
    return x.sink(x.context, d, n);
  }
  InflateStatus write(const uint8_t* d, size_t n, uint64_t limit, InflateSink sink, void* context) override {
    Ctx c{this, sink, context};
    InflateStatus st = inner.write(d, n, limit, &pass, &c);
    peak_memory = std::max(peak_memory, inner.memory());
    return st;
  }
  InflateStatus finish(uint64_t limit, InflateSink sink, void* context) override {
    ++finishes;
    Ctx c{this, sink, context};
    return inner.finish(limit, &pass, &c);
  }
  void abandon() override {
    ++abandons;
    inner.abandon();
  }
};

// ---- frames ---------------------------------------------------------------------

uint32_t g_key = 0;

Bytes header(uint8_t b0, uint64_t len, const uint8_t* key) {
  Bytes h{b0};
  uint8_t m = key ? 0x80 : 0;
  if (len < 126) {
    h.push_back(uint8_t(m | len));
  } else if (len <= 0xffff) {
    h.push_back(m | 126);
    h.push_back(uint8_t(len >> 8));
    h.push_back(uint8_t(len));
  } else {
    h.push_back(m | 127);
    for (int i = 7; i >= 0; --i) h.push_back(uint8_t(len >> (8 * i)));
  }
  if (key) h.insert(h.end(), key, key + 4);
  return h;
}

Bytes frame(uint8_t b0, const Bytes& payload, bool masked) {
  uint32_t c = g_key++;
  uint8_t key[4] = {uint8_t(0x37 + c), uint8_t(0xfa ^ (c * 7)), uint8_t(0x21 + c * 3), uint8_t(0x3d ^ (c >> 2))};
  Bytes f = header(b0, payload.size(), masked ? key : nullptr);
  size_t at = f.size();
  f.insert(f.end(), payload.begin(), payload.end());
  if (masked) {
    for (size_t i = 0; i < payload.size(); ++i) f[at + i] ^= key[i % 4];
  }
  return f;
}

struct Role {
  const char* name;
  bool server;
  FrameParserOptions opts(uint64_t max_payload = 16 * 1024 * 1024) const {
    FrameParserOptions o;
    o.require_mask = server;
    o.max_payload = max_payload;
    return o;
  }
  Bytes F(uint8_t b0, const Bytes& p) const { return frame(b0, p, server); }
  Bytes F(uint8_t b0, std::string_view p) const { return F(b0, B(p)); }
  Bytes Hdr(uint8_t b0, uint64_t len) const {
    static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    return header(b0, len, server ? key : nullptr);
  }
};
const Role kServer{"server", true};
const Role kClient{"client", false};
const Role kRoles[] = {kServer, kClient};

// A compressed message as frames: the payload cut at `cuts`, RSV1 on the first.
Bytes compressed_frames(const Role& r, Opcode op, const Bytes& payload, std::vector<size_t> cuts = {}) {
  Bytes out;
  size_t start = 0;
  for (size_t k = 0; k <= cuts.size(); ++k) {
    size_t end = k < cuts.size() ? cuts[k] : payload.size();
    uint8_t b0 = k == 0 ? uint8_t(RSV1 | op) : uint8_t(kOpContinuation);
    if (k == cuts.size()) b0 |= FIN;
    out = cat({out, r.F(b0, Bytes(payload.begin() + long(start), payload.begin() + long(end)))});
    start = end;
  }
  return out;
}

// ---- driving ----------------------------------------------------------------------

struct Setup {
  FrameParserOptions parser;
  InflaterOptions inflater;
  bool negotiated = true;
};

struct Run {
  std::vector<Ev> events;
  bool stopped = false;
  int anomalies = 0;
  uint64_t handed_out = 0;
  size_t peak_memory = 0;
  int abandons = 0;
  size_t memory_after = 0;
};

Run run(const Setup& s, const Bytes& stream, const std::vector<size_t>& cuts) {
  FrameParser p(s.parser);
  CountingInflater inf(s.inflater);
  if (s.negotiated) p.set_inflater(&inf);
  Recorder r;
  size_t start = 0;
  for (size_t k = 0; k <= cuts.size(); ++k) {
    size_t end = k < cuts.size() ? cuts[k] : stream.size();
    size_t n = end - start;
    std::unique_ptr<uint8_t[]> piece(new uint8_t[n ? n : 1]);
    if (n) std::memcpy(piece.get(), stream.data() + start, n);
    p.feed(r, n ? piece.get() : nullptr, n);
    start = end;
  }
  if (p.stopped() != r.ended) ++r.anomalies;
  return {r.events, p.stopped(), r.anomalies, inf.handed_out, inf.peak_memory, inf.abandons, inf.inner.memory()};
}

bool compare(const Run& got, const std::vector<Ev>& expected, const std::string& mode, const char* file, int line) {
  bool terminal = !expected.empty() && (expected.back().kind == 'C' || expected.back().kind == 'E');
  if (got.events == expected && got.stopped == terminal && got.anomalies == 0) {
    check::pass();
    return true;
  }
  check::fail(file, line,
              check::strf("%s: got %s%s%s, expected %s", mode.c_str(), to_string(got.events).c_str(),
                          got.stopped ? " (stopped)" : "", got.anomalies ? " (anomalies)" : "",
                          to_string(expected).c_str()));
  return false;
}

void expect_events_at(const char* file, int line, const Setup& s, const Bytes& stream, const std::vector<Ev>& expected) {
  compare(run(s, stream, {}), expected, "whole", file, line);
  const size_t n = stream.size();
  std::vector<size_t> positions;
  if (n <= 1500) {
    for (size_t i = 0; i <= n; ++i) positions.push_back(i);
  } else {
    for (size_t i = 0; i < 30; ++i) positions.push_back(rnd(uint32_t(n + 1)));
  }
  for (size_t pos : positions) {
    if (!compare(run(s, stream, {pos}), expected, check::strf("split at %zu of %zu", pos, n), file, line)) break;
  }
  if (n <= 20000) {
    std::vector<size_t> every;
    for (size_t i = 1; i < n; ++i) every.push_back(i);
    compare(run(s, stream, every), expected, "byte by byte", file, line);
  }
  for (int k = 0; k < 3; ++k) {
    std::vector<size_t> cuts;
    uint32_t step = k == 0 ? 16 : 300;
    for (size_t i = rnd(step) + 1; i < n; i += rnd(step) + 1) cuts.push_back(i);
    if (!compare(run(s, stream, cuts), expected, "random chunks", file, line)) break;
  }
}
#define EXPECT_EVENTS(setup, stream, ...) expect_events_at(__FILE__, __LINE__, setup, stream, __VA_ARGS__)

Setup with(const Role& r, uint64_t max_payload = 16 * 1024 * 1024, bool nct = false, int bits = 15, size_t chunk = 16384) {
  Setup s;
  s.parser = r.opts(max_payload);
  s.inflater.no_context_takeover = nct;
  s.inflater.window_bits = bits;
  s.inflater.chunk_size = chunk;
  return s;
}
Setup without(const Role& r) {
  Setup s = with(r);
  s.negotiated = false;
  return s;
}

Bytes deflate(Deflater& d, const Bytes& m) {
  Bytes out;
  if (!d.compress(m.data(), m.size(), out)) FAIL_MSG("compress failed");
  return out;
}

const Bytes kHelloZ = H({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});

Bytes trailer(const Role& r) { return cat({r.F(FIN | kOpText, "after"), r.F(FIN | kOpPing, "p")}); }

}  // namespace

// ---- RSV1 ---------------------------------------------------------------------------

TEST(deflate_parser_rsv_rules) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    // Without the extension: RSV1 is a protocol error, as before.
    EXPECT_EVENTS(without(r), cat({r.F(FIN | RSV1 | kOpText, kHelloZ), trailer(r)}), {Err(1002)});
    // With it: RSV1 on the first frame of a text or binary message.
    EXPECT_EVENTS(with(r), cat({r.F(FIN | RSV1 | kOpText, kHelloZ), r.F(FIN | RSV1 | kOpBinary, kHelloZ)}),
                  {Text("Hello"), Bin(B("Hello"))});
    // Never on a continuation frame (RFC 7692 §6.1), compressed message or not.
    EXPECT_EVENTS(with(r), cat({r.F(RSV1 | kOpText, H({0xf2, 0x48})), r.F(FIN | RSV1 | kOpContinuation, H({0xcd})), trailer(r)}),
                  {Err(1002)});
    EXPECT_EVENTS(with(r), cat({r.F(kOpText, "He"), r.F(FIN | RSV1 | kOpContinuation, "llo"), trailer(r)}), {Err(1002)});
    // Never on a control frame, alone or inside a compressed message.
    for (uint8_t op : {kOpPing, kOpPong, kOpClose}) {
      CTX("opcode %x", op);
      EXPECT_EVENTS(with(r), cat({r.F(FIN | RSV1 | op, ""), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(with(r), cat({r.F(RSV1 | kOpText, H({0xf2, 0x48})), r.F(FIN | RSV1 | op, ""), trailer(r)}),
                    {Err(1002)});
      EXPECT_EVENTS(with(r), r.Hdr(FIN | RSV1 | op, 0), {Err(1002)});
    }
    // RSV2 and RSV3 are never allowed, with or without RSV1.
    for (uint8_t rsv : {0x20, 0x10, 0x30, 0x60, 0x50, 0x70}) {
      CTX("rsv %02x", rsv);
      EXPECT_EVENTS(with(r), cat({r.F(FIN | rsv | kOpText, kHelloZ), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(with(r), r.Hdr(FIN | rsv | kOpBinary, 10), {Err(1002)});
    }
    // Decided at the header, before any payload.
    EXPECT_EVENTS(without(r), r.Hdr(FIN | RSV1 | kOpText, 100), {Err(1002)});
    EXPECT_EVENTS(with(r), r.Hdr(RSV1 | kOpContinuation, 100), {Err(1002)});
  }
}

// ---- RFC 7692 §7.2.3 as frames ----------------------------------------------------

TEST(deflate_parser_rfc_examples) {
  // The RFC's frames as a server sends them (unmasked), read in the client role.
  const Setup cli = with(kClient);
  // §7.2.3.1: one frame, and the same in two fragments.
  EXPECT_EVENTS(cli, H({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), {Text("Hello")});
  EXPECT_EVENTS(cli, H({0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00}), {Text("Hello")});
  // §7.2.3.2: the second message refers back into the first.
  EXPECT_EVENTS(cli, H({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}),
                {Text("Hello"), Text("Hello")});
  // ... which is corrupt data when the client agreed to no context takeover.
  EXPECT_EVENTS(with(kClient, 1 << 20, true),
                H({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}),
                {Text("Hello"), Err(1007)});
  // §7.2.3.3: a stored block.
  EXPECT_EVENTS(cli, H({0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), {Text("Hello")});
  // §7.2.3.4: BFINAL set; and a message after it that refers back.
  EXPECT_EVENTS(cli,
                H({0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}),
                {Text("Hello"), Text("Hello")});
  // §7.2.3.5: two blocks in one message.
  EXPECT_EVENTS(cli,
                H({0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}),
                {Text("Hello")});
  // §7.2.3.6: an empty message; and a compressed frame with no payload at all.
  EXPECT_EVENTS(cli, H({0xc1, 0x01, 0x00, 0xc2, 0x00, 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}),
                {Text(""), Bin({}), Text("Hello")});
  // The same as a client sends them (masked), in the server role.
  const Role& r = kServer;
  EXPECT_EVENTS(with(r),
                cat({compressed_frames(r, kOpText, kHelloZ, {3}), compressed_frames(r, kOpText, H({0xf2, 0x00, 0x11, 0x00, 0x00})),
                     compressed_frames(r, kOpBinary, H({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), {1, 5, 5, 10}),
                     r.F(FIN | kOpClose, H({0x03, 0xe8}))}),
                {Text("Hello"), Text("Hello"), Bin(B("Hello")), Close(1000)});
}

// ---- compressed messages among others ------------------------------------------

TEST(deflate_parser_mixed_streams) {
  for (const Role& r : kRoles) {
    for (bool nct : {false, true}) {
      CTX("%s role, no context takeover %d", r.name, nct);
      DeflaterOptions dopt;
      dopt.no_context_takeover = nct;
      Deflater d(dopt);
      Bytes t1 = B("caf\xc3\xa9 \xe2\x82\xac and more caf\xc3\xa9 \xe2\x82\xac");
      Bytes b1(3000);
      for (size_t i = 0; i < b1.size(); ++i) b1[i] = uint8_t(i * 7 % 251);
      Bytes t2 = B("plain ascii, compressed, plain ascii, compressed");
      Bytes z1 = deflate(d, t1), z2 = deflate(d, b1), z3 = deflate(d, t2), z4 = deflate(d, {});
      Bytes stream = cat({
          compressed_frames(r, kOpText, z1, {2, 9}),
          r.F(FIN | kOpText, "uncompressed"),
          // Control frames between the fragments of a compressed message.
          r.F(RSV1 | kOpBinary, Bytes(z2.begin(), z2.begin() + 10)),
          r.F(FIN | kOpPing, "p1"),
          r.F(kOpContinuation, Bytes(z2.begin() + 10, z2.begin() + 11)),
          r.F(FIN | kOpPong, ""),
          r.F(FIN | kOpContinuation, Bytes(z2.begin() + 11, z2.end())),
          r.F(kOpBinary, "un"), r.F(FIN | kOpContinuation, "compressed"),
          compressed_frames(r, kOpText, z3),
          compressed_frames(r, kOpText, z4),
          r.F(FIN | kOpClose, H({0x03, 0xe9})),
          trailer(r),
      });
      EXPECT_EVENTS(with(r, 16 << 20, nct), stream,
                    {TextB(t1, false), Text("uncompressed"), Ping(B("p1")), Pong({}), Bin(b1), Bin(B("uncompressed")),
                     Text(std::string_view(reinterpret_cast<const char*>(t2.data()), t2.size())), Text(""), Close(1001)});
    }
  }
}

TEST(deflate_parser_random_streams) {
  for (int iter = 0; iter < 60; ++iter) {
    const Role& r = kRoles[iter % 2];
    bool nct = (iter / 2) % 2;
    int bits = 9 + iter % 7;
    CTX("%s role, stream %d, no context takeover %d, window %d", r.name, iter, nct, bits);
    DeflaterOptions dopt;
    dopt.no_context_takeover = nct;
    dopt.window_bits = bits;
    dopt.level = int(rnd(10));
    Deflater d(dopt);
    Bytes stream;
    std::vector<Ev> expected;
    int messages = int(rnd(6)) + 1;
    for (int m = 0; m < messages; ++m) {
      bool text = rnd(2);
      bool compress = rnd(3) != 0;
      size_t len = rnd(4) == 0 ? rnd(20000) : rnd(60);
      Bytes payload;
      bool ascii = true;
      static const char* const chars[] = {"a", "b", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
      while (payload.size() < len) {
        if (text) {
          const char* c = chars[rnd(6)];
          if (std::strlen(c) > 1) ascii = false;
          payload.insert(payload.end(), c, c + std::strlen(c));
        } else {
          payload.push_back(uint8_t(rnd(rnd(2) ? 4 : 256)));
        }
      }
      Bytes wire = compress ? deflate(d, payload) : payload;
      std::vector<size_t> cuts;
      size_t frags = rnd(4);
      for (size_t k = 0; k < frags; ++k) cuts.push_back(rnd(uint32_t(wire.size() + 1)));
      std::sort(cuts.begin(), cuts.end());
      size_t start = 0;
      for (size_t k = 0; k <= cuts.size(); ++k) {
        size_t end = k < cuts.size() ? cuts[k] : wire.size();
        uint8_t b0 = k == 0 ? uint8_t((text ? kOpText : kOpBinary) | (compress ? RSV1 : 0)) : uint8_t(kOpContinuation);
        if (k == cuts.size()) b0 |= FIN;
        stream = cat({stream, r.F(b0, Bytes(wire.begin() + long(start), wire.begin() + long(end)))});
        start = end;
        if (k == cuts.size()) expected.push_back(text ? TextB(payload, ascii) : Bin(payload));
        if (rnd(3) == 0) {
          Bytes cp(rnd(20), uint8_t('x'));
          stream = cat({stream, r.F(FIN | kOpPing, cp)});
          expected.push_back(Ping(cp));
        }
      }
    }
    EXPECT_EVENTS(with(r, 16 << 20, nct, bits, 1 + rnd(3000)), stream, expected);
  }
}

TEST(deflate_parser_keeps_zero_copy_for_uncompressed) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    Bytes plain = r.F(FIN | kOpBinary, "abcdef");
    Bytes buf = cat({compressed_frames(r, kOpText, kHelloZ), plain});
    FrameParser p(r.opts());
    Inflater inf;
    p.set_inflater(&inf);
    Recorder rec;
    p.feed(rec, buf.data(), buf.size());
    CHECK(rec.events == (std::vector<Ev>{Text("Hello"), Bin(B("abcdef"))}));
    if (CHECK_EQ(rec.msg_ptrs.size(), 2u)) {
      // The compressed message was inflated into the parser's buffer ...
      CHECK(!(rec.msg_ptrs[0] >= buf.data() && rec.msg_ptrs[0] < buf.data() + buf.size()));
      // ... the plain one is handed out where it lies in the input.
      CHECK_EQ(rec.msg_ptrs[1], buf.data() + buf.size() - 6);
    }
    CHECK(!p.mid_message());
    // mid_message() covers a compressed message between its frames.
    Bytes half = r.F(RSV1 | kOpText, H({0xf2, 0x48, 0xcd}));
    p.feed(rec, half.data(), half.size());
    CHECK(p.mid_message());
    CHECK(inf.mid_message());
    Bytes rest = r.F(FIN | kOpContinuation, H({0xc9, 0xc9, 0x07, 0x00}));
    p.feed(rec, rest.data(), rest.size());
    CHECK(!p.mid_message());
    CHECK(!inf.mid_message());
    CHECK_EQ(rec.events.size(), 3u);
  }
}

// ---- limits on the inflated size -----------------------------------------------------

TEST(deflate_parser_max_payload_applies_inflated) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    Deflater d(DeflaterOptions{-1, 8, 15, true});
    Bytes a1000(1000, 'a');
    Bytes z = deflate(d, a1000);  // a few bytes on the wire
    CHECK(z.size() < 20);
    // Exactly at the limit passes; one byte less fails with 1009.
    EXPECT_EVENTS(with(r, 1000), compressed_frames(r, kOpBinary, z), {Bin(a1000)});
    EXPECT_EVENTS(with(r, 999), cat({compressed_frames(r, kOpBinary, z), trailer(r)}), {Err(1009)});
    EXPECT_EVENTS(with(r, 999), cat({compressed_frames(r, kOpText, z, {1, 3}), trailer(r)}), {Err(1009)});
    // The text limit applies to inflated text only.
    Setup s = with(r, 5000);
    s.parser.max_text_payload = 999;
    EXPECT_EVENTS(s, cat({compressed_frames(r, kOpBinary, z), compressed_frames(r, kOpText, z), trailer(r)}),
                  {Bin(a1000), Err(1009)});
    s.parser.max_text_payload = 1000;
    EXPECT_EVENTS(s, compressed_frames(r, kOpText, z), {TextB(a1000, true)});
    // Invalid UTF-8 past the limit is a 1009, before it a 1007, however the
    // frames are read and whatever the chunk size.
    Bytes bad(1000, 'x');
    bad.push_back(0xff);
    Bytes zbad = deflate(d, bad);
    for (size_t chunk : {size_t(1), size_t(100), size_t(16384)}) {
      CTX("chunk %zu", chunk);
      EXPECT_EVENTS(with(r, 1000, false, 15, chunk), cat({compressed_frames(r, kOpText, zbad), trailer(r)}), {Err(1009)});
      EXPECT_EVENTS(with(r, 1001, false, 15, chunk), cat({compressed_frames(r, kOpText, zbad), trailer(r)}), {Err(1007)});
    }
    // The compressed bytes have a bound of their own, at the header:
    // twice max_payload and 1024.
    EXPECT_EVENTS(with(r, 1000), r.Hdr(FIN | RSV1 | kOpBinary, 3025), {Err(1009)});
    EXPECT_EVENTS(with(r, 1000), r.Hdr(FIN | RSV1 | kOpBinary, 3024), {});
    EXPECT_EVENTS(with(r, 1000), cat({r.F(RSV1 | kOpBinary, Bytes(3000, 0)), r.Hdr(FIN | kOpContinuation, 25)}),
                  {Err(1007)});  // the stored zeros are bad data first
    EXPECT_EVENTS(with(r, 0), cat({compressed_frames(r, kOpText, H({0x00})), r.Hdr(FIN | RSV1 | kOpBinary, 1025)}),
                  {Text(""), Err(1009)});
    // An incompressible message at the limit is never refused for its
    // compressed size (deflate makes it a little longer).
    Bytes noise(70000);
    for (auto& b : noise) b = uint8_t(rnd(256));
    Bytes zn = deflate(d, noise);
    CHECK(zn.size() > noise.size());
    EXPECT_EVENTS(with(r, noise.size()), compressed_frames(r, kOpBinary, zn, {100, 40000}), {Bin(noise)});
  }
}

TEST(deflate_parser_zip_bomb) {
  // A message of 1024 segments of 1 MiB of zeros each (1 GiB inflated,
  // about 1 MiB on the wire) against maxPayload 1 MiB.
  Bytes zeros(1 << 20, 0);
  Deflater d(DeflaterOptions{9, 8, 15, false});
  Bytes segment;
  CHECK(d.write(zeros.data(), zeros.size(), segment) && d.finish(segment));
  segment.insert(segment.end(), {0x00, 0x00, 0xff, 0xff});
  Bytes payload;
  payload.reserve(segment.size() * 1024);
  for (int k = 0; k < 1024; ++k) payload.insert(payload.end(), segment.begin(), segment.end());
  CHECK(payload.size() < (1200u << 10));
  for (const Role& r : kRoles) {
    for (size_t chunk : {size_t(16384), size_t(1000)}) {
      CTX("%s role, chunk %zu", r.name, chunk);
      Setup s = with(r, 1 << 20, false, 15, chunk);
      Bytes stream = cat({r.F(FIN | RSV1 | kOpBinary, payload), trailer(r)});
      Run got = run(s, stream, {});
      compare(got, {Err(1009)}, "whole", __FILE__, __LINE__);
      // The parser never got more than the limit, and the inflater never
      // held more than its state, a 32 KiB window and a chunk; it freed
      // them at the failure.
      CHECK(got.handed_out <= uint64_t(1) << 20);
      CHECK(got.handed_out + chunk > uint64_t(1) << 20);
      CHECK(got.peak_memory < 64 * 1024 + chunk);
      CHECK_EQ(got.abandons, 1);
      CHECK_EQ(got.memory_after, 0u);
      // The same with the frame split in many reads.
      std::vector<size_t> cuts;
      for (size_t i = 1000; i < stream.size(); i += 7919) cuts.push_back(i);
      Run split = run(s, stream, cuts);
      compare(split, {Err(1009)}, "split", __FILE__, __LINE__);
      CHECK(split.handed_out <= uint64_t(1) << 20);
    }
  }
}

// ---- UTF-8 on inflated text ---------------------------------------------------------

TEST(deflate_parser_utf8_fails_mid_inflate) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    // 1 MB of text with a bad byte at 100 000: the parser fails while
    // inflating, at the chunk that holds the bad byte, not at the end.
    Bytes text(1000000, 'x');
    text[100000] = 0xff;
    Deflater d;
    Bytes z = deflate(d, text);
    for (size_t chunk : {size_t(16384), size_t(1)}) {
      CTX("chunk %zu", chunk);
      Setup s = with(r, 16 << 20, false, 15, chunk);
      Run got = run(s, cat({compressed_frames(r, kOpText, z), trailer(r)}), {});
      compare(got, {Err(1007)}, "whole", __FILE__, __LINE__);
      CHECK(got.handed_out <= 100001 + chunk);
      CHECK(got.handed_out >= 100001);
      CHECK_EQ(got.abandons, 1);
    }
    // Bad sequences of every kind, split across fragments and chunks.
    for (std::string_view bad : {"\xff", "ab\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "x\x80y", "a\xc3(b"}) {
      CTX("text %s", check::escape(bad).c_str());
      Bytes z2 = deflate(d, B(bad));
      EXPECT_EVENTS(with(r, 1 << 20, false, 15, 1), cat({compressed_frames(r, kOpText, z2), trailer(r)}), {Err(1007)});
    }
    // Text that ends inside a sequence fails at the message's end.
    EXPECT_EVENTS(with(r), cat({compressed_frames(r, kOpText, deflate(d, B("ok \xe2\x82"))), trailer(r)}), {Err(1007)});
    // Binary is not checked.
    Bytes bin = B("\xff\xfe\xc0\x80");
    EXPECT_EVENTS(with(r), compressed_frames(r, kOpBinary, deflate(d, bin)), {Bin(bin)});
    // A multi-byte character split between two inflate chunks is fine.
    Bytes good = B("\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9");
    EXPECT_EVENTS(with(r, 1 << 20, false, 15, 1), compressed_frames(r, kOpText, deflate(d, good)), {TextB(good, false)});
  }
}

// ---- bad compressed data ------------------------------------------------------------

TEST(deflate_parser_bad_data) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    // Reserved block type, a bad stored length, a cut stream, a distance
    // beyond the agreed window: 1007, and the inflater is abandoned.
    EXPECT_EVENTS(with(r), cat({compressed_frames(r, kOpText, H({0xff, 0xff})), trailer(r)}), {Err(1007)});
    EXPECT_EVENTS(with(r), cat({compressed_frames(r, kOpText, H({0x00, 0x05, 0x00, 0xfa, 0xfe, 'H'})), trailer(r)}),
                  {Err(1007)});
    EXPECT_EVENTS(with(r), cat({compressed_frames(r, kOpText, H({0xf2, 0x48, 0xcd})), trailer(r)}), {Err(1007)});
    Bytes far(40000);
    for (size_t i = 0; i < far.size(); ++i) far[i] = i >= 20000 ? far[i - 20000] : uint8_t(rnd(256));
    Deflater d15(DeflaterOptions{-1, 8, 15, true});
    Bytes z = deflate(d15, far);
    EXPECT_EVENTS(with(r, 1 << 20, false, 15), compressed_frames(r, kOpBinary, z), {Bin(far)});
    EXPECT_EVENTS(with(r, 1 << 20, false, 10), cat({compressed_frames(r, kOpBinary, z), trailer(r)}), {Err(1007)});
    Run got = run(with(r), cat({compressed_frames(r, kOpText, H({0xff, 0xff}))}), {});
    CHECK_EQ(got.abandons, 1);
    CHECK_EQ(got.memory_after, 0u);
    // A failure elsewhere in the middle of a compressed message abandons it
    // too (here a bad opcode between its fragments).
    got = run(with(r), cat({r.F(RSV1 | kOpText, H({0xf2, 0x48})), r.F(FIN | 0x3, "")}), {});
    CHECK(got.events == std::vector<Ev>{Err(1002)});
    CHECK_EQ(got.abandons, 1);
    CHECK_EQ(got.memory_after, 0u);
  }
}
