// Fuzzes the permessage-deflate codec (RFC 7692 §7.2): proto::Deflater and
// proto::Inflater.
//
// Input layout:
//   byte 0   bits 0..2  round trip: window bits - 8 (both ends); inflate:
//                       0-3 15 bits, then 8, 9, 11, 13
//            bit 3      no context takeover
//            bit 4      mode: 0 round trip, 1 inflate arbitrary bytes
//            bits 5..6  inflater chunk size: 1, 7, 256, 16384
//            bit 7      release the zlib state after each message (with no context takeover)
//   byte 1   round trip: level (b % 10) and memLevel (1 + b / 10 % 9);
//            inflate: the size limit, b * 64 bytes
//   bytes 2, 3  seed for the piece sizes
//   rest     round trip: messages, each a length byte L and L bytes, or for
//            L >= 251 two bytes repeated (L - 250) * 1000 times;
//            inflate: up to four compressed messages, cut by the seed
// Round trip: every message, deflated in random pieces and inflated in
// random pieces, comes back as it was; an empty message is the single octet
// 0x00; chunks never exceed the chunk size; the memory counters stay within
// bounds and go to 0 when the state is released.
// Inflate: arbitrary bytes, fed whole and in pieces to two inflaters, give
// the same status and output (with a 15-bit window: under it zlib also
// accepts distances into the chunk it is writing, so the outcome of a stream
// that breaks the window can depend on the pieces, see proto/inflater.h);
// the output never passes the limit, and kTooBig comes only once it would have.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "proto/deflater.h"
#include "proto/inflater.h"

using namespace corews::proto;
using Bytes = std::vector<uint8_t>;

namespace {

struct Sink {
  Bytes out;
  size_t chunk = 0;
  bool operator()(const uint8_t* p, size_t n) {
    FUZZ_CHECK(n > 0 && n <= chunk);
    out.insert(out.end(), p, p + n);
    return true;
  }
};

size_t inflater_bound(const InflaterOptions& o) { return 12 * 1024 + (size_t(1) << o.window_bits) + o.chunk_size; }

// Feeds `payload` to `inf` in pieces (each its own exact allocation) and
// finishes the message.
InflateStatus inflate_in_pieces(Inflater& inf, const Bytes& payload, fuzz::Rng& rng, uint64_t limit, Sink& sink,
                                bool whole) {
  size_t pos = 0;
  InflateStatus st = InflateStatus::kOk;
  while (pos < payload.size() && st == InflateStatus::kOk) {
    size_t left = payload.size() - pos;
    size_t len = whole ? left : 1 + rng.below(left < 64 ? left : 64);
    fuzz::ExactBuf piece(payload.data() + pos, len);
    st = inf.write(piece.p, piece.n, limit, sink);
    FUZZ_CHECK(inf.memory() <= inflater_bound(inf.options()));
    pos += len;
  }
  if (st == InflateStatus::kOk) st = inf.finish(limit, sink);
  if (st != InflateStatus::kOk) FUZZ_CHECK(inf.memory() == 0 && !inf.holds_stream());
  return st;
}

void round_trip(uint8_t flags, uint8_t param, uint16_t seed, const uint8_t* data, size_t n) {
  size_t total = 0;
  DeflaterOptions d;
  d.window_bits = 8 + (flags & 7);
  d.no_context_takeover = flags & 8;
  d.release_after_message = flags & 0x80;
  d.level = param % 10;
  d.mem_level = 1 + (param / 10) % 9;
  d.memory_total = &total;
  InflaterOptions i;
  i.window_bits = d.window_bits;
  i.no_context_takeover = d.no_context_takeover;
  i.release_after_message = d.release_after_message;
  static const size_t kChunks[4] = {1, 7, 256, 16384};
  i.chunk_size = kChunks[(flags >> 5) & 3];
  i.memory_total = &total;
  Deflater def(d);
  Inflater inf(i);
  fuzz::Rng rng(seed);
  size_t pos = 0;
  int messages = 0;
  // A budget of message bytes keeps an input fast (with 1-byte chunks every
  // output byte is an inflate call).
  size_t budget = i.chunk_size < 256 ? 16 * 1024 : 256 * 1024;
  while (pos < n && messages < 64 && budget > 0) {
    uint8_t len = data[pos++];
    Bytes msg;
    if (len >= 251) {
      uint8_t a = pos < n ? data[pos] : 0, b = pos + 1 < n ? data[pos + 1] : 0;
      pos += 2;
      size_t reps = size_t(len - 250) * 1000;
      for (size_t k = 0; k < reps; ++k) {
        msg.push_back(a);
        msg.push_back(b);
      }
    } else {
      size_t take = len < n - pos ? len : n - pos;
      msg.assign(data + pos, data + pos + take);
      pos += take;
    }
    if (msg.size() > budget) msg.resize(budget);
    budget -= msg.size();
    ++messages;
    // Deflate in random pieces.
    Bytes z;
    size_t at = 0;
    while (at < msg.size()) {
      size_t left = msg.size() - at;
      size_t k = 1 + rng.below(left < 300 ? left : 300);
      fuzz::ExactBuf piece(msg.data() + at, k);
      FUZZ_CHECK(def.write(piece.p, piece.n, z));
      at += k;
    }
    FUZZ_CHECK(def.finish(z));
    if (msg.empty()) FUZZ_CHECK(z.size() == 1 && z[0] == 0x00);
    FUZZ_CHECK(!def.mid_message());
    if (d.no_context_takeover && d.release_after_message) FUZZ_CHECK(!def.holds_stream() && def.memory() == 0);
    // Inflate in random pieces, with the message's own size as the limit.
    Sink sink;
    sink.chunk = i.chunk_size;
    InflateStatus st = inflate_in_pieces(inf, z, rng, msg.size(), sink, rng.below(4) == 0);
    FUZZ_CHECK_MSG(st == InflateStatus::kOk, "message %d: status %d (%s)", messages, int(st), inf.error());
    FUZZ_CHECK(sink.out == msg);
    FUZZ_CHECK(!inf.mid_message());
    if (i.no_context_takeover && i.release_after_message) FUZZ_CHECK(!inf.holds_stream() && inf.memory() == 0);
    FUZZ_CHECK(total == def.memory() + inf.memory());
  }
  def.release();
  inf.release();
  FUZZ_CHECK(total == 0);
}

void inflate_arbitrary(uint8_t flags, uint8_t param, uint16_t seed, const uint8_t* data, size_t n) {
  InflaterOptions i;
  static const int kWindowBits[8] = {15, 15, 15, 15, 8, 9, 11, 13};
  i.window_bits = kWindowBits[flags & 7];
  i.no_context_takeover = flags & 8;
  i.release_after_message = flags & 0x80;
  static const size_t kChunks[4] = {1, 7, 256, 16384};
  i.chunk_size = kChunks[(flags >> 5) & 3];
  const uint64_t limit = uint64_t(param) * 64;
  // Cut into up to four messages.
  std::vector<Bytes> messages;
  fuzz::Rng cut(seed);
  size_t pos = 0;
  while (pos < n && messages.size() < 4) {
    size_t left = n - pos;
    size_t len = messages.size() == 3 ? left : cut.below(left + 1);
    messages.emplace_back(data + pos, data + pos + len);
    pos += len;
  }
  Inflater a(i), b(i);
  fuzz::Rng rng(seed ^ 0x5555);
  for (const Bytes& m : messages) {
    Sink sa, sb;
    sa.chunk = sb.chunk = i.chunk_size;
    InflateStatus x = inflate_in_pieces(a, m, rng, limit, sa, true);
    InflateStatus y = inflate_in_pieces(b, m, rng, limit, sb, false);
    FUZZ_CHECK(sa.out.size() <= limit && sb.out.size() <= limit);
    // kTooBig hands out exactly the bytes up to the limit first.
    if (x == InflateStatus::kTooBig) FUZZ_CHECK(sa.out.size() == limit);
    if (y == InflateStatus::kTooBig) FUZZ_CHECK(sb.out.size() == limit);
    if (i.window_bits == 15) {
      FUZZ_CHECK_MSG(x == y, "whole gave %d, pieces gave %d", int(x), int(y));
      FUZZ_CHECK(sa.out == sb.out);
    }
    if (x != InflateStatus::kOk || y != InflateStatus::kOk) break;  // a failed stream stays failed
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint8_t flags = data[0];
  const uint8_t param = data[1];
  const uint16_t seed = uint16_t(data[2] | data[3] << 8);
  if (flags & 0x10) {
    inflate_arbitrary(flags, param, seed, data + 4, size - 4);
  } else {
    round_trip(flags, param, seed, data + 4, size - 4);
  }
  return 0;
}
