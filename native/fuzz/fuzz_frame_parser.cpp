// Fuzzes proto::FrameParser (RFC 6455 §5) in both roles, with and without
// permessage-deflate (RFC 7692).
//
// Input layout:
//   byte 0   flags: bit 0      role (1: server, frames must be masked; 0: client)
//                   bits 1..3  max_payload: 16 MiB (the default), byte 1, byte 1 * 16,
//                              0, 125, 65535, 2^64-1, byte 1 + 126
//                   bits 4..5  piece sizes: 1 byte, 1..8, 1..64, 1..all that is left
//                   bit 6      empty feeds between pieces
//                   bit 7      permessage-deflate negotiated: RSV1 marks compressed messages
//   byte 1   the max_payload parameter
//   bytes 2, 3  seed for the piece sizes; with bit 7 its top bits also set the
//               inflater: bits 13..15 window bits (0-3: 15, then 8, 9, 11, 13),
//               bit 12 no context takeover, bits 10..11 chunk size 1, 7, 256
//               or 16384
//   rest     the byte stream
// The stream is fed once in one call and once in pieces, each piece in its own
// exact-size allocation (freed right after its feed, so ASan catches the
// parser keeping a pointer into it). The handler checks on every event:
//   - nothing after on_close / on_error, and the parser is stopped by then;
//   - messages are text or binary, at most max_payload bytes; text is valid
//     UTF-8 (proto::is_valid_utf8 and the reference decoder) and `ascii` says
//     whether every byte is < 0x80; binary is never `ascii`;
//   - pings and pongs carry at most 125 bytes;
//   - a close has code 1005 with no reason, or an allowed code with a valid
//     UTF-8 reason; an error has code 1002, 1007, 1009 or 1011 and a reason
//     string;
//   - with permessage-deflate: the inflater never holds more than its state,
//     window and one chunk, and holds nothing after an error.
// Both feedings must give identical events and end in the same state, except
// with an inflater window under 15 bits: zlib then also accepts a distance
// past the window into the chunk it is writing (see proto/inflater.h), so a
// stream that breaks the window may inflate or fail depending on the pieces.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "proto/frame_parser.h"
#include "proto/inflater.h"

using namespace corews::proto;
using Bytes = std::vector<uint8_t>;

namespace {

struct Ev {
  char kind;  // M message, P ping, O pong, C close, E error
  int op;
  int code;
  bool ascii;
  Bytes data;
  bool operator==(const Ev&) const = default;
};

struct Recorder {
  FrameParser* parser = nullptr;
  uint64_t max_payload = 0;
  bool ended = false;
  std::vector<Ev> events;

  void event(Ev e) {
    FUZZ_CHECK_MSG(!ended, "event '%c' after on_close/on_error", e.kind);
    events.push_back(std::move(e));
  }
  static Bytes copy(const uint8_t* p, size_t n) {
    FUZZ_CHECK(n == 0 || p != nullptr);
    return n ? Bytes(p, p + n) : Bytes{};
  }

  void on_message(Opcode op, uint8_t* data, size_t len, bool ascii) {
    FUZZ_CHECK(op == kOpText || op == kOpBinary);
    FUZZ_CHECK_MSG(len <= max_payload, "message of %zu bytes, max_payload %llu", len,
                   static_cast<unsigned long long>(max_payload));
    Bytes d = copy(data, len);
    if (op == kOpText) {
      FUZZ_CHECK(is_valid_utf8(d.data(), d.size()));
      fuzz::RefUtf8 ref = fuzz::ref_utf8(d.data(), d.size());
      FUZZ_CHECK(ref.valid);
      FUZZ_CHECK(ascii == bool(ref.ascii[d.size()]));
    } else {
      FUZZ_CHECK(!ascii);
    }
    event({'M', op, 0, ascii, std::move(d)});
  }
  void on_ping(const uint8_t* data, size_t len) {
    FUZZ_CHECK(len <= 125);
    event({'P', 0, 0, false, copy(data, len)});
  }
  void on_pong(const uint8_t* data, size_t len) {
    FUZZ_CHECK(len <= 125);
    event({'O', 0, 0, false, copy(data, len)});
  }
  void on_close(uint16_t code, const uint8_t* reason, size_t len) {
    FUZZ_CHECK(parser->stopped());
    FUZZ_CHECK(len <= 123);
    if (code == 1005) {
      FUZZ_CHECK(len == 0);
    } else {
      FUZZ_CHECK_MSG(fuzz::ref_close_code_ok(code), "on_close with code %u", code);
    }
    Bytes r = copy(reason, len);
    FUZZ_CHECK(fuzz::ref_utf8_valid(r.data(), r.size()));
    event({'C', 0, code, false, std::move(r)});
    ended = true;
  }
  void on_error(uint16_t code, const char* reason) {
    FUZZ_CHECK(parser->stopped());
    FUZZ_CHECK_MSG(code == 1002 || code == 1007 || code == 1009 || code == 1011, "on_error with code %u", code);
    FUZZ_CHECK(reason != nullptr && *reason != '\0');
    event({'E', 0, code, false, {}});
    ended = true;
  }
};

struct Outcome {
  std::vector<Ev> events;
  bool stopped;
  bool mid_message;
};

Outcome finish(FrameParser& p, Recorder& r) {
  FUZZ_CHECK(r.ended == p.stopped());
  return {std::move(r.events), p.stopped(), p.mid_message()};
}

// Checks the inflater's memory after every feed: zlib's inflate state is
// about 7 KiB, plus the window and the chunk buffer.
void check_inflater(const Inflater* inf, const Recorder& r) {
  if (!inf) return;
  const InflaterOptions& o = inf->options();
  size_t bound = 12 * 1024 + (size_t(1) << o.window_bits) + o.chunk_size;
  FUZZ_CHECK_MSG(inf->memory() <= bound, "inflater holds %zu bytes, bound %zu", inf->memory(), bound);
  if (r.ended && !r.events.empty() && r.events.back().kind == 'E') FUZZ_CHECK(!inf->mid_message());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint8_t flags = data[0];
  const uint8_t param = data[1];
  const uint16_t seed = uint16_t(data[2] | data[3] << 8);
  const uint8_t* stream = data + 4;
  const size_t n = size - 4;

  FrameParserOptions o;
  o.require_mask = flags & 1;
  switch ((flags >> 1) & 7) {
    case 0: o.max_payload = 16 * 1024 * 1024; break;
    case 1: o.max_payload = param; break;
    case 2: o.max_payload = uint64_t(param) * 16; break;
    case 3: o.max_payload = 0; break;
    case 4: o.max_payload = 125; break;
    case 5: o.max_payload = 65535; break;
    case 6: o.max_payload = UINT64_MAX; break;
    case 7: o.max_payload = uint64_t(param) + 126; break;
  }

  const bool deflate = flags & 0x80;
  InflaterOptions io;
  static const int kWindowBits[8] = {15, 15, 15, 15, 8, 9, 11, 13};
  io.window_bits = kWindowBits[seed >> 13];
  io.no_context_takeover = (seed >> 12) & 1;
  static const size_t kChunks[4] = {1, 7, 256, 16384};
  io.chunk_size = kChunks[(seed >> 10) & 3];

  // One call.
  Outcome whole;
  {
    FrameParser p(o);
    Inflater inf(io);
    if (deflate) p.set_inflater(&inf);
    Recorder r;
    r.parser = &p;
    r.max_payload = o.max_payload;
    fuzz::ExactBuf buf(stream, n);
    p.feed(r, buf.p, buf.n);
    check_inflater(deflate ? &inf : nullptr, r);
    whole = finish(p, r);
  }

  // In pieces.
  Outcome split;
  {
    FrameParser p(o);
    Inflater inf(io);
    if (deflate) p.set_inflater(&inf);
    Recorder r;
    r.parser = &p;
    r.max_payload = o.max_payload;
    fuzz::Rng rng(seed);
    const int mode = (flags >> 4) & 3;
    const bool empty_feeds = flags & 0x40;
    size_t pos = 0;
    while (pos < n) {
      size_t left = n - pos;
      size_t len;
      switch (mode) {
        case 0: len = 1; break;
        case 1: len = 1 + rng.below(left < 8 ? left : 8); break;
        case 2: len = 1 + rng.below(left < 64 ? left : 64); break;
        default: len = 1 + rng.below(left); break;
      }
      if (empty_feeds && rng.below(4) == 0) {
        fuzz::ExactBuf none(stream + pos, 0);
        p.feed(r, none.p, 0);
      }
      fuzz::ExactBuf piece(stream + pos, len);
      p.feed(r, piece.p, piece.n);
      check_inflater(deflate ? &inf : nullptr, r);
      pos += len;
    }
    split = finish(p, r);
  }

  if (deflate && io.window_bits < 15) return 0;
  FUZZ_CHECK_MSG(whole.events.size() == split.events.size(), "one call gave %zu events, pieces gave %zu",
                 whole.events.size(), split.events.size());
  for (size_t i = 0; i < whole.events.size(); ++i) {
    const Ev& a = whole.events[i];
    const Ev& b = split.events[i];
    FUZZ_CHECK_MSG(a == b, "event %zu differs: one call '%c' op %d code %d %zu bytes, pieces '%c' op %d code %d %zu bytes",
                   i, a.kind, a.op, a.code, a.data.size(), b.kind, b.op, b.code, b.data.size());
  }
  FUZZ_CHECK(whole.stopped == split.stopped);
  FUZZ_CHECK(whole.mid_message == split.mid_message);
  return 0;
}
