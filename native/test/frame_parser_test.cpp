// The streaming frame parser (RFC 6455 §5) in both roles: every stream is fed
// whole, split in two at every position, byte by byte and in random chunks,
// and must give the same events every time.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "proto/frame_parser.h"
#include "test/parser_recorder.h"

using namespace corews::proto;
using namespace parser_test;

namespace {

constexpr uint8_t FIN = 0x80;

Bytes pattern(size_t n, uint8_t seed = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * 13 + seed);
  return b;
}

// ---- frames ---------------------------------------------------------------

uint32_t g_key_counter = 0;

// A frame header. form: 0 minimal length encoding, 16 or 64 to force one.
Bytes header(uint8_t b0, uint64_t len, const uint8_t* key, int form = 0) {
  Bytes h{b0};
  uint8_t m = key ? 0x80 : 0;
  if (form == 0) form = len < 126 ? 7 : len <= 0xffff ? 16 : 64;
  if (form == 7) {
    h.push_back(uint8_t(m | len));
  } else if (form == 16) {
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

// A whole frame; masked with a varying key when `masked`.
Bytes frame(uint8_t b0, const Bytes& payload, bool masked, int form = 0) {
  uint8_t key[4];
  uint32_t c = g_key_counter++;
  key[0] = uint8_t(0x37 + c);
  key[1] = uint8_t(0xfa ^ (c * 7));
  key[2] = uint8_t(0x21 + c * 3);
  key[3] = uint8_t(0x3d ^ (c >> 2));
  if (c % 5 == 0) key[0] = key[1] = key[2] = key[3] = 0;  // a zero key now and then
  Bytes f = header(b0, payload.size(), masked ? key : nullptr, form);
  size_t at = f.size();
  f.insert(f.end(), payload.begin(), payload.end());
  if (masked) {
    for (size_t i = 0; i < payload.size(); ++i) f[at + i] ^= key[i % 4];
  }
  return f;
}

Bytes close_payload(int code, std::string_view reason = "") {
  Bytes p{uint8_t(code >> 8), uint8_t(code)};
  p.insert(p.end(), reason.begin(), reason.end());
  return p;
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
  // A frame as this role's peer sends it (clients mask, servers do not).
  Bytes F(uint8_t b0, const Bytes& payload, int form = 0) const { return frame(b0, payload, server, form); }
  Bytes F(uint8_t b0, std::string_view payload, int form = 0) const { return F(b0, B(payload), form); }
  // Only the header of such a frame.
  Bytes H(uint8_t b0, uint64_t len, int form = 0) const {
    static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    return header(b0, len, server ? key : nullptr, form);
  }
};

const Role kServer{"server", true};
const Role kClient{"client", false};
const Role kRoles[] = {kServer, kClient};

// ---- driving ---------------------------------------------------------------

struct Run {
  std::vector<Ev> events;
  bool stopped = false;
  int anomalies = 0;
};

// How a run hands the parser its bytes: plain feed(); feed() with a handler
// that places whole messages in memory of its own (the worker's arena); or
// the rest of every data frame's payload through payload_room() /
// feed_room(), as the worker reads a large frame straight into place
// (headers and control frames byte by byte, half of each room filled at a
// time, so short reads give room back too).
enum class Feed { kPlain, kPlacing, kRoom };

// Feeds `stream` cut at `cuts`; each piece is its own exact-size heap
// allocation, freed right after its feed(), so ASan catches the parser
// reading past a piece or keeping a pointer into it.
template <class Handler>
Run run_with(const FrameParserOptions& o, const Bytes& stream, const std::vector<size_t>& cuts, Feed how) {
  FrameParser p(o);
  Handler r;
  r.parser = &p;
  size_t start = 0;
  for (size_t k = 0; k <= cuts.size(); ++k) {
    size_t end = k < cuts.size() ? cuts[k] : stream.size();
    size_t n = end - start;
    if (n == 0) {
      p.feed(r, nullptr, 0);
    } else if (how == Feed::kRoom) {
      size_t at = start;
      while (at < end && !p.stopped()) {
        size_t room = 0;
        uint8_t* into = p.payload_left() > 0 ? p.payload_room(end - at, &room) : nullptr;
        if (into) {
          size_t got = room > 1 ? room / 2 : room;
          std::memcpy(into, stream.data() + at, got);
          p.feed_room(r, room, got);
          at += got;
        } else {
          std::unique_ptr<uint8_t[]> one(new uint8_t[1]{stream[at]});
          p.feed(r, one.get(), 1);
          ++at;
        }
      }
    } else {
      std::unique_ptr<uint8_t[]> piece(new uint8_t[n]);
      std::memcpy(piece.get(), stream.data() + start, n);
      p.feed(r, piece.get(), n);
    }
    start = end;
  }
  return {r.events, p.stopped(), r.anomalies};
}

Run run(const FrameParserOptions& o, const Bytes& stream, const std::vector<size_t>& cuts, Feed how = Feed::kPlain) {
  if (how == Feed::kPlain) return run_with<Recorder>(o, stream, cuts, how);
  return run_with<PlacingRecorder>(o, stream, cuts, how);
}

uint64_t g_rng = 0x2545f4914f6cdd1dull;
uint32_t rnd(uint32_t n) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return uint32_t(g_rng % n);
}

bool compare(const Run& got, const std::vector<Ev>& expected, const char* mode, const char* file, int line) {
  bool terminal = !expected.empty() && (expected.back().kind == 'C' || expected.back().kind == 'E');
  if (got.events == expected && got.stopped == terminal && got.anomalies == 0) {
    check::pass();
    return true;
  }
  check::fail(file, line,
              check::strf("%s: got %s%s%s, expected %s", mode, to_string(got.events).c_str(),
                          got.stopped ? " (stopped)" : "", got.anomalies ? " (handler saw anomalies)" : "",
                          to_string(expected).c_str()));
  return false;
}

// (a) whole, (b) split in two at every position (or at a sample of positions
// for long streams), (c) byte by byte, (d) random chunks.
void expect_events_at(const char* file, int line, const FrameParserOptions& o, const Bytes& stream,
                      const std::vector<Ev>& expected) {
  compare(run(o, stream, {}), expected, "whole", file, line);
  compare(run(o, stream, {}, Feed::kPlacing), expected, "whole, placed", file, line);
  compare(run(o, stream, {}, Feed::kRoom), expected, "whole, read into place", file, line);
  const size_t n = stream.size();
  std::vector<size_t> positions;
  if (n <= 2500) {
    for (size_t i = 0; i <= n; ++i) positions.push_back(i);
  } else {
    for (size_t i = 0; i <= 40; ++i) positions.push_back(i);
    for (size_t i = n - 40; i <= n; ++i) positions.push_back(i);
    for (size_t i = 41; i < n - 40; i += 4093) positions.push_back(i);
    for (int i = 0; i < 20; ++i) positions.push_back(rnd(uint32_t(n)));
  }
  bool split_ok = true;
  for (size_t pos : positions) {
    if (!split_ok) break;  // one report per stream is enough
    std::string mode = check::strf("split at %zu of %zu", pos, n);
    split_ok = compare(run(o, stream, {pos}), expected, mode.c_str(), file, line) &&
               compare(run(o, stream, {pos}, Feed::kPlacing), expected, (mode + ", placed").c_str(), file, line) &&
               compare(run(o, stream, {pos}, Feed::kRoom), expected, (mode + ", into place").c_str(), file, line);
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < n; ++i) every.push_back(i);
  compare(run(o, stream, every), expected, "byte by byte", file, line);
  for (int r = 0; r < 4; ++r) {
    std::vector<size_t> cuts;
    uint32_t step = r < 2 ? 20 : 200;
    for (size_t i = rnd(step) + 1; i < n; i += rnd(step) + 1) cuts.push_back(i);
    if (!compare(run(o, stream, cuts), expected, "random chunks", file, line)) break;
    if (!compare(run(o, stream, cuts, Feed::kPlacing), expected, "random chunks, placed", file, line)) break;
  }
}

#define EXPECT_EVENTS(opts, stream, ...) expect_events_at(__FILE__, __LINE__, opts, stream, __VA_ARGS__)

// A trailing well-formed frame, to check that nothing is reported after the parser stops.
Bytes trailer(const Role& r) { return cat({r.F(FIN | kOpText, "after"), r.F(FIN | kOpPing, "p")}); }

}  // namespace

// ---- well-formed streams ----------------------------------------------------

TEST(parser_single_frame_messages) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    EXPECT_EVENTS(r.opts(), r.F(FIN | kOpText, "Hello"), {Text("Hello")});
    EXPECT_EVENTS(r.opts(), r.F(FIN | kOpBinary, pattern(256)), {Bin(pattern(256))});
    EXPECT_EVENTS(r.opts(), r.F(FIN | kOpText, "caf\xc3\xa9 \xf0\x9f\x98\x80"), {Text("caf\xc3\xa9 \xf0\x9f\x98\x80", false)});
    // Binary payloads are not UTF-8 checked.
    EXPECT_EVENTS(r.opts(), r.F(FIN | kOpBinary, "\xff\xfe\xc0\x80"), {Bin(B("\xff\xfe\xc0\x80"))});
    // Several messages back to back, then a close.
    EXPECT_EVENTS(r.opts(),
                  cat({r.F(FIN | kOpText, "one"), r.F(FIN | kOpBinary, "two"), r.F(FIN | kOpPing, "ping!"),
                       r.F(FIN | kOpPong, "pong!"), r.F(FIN | kOpText, "three"),
                       r.F(FIN | kOpClose, close_payload(1000, "bye"))}),
                  {Text("one"), Bin(B("two")), Ping(B("ping!")), Pong(B("pong!")), Text("three"), Close(1000, "bye")});
  }
}

TEST(parser_length_encodings) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    // 7-bit (125), 16-bit (126, 300, 65535) and 64-bit (65536, 70000) lengths.
    Bytes a(125, 'a'), b(126, 'b'), c = pattern(300);
    EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpText, a), r.F(FIN | kOpText, b), r.F(FIN | kOpBinary, c)}),
                  {Msg(kOpText, a, true), Msg(kOpText, b, true), Bin(c)});
    Bytes big16(65535, 'x');
    big16[65533] = 0xc3;  // a two-byte character at the very end
    big16[65534] = 0xa9;
    Bytes big64 = pattern(65536, 7);
    Bytes big64b(70000, 'y');
    big64b[0] = 0xe2;
    big64b[1] = 0x82;
    big64b[2] = 0xac;
    EXPECT_EVENTS(r.opts(),
                  cat({r.F(FIN | kOpText, big16), r.F(FIN | kOpBinary, big64), r.F(FIN | kOpText, big64b)}),
                  {Msg(kOpText, big16, false), Bin(big64), Msg(kOpText, big64b, false)});
    // Control frames at the 125-byte limit, including a close with a 123-byte reason.
    std::string reason(123, 'r');
    EXPECT_EVENTS(r.opts(),
                  cat({r.F(FIN | kOpPing, pattern(125)), r.F(FIN | kOpPong, pattern(125, 1)),
                       r.F(FIN | kOpClose, close_payload(4999, reason))}),
                  {Ping(pattern(125)), Pong(pattern(125, 1)), Close(4999, reason)});
  }
}

TEST(parser_fragmented_messages_with_interleaved_control) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    // Text split inside multi-byte characters, with pings and pongs between fragments.
    Bytes stream = cat({
        r.F(kOpText, "Hel"),
        r.F(FIN | kOpPing, "p1"),
        r.F(kOpContinuation, "lo w\xc3"),
        r.F(FIN | kOpPong, ""),
        r.F(kOpContinuation, "\xb6rld \xe2\x82"),
        r.F(FIN | kOpPing, ""),
        r.F(FIN | kOpContinuation, "\xac!"),
        // Binary in three fragments with a 125-byte ping inside.
        r.F(kOpBinary, pattern(100)),
        r.F(FIN | kOpPing, pattern(125, 9)),
        r.F(kOpContinuation, pattern(200, 100)),
        r.F(FIN | kOpContinuation, pattern(1, 44)),
        // ASCII text in two fragments; ping payloads are not UTF-8 checked.
        r.F(kOpText, "ab"),
        r.F(FIN | kOpPing, "\xff\xfe"),
        r.F(FIN | kOpContinuation, "cd"),
        // A fragmented message whose pieces use 16- and 64-bit lengths.
        r.F(kOpBinary, pattern(3), 16),
        r.F(FIN | kOpContinuation, pattern(4, 3), 64),
        r.F(FIN | kOpClose, close_payload(1001)),
    });
    EXPECT_EVENTS(r.opts(), stream,
                  {Ping(B("p1")), Pong({}), Ping({}), Text("Hello w\xc3\xb6rld \xe2\x82\xac!", false),
                   Ping(pattern(125, 9)), Bin(cat({pattern(100), pattern(200, 100), pattern(1, 44)})),
                   Ping(B("\xff\xfe")), Text("abcd", true), Bin(cat({pattern(3), pattern(4, 3)})), Close(1001)});
  }
}

TEST(parser_zero_length_messages) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    Bytes stream = cat({
        r.F(FIN | kOpText, ""),
        r.F(FIN | kOpBinary, ""),
        r.F(FIN | kOpPing, ""),
        r.F(FIN | kOpPong, ""),
        r.F(kOpText, ""), r.F(kOpContinuation, ""), r.F(FIN | kOpContinuation, ""),
        r.F(kOpBinary, ""), r.F(FIN | kOpContinuation, "xyz"),
        r.F(kOpText, "ab"), r.F(FIN | kOpContinuation, ""),
        r.F(kOpBinary, ""), r.F(FIN | kOpPing, ""), r.F(FIN | kOpContinuation, ""),
        // A zero-length frame using the 16-bit encoding is still a frame.
        r.F(FIN | kOpText, "", 16),
        r.F(FIN | kOpClose, ""),
    });
    EXPECT_EVENTS(r.opts(), stream,
                  {Text(""), Bin({}), Ping({}), Pong({}), Text(""), Bin(B("xyz")), Text("ab"), Ping({}), Bin({}),
                   Text(""), Close(1005)});
  }
}

TEST(parser_close_codes) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
      CTX("code %d", code);
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpClose, close_payload(code, "r\xc3\xa9")), trailer(r)}),
                    {Close(code, "r\xc3\xa9")});
      EXPECT_EVENTS(r.opts(), r.F(FIN | kOpClose, close_payload(code)), {Close(code)});
    }
    for (int code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
      CTX("invalid code %d", code);
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpClose, close_payload(code, "x")), trailer(r)}), {Err(1002)});
    }
    {
      CTX("no payload");
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpClose, ""), trailer(r)}), {Close(1005)});
    }
    {
      CTX("1-byte payload");
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpClose, "\x03"), trailer(r)}), {Err(1002)});
    }
    for (std::string_view bad : {"\xff", "ok\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x80"}) {
      CTX("reason %s", check::escape(bad).c_str());
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpClose, close_payload(1000, bad)), trailer(r)}), {Err(1007)});
    }
    // A close in the middle of a fragmented message ends everything.
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "half"), r.F(FIN | kOpClose, close_payload(1000)), trailer(r)}),
                  {Close(1000)});
  }
}

// ---- protocol errors --------------------------------------------------------

TEST(parser_mask_errors) {
  // Server role: an unmasked frame of any kind.
  for (uint8_t b0 : {uint8_t(FIN | kOpText), uint8_t(FIN | kOpBinary), uint8_t(FIN | kOpPing), uint8_t(FIN | kOpClose)}) {
    CTX("unmasked b0 %02x", b0);
    EXPECT_EVENTS(kServer.opts(), cat({frame(b0, B("hi"), false), trailer(kServer)}), {Err(1002)});
    EXPECT_EVENTS(kServer.opts(), cat({kServer.F(FIN | kOpText, "ok"), frame(b0, B("hi"), false)}), {Text("ok"), Err(1002)});
  }
  // Even a zero-length unmasked frame, with only its 2-byte header fed.
  EXPECT_EVENTS(kServer.opts(), Bytes{0x81, 0x00}, {Err(1002)});
  // Client role: a masked frame.
  for (uint8_t b0 : {uint8_t(FIN | kOpText), uint8_t(FIN | kOpBinary), uint8_t(FIN | kOpPong), uint8_t(FIN | kOpClose)}) {
    CTX("masked b0 %02x", b0);
    EXPECT_EVENTS(kClient.opts(), cat({frame(b0, B("hi"), true), trailer(kClient)}), {Err(1002)});
  }
  EXPECT_EVENTS(kClient.opts(), cat({kClient.F(kOpText, "a"), frame(FIN | kOpContinuation, B("b"), true)}), {Err(1002)});
}

TEST(parser_rsv_and_opcode_errors) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    for (uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
      CTX("rsv %02x", rsv);
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | rsv | kOpText, "x"), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | rsv | kOpBinary, ""), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | rsv | kOpPing, "x"), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "a"), r.F(FIN | rsv | kOpContinuation, "b"), trailer(r)}), {Err(1002)});
      // Decided at the header: no payload needed.
      EXPECT_EVENTS(r.opts(), r.H(FIN | rsv | kOpText, 10), {Err(1002)});
    }
    for (uint8_t op : {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf}) {
      CTX("opcode %x", op);
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | op, "x"), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpText, "ok"), r.F(op, ""), trailer(r)}), {Text("ok"), Err(1002)});
      // Mid-message, too.
      EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "a"), r.F(FIN | op, "b"), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(r.opts(), r.H(FIN | op, 10), {Err(1002)});
    }
  }
}

TEST(parser_control_frame_errors) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    for (uint8_t op : {kOpPing, kOpPong, kOpClose}) {
      CTX("opcode %x", op);
      // Over 125 bytes: 16-bit and 64-bit encodings; decided at the header.
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | op, Bytes(126, 'a')), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(r.opts(), r.H(FIN | op, 126), {Err(1002)});
      EXPECT_EVENTS(r.opts(), r.H(FIN | op, 200, 64), {Err(1002)});
      EXPECT_EVENTS(r.opts(), r.H(FIN | op, 65536), {Err(1002)});
      // Fragmented control frames (FIN clear), alone and mid-message.
      EXPECT_EVENTS(r.opts(), cat({r.F(op, close_payload(1000)), trailer(r)}), {Err(1002)});
      EXPECT_EVENTS(r.opts(), cat({r.F(kOpBinary, "a"), r.F(op, ""), trailer(r)}), {Err(1002)});
    }
  }
}

TEST(parser_fragmentation_errors) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    // Orphan continuation frames.
    EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpContinuation, "x"), trailer(r)}), {Err(1002)});
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpContinuation, "x"), trailer(r)}), {Err(1002)});
    EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpContinuation, ""), trailer(r)}), {Err(1002)});
    // ... also right after a complete message, and after a complete fragmented one.
    EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpText, "done"), r.F(FIN | kOpContinuation, "x"), trailer(r)}),
                  {Text("done"), Err(1002)});
    EXPECT_EVENTS(r.opts(),
                  cat({r.F(kOpText, "do"), r.F(FIN | kOpContinuation, "ne"), r.F(kOpContinuation, "x"), trailer(r)}),
                  {Text("done"), Err(1002)});
    // A new data frame before the fragmented message ended.
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "a"), r.F(FIN | kOpText, "b"), trailer(r)}), {Err(1002)});
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "a"), r.F(kOpBinary, "b"), trailer(r)}), {Err(1002)});
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpBinary, "a"), r.F(FIN | kOpPing, "p"), r.F(FIN | kOpText, "b"), trailer(r)}),
                  {Ping(B("p")), Err(1002)});
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpBinary, ""), r.F(kOpContinuation, "x"), r.F(FIN | kOpBinary, "")}),
                  {Err(1002)});
  }
}

TEST(parser_length_top_bit_error) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    EXPECT_EVENTS(r.opts(), r.H(FIN | kOpBinary, 0x8000000000000000ull), {Err(1002)});
    EXPECT_EVENTS(r.opts(), cat({r.H(FIN | kOpBinary, 0xffffffffffffffffull), trailer(r)}), {Err(1002)});
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "a"), r.H(FIN | kOpContinuation, 0x8000000000000001ull)}), {Err(1002)});
    // With an unlimited maxPayload the top bit is still an error (not a 1009).
    EXPECT_EVENTS(r.opts(~uint64_t(0)), r.H(FIN | kOpBinary, 0x8000000000000000ull), {Err(1002)});
    // 2^63 - 1 is a legal length: too big for maxPayload (1009), or awaited when unlimited.
    EXPECT_EVENTS(r.opts(), r.H(FIN | kOpBinary, 0x7fffffffffffffffull), {Err(1009)});
    EXPECT_EVENTS(r.opts(~uint64_t(0)), cat({r.H(FIN | kOpBinary, 0x7fffffffffffffffull), pattern(100)}), {});
  }
}

TEST(parser_max_payload) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    auto o = r.opts(10);
    // Exactly at the limit is fine, in one frame or several.
    EXPECT_EVENTS(o, r.F(FIN | kOpText, "0123456789"), {Text("0123456789")});
    EXPECT_EVENTS(o, cat({r.F(kOpBinary, "01234"), r.F(kOpContinuation, "567"), r.F(FIN | kOpContinuation, "89")}),
                  {Bin(B("0123456789"))});
    // Control frames do not count against it.
    EXPECT_EVENTS(o, cat({r.F(kOpBinary, "01234"), r.F(FIN | kOpPing, Bytes(50, 'p')), r.F(FIN | kOpContinuation, "56789")}),
                  {Ping(Bytes(50, 'p')), Bin(B("0123456789"))});
    // Each message has its own budget.
    EXPECT_EVENTS(o, cat({r.F(FIN | kOpText, "0123456789"), r.F(FIN | kOpText, "0123456789")}),
                  {Text("0123456789"), Text("0123456789")});
    // One frame over by one: decided at the header, before any payload.
    EXPECT_EVENTS(o, cat({r.F(FIN | kOpText, "0123456789A"), trailer(r)}), {Err(1009)});
    EXPECT_EVENTS(o, r.H(FIN | kOpText, 11), {Err(1009)});
    EXPECT_EVENTS(o, r.H(kOpBinary, 11), {Err(1009)});
    EXPECT_EVENTS(o, r.H(FIN | kOpBinary, 11, 64), {Err(1009)});
    // The sum of fragments over by one, decided at the offending fragment's header.
    EXPECT_EVENTS(o, cat({r.F(kOpBinary, "012345"), r.F(FIN | kOpContinuation, "6789A"), trailer(r)}), {Err(1009)});
    EXPECT_EVENTS(o, cat({r.F(kOpBinary, "012345"), r.H(FIN | kOpContinuation, 5)}), {Err(1009)});
    EXPECT_EVENTS(o, cat({r.F(kOpText, "0123456789"), r.F(FIN | kOpPing, "p"), r.H(FIN | kOpContinuation, 1)}),
                  {Ping(B("p")), Err(1009)});
    // Large lengths against the default limit (16 MiB).
    EXPECT_EVENTS(r.opts(), r.H(FIN | kOpBinary, 16 * 1024 * 1024 + 1), {Err(1009)});
    EXPECT_EVENTS(r.opts(), r.H(FIN | kOpBinary, uint64_t(1) << 40), {Err(1009)});
    EXPECT_EVENTS(r.opts(), r.H(FIN | kOpBinary, 16 * 1024 * 1024), {});
    // max_payload 0: only empty messages.
    EXPECT_EVENTS(r.opts(0), cat({r.F(FIN | kOpText, ""), r.F(FIN | kOpPing, "p"), r.F(FIN | kOpText, "x")}),
                  {Text(""), Ping(B("p")), Err(1009)});
  }
}

TEST(parser_invalid_utf8) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    // Whole single frames.
    for (std::string_view bad : {"\xff", "ab\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "x\x80y", "a\xc3(b"}) {
      CTX("text %s", check::escape(bad).c_str());
      EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpText, bad), trailer(r)}), {Err(1007)});
    }
    // Detected before the frame's payload is complete: only the header and
    // part of the payload arrive.
    {
      Bytes payload = B("ab\xff");
      payload.resize(100, 'z');
      Bytes f = r.F(FIN | kOpText, payload);
      size_t hdr = f.size() - payload.size();
      EXPECT_EVENTS(r.opts(), Bytes(f.begin(), f.begin() + long(hdr + 3)), {Err(1007)});
      EXPECT_EVENTS(r.opts(), Bytes(f.begin(), f.begin() + long(hdr + 50)), {Err(1007)});
      // ... and in a large frame (64-bit length) after many good bytes.
      Bytes big(100000, 'q');
      big[70000] = 0xc3;
      big[70001] = 0x41;
      Bytes g = r.F(FIN | kOpText, big);
      size_t ghdr = g.size() - big.size();
      EXPECT_EVENTS(r.opts(), Bytes(g.begin(), g.begin() + long(ghdr + 70002)), {Err(1007)});
      // A non-final fragment with bad bytes.
      EXPECT_EVENTS(r.opts(), Bytes(f.begin(), f.begin() + long(hdr + 3)), {Err(1007)});
      Bytes nf = r.F(kOpText, payload);
      EXPECT_EVENTS(r.opts(), Bytes(nf.begin(), nf.begin() + long(hdr + 3)), {Err(1007)});
    }
    // Across fragments: valid prefix in one, bad continuation in the next.
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "ab\xc3"), r.F(FIN | kOpContinuation, "(cd"), trailer(r)}), {Err(1007)});
    EXPECT_EVENTS(r.opts(),
                  cat({r.F(kOpText, "ab\xf0\x9f"), r.F(FIN | kOpPing, "\xff"), r.F(kOpContinuation, "\x98"),
                       r.F(FIN | kOpContinuation, "A"), trailer(r)}),
                  {Ping(B("\xff")), Err(1007)});
    // ... where the second fragment's payload is not complete yet.
    {
      Bytes second = r.F(FIN | kOpContinuation, Bytes(40, 0x80));
      Bytes stream = cat({r.F(kOpText, "ab"), second});
      EXPECT_EVENTS(r.opts(), Bytes(stream.begin(), stream.end() - 39), {Err(1007)});
    }
    // Text ending inside a sequence: single frame, and after fragments.
    EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpText, "a\xc3"), trailer(r)}), {Err(1007)});
    EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpText, "\xf0\x9f\x98"), trailer(r)}), {Err(1007)});
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "a\xe2\x82"), r.F(FIN | kOpContinuation, ""), trailer(r)}), {Err(1007)});
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "a\xe2"), r.F(FIN | kOpContinuation, "\x82"), trailer(r)}), {Err(1007)});
    // The UTF-8 state is per message: a completed message does not leak into the next.
    EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpBinary, "\xe2"), r.F(FIN | kOpText, "\x82\xac")}), {Bin(B("\xe2")), Err(1007)});
    EXPECT_EVENTS(r.opts(), cat({r.F(FIN | kOpText, "\xe2\x82\xac"), r.F(FIN | kOpText, "ok")}),
                  {Text("\xe2\x82\xac", false), Text("ok", true)});
    // ascii is per message as well.
    EXPECT_EVENTS(r.opts(), cat({r.F(kOpText, "\xc3\xa9"), r.F(FIN | kOpContinuation, "e"), r.F(FIN | kOpText, "e")}),
                  {Text("\xc3\xa9" "e", false), Text("e", true)});
  }
}

TEST(parser_stops_after_close_or_error) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    FrameParser p(r.opts());
    Recorder rec;
    Bytes first = cat({r.F(FIN | kOpText, "a"), r.F(FIN | kOpClose, close_payload(1000))});
    p.feed(rec, first.data(), first.size());
    CHECK(p.stopped());
    CHECK_EQ(rec.events.size(), 2u);
    Bytes more = trailer(r);
    Bytes before = more;
    p.feed(rec, more.data(), more.size());
    CHECK_EQ(rec.events.size(), 2u);
    CHECK(p.stopped());
    CHECK(more == before);  // ignored input is not even unmasked

    FrameParser q(r.opts());
    Recorder rec2;
    Bytes bad = cat({r.F(FIN | 0x40 | kOpText, "a")});
    q.feed(rec2, bad.data(), bad.size());
    CHECK(q.stopped());
    q.feed(rec2, more.data(), more.size());
    q.feed(rec2, bad.data(), bad.size());
    CHECK(rec2.events == std::vector<Ev>{Err(1002)});
  }
}

TEST(parser_mid_message_state) {
  const Role& r = kServer;
  FrameParser p(r.opts());
  Recorder rec;
  CHECK(!p.mid_message());
  Bytes f = r.F(FIN | kOpText, "hello");
  p.feed(rec, f.data(), 1);  // half a header
  CHECK(p.mid_message());
  p.feed(rec, f.data() + 1, 7);  // header complete, 2 payload bytes
  CHECK(p.mid_message());
  p.feed(rec, f.data() + 8, f.size() - 8);
  CHECK(!p.mid_message());
  CHECK_EQ(rec.events.size(), 1u);
  Bytes frag = r.F(kOpBinary, "ab");
  p.feed(rec, frag.data(), frag.size());
  CHECK(p.mid_message());
  Bytes ping = r.F(FIN | kOpPing, "");
  p.feed(rec, ping.data(), ping.size());
  CHECK(p.mid_message());
  Bytes last = r.F(FIN | kOpContinuation, "c");
  p.feed(rec, last.data(), last.size());
  CHECK(!p.mid_message());
  CHECK(rec.events == (std::vector<Ev>{Text("hello"), Ping({}), Bin(B("abc"))}));
  // An empty feed is a no-op.
  p.feed(rec, nullptr, 0);
  CHECK(!p.mid_message());
  CHECK(!p.stopped());
}

// ---- zero copy --------------------------------------------------------------

TEST(parser_zero_copy_whole_frames) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    Bytes f1 = r.F(FIN | kOpText, "abc");
    Bytes f2 = r.F(FIN | kOpBinary, pattern(300));
    Bytes f3 = r.F(FIN | kOpText, "xyz");
    Bytes f4 = r.F(FIN | kOpBinary, pattern(70000, 5));
    Bytes buf = cat({f1, f2, f3, f4});
    size_t p1 = f1.size() - 3;
    size_t p2 = f1.size() + f2.size() - 300;
    size_t p3 = f1.size() + f2.size() + f3.size() - 3;
    size_t p4 = buf.size() - 70000;
    FrameParser p(r.opts());
    Recorder rec;
    p.feed(rec, buf.data(), buf.size());
    CHECK(rec.events == (std::vector<Ev>{Text("abc"), Bin(pattern(300)), Text("xyz"), Bin(pattern(70000, 5))}));
    if (CHECK_EQ(rec.msg_ptrs.size(), 4u)) {
      // Each message points at its payload inside the input, unmasked in place.
      CHECK_EQ(rec.msg_ptrs[0], buf.data() + p1);
      CHECK_EQ(rec.msg_ptrs[1], buf.data() + p2);
      CHECK_EQ(rec.msg_ptrs[2], buf.data() + p3);
      CHECK_EQ(rec.msg_ptrs[3], buf.data() + p4);
    }
    CHECK(Bytes(buf.begin() + long(p2), buf.begin() + long(p2 + 300)) == pattern(300));
    CHECK(Bytes(buf.begin() + long(p4), buf.end()) == pattern(70000, 5));

    // A single frame whose header came in an earlier read, but whose payload
    // lies whole in this one, is still handed out in place.
    FrameParser q(r.opts());
    Recorder rec2;
    Bytes g = r.F(FIN | kOpBinary, pattern(40));
    size_t ghdr = g.size() - 40;
    q.feed(rec2, g.data(), ghdr);
    q.feed(rec2, g.data() + ghdr, 40);
    CHECK(rec2.events == std::vector<Ev>{Bin(pattern(40))});
    if (CHECK_EQ(rec2.msg_ptrs.size(), 1u)) CHECK_EQ(rec2.msg_ptrs[0], g.data() + ghdr);
  }
}

TEST(parser_reassembles_split_messages) {
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    // One frame split across reads: reassembled, not pointing into either piece.
    Bytes f = r.F(FIN | kOpBinary, pattern(300));
    Bytes a(f.begin(), f.begin() + 150), b(f.begin() + 150, f.end());
    FrameParser p(r.opts());
    Recorder rec;
    p.feed(rec, a.data(), a.size());
    CHECK(rec.events.empty());
    p.feed(rec, b.data(), b.size());
    CHECK(rec.events == std::vector<Ev>{Bin(pattern(300))});
    if (CHECK_EQ(rec.msg_ptrs.size(), 1u)) {
      const uint8_t* m = rec.msg_ptrs[0];
      CHECK(!(m >= a.data() && m < a.data() + a.size()));
      CHECK(!(m >= b.data() && m < b.data() + b.size()));
    }
    // Fragments in one buffer: reassembled into one message.
    Bytes frag = cat({r.F(kOpText, "frag"), r.F(FIN | kOpPing, "p"), r.F(kOpContinuation, "men"),
                      r.F(FIN | kOpContinuation, "ted")});
    FrameParser q(r.opts());
    Recorder rec2;
    q.feed(rec2, frag.data(), frag.size());
    CHECK(rec2.events == (std::vector<Ev>{Ping(B("p")), Text("fragmented")}));
    // The next whole frame after a reassembled message is zero-copy again.
    Bytes next = r.F(FIN | kOpText, "next");
    q.feed(rec2, next.data(), next.size());
    if (CHECK_EQ(rec2.msg_ptrs.size(), 2u)) CHECK_EQ(rec2.msg_ptrs[1], next.data() + next.size() - 4);
  }
}

// Control frames hold no buffer in the parser (an idle connection's memory):
// one whose payload lies whole in the input is handed out from there, one
// split across reads is gathered in a buffer that goes once it is handled.
TEST(parser_control_frames_hold_no_buffer) {
  CHECK(sizeof(FrameParser) <= 128);  // no 125-byte control buffer inside
  for (const Role& r : kRoles) {
    CTX("%s role", r.name);
    Bytes ping = r.F(FIN | kOpPing, "are you there");
    Bytes pong = r.F(FIN | kOpPong, pattern(125));
    Bytes buf = cat({ping, pong});
    FrameParser p(r.opts());
    Recorder rec;
    p.feed(rec, buf.data(), buf.size());
    CHECK(rec.events == (std::vector<Ev>{Ping(B("are you there")), Pong(pattern(125))}));
    if (CHECK_EQ(rec.ctl_ptrs.size(), 2u)) {
      CHECK_EQ(rec.ctl_ptrs[0], buf.data() + ping.size() - 13);
      CHECK_EQ(rec.ctl_ptrs[1], buf.data() + buf.size() - 125);
    }
    CHECK_EQ(p.held_bytes(), 0u);

    // Split inside the payload: gathered while it spans reads, released after.
    Bytes split = r.F(FIN | kOpPing, pattern(100, 3));
    size_t cut = split.size() - 40;
    p.feed(rec, split.data(), cut);
    CHECK(p.held_bytes() > 0);
    p.feed(rec, split.data() + cut, split.size() - cut);
    CHECK(rec.events.back() == Ping(pattern(100, 3)));
    CHECK_EQ(p.held_bytes(), 0u);

    // A close's reason, whole in the input, points into it too.
    Bytes close = r.F(FIN | kOpClose, "\x03\xe8" "bye");
    p.feed(rec, close.data(), close.size());
    CHECK(rec.events.back() == Close(1000, "bye"));
    CHECK_EQ(rec.ctl_ptrs.back(), close.data() + close.size() - 3);
  }
}

// ---- random streams -----------------------------------------------------------

// Random well-formed streams (messages in random fragments, control frames
// interleaved, random lengths and length encodings) compared with the model.
TEST(parser_random_streams) {
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  auto next = [&seed](uint32_t n) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return uint32_t(seed % n);
  };
  static const char* const chars[] = {"a", "Z", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf", "\x7f"};
  for (int iter = 0; iter < 120; ++iter) {
    const Role& r = kRoles[iter % 2];
    CTX("%s role, stream %d", r.name, iter);
    Bytes stream;
    std::vector<Ev> expected;
    int messages = int(next(6)) + 1;
    for (int m = 0; m < messages; ++m) {
      bool text = next(2);
      Bytes payload;
      size_t len = next(4) == 0 ? next(2000) : next(40);
      bool ascii = true;
      while (payload.size() < len) {
        if (text) {
          const char* c = chars[next(8)];
          if (std::strlen(c) > 1) ascii = false;
          payload.insert(payload.end(), c, c + std::strlen(c));
        } else {
          payload.push_back(uint8_t(next(256)));
        }
      }
      // Cut into fragments anywhere (even inside characters).
      size_t frags = next(4) + 1;
      std::vector<size_t> cuts;
      for (size_t k = 1; k < frags; ++k) cuts.push_back(payload.empty() ? 0 : next(uint32_t(payload.size() + 1)));
      std::sort(cuts.begin(), cuts.end());
      size_t start = 0;
      for (size_t k = 0; k <= cuts.size(); ++k) {
        size_t end = k < cuts.size() ? cuts[k] : payload.size();
        uint8_t op = k == 0 ? (text ? kOpText : kOpBinary) : kOpContinuation;
        uint8_t fin = k == cuts.size() ? FIN : 0;
        int form = next(5) == 0 ? (next(2) ? 64 : (end - start <= 0xffff ? 16 : 0)) : 0;
        stream = cat({stream, r.F(fin | op, Bytes(payload.begin() + long(start), payload.begin() + long(end)), form)});
        start = end;
        if (fin) expected.push_back(Msg(text ? kOpText : kOpBinary, payload, text && ascii));
        if (next(3) == 0) {
          Bytes cp = pattern(next(126), uint8_t(iter));
          bool ping = next(2);
          stream = cat({stream, r.F(FIN | (ping ? kOpPing : kOpPong), cp)});
          expected.push_back(ping ? Ping(cp) : Pong(cp));
        }
      }
    }
    if (next(2)) {
      int code = 1000 + int(next(4));
      stream = cat({stream, r.F(FIN | kOpClose, close_payload(code, "done")), trailer(r)});
      expected.push_back(Close(code, "done"));
    }
    EXPECT_EVENTS(r.opts(), stream, expected);
  }
}

// Random corruptions of well-formed streams (bit flips, inserted and deleted
// bytes, truncation): whatever the parser makes of them, it must make the
// same of them however the bytes are split, and report nothing after the end.
TEST(parser_mutated_streams_split_consistently) {
  uint64_t seed = 0x853c49e6748fea9bull;
  auto next = [&seed](uint32_t n) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return uint32_t(seed % n);
  };
  int errors = 0, closes = 0, open_ended = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const Role& r = kRoles[iter % 2];
    CTX("%s role, mutation %d", r.name, iter);
    Bytes stream = cat({r.F(kOpText, "fr\xc3"), r.F(FIN | kOpPing, "ping"), r.F(FIN | kOpContinuation, "\xa9g"),
                        r.F(FIN | kOpBinary, pattern(next(300))), r.F(FIN | kOpText, "caf\xc3\xa9"),
                        r.F(kOpBinary, pattern(5)), r.F(FIN | kOpContinuation, pattern(next(140))),
                        r.F(FIN | kOpClose, close_payload(1000, "bye"))});
    int mutations = int(next(3)) + 1;
    for (int m = 0; m < mutations; ++m) {
      size_t at = next(uint32_t(stream.size()));
      switch (next(4)) {
        case 0: stream[at] ^= uint8_t(1u << next(8)); break;
        case 1: stream.insert(stream.begin() + long(at), uint8_t(next(256))); break;
        case 2: stream.erase(stream.begin() + long(at)); break;
        case 3: stream[at] = uint8_t(next(256)); break;
      }
    }
    if (next(4) == 0) stream = Bytes(stream.begin(), stream.begin() + long(next(uint32_t(stream.size()))));
    FrameParserOptions o = r.opts(next(2) ? 200 : 16 * 1024 * 1024);
    Run whole = run(o, stream, {});
    if (whole.anomalies) FAIL_MSG("handler saw anomalies: %s", to_string(whole.events).c_str());
    bool terminal = !whole.events.empty() && (whole.events.back().kind == 'C' || whole.events.back().kind == 'E');
    CHECK_EQ(whole.stopped, terminal);
    errors += !whole.events.empty() && whole.events.back().kind == 'E';
    closes += !whole.events.empty() && whole.events.back().kind == 'C';
    open_ended += !terminal;
    std::vector<size_t> every;
    for (size_t i = 1; i < stream.size(); ++i) every.push_back(i);
    compare(run(o, stream, every), whole.events, "byte by byte vs whole", __FILE__, __LINE__);
    for (int k = 0; k < 3; ++k) {
      std::vector<size_t> cuts;
      for (size_t i = next(30) + 1; i < stream.size(); i += next(30) + 1) cuts.push_back(i);
      compare(run(o, stream, cuts), whole.events, "random chunks vs whole", __FILE__, __LINE__);
    }
  }
  // The corpus reaches all three outcomes.
  CHECK(errors > 50);
  CHECK(closes > 20);
  CHECK(open_ended > 20);
}
