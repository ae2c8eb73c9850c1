// Fuzzes the Close frame verdict of proto::FrameParser (RFC 6455 §5.5.1,
// §7.4) against an independent expectation written here.
//
// Input: the Close frame's payload, arbitrary bytes. It is wrapped in a Close
// frame (FIN, opcode 8) as a client sends it (masked, for the server role) and
// as a server sends it (unmasked, for the client role), followed by a Ping
// that must be ignored. Each stream is fed in one call, one byte per call, and
// split in two at a point derived from the payload. The expectation:
//   payload over 125 bytes        → error 1002 (§5.5: control frames ≤ 125)
//   0 bytes                       → close 1005, no reason (§7.1.5)
//   1 byte                        → error 1002 (§5.5.1: a body starts with a 2-byte code)
//   code not allowed on the wire  → error 1002 (§7.4)
//   reason not valid UTF-8        → error 1007 (§5.5.1, §8.1)
//   otherwise                     → close(code, reason bytes)
// and nothing else, before or after.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "proto/frame_parser.h"

using namespace corews::proto;
using Bytes = std::vector<uint8_t>;

namespace {

struct Verdict {
  char kind = 0;  // 'C' close, 'E' error
  int code = 0;
  Bytes reason;
  bool operator==(const Verdict&) const = default;
};

struct Recorder {
  FrameParser* parser = nullptr;
  std::vector<Verdict> events;
  void on_message(Opcode, uint8_t*, size_t, bool) { events.push_back({'M', 0, {}}); }
  void on_ping(const uint8_t*, size_t) { events.push_back({'P', 0, {}}); }
  void on_pong(const uint8_t*, size_t) { events.push_back({'O', 0, {}}); }
  void on_close(uint16_t code, const uint8_t* reason, size_t len) {
    FUZZ_CHECK(parser->stopped());
    FUZZ_CHECK(len == 0 || reason != nullptr);
    events.push_back({'C', code, len ? Bytes(reason, reason + len) : Bytes{}});
  }
  void on_error(uint16_t code, const char* reason) {
    FUZZ_CHECK(parser->stopped());
    FUZZ_CHECK(reason != nullptr && *reason != '\0');
    events.push_back({'E', code, {}});
  }
};

Verdict expected(const uint8_t* p, size_t n) {
  if (n > 125) return {'E', 1002, {}};
  if (n == 0) return {'C', 1005, {}};
  if (n == 1) return {'E', 1002, {}};
  uint32_t code = uint32_t(p[0]) << 8 | p[1];
  if (!fuzz::ref_close_code_ok(code)) return {'E', 1002, {}};
  if (!fuzz::ref_utf8_valid(p + 2, n - 2)) return {'E', 1007, {}};
  return {'C', int(code), Bytes(p + 2, p + n)};
}

// A frame with FIN and opcode `op`, minimal length encoding, masked with
// `key` when given.
Bytes frame(uint8_t op, const uint8_t* payload, size_t n, const uint8_t* key) {
  Bytes f{uint8_t(0x80 | op)};
  uint8_t m = key ? 0x80 : 0;
  if (n < 126) {
    f.push_back(uint8_t(m | n));
  } else if (n <= 0xffff) {
    f.push_back(uint8_t(m | 126));
    f.push_back(uint8_t(n >> 8));
    f.push_back(uint8_t(n));
  } else {
    f.push_back(uint8_t(m | 127));
    for (int i = 7; i >= 0; --i) f.push_back(uint8_t(uint64_t(n) >> (8 * i)));
  }
  if (key) f.insert(f.end(), key, key + 4);
  size_t at = f.size();
  f.insert(f.end(), payload, payload + n);
  if (key) {
    for (size_t i = 0; i < n; ++i) f[at + i] ^= key[i % 4];
  }
  return f;
}

// Feeds `stream` split at the positions in `cuts` (ascending), each piece in
// its own exact-size allocation.
std::vector<Verdict> run(bool server, const Bytes& stream, const std::vector<size_t>& cuts) {
  FrameParserOptions o;
  o.require_mask = server;
  FrameParser parser(o);
  Recorder r;
  r.parser = &parser;
  size_t start = 0;
  for (size_t k = 0; k <= cuts.size(); ++k) {
    size_t end = k < cuts.size() ? cuts[k] : stream.size();
    fuzz::ExactBuf piece(stream.data() + start, end - start);
    parser.feed(r, piece.p, piece.n);
    start = end;
  }
  FUZZ_CHECK(parser.stopped());
  return r.events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A mask key that varies with the payload (FNV-1a), not taken from it, so
  // every input byte is payload.
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 16777619u;
  uint8_t key[4] = {uint8_t(h), uint8_t(h >> 8), uint8_t(h >> 16), uint8_t(h >> 24)};
  static const uint8_t kPingKey[4] = {1, 2, 3, 4};

  const Verdict want = expected(data, size);

  for (bool server : {true, false}) {
    Bytes stream = frame(kOpClose, data, size, server ? key : nullptr);
    Bytes ping = frame(kOpPing, reinterpret_cast<const uint8_t*>("after"), 5, server ? kPingKey : nullptr);
    stream.insert(stream.end(), ping.begin(), ping.end());

    std::vector<std::vector<size_t>> splits;
    splits.push_back({});
    splits.push_back({size_t(h % (stream.size() + 1))});
    if (stream.size() <= 160) {  // byte by byte, for frames that can be valid
      std::vector<size_t> all;
      for (size_t i = 1; i < stream.size(); ++i) all.push_back(i);
      splits.push_back(all);
    }
    for (const auto& cuts : splits) {
      std::vector<Verdict> got = run(server, stream, cuts);
      FUZZ_CHECK_MSG(got.size() == 1, "%s role, %zu cuts: %zu events, want exactly 1", server ? "server" : "client",
                     cuts.size(), got.size());
      FUZZ_CHECK_MSG(got[0] == want, "%s role, %zu cuts: got %c %d (%zu reason bytes), want %c %d (%zu reason bytes)",
                     server ? "server" : "client", cuts.size(), got[0].kind, got[0].code, got[0].reason.size(),
                     want.kind, want.code, want.reason.size());
    }
  }
  return 0;
}
