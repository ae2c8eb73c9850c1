// Fuzzes the whole server below N-API: one Worker (native/server) run from
// this thread, up to four socketpair clients at a time, and an emulation of
// the JS side (test/worker_harness.h: commands encoded as the addon encodes
// them, src/server.ts's dispatch, src/websocket.ts's send checks).
//
// Input layout:
//   byte 0  bits 0-1  maxBackpressure: 2 KiB, 4 KiB, 8 KiB, 32 KiB
//           bit 2     dropOnBackpressure (else close with 1008)
//           bits 3-4  SO_SNDBUF / SO_RCVBUF of both socketpair ends: 4 KiB, 8 KiB, 16 KiB, the default
//           bit 5     the message handler echoes every message (ws.send)
//           bit 6     maxMessagesPerSecond 4 (else no limit)
//           bit 7     maxUnconsumed as small as the addon allows for maxPayload (reading pauses)
//   byte 1  bits 0-1  maxPayload: 125, 1000, 65536, 16 MiB
//           bits 2-3  maxConnections 2, maxConnectionsPerIp 2 (each bit one)
//           bit 4     permessage-deflate on (the steps marked [z] then take one more byte)
//           bit 5     its maxMemory 320 KiB (one connection's inflate window and deflate stream;
//                     the budget then forces no context takeover on the next), else no limit
//           bit 6     its threshold 0 (every text and binary message compressed), else 1 KiB
//           bit 7     its windows limited: server_max_window_bits 11, client_max_window_bits 10
//                     (offers without client_max_window_bits are declined)
//   then steps, one byte each, [flag:2][conn:2][op:4], with arguments after:
//     0 new client in place `conn` (closing the one there)
//     1 handshake: flag 0 valid, 1 valid with a text frame in the same write,
//       2 valid in two writes with a loop iteration between, 3 refused (version 12);
//       [z] an offer byte: bits 0-2 the Sec-WebSocket-Extensions offer (kOffers: none, plain,
//       client_max_window_bits, both no_context_takeover, server_max_window_bits=9,
//       client_no_context_takeover with client_max_window_bits=9, both window bits 8, a
//       malformed one), bit 3 a malformed offer before it, bit 4 another extension's line first
//     2 raw bytes: len, bytes
//     3 a masked frame: spec [len class:3][rsv1:1][no fin:1][opcode:3], length/payload bytes;
//       rsv1 on a text or binary frame of a client whose 101 agreed to permessage-deflate:
//       the client compresses the message (with its own deflater, context and window as
//       agreed), its continuations (without rsv1) too; any other RSV1 goes out as it is
//     4 pings: count byte, payload-length byte; (count+1) << 2*flag pings in one write
//     5 the client reads up to (n+1)*64 bytes (flag 3: all there is)
//     6 the client reads everything after each iteration (flag bit 0) or never
//     7 the client closes (flag 0), shuts down writing (1), reading (2), both (3)
//     8 ws.send to the connection: flag 0 text, 1 binary (len byte * 4), 3 binary of
//       len byte * 256; flag 2 ws.ping (len % 126); [z] a compress byte, bits 0-1: by the
//       threshold, compress: true, compress: false, both flags (no JS sends them; for a
//       ping, anything but false is what no JS sends)
//     9 ws.close: 1000, no code, 4000 with a 123-byte reason, 1001 (flag)
//    10 ws.terminate (flag 1: a raw terminate command whatever JS thinks)
//    11 ws.subscribe to topic `flag`     12 ws.unsubscribe from topic `flag`
//    13 publish to topic `flag`: len byte (bit 0: binary, length = byte * 16); conn 3: server.publish,
//       else ws.publish from that connection; [z] a compress byte, as for ws.send
//    14 run the loop 1 << flag iterations
//    15 flag 0: shutdown (1001, timeout 0); 1: shutdown (1001, 10 s); 2: request_stop;
//       3: a burst of ws.send in one command batch: count byte, length byte (* 8)
// "The connection" of a JS step is the one the client in place `conn` opened,
// else one of the handles opened so far. With permessage-deflate on, text (and
// binary of an even step) is made of a few words, so that messages compress and
// refer to earlier ones.
//
// Invariants, checked after every loop iteration (and every client read); each
// has a name, printed with the failure ("FUZZ_CHECK failed [name]: ..."):
//   queue-bound     for every slot, the bytes queued (SlotCounters[2 * slot], which the
//                   worker sets whenever its queue changes) stay within
//                   maxBackpressure + M + R + 2 * 127 while the connection is open
//                   (open event seen, closed event not yet), 4 KiB otherwise (an HTTP
//                   response), where M is the largest frame JS handed over in this input
//                   (send, ping or publish: one message past the bound; for one that is to be
//                   compressed, deflate's bound for its payload), R the most bytes
//                   any client had waiting unread on the server end before an iteration
//                   (SIOCINQ), capped at the 256 KiB read buffer (the pongs that answer one
//                   read: a pong is never longer than its ping), and 2 * 127 a Close frame
//                   plus one control frame;
//   event-order     an open event for a (slot, gen) never seen, with a generation above
//                   the slot's previous one, which is closed; nothing for it before its open or after its
//                   closed; no message, drain or second peer-close/protocol-error after a
//                   peer-close or protocol-error; no upgrade/http events (no hooks); nothing
//                   after stopped; every batch decodes;
//   after-closed    (the part of event-order about events after closed, named apart);
//   closed-fd       a closed event only once the worker has closed the server end;
//   message         text is valid UTF-8 and flagged ascii exactly when it is; binary never
//                   ascii; at most maxPayload bytes; codes of peer-close (valid, 1005, 1006)
//                   and protocol-error (1002, 1007, 1008, 1009) events;
//   inbound         the messages JS gets for a connection are a prefix of the messages its
//                   client sent as well-formed frames (compressed ones as the client had them
//                   before compressing; after anything else the client sent, only the
//                   messages before it are checked), and while it sent nothing else, a
//                   protocol-error comes only for what it sent: 1007 after a text message
//                   that is not UTF-8, 1009 after one past maxPayload, 1008 with the rate
//                   limit on (so a server that fails to inflate what the client compressed
//                   as agreed is caught);
//   outbound        what a client receives is a 101 for its key or an HTTP error, then
//                   server frames (unmasked, FIN, no RSV2/RSV3, known opcodes, control frames
//                   of at most 125 bytes, text valid UTF-8, a Close with a sendable code and
//                   valid reason), nothing after a Close; its text and binary frames are a
//                   subsequence of what JS sent or published to it (inbound and this last
//                   part need to know which client an open event is for: the request's
//                   target names it, so they are off in an input where a client wrote raw
//                   bytes before its handshake was answered).
//                   permessage-deflate: the 101's Sec-WebSocket-Extensions is one a client
//                   may accept (permessage-deflate alone, known parameters once each, window
//                   bits 8..15), none with deflate off; for the client's own offer it accepts
//                   exactly the valid ones (those with client_max_window_bits under bit 1.7)
//                   and answers them as RFC 7692 §7.1 says (server_no_context_takeover and
//                   server_max_window_bits as offered or less, client_max_window_bits only if
//                   offered, and within the server's limits), and it equals the open
//                   event's extensions. RSV1 comes only on text and binary frames of a
//                   connection that agreed to it; the client inflates them with the window
//                   and context takeover agreed (in 256-byte chunks, so a distance past the
//                   window fails), and the inflated message is what the subsequence holds;
//                   a message is compressed exactly when should_compress says (agreed, text
//                   or binary, compress: false not given, compress: true given or the payload
//                   at least the threshold);
//   deflate         the worker's inflate reservations stay within maxMemory and zlib never
//                   fails; once every connection is gone, nothing is reserved and no
//                   connection's own inflate stream is left;
//   gauge           stats().connections_open equals the connections JS holds open;
//   gone            once every client has closed its end, every connection is gone within
//                   100 iterations (no timer is needed: the server end sees HUP);
//   closed-once     every opened connection got exactly one closed event, and the worker
//                   one stopped event;
//   limits          SharedLimits are all released once every connection is gone;
//   fd-leak, heap-leak  descriptors and heap bytes are back to what they were before the
//                   input, once the worker and the clients are gone (heap bytes count every
//                   thread's: a difference is a leak only if a second run of the input
//                   leaks too).
// An input is at most 200 steps, 400 loop iterations (and 100 for the end),
// 1 MiB written by clients and 2 MiB sent by JS, so each runs in milliseconds.
// FUZZ_SERVER_IGNORE=name,name (environment) skips invariants, to look for further
// bugs while a known one is unfixed; nothing sets it by default. FUZZ_SERVER_TRACE=1
// prints each step, event, queue and received frame (to read a reproducer).
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "proto/close_code.h"
#include "proto/deflater.h"
#include "proto/inflater.h"
#include "proto/utf8.h"
#include "server/deflate_resources.h"
#include "test/worker_harness.h"

using namespace corews;
using harness::Handle;
using harness::RecordedEvent;
using server::EventType;

namespace {

constexpr int kPlaces = 4;               // clients at once
constexpr int kMaxClients = 12;          // per input
constexpr size_t kMaxSteps = 200;
constexpr int kMaxIterations = 400;      // run_once per input, before the final drain
constexpr int kDrainIterations = 100;
constexpr size_t kMaxClientBytes = 1 << 20;  // queued by all clients of one input
constexpr size_t kMaxJsBytes = 2 << 20;      // sent and published by JS in one input
constexpr size_t kControlFrame = 2 + 125;
constexpr size_t kReadBuffer = 256 * 1024;   // kReadBufferSize in server/worker.cpp
constexpr size_t kPreOpenBound = 4096;       // an HTTP response

bool g_trace = false;  // FUZZ_SERVER_TRACE=1: print the steps, the events and the queues (to read a finding)

#define TRACE(...)                            \
  do {                                        \
    if (g_trace) std::fprintf(stderr, __VA_ARGS__); \
  } while (0)

std::set<std::string>& ignored() {
  static std::set<std::string> s;
  return s;
}

#define INVARIANT(name, cond, ...)                                                              \
  do {                                                                                          \
    if (!(cond) && !ignored().count(name)) {                                                    \
      std::fprintf(stderr, "FUZZ_CHECK failed [%s]: %s at %s:%d: ", name, #cond, __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                                                        \
      std::fprintf(stderr, "\n");                                                               \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)

uint64_t fnv(const void* p, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

struct Msg {
  uint8_t op;
  size_t len;
  uint64_t hash;
  bool operator==(const Msg&) const = default;
};
Msg msg_of(uint8_t op, std::string_view data) { return {op, data.size(), fnv(data.data(), data.size())}; }

// Payload bytes: ASCII for text (JS strings are valid UTF-8), anything for
// binary. With `words` (inputs with permessage-deflate) text, and binary of an
// even seed, is made of a few words, so that messages compress and refer to
// the ones before them (context takeover); other binary stays incompressible.
std::string payload(size_t len, uint64_t seed, bool text, bool words = false) {
  std::string s(len, '\0');
  fuzz::Rng r(seed);
  if (words && (text || seed % 2 == 0)) {
    static constexpr const char* kWords[16] = {"hello ", "world ", "corews ", "deflate ", "window ", "message ",
                                               "the ",   "of ",    "frame ",  "{\"room\":", "\"lobby\"}, ",
                                               "user ",  "text ",  "context ", "x",       "takeover "};
    s.clear();
    while (s.size() < len) s += kWords[r.below(16)];
    s.resize(len);
    return s;
  }
  for (size_t i = 0; i < len; ++i) s[i] = text ? char('a' + r.below(26)) : char(r.next());
  return s;
}

// ---- permessage-deflate (RFC 7692)

constexpr size_t kSmallDeflateBudget = 320 * 1024;  // maxMemory of config bit 1.5: see run_input
constexpr uint8_t kLimitServerBits = 11;            // the server's window limits of config bit 1.7
constexpr uint8_t kLimitClientBits = 10;
constexpr size_t kClientInflateChunk = 256;  // small, so that a distance past the agreed window fails
constexpr uint64_t kClientInflateLimit = 64u << 20;

// The offers of a handshake's offer byte (bits 0-2), and what the client then
// holds the 101 to.
struct Offer {
  const char* text;     // the Sec-WebSocket-Extensions value; null: no header
  bool valid;           // one this server accepts (unless its own client window limit declines it)
  bool sntc, cntc;      // server_ / client_no_context_takeover
  uint8_t smwb;         // server_max_window_bits, 0: not offered
  bool cmwb;            // client_max_window_bits offered
  uint8_t cmwb_value;   // with this value, 0: without one
};
constexpr Offer kOffers[8] = {
    {nullptr, false, false, false, 0, false, 0},
    {"permessage-deflate", true, false, false, 0, false, 0},
    {"permessage-deflate; client_max_window_bits", true, false, false, 0, true, 0},
    {"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, true, true, 0, false, 0},
    {"permessage-deflate; server_max_window_bits=9", true, false, false, 9, false, 0},
    {"permessage-deflate; client_no_context_takeover; client_max_window_bits=9", true, false, true, 0, true, 9},
    {"permessage-deflate; server_max_window_bits=8; client_max_window_bits=8", true, false, false, 8, true, 8},
    {"permessage-deflate; server_max_window_bits=16", false, false, false, 0, false, 0},  // malformed
};

// What a 101 agreed to (a parameter's absence is 0 / false).
struct Agreed {
  bool sntc = false, cntc = false;
  uint8_t smwb = 0, cmwb = 0;
};

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(uint8_t(a[i])) != std::tolower(uint8_t(b[i]))) return false;
  }
  return true;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// A response head's Sec-WebSocket-Extensions, read as a client that offered
// only permessage-deflate must (RFC 7692 §5, §7.1): 0 when there is none, 1
// when it agrees to permessage-deflate (`a`), -1 when the client must fail
// the connection (`why`). `value` is the header's value.
int parse_agreement(std::string_view head, Agreed& a, std::string& value, const char*& why) {
  int lines = 0;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t next = head.find("\r\n", pos + 2);
    if (next == std::string_view::npos) break;
    std::string_view line = head.substr(pos + 2, next - pos - 2);
    pos = next;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !iequal(line.substr(0, colon), "Sec-WebSocket-Extensions")) continue;
    ++lines;
    value = std::string(trim(line.substr(colon + 1)));
  }
  if (lines == 0) return 0;
  why = "more than one Sec-WebSocket-Extensions line";
  if (lines > 1) return -1;
  why = "more than one extension, or one the client did not offer";
  std::string_view v = value;
  if (v.find(',') != std::string_view::npos) return -1;
  size_t semi = v.find(';');
  if (!iequal(trim(v.substr(0, semi)), "permessage-deflate")) return -1;
  bool seen[4] = {};
  while (semi != std::string_view::npos) {
    v.remove_prefix(semi + 1);
    semi = v.find(';');
    std::string_view param = trim(v.substr(0, semi));
    size_t eq = param.find('=');
    std::string_view name = trim(param.substr(0, eq));
    std::string_view val = eq == std::string_view::npos ? std::string_view() : trim(param.substr(eq + 1));
    int which = iequal(name, "server_no_context_takeover")   ? 0
                : iequal(name, "client_no_context_takeover") ? 1
                : iequal(name, "server_max_window_bits")     ? 2
                : iequal(name, "client_max_window_bits")     ? 3
                                                             : -1;
    why = "an unknown parameter";
    if (which < 0) return -1;
    why = "a parameter twice";
    if (seen[which]) return -1;
    seen[which] = true;
    if (which < 2) {
      why = "a value on a no_context_takeover parameter";
      if (eq != std::string_view::npos) return -1;
      (which == 0 ? a.sntc : a.cntc) = true;
      continue;
    }
    // §7.1.2: a response names a window size as 8..15, no leading zero.
    bool ok = (val.size() == 1 && val[0] >= '8' && val[0] <= '9') ||
              (val.size() == 2 && val[0] == '1' && val[1] >= '0' && val[1] <= '5');
    why = "a window size that is not 8..15";
    if (!ok) return -1;
    uint8_t bits = uint8_t(std::atoi(std::string(val).c_str()));
    (which == 2 ? a.smwb : a.cmwb) = bits;
  }
  return 1;
}

// The most bytes a compressed frame of a `len`-byte payload takes: zlib's
// deflateBound for raw streams of any window and memLevel, the sync flush's
// empty stored block, and the longest header.
size_t compressed_frame_bound(size_t len) { return len + ((len + 7) >> 3) + ((len + 63) >> 6) + 5 + 6 + 10; }

struct Reader {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::string take(size_t k) {
    k = std::min(k, n);
    std::string s(reinterpret_cast<const char*>(p), k);
    p += k;
    n -= k;
    return s;
  }
};

// A client: the fuzzer's record outlives the harness's (which ends at close).
struct ClientRec {
  int fd = -1;  // -1 once closed
  int server_fd = -1;
  ino_t server_ino = 0;
  std::string key;  // of its handshake; the 101 must answer it
  Handle handle;    // from the open event with its target
  // Inbound model: the complete messages it sent as well-formed frames.
  std::vector<Msg> sent;
  bool frozen = false;  // it sent something else: the model stops here
  bool in_message = false;
  uint8_t message_op = 0;
  size_t message_len = 0;
  uint64_t message_hash = 0;
  // What may fail its connection although its frames are well-formed: a text
  // message that is not UTF-8 (1007), a message past maxPayload (1009).
  proto::Utf8Validator message_utf8;
  bool sent_bad_text = false;
  bool sent_too_big = false;
  // What it received.
  int stream = 0;  // 0 head pending, 1 frames, 2 an HTTP error response, 3 after a Close
  size_t parsed = 0;
  size_t matched = 0;  // outbound: index into its handle's expected list
  // permessage-deflate (inputs with config bit 1.4): what its first handshake
  // offered (kOffers index, -1: none sent yet), what the 101 agreed, its
  // inflater of the server's compressed messages and its own deflater.
  int offer = -1;
  bool deflate = false;
  Agreed agreed;
  std::unique_ptr<proto::Inflater> inflater;
  std::unique_ptr<proto::Deflater> deflater;
  bool compressing = false;  // inside a message of its own whose first frame had RSV1

  bool server_end_open() const {
    struct stat st {};
    return fstat(server_fd, &st) == 0 && st.st_ino == server_ino;
  }
  // What the server has still to read from this client (also after the client closed).
  size_t server_unread() const {
    int n = 0;
    if (!server_end_open() || ioctl(server_fd, SIOCINQ, &n) != 0 || n < 0) return 0;
    return size_t(n);
  }
};

struct HandleRec {
  int client = -1;  // index of its ClientRec, -1 when not known
  bool closed = false;
  bool peer_done = false;  // a peer-close or protocol-error came
  size_t delivered = 0;    // messages JS got
  bool deflate = false;    // its open event named an extension (ws.extensions)
  std::string extensions;
  // Text and binary frames JS sent or published to it, and whether each must
  // arrive compressed (RSV1) or must not: what should_compress decides.
  struct Expected {
    Msg msg;
    bool compressed;
  };
  std::vector<Expected> expected;
};

class Program {
 public:
  Program(server::WorkerConfig config, harness::HarnessOptions options, int sockbuf, bool echo)
      : h_(config, options), options_(options), sockbuf_(sockbuf), echo_(echo), deflate_(config.deflate.enabled) {
    h_.on_event = [this](const RecordedEvent& e) { on_event(e); };
    h_.before_run = [this] {
      for (const auto& c : clients_) unread_max_ = std::max(unread_max_, std::min(c.server_unread(), kReadBuffer));
    };
  }

  void run(Reader in) {
    for (size_t step = 0; step < kMaxSteps && !in.empty(); ++step) {
      uint8_t b = in.u8();
      int op = b & 15, conn = (b >> 4) & 3, flag = b >> 6;
      static const char* const kNames[16] = {"new",   "handshake", "raw",       "frame",   "pings",   "read",
                                             "reading", "client-close", "ws.send", "ws.close", "ws.terminate",
                                             "subscribe", "unsubscribe", "publish", "advance", "misc"};
      TRACE("step %zu: %s conn %d flag %d\n", step, kNames[op], conn, flag);
      run_step(in, op, conn, flag, step);
    }
    finish();
  }

 private:
  // ---- steps

  void run_step(Reader& in, int op, int conn, int flag, size_t step) {
    int fd = place_[conn];
    ClientRec* c = fd >= 0 ? &clients_[size_t(rec_of_fd_[fd])] : nullptr;
    switch (op) {
      case 0:
        if (c) close_client(conn);
        if (int(clients_.size()) < kMaxClients) new_client(conn);
        break;
      case 1: {
        uint8_t offer = deflate_ ? in.u8() : 0;
        if (c) handshake(*c, flag, offer);
        break;
      }
      case 2: {
        std::string bytes = in.take(in.u8());
        if (c) {
          c->frozen = true;
          if (c->stream == 0) any_taint_ = true;  // a raw request could name another client's target
          client_write(*c, bytes);
        }
        break;
      }
      case 3: {
        uint8_t spec = in.u8();
        size_t len;
        int cls = spec >> 5;
        std::string data;
        static constexpr uint8_t kOps[8] = {1, 2, 0, 9, 10, 8, 3, 11};
        uint8_t fop = kOps[spec & 7];
        bool text = fop == 1 || fop == 0;
        switch (cls) {
          case 0: len = 0; break;
          case 1: len = in.u8(); break;
          case 2: len = 125; break;
          case 3: len = 126; break;
          case 4: len = size_t(in.u8()) * 64; break;
          case 5: len = 65535 + size_t(in.u8()); break;
          case 6: len = size_t(in.u8()) * 256; break;
          default: len = SIZE_MAX; break;  // the payload from the input
        }
        if (len == SIZE_MAX) {
          data = in.take(in.u8());
        } else if (fop == 8 && len >= 2) {
          data = in.take(2);  // the close code
          data += payload(len - data.size(), step, true);
        } else {
          data = payload(len, step, text, deflate_);
        }
        if (c) send_frame(*c, fop, data, !(spec & 8), spec & 16);
        break;
      }
      case 4: {
        size_t count = (size_t(in.u8()) + 1) << (2 * flag);
        size_t plen = in.u8() % 126;
        if (c) {
          std::string one = harness::client_frame(proto::kOpPing, payload(plen, step, false));
          std::string all;
          for (size_t i = 0; i < count && all.size() + one.size() <= kMaxClientBytes / 2; ++i) all += one;
          client_write(*c, all);
        }
        break;
      }
      case 5: {
        size_t n = in.u8();
        if (c) {
          h_.read_client(c->fd, flag == 3 ? SIZE_MAX : (n + 1) * 64);
          check_stream(*c);
        }
        break;
      }
      case 6:
        if (c) h_.set_auto_read(c->fd, flag & 1);
        break;
      case 7:
        if (!c) break;
        if (flag == 0) {
          close_client(conn);
        } else {
          int how = flag == 1 ? SHUT_WR : flag == 2 ? SHUT_RD : SHUT_RDWR;
          if (how != SHUT_RD) h_.client(c->fd).unsent.clear();
          if (how != SHUT_RD) h_.client(c->fd).write_shut = true;
          ::shutdown(c->fd, how);
        }
        break;
      case 8: {
        uint8_t a = in.u8();
        uint8_t cf = deflate_ ? compress_flags(in.u8()) : 0;
        Handle ws = target(conn);
        if (!ws.valid()) break;
        if (flag == 0) js_send(ws, proto::kOpText, payload(size_t(a) * 4, step, true, deflate_), cf);
        if (flag == 1) js_send(ws, proto::kOpBinary, payload(size_t(a) * 4, step, false, deflate_), cf);
        if (flag == 2) {
          h_.ws_ping(ws, payload(a % 126, step, false), cf);
          max_frame_ = std::max(max_frame_, 2 + size_t(a % 126));
        }
        if (flag == 3) js_send(ws, proto::kOpBinary, payload(size_t(a) * 256, step, false, deflate_), cf);
        break;
      }
      case 9: {
        Handle ws = target(conn);
        if (!ws.valid()) break;
        const std::string kLong(123, 'r');  // not static: the heap check counts what an input keeps
        if (flag == 0) h_.ws_close(ws, 1000);
        if (flag == 1) h_.ws_close(ws, 0);  // as close(worker, slot, gen, 0, ''): a Close without a code
        if (flag == 2) h_.ws_close(ws, 4000, kLong);
        if (flag == 3) h_.ws_close(ws, 1001, "x");
        break;
      }
      case 10: {
        Handle ws = target(conn);
        if (!ws.valid()) break;
        if (flag & 1) {
          h_.terminate(ws);
        } else {
          h_.ws_terminate(ws);
        }
        break;
      }
      case 11:
      case 12: {
        Handle ws = target(conn);
        if (!ws.valid()) break;
        if (op == 11) {
          h_.ws_subscribe(ws, uint32_t(flag));
        } else {
          h_.ws_unsubscribe(ws, uint32_t(flag));
        }
        break;
      }
      case 13: {
        uint8_t a = in.u8();
        uint8_t cf = deflate_ ? compress_flags(in.u8()) : 0;
        Handle sender = conn == 3 ? harness::kNoHandle : target(conn);
        if (conn != 3 && !sender.valid()) break;
        js_publish(uint32_t(flag), (a & 1) ? proto::kOpBinary : proto::kOpText,
                   payload(size_t(a) * 16, step, !(a & 1), deflate_), sender, cf);
        break;
      }
      case 14:
        for (int i = 0; i < (1 << flag); ++i) iterate();
        break;
      case 15:
        if (flag == 0) h_.shutdown(1001, "bye", 0);
        if (flag == 1) h_.shutdown(1001, "going away", 10000);
        if (flag == 2 && h_.has_worker()) h_.worker().request_stop();
        if (flag == 3) {
          size_t count = in.u8() % 32 + 1;
          size_t len = size_t(in.u8()) * 8;
          Handle ws = target(conn);
          if (!ws.valid()) break;
          for (size_t i = 0; i < count; ++i) {
            js_send(ws, proto::kOpBinary, payload(len, step * 64 + i, false, deflate_));
          }
        }
        break;
    }
  }

  void new_client(int conn) {
    int fd = h_.adopt(sockbuf_, sockbuf_);
    if (fd < 0) return;
    ClientRec c;
    c.fd = fd;
    c.server_fd = h_.client(fd).server_fd;
    c.server_ino = h_.client(fd).server_ino;
    rec_of_fd_[fd] = int(clients_.size());
    clients_.push_back(std::move(c));
    place_[conn] = fd;
  }

  void close_client(int conn) {
    int fd = place_[conn];
    if (fd < 0) return;
    h_.close_client(fd);
    clients_[size_t(rec_of_fd_[fd])].fd = -1;
    rec_of_fd_.erase(fd);
    place_[conn] = -1;
  }

  // False when the input's budget of client bytes refuses them (nothing is written).
  bool client_write(ClientRec& c, std::string_view bytes) {
    if (client_bytes_ + bytes.size() > kMaxClientBytes) return false;
    client_bytes_ += bytes.size();
    h_.send_raw(c.fd, bytes);
    return true;
  }

  void handshake(ClientRec& c, int flag, uint8_t offer) {
    auto& hc = h_.client(c.fd);
    if (!c.key.empty() || c.stream != 0) c.frozen = true;  // a second request is garbage to the frame parser
    std::string target = "/c" + std::to_string(rec_of_fd_[c.fd]);
    std::string key = harness::key_for(uint64_t(rec_of_fd_[c.fd]) + 1);
    targets_[target] = rec_of_fd_[c.fd];
    if (c.key.empty()) {
      c.key = key;
      if (deflate_) c.offer = offer & 7;  // the first request is the one the server answers
    }
    hc.key = c.key;
    std::string req = harness::upgrade_request(target, key);
    if (deflate_) {
      // Bit 4: another extension on a line of its own first (the server joins
      // the lines, and skips it); bit 3: an offer that must be declined before
      // the offer itself (the server goes on to the next).
      std::string extra;
      if (offer & 16) extra += "Sec-WebSocket-Extensions: x-webkit-deflate-frame; no_context_takeover\r\n";
      std::string value = (offer & 8) ? "permessage-deflate; server_max_window_bits" : "";
      if (const char* text = kOffers[offer & 7].text) value += (value.empty() ? "" : ", ") + std::string(text);
      if (!value.empty()) extra += "Sec-WebSocket-Extensions: " + value + "\r\n";
      req.insert(req.size() - 2, extra);  // before the blank line
    }
    if (flag == 3) {
      size_t v = req.find("Version: 13");
      if (v != std::string::npos) req.replace(v, 11, "Version: 12");
    }
    if (flag == 2) {
      client_write(c, std::string_view(req).substr(0, req.size() / 2));
      iterate();
      if (c.fd >= 0) client_write(c, std::string_view(req).substr(req.size() / 2));
      return;
    }
    client_write(c, req);
    if (flag == 1) send_frame(c, proto::kOpText, "early", true, 0);
  }

  // A well-formed masked frame, and what it means for the inbound model.
  // With permessage-deflate agreed (as far as the client has read the 101), a
  // text or binary frame with `rsv1` starts a message the client compresses
  // with its own deflater, and its continuations (without RSV1) go on with it;
  // the model expects what the client compressed. Any other RSV1 goes out on
  // the payload as it is, and the server fails the connection.
  void send_frame(ClientRec& c, uint8_t op, std::string_view data, bool fin, bool rsv1) {
    bool compress = false;
    if (c.deflater) {
      bool first = op == 1 || op == 2;
      if (first && c.compressing) {
        // A new message inside a compressed one: the server fails here; the
        // client drops its unfinished message (and with it its history).
        c.deflater->release();
        c.compressing = false;
      }
      compress = (rsv1 && first) || (!rsv1 && op == 0 && c.compressing);
    }
    std::string wire(data);
    if (compress) {
      std::vector<uint8_t> out;
      const auto* p = reinterpret_cast<const uint8_t*>(data.data());
      bool ok = c.deflater->write(p, data.size(), out) && (!fin || c.deflater->finish(out));
      FUZZ_CHECK_MSG(ok, "the client's deflater failed");
      wire.assign(reinterpret_cast<const char*>(out.data()), out.size());
      c.compressing = !fin;
      TRACE("  client %d compressed %zu bytes to %zu\n", rec_of_fd_[c.fd], data.size(), wire.size());
    }
    bool written = client_write(c, harness::client_frame(op, wire, fin, uint32_t(fnv(data.data(), data.size())),
                                                         rsv1 ? 4 : 0));
    if (!written) c.frozen = true;  // the server never sees it: the model stops here
    if (c.frozen) return;
    bool control = op & 8;
    if ((rsv1 && !compress) || !(op <= 2 || (op >= 8 && op <= 10)) || (control && (!fin || data.size() > 125))) {
      c.frozen = true;  // the server fails the connection here
      return;
    }
    if (control) {
      if (op == 8) c.frozen = true;  // nothing after a Close
      return;
    }
    if ((op == 0) != c.in_message) {
      c.frozen = true;  // a continuation without a message, or a new message inside one
      return;
    }
    if (op != 0) {
      c.in_message = true;
      c.message_op = op;
      c.message_len = 0;
      c.message_hash = fnv(nullptr, 0);
      c.message_utf8.reset();
    }
    c.message_len += data.size();
    c.message_hash = fnv(data.data(), data.size(), c.message_hash);
    if (c.message_op == 1) {
      bool ok = c.message_utf8.feed(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      if (!ok || (fin && !c.message_utf8.complete())) c.sent_bad_text = true;
    }
    if (c.message_len > h_.config().parser.max_payload) c.sent_too_big = true;
    if (fin) {
      c.sent.push_back({c.message_op, c.message_len, c.message_hash});
      c.in_message = false;
    }
  }

  // The handle JS would use for a step on `conn`.
  Handle target(int conn) {
    int fd = place_[conn];
    if (fd >= 0) {
      Handle h = clients_[size_t(rec_of_fd_[fd])].handle;
      if (h.valid()) return h;
    }
    const auto& opened = h_.opened();
    if (opened.empty()) return harness::kNoHandle;
    return opened[opened.size() - 1 - size_t(conn) % opened.size()];
  }

  // Step argument bits 0-1 as send/publish flags: by the threshold, compress: true,
  // compress: false, and both flags (which no JS sends: never compressed).
  static uint8_t compress_flags(uint8_t b) {
    return uint8_t(((b & 1) ? server::kSendCompress : 0) | ((b & 2) ? server::kSendNoCompress : 0));
  }

  // What Worker::should_compress decides for a message to `hr`: its
  // connection agreed to permessage-deflate, it is text or binary, and the
  // flags ask for it or the payload reaches the threshold.
  bool compressed_for(const HandleRec& hr, proto::Opcode op, size_t len, uint8_t flags) const {
    if (!hr.deflate || (op != proto::kOpText && op != proto::kOpBinary) || (flags & server::kSendNoCompress)) {
      return false;
    }
    return (flags & server::kSendCompress) || len >= h_.config().deflate.threshold;
  }

  void js_send(Handle ws, proto::Opcode op, const std::string& data, uint8_t flags = 0) {
    if (js_bytes_ + data.size() > kMaxJsBytes) return;
    js_bytes_ += data.size();
    if (h_.ws_send(ws, op, data, flags) == harness::WorkerHarness::kDropped) return;
    HandleRec& hr = handles_[ws];
    bool z = compressed_for(hr, op, data.size(), flags);
    max_frame_ = std::max(max_frame_, proto::frame_header_size(data.size(), false) + data.size());
    if (z) max_frame_ = std::max(max_frame_, compressed_frame_bound(data.size()));
    if (op == proto::kOpText || op == proto::kOpBinary) hr.expected.push_back({msg_of(op, data), z});
  }

  // server.publish / ws.publish: nothing without subscribers (JS counts them),
  // nothing from a socket that is not open.
  void js_publish(uint32_t topic, proto::Opcode op, const std::string& data, Handle sender, uint8_t flags) {
    if (js_bytes_ + data.size() > kMaxJsBytes) return;
    if (sender.valid() && (h_.js(sender) == nullptr || h_.js(sender)->state != 1)) return;
    std::vector<Handle> subs;
    for (Handle ws : h_.opened()) {
      auto* s = h_.js(ws);
      if (s && std::count(s->topics.begin(), s->topics.end(), topic)) subs.push_back(ws);
    }
    if (subs.empty()) return;
    js_bytes_ += data.size();
    max_frame_ = std::max(max_frame_, h_.publish(topic, op, data, sender, flags));
    for (Handle ws : subs) {
      if (ws == sender) continue;
      HandleRec& hr = handles_[ws];
      bool z = compressed_for(hr, op, data.size(), flags);
      if (z) max_frame_ = std::max(max_frame_, compressed_frame_bound(data.size()));
      hr.expected.push_back({msg_of(op, data), z});
    }
  }

  // ---- the loop, and the checks after each iteration

  void iterate() {
    if (iterations_ >= kMaxIterations) return;
    ++iterations_;
    h_.step();
    after_iteration();
  }

  void after_iteration() {
    INVARIANT("event-order", h_.bad_batches() == 0, "a batch's offsets leave its arena");
    for (auto& c : clients_) {
      if (c.fd >= 0) check_stream(c);
    }
    check_queues();
    check_deflate();
    if (h_.has_worker()) {
      uint64_t gauge = h_.worker().stats().connections_open.load();
      INVARIANT("gauge", gauge == open_handles_, "stats().connections_open %llu, JS holds %zu open",
                static_cast<unsigned long long>(gauge), open_handles_);
    }
  }

  void check_queues() {
    size_t bound_open = h_.config().max_backpressure + max_frame_ + unread_max_ + 2 * kControlFrame;
    size_t slots = std::min(h_.counters().slots(), clients_.size());
    for (uint32_t s = 0; s < slots; ++s) {
      auto live = live_by_slot_.find(s);
      bool open = live != live_by_slot_.end();
      size_t q = h_.queued(s);
      size_t bound = open ? bound_open : kPreOpenBound;
      if (q) TRACE("  slot %u queued %zu (bound %zu)\n", s, q, bound);
      INVARIANT("queue-bound", q <= bound,
                "slot %u (%s) has %zu bytes queued, bound %zu (maxBackpressure %zu + largest frame %zu + "
                "unread %zu + 2 * %zu)",
                s, open ? "open" : "not open", q, bound, h_.config().max_backpressure, max_frame_, unread_max_,
                kControlFrame);
    }
  }

  // What a client received: the response, then server frames.
  void check_stream(ClientRec& c) {
    const std::string& r = h_.client(c.fd).received;
    if (c.stream == 0) {
      size_t end = r.find("\r\n\r\n");
      if (end == std::string::npos) {
        INVARIANT("outbound", r.size() <= 16384, "%zu bytes of response head without its end", r.size());
        return;
      }
      if (r.compare(0, 13, "HTTP/1.1 101 ") == 0) {
        if (!any_taint_ && !c.key.empty()) {
          size_t head_len = 0;
          auto st = proto::check_server_response(r.data(), r.size(), c.key, head_len);
          INVARIANT("outbound", st == proto::ClientHandshakeStatus::kOk, "a 101 that does not answer the client's key");
        }
        c.stream = 1;
        c.parsed = end + 4;
        check_agreement(c, std::string_view(r).substr(0, end + 4));
      } else {
        bool error = r.size() >= 12 && r.compare(0, 9, "HTTP/1.1 ") == 0 && (r[9] == '4' || r[9] == '5');
        INVARIANT("outbound", error, "a response that is neither 101 nor an HTTP error: %.40s", r.c_str());
        c.stream = 2;
        return;
      }
    }
    if (c.stream == 2) return;
    std::vector<harness::ServerFrame> frames;
    harness::parse_frames(r, c.parsed, frames);
    for (const auto& f : frames) {
      bool compressed = f.rsv == 4;  // RSV1 (ServerFrame::rsv holds RSV1..3 as bits 2..0)
      TRACE("  client %d received opcode %d, %zu bytes%s\n", rec_of_fd_[c.fd], f.op, f.payload.size(),
            compressed ? " compressed" : "");
      INVARIANT("outbound", c.stream != 3, "a frame (opcode %d) after the server's Close", f.op);
      INVARIANT("outbound", !f.masked && (f.rsv == 0 || compressed) && f.fin,
                "server frame header: masked %d rsv %d fin %d", f.masked, f.rsv, f.fin);
      std::string inflated;
      const std::string* body = &f.payload;
      if (compressed) {
        // RFC 7692 §6: RSV1 only with permessage-deflate agreed, and only on a
        // data message's first frame (every server frame is a whole message).
        INVARIANT("outbound", c.deflate, "a frame (opcode %d) with RSV1 on a connection without permessage-deflate",
                  f.op);
        INVARIANT("outbound", f.op == 1 || f.op == 2, "RSV1 on a %s frame (opcode %d)",
                  (f.op & 8) ? "control" : f.op == 0 ? "continuation" : "reserved", f.op);
        if (c.inflater && (f.op == 1 || f.op == 2)) {
          const char* why = inflate(c, f.payload, inflated);
          INVARIANT("outbound", why == nullptr,
                    "a compressed %s frame of %zu bytes that does not inflate (server_max_window_bits %d, "
                    "server_no_context_takeover %d): %s",
                    f.op == 1 ? "text" : "binary", f.payload.size(), c.inflater->options().window_bits,
                    c.inflater->options().no_context_takeover, why);
          TRACE("  inflated to %zu bytes\n", inflated.size());
          body = &inflated;
        }
      }
      bool known = f.op == 1 || f.op == 2 || f.op == 8 || f.op == 9 || f.op == 10;
      INVARIANT("outbound", known, "server frame with opcode %d", f.op);
      if (f.op & 8) INVARIANT("outbound", f.payload.size() <= 125, "control frame of %zu bytes", f.payload.size());
      const auto* bytes = reinterpret_cast<const uint8_t*>(body->data());
      if (f.op == 1) INVARIANT("outbound", proto::is_valid_utf8(bytes, body->size()), "text frame not UTF-8");
      if (f.op == 8) {
        bool ok = f.payload.empty() ||
                  (f.payload.size() >= 2 && proto::is_valid_close_code(f.close_code()) &&
                   proto::is_valid_utf8(bytes + 2, f.payload.size() - 2));
        INVARIANT("outbound", ok, "server Close of %zu bytes, code %u", f.payload.size(), f.close_code());
        c.stream = 3;
      }
      if ((f.op == 1 || f.op == 2) && !any_taint_ && c.handle.valid()) {
        HandleRec& hr = handles_[c.handle];
        Msg m = msg_of(f.op, *body);
        while (c.matched < hr.expected.size() &&
               !(hr.expected[c.matched].msg == m && hr.expected[c.matched].compressed == compressed)) {
          ++c.matched;
        }
        INVARIANT("outbound", c.matched < hr.expected.size(),
                  "the client received a %s%s frame of %zu bytes (%zu on the wire) that JS did not send it "
                  "(or not in this order, or %s)",
                  compressed ? "compressed " : "", f.op == 1 ? "text" : "binary", body->size(), f.payload.size(),
                  compressed ? "JS's send or publish must not be compressed" : "it had to be compressed");
        ++c.matched;
      }
    }
    if (c.stream == 3) {
      INVARIANT("outbound", c.parsed == r.size(), "%zu bytes after the server's Close", r.size() - c.parsed);
    }
  }

  // The 101's Sec-WebSocket-Extensions: a valid answer to what the client
  // offered (RFC 7692 §7.1), the same as the open event's extensions, and,
  // when it agrees, the client's inflater and deflater as agreed.
  void check_agreement(ClientRec& c, std::string_view head) {
    Agreed a;
    std::string value;
    const char* why = "";
    int got = parse_agreement(head, a, value, why);
    INVARIANT("outbound", got >= 0, "a 101 with Sec-WebSocket-Extensions \"%s\" that the client must refuse: %s",
              value.c_str(), why);
    INVARIANT("outbound", deflate_ || got == 0, "Sec-WebSocket-Extensions \"%s\" without permessage-deflate on",
              value.c_str());
    if (got < 0) return;
    TRACE("  client %d: 101 with extensions \"%s\"\n", rec_of_fd_[c.fd], value.c_str());
    const Offer* o = (!any_taint_ && c.offer >= 0) ? &kOffers[c.offer] : nullptr;
    if (o) {
      bool limits = h_.config().deflate.negotiation.client_max_window_bits != 0;
      bool acceptable = o->valid && (!limits || o->cmwb);
      INVARIANT("outbound", (got == 1) == acceptable, "the offer \"%s\" was %s (\"%s\")", o->text ? o->text : "",
                got == 1 ? "accepted" : "declined", value.c_str());
      if (got == 1) {
        // §7.1.1.1, §7.1.2.1, §7.1.2.2, and this server's own limits.
        INVARIANT("outbound", a.sntc || !o->sntc, "server_no_context_takeover offered, not answered: \"%s\"",
                  value.c_str());
        INVARIANT("outbound", !o->smwb || (a.smwb && a.smwb <= o->smwb),
                  "server_max_window_bits=%d offered, answered with %d", o->smwb, a.smwb);
        INVARIANT("outbound", !a.cmwb || o->cmwb, "client_max_window_bits answered, not offered: \"%s\"",
                  value.c_str());
        INVARIANT("outbound", !a.cmwb || !o->cmwb_value || a.cmwb <= o->cmwb_value,
                  "client_max_window_bits=%d offered, answered with %d", o->cmwb_value, a.cmwb);
        INVARIANT("outbound", !limits || (a.smwb && a.smwb <= kLimitServerBits && a.cmwb && a.cmwb <= kLimitClientBits),
                  "the server's window limits (%d, %d), answered \"%s\"", kLimitServerBits, kLimitClientBits,
                  value.c_str());
      }
    }
    if (!any_taint_ && c.handle.valid()) {
      const HandleRec& hr = handles_[c.handle];
      INVARIANT("outbound", hr.extensions == (got == 1 ? value : std::string()),
                "the 101 agreed to \"%s\", the open event says \"%s\"", value.c_str(), hr.extensions.c_str());
    }
    if (got != 1) return;
    c.deflate = true;
    c.agreed = a;
    c.inflater = std::make_unique<proto::Inflater>(
        proto::InflaterOptions{a.smwb ? a.smwb : 15, a.sntc, false, kClientInflateChunk, nullptr});
    // The client's window: what the server named, or less if the client itself said so.
    int bits = a.cmwb ? a.cmwb : 15;
    bool no_context = a.cntc;
    if (c.offer >= 0) {
      if (kOffers[c.offer].cmwb_value) bits = std::min<int>(bits, kOffers[c.offer].cmwb_value);
      no_context |= kOffers[c.offer].cntc;
    }
    c.deflater = std::make_unique<proto::Deflater>(proto::DeflaterOptions{-1, 8, bits, no_context, false, nullptr});
  }

  // Inflates one compressed message from the server; null, or why it failed.
  static const char* inflate(ClientRec& c, const std::string& payload, std::string& out) {
    auto sink = [&out](const uint8_t* d, size_t n) {
      out.append(reinterpret_cast<const char*>(d), n);
      return true;
    };
    const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
    proto::InflateStatus st = c.inflater->write(p, payload.size(), kClientInflateLimit, sink);
    if (st == proto::InflateStatus::kOk) st = c.inflater->finish(kClientInflateLimit, sink);
    if (st == proto::InflateStatus::kOk) return nullptr;
    const char* why = st == proto::InflateStatus::kBadData ? c.inflater->error()
                      : st == proto::InflateStatus::kTooBig ? "past 64 MiB"
                                                             : "zlib failed";
    c.inflater->release();  // (to go on under FUZZ_SERVER_IGNORE)
    return why;
  }

  // The worker's permessage-deflate resources: reservations within maxMemory,
  // zlib never failing.
  void check_deflate() {
    if (!deflate_ || !h_.has_worker()) return;
    auto& res = h_.worker().deflate();
    INVARIANT("deflate", res.reserved() <= h_.config().deflate.max_memory, "%zu bytes reserved, maxMemory %zu",
              res.reserved(), h_.config().deflate.max_memory);
    uint64_t failures = res.stats().deflate_failures.load();
    INVARIANT("deflate", failures == 0, "zlib failed %llu times", static_cast<unsigned long long>(failures));
  }

  // ---- events, as they are dispatched

  void on_event(const RecordedEvent& e) {
    Handle h = e.handle();
    TRACE("  event %s (%u, %u) num %u %zu bytes%s%s\n", harness::event_name(e.type), h.slot, h.gen, e.num,
          e.type == EventType::kMessage ? e.payload.size() : e.strings.size(), e.strings.empty() ? "" : " ",
          e.strings.empty() ? "" : e.strings[0].substr(0, 40).c_str());
    INVARIANT("event-order", !stopped_seen_, "%s event after stopped", harness::event_name(e.type));
    switch (e.type) {
      case EventType::kStopped:
        stopped_seen_ = true;
        return;
      case EventType::kUpgrade:
      case EventType::kHttpRequest:
        INVARIANT("event-order", false, "%s event without hooks", harness::event_name(e.type));
        return;
      case EventType::kOpen: {
        INVARIANT("event-order", !seen_.count(h), "second open for (%u, %u)", h.slot, h.gen);
        auto live = live_by_slot_.find(h.slot);
        INVARIANT("event-order", live == live_by_slot_.end(), "open for (%u, %u) while (%u, %u) is not closed",
                  h.slot, h.gen, h.slot, live == live_by_slot_.end() ? 0 : live->second.gen);
        auto last = last_gen_.find(h.slot);
        INVARIANT("event-order", last == last_gen_.end() || h.gen > last->second,
                  "open for (%u, %u) after generation %u", h.slot, h.gen, last == last_gen_.end() ? 0 : last->second);
        seen_.insert(h);
        last_gen_[h.slot] = h.gen;
        live_by_slot_[h.slot] = h;
        ++open_handles_;
        HandleRec& hr = handles_[h];
        if (e.strings.size() >= 4) {
          hr.extensions = e.strings[3];
          hr.deflate = !hr.extensions.empty();
          INVARIANT("event-order", deflate_ || !hr.deflate, "extensions \"%s\" without permessage-deflate on",
                    hr.extensions.c_str());
        }
        if (!e.strings.empty()) {
          auto t = targets_.find(e.strings[0]);
          if (t != targets_.end() && !any_taint_) {
            ClientRec& c = clients_[size_t(t->second)];
            INVARIANT("event-order", !c.handle.valid(), "a second open event for the client of %s",
                      e.strings[0].c_str());
            c.handle = h;
            hr.client = t->second;
          }
        }
        return;
      }
      default:
        break;
    }
    INVARIANT("event-order", seen_.count(h), "%s event for (%u, %u), which never opened", harness::event_name(e.type),
              h.slot, h.gen);
    HandleRec& hr = handles_[h];
    INVARIANT("after-closed", !hr.closed, "%s event for (%u, %u) after its closed event", harness::event_name(e.type),
              h.slot, h.gen);
    if (hr.closed) return;  // (ignored)
    switch (e.type) {
      case EventType::kMessage: {
        INVARIANT("event-order", !hr.peer_done, "message after a peer-close or protocol-error");
        const auto* p = reinterpret_cast<const uint8_t*>(e.payload.data());
        INVARIANT("message", e.payload.size() <= h_.config().parser.max_payload, "message of %zu bytes",
                  e.payload.size());
        bool binary = e.num & server::kMessageBinary;
        if (binary) {
          INVARIANT("message", !(e.num & server::kMessageAscii), "binary message flagged ascii");
        } else {
          INVARIANT("message", proto::is_valid_utf8(p, e.payload.size()), "text message not UTF-8");
          bool ascii = std::all_of(e.payload.begin(), e.payload.end(), [](char ch) { return uint8_t(ch) < 0x80; });
          INVARIANT("message", ascii == bool(e.num & server::kMessageAscii), "ascii flag %d for ascii %d",
                    bool(e.num & server::kMessageAscii), ascii);
        }
        if (hr.client >= 0) {
          ClientRec& c = clients_[size_t(hr.client)];
          Msg m = msg_of(binary ? 2 : 1, e.payload);
          if (hr.delivered < c.sent.size()) {
            INVARIANT("inbound", c.sent[hr.delivered] == m,
                      "message %zu (%zu bytes) is not the one the client sent (%zu bytes)", hr.delivered,
                      e.payload.size(), c.sent[hr.delivered].len);
          } else {
            INVARIANT("inbound", c.frozen, "message %zu (%zu bytes) that the client never sent", hr.delivered,
                      e.payload.size());
          }
        }
        ++hr.delivered;
        if (echo_) js_send(h, binary ? proto::kOpBinary : proto::kOpText, e.payload);
        return;
      }
      case EventType::kPeerClose: {
        INVARIANT("event-order", !hr.peer_done, "second peer-close or protocol-error");
        hr.peer_done = true;
        bool ok = proto::is_valid_close_code(e.num) || e.num == 1005 || e.num == 1006;
        INVARIANT("message", ok, "peer-close with code %u", e.num);
        return;
      }
      case EventType::kProtocolError: {
        INVARIANT("event-order", !hr.peer_done, "second peer-close or protocol-error");
        hr.peer_done = true;
        bool ok = e.num == 1002 || e.num == 1007 || e.num == 1008 || e.num == 1009;
        INVARIANT("message", ok, "protocol-error with code %u", e.num);
        if (hr.client >= 0 && !clients_[size_t(hr.client)].frozen) {
          // Only well-formed frames so far (compressed as agreed, when RSV1):
          // nothing but what they said, or the rate limit, fails the connection.
          const ClientRec& c = clients_[size_t(hr.client)];
          bool explained = (e.num == 1007 && c.sent_bad_text) || (e.num == 1009 && c.sent_too_big) ||
                           (e.num == 1008 && h_.config().max_messages_per_second > 0);
          INVARIANT("inbound", explained, "protocol-error %u (%s) for a client that sent only well-formed frames%s%s",
                    e.num, e.strings.empty() ? "" : e.strings[0].c_str(), c.sent_bad_text ? ", one not UTF-8" : "",
                    c.sent_too_big ? ", one past maxPayload" : "");
        }
        return;
      }
      case EventType::kDrain:
        INVARIANT("event-order", !hr.peer_done, "drain after a peer-close or protocol-error");
        return;
      case EventType::kClosed: {
        hr.closed = true;
        --open_handles_;
        live_by_slot_.erase(h.slot);
        if (hr.client >= 0) {
          const ClientRec& c = clients_[size_t(hr.client)];
          INVARIANT("closed-fd", !c.server_end_open(), "closed event for (%u, %u) while its fd is open", h.slot,
                    h.gen);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---- the end: every client goes, so must every connection

  // A stopped worker closed all its connections; the fds of kAdopt commands
  // it will never run stay open until it is destroyed.
  bool all_gone() const {
    if (open_handles_ != 0) return false;
    if (h_.stopped()) return true;
    for (const auto& c : clients_) {
      if (c.server_end_open()) return false;
    }
    return true;
  }

  void finish() {
    for (int p = 0; p < kPlaces; ++p) close_client(p);
    for (int i = 0; i < kDrainIterations && !all_gone(); ++i) {
      h_.step();
      after_iteration();
    }
    INVARIANT("gone", all_gone(), "%zu connections open and some server ends not closed after %d iterations",
              open_handles_, kDrainIterations);
    if (all_gone()) {
      auto& limits = h_.limits();
      // Every place must be free again: take them all, then give them back.
      uint64_t free_places = 0;
      while (free_places < options_.max_connections && limits.acquire()) ++free_places;
      for (uint64_t i = 0; i < free_places; ++i) limits.release();
      INVARIANT("limits", free_places == options_.max_connections,
                "maxConnections %llu: only %llu places free once every connection is gone",
                static_cast<unsigned long long>(options_.max_connections),
                static_cast<unsigned long long>(free_places));
      uint32_t free_ip = 0;
      while (free_ip < options_.max_per_ip && limits.acquire_ip("")) ++free_ip;
      for (uint32_t i = 0; i < free_ip; ++i) limits.release_ip("");
      if (deflate_ && h_.has_worker()) {
        // Every session ended: its reservation, its own inflate stream (and
        // deflate stream) went back.
        auto& res = h_.worker().deflate();
        INVARIANT("deflate", res.reserved() == 0, "%zu bytes still reserved once every connection is gone",
                  res.reserved());
        INVARIANT("deflate", res.memory() == res.committed(),
                  "own inflate streams hold %zu bytes once every connection is gone",
                  res.memory() - res.committed());
      }
      INVARIANT("limits", free_ip == options_.max_per_ip,
                "maxConnectionsPerIp %u: only %u places free for \"\" (the address of every AF_UNIX peer) "
                "once every connection is gone",
                options_.max_per_ip, free_ip);
    }
    if (!h_.stopped()) {
      h_.stop();
      after_iteration();
    }
    for (const auto& [h, hr] : handles_) {
      if (!seen_.count(h)) continue;
      INVARIANT("closed-once", hr.closed, "(%u, %u) opened and never closed", h.slot, h.gen);
    }
    INVARIANT("closed-once", h_.count(EventType::kStopped) == 1, "%zu stopped events",
              h_.count(EventType::kStopped));
    for (Handle h : h_.opened()) {
      size_t n = h_.count(EventType::kClosed, h);
      INVARIANT("closed-once", n == 1, "(%u, %u) got %zu closed events", h.slot, h.gen, n);
    }
  }

  harness::WorkerHarness h_;
  harness::HarnessOptions options_;
  int sockbuf_;
  bool echo_;
  bool deflate_;  // permessage-deflate on (config bit 1.4): the steps that take one more byte do
  int place_[kPlaces] = {-1, -1, -1, -1};
  std::vector<ClientRec> clients_;
  std::map<int, int> rec_of_fd_;
  std::map<std::string, int> targets_;
  std::map<Handle, HandleRec> handles_;
  std::set<Handle> seen_;
  std::map<uint32_t, Handle> live_by_slot_;
  std::map<uint32_t, uint32_t> last_gen_;
  size_t open_handles_ = 0;
  bool stopped_seen_ = false;
  bool any_taint_ = false;
  int iterations_ = 0;
  size_t client_bytes_ = 0;
  size_t js_bytes_ = 0;
  size_t max_frame_ = 0;
  size_t unread_max_ = 0;
};

void run_input(const uint8_t* data, size_t size) {
  Reader in{data, size};
  uint8_t c0 = in.u8(), c1 = in.u8();
  static constexpr size_t kBackpressure[4] = {2048, 4096, 8192, 32768};
  static constexpr int kSockBuf[4] = {4096, 8192, 16384, 0};
  static constexpr uint64_t kMaxPayload[4] = {125, 1000, 65536, 16u << 20};
  server::WorkerConfig config;
  config.max_backpressure = kBackpressure[c0 & 3];
  config.drop_on_backpressure = c0 & 4;
  config.max_messages_per_second = (c0 & 64) ? 4 : 0;
  config.parser.max_payload = kMaxPayload[c1 & 3];
  // As the addon: the inbound bound lets the largest message through.
  config.max_unconsumed = (c0 & 128) ? std::max<size_t>(4096, 2 * config.parser.max_payload) : 64u << 20;
  config.ping_interval_ms = 0;  // timers would make runs depend on the clock
  config.idle_timeout_ms = 0;
  config.handshake_timeout_ms = 60000;
  config.close_timeout_ms = 60000;
  harness::HarnessOptions options;
  options.slots = 64;
  options.max_connections = (c1 & 4) ? 2 : 0;
  options.max_per_ip = (c1 & 8) ? 2 : 0;
  config.deflate.enabled = c1 & 16;
  if (c1 & 32) config.deflate.max_memory = kSmallDeflateBudget;
  if (c1 & 64) config.deflate.threshold = 0;
  if (c1 & 128) {
    config.deflate.negotiation.server_max_window_bits = kLimitServerBits;
    config.deflate.negotiation.client_max_window_bits = kLimitClientBits;
  }
  Program program(config, options, kSockBuf[(c0 >> 3) & 3], c0 & 32);
  program.run(in);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* env = std::getenv("FUZZ_SERVER_IGNORE")) {
    std::string s(env);
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t comma = s.find(',', pos);
      if (comma == std::string::npos) comma = s.size();
      if (comma > pos) ignored().insert(s.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  // Warm up: whatever the C++ and C libraries allocate once and keep (the
  // first use of a facility) must not count as this harness's leak.
  static const uint8_t kWarmUp[] = {0x00, 0x00, 0x00, 0x01, 0x0e, 0x03, 0x21, 0x05, 0x4e, 0x08, 0x10, 0x0e};
  run_input(kWarmUp, sizeof kWarmUp);
  if (const char* env = std::getenv("FUZZ_SERVER_TRACE")) g_trace = *env && *env != '0';
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto fds = harness::open_fds();
  size_t heap = harness::live_heap_bytes();
  run_input(data, size);
  ssize_t grown = static_cast<ssize_t>(harness::live_heap_bytes() - heap);
  if (grown != 0) {
    // The count covers every thread of the process, and libFuzzer's own (the
    // RSS watcher) allocates and frees while it starts: a leak of the input
    // leaks again when the input runs again.
    heap = harness::live_heap_bytes();
    run_input(data, size);
    ssize_t again = static_cast<ssize_t>(harness::live_heap_bytes() - heap);
    INVARIANT("heap-leak", again <= 0 || grown <= 0, "%zd heap bytes more than before the input (%zd the first time)",
              again, grown);
  }
  std::string diff = harness::fd_diff(fds, harness::open_fds());
  INVARIANT("fd-leak", diff.empty(), "%s", diff.c_str());
  return 0;
}
