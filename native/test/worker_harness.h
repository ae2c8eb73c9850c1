// A Worker driven from the calling thread, with socketpair clients and an
// emulation of the JS side: for the unit tests (native/test) and the fuzzers
// (native/fuzz). Nothing here needs Node or check.h.
//
//   harness::WorkerHarness h(config);          // Worker(listen_fd -1), SlotCounters, SharedLimits
//   int c = h.adopt();                         // socketpair; the server end goes in by kAdopt
//   harness::Handle ws = h.open(c);            // upgrade request, steps until the open event
//   h.send_raw(c, h.client_frame(proto::kOpText, "hi"));
//   h.steps(3);                                // run_once(0) + dispatch, three times
//   h.ws_send(ws, proto::kOpText, "back");     // as ws.send() in src/websocket.ts
//   h.steps(3);
//   auto frames = h.frames(c);                 // what the client received, parsed
//
// The loop runs without a thread: step() is one run_once(0) followed by what
// the addon and src/server.ts do with each delivered batch (record every
// event, call on_event, echo a peer's Close, close on a protocol error, then
// consumed(batch cost) and hand the queued commands to the worker's inbox).
// Commands are encoded exactly as native/addon/native_server.cpp encodes them.
#pragma once
#include <dirent.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/shared_bytes.h"
#include "proto/client_handshake.h"
#include "proto/frame.h"
#include "server/commands.h"
#include "server/event_batch.h"
#include "server/shared_limits.h"
#include "server/slot_counters.h"
#include "server/worker.h"

#if defined(__SANITIZE_ADDRESS__)
#define CWS_HARNESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CWS_HARNESS_ASAN 1
#endif
#endif
#if defined(CWS_HARNESS_ASAN)
// From the sanitizer runtime (declared here: g++ does not ship its headers).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

namespace corews::harness {

using server::EventType;

// A connection as JS knows it.
struct Handle {
  uint32_t slot = ~0u;
  uint32_t gen = ~0u;
  bool valid() const { return slot != ~0u; }
  bool operator==(const Handle&) const = default;
  bool operator<(const Handle& o) const { return slot != o.slot ? slot < o.slot : gen < o.gen; }
};
constexpr Handle kNoHandle{};

// One event of a delivered batch, decoded.
struct RecordedEvent {
  EventType type;
  uint32_t slot;
  uint32_t gen;
  uint32_t num;
  std::vector<std::string> strings;  // every event but those with a payload
  std::string payload;               // kMessage, kPing, kPong
  size_t batch;                      // index of the batch it came in
  Handle handle() const { return {slot, gen}; }
};

inline const char* event_name(EventType t) {
  switch (t) {
    case EventType::kOpen: return "open";
    case EventType::kMessage: return "message";
    case EventType::kPeerClose: return "peer-close";
    case EventType::kProtocolError: return "protocol-error";
    case EventType::kClosed: return "closed";
    case EventType::kUpgrade: return "upgrade";
    case EventType::kHttpRequest: return "http-request";
    case EventType::kStopped: return "stopped";
    case EventType::kDrain: return "drain";
    case EventType::kPing: return "ping";
    case EventType::kPong: return "pong";
    case EventType::kRefused: return "refused";
  }
  return "?";
}

// Decodes a batch as native/addon/batch_to_js.cpp reads it. Returns false
// (and stops) on an event whose offsets leave the arena.
inline bool decode_batch(const server::EventBatch& b, size_t index, std::vector<RecordedEvent>& out) {
  const auto& a = b.arena;
  for (const server::Event& e : b.events) {
    RecordedEvent r{e.type, e.slot, e.gen, e.num, {}, {}, index};
    if (server::is_payload_event(e.type)) {
      if (size_t(e.offset) + e.size > a.size()) return false;
      r.payload.assign(reinterpret_cast<const char*>(a.data()) + e.offset, e.size);
    } else {
      size_t pos = e.offset;
      for (uint32_t i = 0; i < e.size; ++i) {
        uint32_t n;
        if (pos + 4 > a.size()) return false;
        std::memcpy(&n, a.data() + pos, 4);
        pos += 4;
        if (pos + n > a.size()) return false;
        r.strings.emplace_back(reinterpret_cast<const char*>(a.data()) + pos, n);
        pos += n;
      }
    }
    out.push_back(std::move(r));
  }
  return true;
}

// The worker's EventSink: keeps the batches until the harness dispatches them.
class RecordingSink : public server::EventSink {
 public:
  void deliver(std::unique_ptr<server::EventBatch> batch) override { pending_.push_back(std::move(batch)); }
  std::vector<std::unique_ptr<server::EventBatch>> take() {
    std::vector<std::unique_ptr<server::EventBatch>> out;
    out.swap(pending_);
    return out;
  }

 private:
  std::vector<std::unique_ptr<server::EventBatch>> pending_;
};

// ---- frames ------------------------------------------------------------------

// A client frame (masked, §5.3): any opcode, FIN and RSV bits, so malformed
// frames can be built too. The length is always minimally encoded.
inline std::string client_frame(uint8_t op, std::string_view payload, bool fin = true, uint32_t mask = 0x37fa213d,
                                uint8_t rsv = 0) {
  std::string f;
  f.reserve(payload.size() + proto::kMaxFrameHeader);
  f.push_back(char((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (op & 0x0f)));
  uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(char(0x80 | n));
  } else if (n <= 0xffff) {
    f.push_back(char(0x80 | 126));
    f.push_back(char(n >> 8));
    f.push_back(char(n));
  } else {
    f.push_back(char(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(char(n >> (8 * i)));
  }
  uint8_t key[4] = {uint8_t(mask >> 24), uint8_t(mask >> 16), uint8_t(mask >> 8), uint8_t(mask)};
  f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) f.push_back(char(uint8_t(payload[i]) ^ key[i & 3]));
  return f;
}

// A client Close frame; code 0 sends an empty payload.
inline std::string client_close(uint16_t code, std::string_view reason = {}) {
  if (code == 0) return client_frame(proto::kOpClose, {});
  std::string p;
  p.push_back(char(code >> 8));
  p.push_back(char(code));
  p.append(reason);
  return client_frame(proto::kOpClose, p);
}

// What a client receives from the server.
struct ServerFrame {
  uint8_t op = 0;
  bool fin = false;
  uint8_t rsv = 0;
  bool masked = false;
  std::string payload;
  // A Close frame's code (1005 when it has none) and reason.
  uint16_t close_code() const {
    return payload.size() >= 2 ? uint16_t(uint8_t(payload[0]) << 8 | uint8_t(payload[1])) : uint16_t(1005);
  }
  std::string_view close_reason() const {
    return payload.size() > 2 ? std::string_view(payload).substr(2) : std::string_view();
  }
};

// Parses whole frames from stream[pos..]; stops before an incomplete one and
// leaves `pos` after the last whole frame. Any header is accepted (the
// caller checks what a server may send); lengths past 2^62 stop the parse.
inline void parse_frames(std::string_view stream, size_t& pos, std::vector<ServerFrame>& out) {
  while (pos + 2 <= stream.size()) {
    const auto* p = reinterpret_cast<const uint8_t*>(stream.data()) + pos;
    size_t have = stream.size() - pos;
    ServerFrame f;
    f.fin = p[0] & 0x80;
    f.rsv = (p[0] >> 4) & 7;
    f.op = p[0] & 0x0f;
    f.masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (have < 4) return;
      len = uint64_t(p[2]) << 8 | p[3];
      h = 4;
    } else if (len == 127) {
      if (have < 10) return;
      len = 0;
      for (int i = 0; i < 8; ++i) len = len << 8 | p[2 + i];
      h = 10;
      if (len >> 62) return;
    }
    uint8_t key[4] = {0, 0, 0, 0};
    if (f.masked) {
      if (have < h + 4) return;
      std::memcpy(key, p + h, 4);
      h += 4;
    }
    if (have - h < len) return;
    f.payload.assign(reinterpret_cast<const char*>(p + h), size_t(len));
    if (f.masked) {
      for (size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = char(uint8_t(f.payload[i]) ^ key[i & 3]);
    }
    pos += h + size_t(len);
    out.push_back(std::move(f));
  }
}

// "GET <target>" with the RFC 6455 sample key unless told otherwise.
inline std::string upgrade_request(std::string_view target = "/", std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==",
                                   std::string_view protocol = {}) {
  return proto::build_client_request("localhost", target, key, protocol);
}

// A Sec-WebSocket-Key that differs per `seed`.
inline std::string key_for(uint64_t seed) {
  uint8_t r[16];
  for (int i = 0; i < 16; ++i) r[i] = uint8_t((seed * 0x9e3779b97f4a7c15ull) >> ((i & 7) * 8)) ^ uint8_t(i * 29);
  return proto::make_client_key(r);
}

// ---- resources ---------------------------------------------------------------

// Heap bytes in use: the sanitizer allocator's count under ASan, else malloc's.
inline size_t live_heap_bytes() {
#if defined(CWS_HARNESS_ASAN)
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

// The process's open descriptors and what each refers to ("socket:[123]").
inline std::map<int, std::string> open_fds() {
  std::map<int, std::string> out;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return out;
  int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd == self) continue;
    char path[64], target[256];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    out[fd] = n > 0 ? std::string(target, size_t(n)) : std::string();
  }
  closedir(d);
  return out;
}

// "fd 7 (socket:[123]) leaked; ..." for the differences, empty when equal.
inline std::string fd_diff(const std::map<int, std::string>& before, const std::map<int, std::string>& after) {
  std::string s;
  for (const auto& [fd, what] : after) {
    auto it = before.find(fd);
    if (it == before.end() || it->second != what) s += "fd " + std::to_string(fd) + " (" + what + ") is new; ";
  }
  for (const auto& [fd, what] : before) {
    if (!after.count(fd)) s += "fd " + std::to_string(fd) + " (" + what + ") was closed; ";
  }
  return s;
}

// ---- the harness -------------------------------------------------------------

// A worker config with no timer that depends on how fast the test runs: no
// pings, no idle timeout, a close timeout far beyond any test's wait.
inline server::WorkerConfig quiet_config() {
  server::WorkerConfig c;
  c.ping_interval_ms = 0;
  c.idle_timeout_ms = 0;
  c.close_timeout_ms = 10000;
  return c;
}

struct HarnessOptions {
  size_t slots = 256;              // SlotCounters::create(slots); the worker refuses connections past it
  uint64_t max_connections = 0;    // SharedLimits
  uint32_t max_per_ip = 0;
  bool answer_closes = true;       // dispatch: echo a peer's Close, close on a protocol error (src/server.ts)
  bool js_behind = false;          // dispatch never reports batches consumed: JS has fallen behind
  bool hold_batches = false;       // dispatched batches are kept (held_batches()), as the GC keeps arenas JS holds
};

class WorkerHarness {
 public:
  struct Client {
    int fd = -1;
    int server_fd = -1;
    ino_t server_ino = 0;     // to tell the server end from a later socket with its number
    std::string unsent;       // bytes the kernel did not take yet, written in order before any new ones
    std::string received;     // everything read so far
    bool auto_read = true;    // step() reads everything available
    bool eof = false;         // read returned 0
    int read_error = 0;       // errno of a failed read (ECONNRESET)
    int write_error = 0;      // errno of a failed write (EPIPE)
    bool write_shut = false;  // shutdown(SHUT_WR) or closed
    std::string target;       // the request target open()/handshake() sent
    std::string key;
    Handle handle;            // from the open event whose url was `target`
  };

  // What JS keeps per WebSocket (src/websocket.ts).
  struct JsSocket {
    int state = 1;          // 1 open, 2 closing, 3 closed
    double accepted = 0;    // frame bytes handed to native send
    std::vector<uint32_t> topics;
  };

  explicit WorkerHarness(server::WorkerConfig config = {}, HarnessOptions options = {})
      : options_(options),
        config_(std::make_shared<server::WorkerConfig>(std::move(config))),
        limits_(std::make_shared<server::SharedLimits>(options.max_connections, options.max_per_ip)),
        counters_(server::SlotCounters::create(options.slots)) {
    worker_ = std::make_unique<server::Worker>(0, config_, -1, sink_, limits_, counters_);
  }

  ~WorkerHarness() {
    for (auto& [fd, c] : clients_) ::close(fd);
    clients_.clear();
    destroy_worker();
    release_outbox();  // commands queued after the worker was destroyed
    counters_->unref();
  }
  WorkerHarness(const WorkerHarness&) = delete;
  WorkerHarness& operator=(const WorkerHarness&) = delete;

  server::Worker& worker() { return *worker_; }
  bool has_worker() const { return worker_ != nullptr; }
  const server::WorkerConfig& config() const { return *config_; }
  server::SlotCounters& counters() { return *counters_; }
  server::SharedLimits& limits() { return *limits_; }
  bool stopped() const { return stopped_; }

  // Hands what is still queued to the worker and destroys it (~Worker closes
  // every connection and drops the references of commands it did not run).
  void destroy_worker() {
    if (!worker_) return;
    flush();
    worker_.reset();
    sink_.take();  // batches it delivered while stopping are never dispatched
  }

  // ---- clients

  // A socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK): one end goes to the
  // worker with kAdopt (at the next flush), the other is the client, whose fd
  // this returns (-1 on failure). sndbuf/rcvbuf > 0 set SO_SNDBUF/SO_RCVBUF on
  // both ends.
  int adopt(int sndbuf = 0, int rcvbuf = 0) {
    int32_t server_end;
    int client = connect_pair(sndbuf, rcvbuf, server_end);
    if (client < 0) return -1;
    server::CommandWriter(outbox_).add(server::CommandType::kAdopt, 0, 0, 0,
                                       {{reinterpret_cast<const char*>(&server_end), 4}});
    return client;
  }

  // As adopt(), but handed over as server.handleUpgrade's bridge does
  // (kAdoptBridged): the worker is told the client's address is `address`.
  int adopt_bridged(std::string_view address) {
    int32_t server_end;
    int client = connect_pair(0, 0, server_end);
    if (client < 0) return -1;
    server::CommandWriter(outbox_).add(server::CommandType::kAdoptBridged, 0, 0, uint16_t(address.size()),
                                       {{reinterpret_cast<const char*>(&server_end), 4}, address});
    return client;
  }

  // A connected socketpair registered as a client (its end returned, -1 when
  // none could be made); `server_end` is the end to hand to the worker.
  int connect_pair(int sndbuf, int rcvbuf, int32_t& server_end) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    for (int fd : sv) {
      if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
      if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    Client c;
    c.fd = sv[0];
    c.server_fd = sv[1];
    struct stat st {};
    fstat(sv[1], &st);
    c.server_ino = st.st_ino;
    clients_[sv[0]] = std::move(c);
    server_end = sv[1];
    return sv[0];
  }

  bool has_client(int client) const { return clients_.count(client) != 0; }
  Client& client(int fd) { return clients_.at(fd); }
  std::vector<int> client_fds() const {
    std::vector<int> v;
    for (const auto& [fd, c] : clients_) v.push_back(fd);
    return v;
  }

  // Whether the worker still holds the server end of this client's socketpair.
  bool server_end_open(int client) const {
    const Client& c = clients_.at(client);
    struct stat st {};
    return fstat(c.server_fd, &st) == 0 && st.st_ino == c.server_ino;
  }

  // Bytes the client wrote that the server has not read yet (SIOCINQ on the
  // server end); 0 once the server end is closed.
  size_t server_unread(int client) const {
    if (!server_end_open(client)) return 0;
    int n = 0;
    if (ioctl(clients_.at(client).server_fd, SIOCINQ, &n) != 0 || n < 0) return 0;
    return size_t(n);
  }

  // Queues bytes from the client and writes what the kernel takes now; the
  // rest goes out in order as the server reads (every step). Returns the
  // bytes written now.
  size_t send_raw(int client, std::string_view bytes) {
    Client& c = clients_.at(client);
    if (c.write_shut || c.write_error) return 0;
    c.unsent.append(bytes);
    return pump(c);
  }

  // Reads up to `max` bytes that have arrived (non-blocking), appends them to
  // client(fd).received and returns how many were read.
  size_t read_client(int client, size_t max = SIZE_MAX) {
    Client& c = clients_.at(client);
    size_t total = 0;
    char buf[16384];
    while (total < max && !c.eof && !c.read_error) {
      size_t want = std::min(sizeof buf, max - total);
      ssize_t n = ::recv(c.fd, buf, want, 0);
      if (n > 0) {
        c.received.append(buf, size_t(n));
        total += size_t(n);
        continue;
      }
      if (n == 0) {
        c.eof = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        c.read_error = errno;
      }
      break;
    }
    return total;
  }

  void set_auto_read(int client, bool on) { clients_.at(client).auto_read = on; }

  // shutdown(SHUT_WR): the server reads EOF after what was sent.
  void shutdown_client(int client) {
    Client& c = clients_.at(client);
    c.unsent.clear();
    c.write_shut = true;
    ::shutdown(c.fd, SHUT_WR);
  }

  void close_client(int client) {
    auto it = clients_.find(client);
    if (it == clients_.end()) return;
    ::close(client);
    by_target_.erase(it->second.target);
    clients_.erase(it);
  }

  // The response head the client received (empty until complete) and the
  // server frames after it.
  std::string_view response_head(int client) const {
    const std::string& r = clients_.at(client).received;
    size_t end = r.find("\r\n\r\n");
    return end == std::string::npos ? std::string_view() : std::string_view(r).substr(0, end + 4);
  }
  std::vector<ServerFrame> frames(int client) const {
    std::vector<ServerFrame> out;
    size_t pos = response_head(client).size();
    if (pos == 0) return out;
    parse_frames(clients_.at(client).received, pos, out);
    return out;
  }
  // Whether the response is a valid 101 for the key the client sent.
  bool upgraded(int client) const {
    const Client& c = clients_.at(client);
    size_t head_len = 0;
    return !c.key.empty() && proto::check_server_response(c.received.data(), c.received.size(), c.key, head_len) ==
                                 proto::ClientHandshakeStatus::kOk;
  }

  // Sends an upgrade request with target "/c<fd>" (or `target`) and a key of
  // its own; the open event whose url is that target names the client's Handle.
  // `extra_headers`: CRLF-terminated lines added to the request (e.g. a
  // Sec-WebSocket-Extensions offer).
  void handshake(int client, std::string target = {}, std::string_view extra_headers = {}) {
    Client& c = clients_.at(client);
    c.target = target.empty() ? "/c" + std::to_string(client) + "-" + std::to_string(++serial_) : std::move(target);
    c.key = key_for(uint64_t(client) << 32 | ++serial_);
    by_target_[c.target] = client;
    std::string request = upgrade_request(c.target, c.key);
    request.insert(request.size() - 2, extra_headers);  // before the blank line
    send_raw(client, request);
  }

  // handshake() and steps until the open event (at most max_steps); the
  // client's Handle, or kNoHandle.
  Handle open(int client, std::string target = {}, int max_steps = 50, std::string_view extra_headers = {}) {
    handshake(client, std::move(target), extra_headers);
    for (int i = 0; i < max_steps && !clients_.at(client).handle.valid(); ++i) step();
    return clients_.at(client).handle;
  }

  Handle handle_of(int client) const { return clients_.at(client).handle; }

  // ---- JS commands, encoded as native_server.cpp encodes them. They wait in
  // the outbox until flush() (every step flushes first, and so does dispatch
  // after each batch, as the addon does).

  // native send(): a complete frame behind `code` bytes of padding; text goes
  // the string way (10 bytes of gap, the header right before the payload).
  // Returns the frame's size, as the native call does.
  size_t send(Handle h, proto::Opcode op, std::string_view data, bool wants_drain = false, uint8_t compress_flags = 0) {
    uint8_t flags = (wants_drain ? server::kSendWantsDrain : 0) | compress_flags;
    server::CommandWriter writer(outbox_);
    if (op == proto::kOpText) {
      constexpr size_t kGap = 10;
      uint8_t* out = writer.begin(server::CommandType::kSend, h.slot, h.gen, 0, kGap + data.size(), flags);
      if (!data.empty()) std::memcpy(out + kGap, data.data(), data.size());
      size_t hs = proto::frame_header_size(data.size(), false);
      proto::write_frame_header(out + kGap - hs, op, data.size(), nullptr);
      writer.commit(kGap + data.size(), uint16_t(kGap - hs));
      return hs + data.size();
    }
    uint8_t* out = writer.begin(server::CommandType::kSend, h.slot, h.gen, 0, proto::kMaxFrameHeader + data.size(), flags);
    size_t hs = proto::write_frame_header(out, op, data.size(), nullptr);
    if (!data.empty()) std::memcpy(out + hs, data.data(), data.size());
    writer.commit(hs + data.size(), 0);
    return hs + data.size();
  }
  void close(Handle h, uint16_t code, std::string_view reason = {}) {
    server::CommandWriter(outbox_).add(server::CommandType::kClose, h.slot, h.gen, code, {reason});
  }
  void terminate(Handle h) { server::CommandWriter(outbox_).add(server::CommandType::kTerminate, h.slot, h.gen, 0, {}); }
  // ws.pause() / ws.resume()
  void pause(Handle h, bool paused) {
    server::CommandWriter(outbox_).add(server::CommandType::kPauseReading, h.slot, h.gen, paused ? 1 : 0, {});
  }
  void report_control(Handle h, uint8_t bits) {
    server::CommandWriter(outbox_).add(server::CommandType::kReportControl, h.slot, h.gen, bits, {});
  }
  void report_refusals(bool on) {
    server::CommandWriter(outbox_).add(server::CommandType::kReportRefusals, 0, 0, on ? 1 : 0, {});
  }
  void subscribe(Handle h, uint32_t topic) {
    server::CommandWriter(outbox_).add(server::CommandType::kSubscribe, h.slot, h.gen, 0,
                                       {{reinterpret_cast<const char*>(&topic), 4}});
  }
  void unsubscribe(Handle h, uint32_t topic) {
    server::CommandWriter(outbox_).add(server::CommandType::kUnsubscribe, h.slot, h.gen, 0,
                                       {{reinterpret_cast<const char*>(&topic), 4}});
  }
  // One worker: the frame gets one reference, which the worker drops.
  // `sender` is skipped (ws.publish), kNoHandle for server.publish.
  size_t publish(uint32_t topic, proto::Opcode op, std::string_view data, Handle sender = kNoHandle,
                 uint32_t compress_flags = 0) {
    core::SharedBytes* frame = core::SharedBytes::create(proto::kMaxFrameHeader + data.size());
    size_t hs = proto::write_frame_header(frame->data(), op, data.size(), nullptr);
    if (!data.empty()) std::memcpy(frame->data() + hs, data.data(), data.size());
    frame->set_size(hs + data.size());
    server::PublishPayload p{topic, compress_flags, frame};
    server::CommandWriter(outbox_).add(server::CommandType::kPublish, sender.slot, sender.gen, 0,
                                       {{reinterpret_cast<const char*>(&p), sizeof p}});
    return hs + data.size();
  }
  void shutdown(uint16_t code, std::string_view reason, uint32_t timeout_ms) {
    server::CommandWriter(outbox_).add(server::CommandType::kShutdown, 0, 0, code,
                                       {{reinterpret_cast<const char*>(&timeout_ms), 4}, reason});
  }
  // The outbox to the worker's inbox, with a wakeup when it was empty (NativeServer::flush).
  void flush() {
    if (worker_ && !outbox_.empty() && worker_->inbox().push(outbox_)) worker_->wake();
  }

  // ---- what the WebSocket class does before calling native (src/websocket.ts)

  JsSocket* js(Handle h) {
    auto it = sockets_.find(h);
    return it == sockets_.end() ? nullptr : &it->second;
  }
  // ws.bufferedAmount: sends not yet taken by the worker, plus its queue.
  double buffered_amount(Handle h) {
    JsSocket* s = js(h);
    if (s == nullptr || s->state == 3) return 0;
    return std::max(0.0, s->accepted - counters_->data()[h.slot]);
  }
  enum SendStatus { kBackpressure = 0, kSent = 1, kDropped = 2 };
  // ws.send: nothing unless open; at maxBackpressure dropped (and closed with
  // 1008 under the close policy); BACKPRESSURE above the 16 KiB low mark.
  // `compress_flags`: the compress option as the addon passes it
  // (kSendCompress for true, kSendNoCompress for false, 0 when not given).
  SendStatus ws_send(Handle h, proto::Opcode op, std::string_view data, uint8_t compress_flags = 0) {
    JsSocket* s = js(h);
    if (s == nullptr || s->state != 1) return kDropped;
    double buffered = buffered_amount(h);
    if (buffered >= double(config_->max_backpressure)) {
      if (!config_->drop_on_backpressure) ws_close(h, proto::kClosePolicyViolation, "backpressure limit exceeded");
      return kDropped;
    }
    bool backpressure = buffered > double(kDrainLowMark);
    s->accepted += double(send(h, op, data, backpressure, compress_flags));
    return backpressure ? kBackpressure : kSent;
  }
  // ws.ping: only the state is checked (the worker's admit applies), and the
  // ping is not counted in bufferedAmount. src/websocket.ts passes
  // kSendNoCompress; other `compress_flags` are what no JS sends.
  bool ws_ping(Handle h, std::string_view data, uint8_t compress_flags = 0) {
    JsSocket* s = js(h);
    if (s == nullptr || s->state != 1 || data.size() > 125) return false;
    send(h, proto::kOpPing, data, false, compress_flags);
    return true;
  }
  bool ws_close(Handle h, uint16_t code = 1000, std::string_view reason = {}) {
    JsSocket* s = js(h);
    if (s == nullptr || s->state != 1) return false;
    s->state = 2;
    close(h, code, reason);
    return true;
  }
  bool ws_terminate(Handle h) {
    JsSocket* s = js(h);
    if (s == nullptr || s->state == 3) return false;
    s->state = 2;
    terminate(h);
    return true;
  }
  bool ws_subscribe(Handle h, uint32_t topic) {
    JsSocket* s = js(h);
    if (s == nullptr || s->state != 1 || std::count(s->topics.begin(), s->topics.end(), topic)) return false;
    s->topics.push_back(topic);
    subscribe(h, topic);
    return true;
  }
  bool ws_unsubscribe(Handle h, uint32_t topic) {
    JsSocket* s = js(h);
    if (s == nullptr) return false;
    auto it = std::find(s->topics.begin(), s->topics.end(), topic);
    if (it == s->topics.end()) return false;
    s->topics.erase(it);
    unsubscribe(h, topic);
    return true;
  }
  static constexpr size_t kDrainLowMark = 16 * 1024;  // DRAIN_LOW_MARK in src/websocket.ts

  // ---- stepping

  // Runs for every event as it is dispatched, before the harness's own
  // answers (as a user's handler runs before the echo of a Close).
  std::function<void(const RecordedEvent&)> on_event;
  // Runs after each delivered batch has been dispatched.
  std::function<void(size_t batch)> on_batch;
  // Runs in step() right before run_once, after the clients' unsent bytes were written.
  std::function<void()> before_run;

  // One loop iteration: flush the commands, write what clients still have
  // unsent, run_once(timeout_ms), dispatch what was delivered, read for the
  // auto-reading clients. False once the worker has stopped.
  bool step(int timeout_ms = 0) {
    if (!worker_) return false;
    flush();
    for (auto& [fd, c] : clients_) pump(c);
    if (before_run) before_run();
    bool running = !stopped_ && worker_->run_once(timeout_ms);
    if (!running) stopped_ = true;
    dispatch();
    for (auto& [fd, c] : clients_) {
      if (c.auto_read) read_client(fd);
    }
    return running;
  }
  void steps(int n) {
    for (int i = 0; i < n; ++i) step();
  }
  // Steps until pred() holds; false if it did not within max_steps.
  bool run_until(const std::function<bool()>& pred, int max_steps = 100) {
    for (int i = 0; i < max_steps; ++i) {
      if (pred()) return true;
      step();
    }
    return pred();
  }
  // request_stop() and one iteration: the worker closes everything.
  void stop() {
    if (!worker_) return;
    worker_->request_stop();
    step();
  }

  const std::vector<RecordedEvent>& events() const { return events_; }
  std::vector<RecordedEvent> events_of(Handle h) const {
    std::vector<RecordedEvent> out;
    for (const auto& e : events_) {
      if (e.handle() == h && e.type != EventType::kStopped) out.push_back(e);
    }
    return out;
  }
  size_t count(EventType t, Handle h) const {
    size_t n = 0;
    for (const auto& e : events_) n += e.type == t && e.handle() == h;
    return n;
  }
  size_t count(EventType t) const {
    size_t n = 0;
    for (const auto& e : events_) n += e.type == t;
    return n;
  }
  size_t batches() const { return batches_; }
  // hold_batches: the dispatched batches JS still holds; clear() is the GC freeing them.
  std::vector<std::unique_ptr<server::EventBatch>>& held_batches() { return held_; }
  // A batch that did not decode (offsets past its arena); 0 when all did.
  size_t bad_batches() const { return bad_batches_; }
  // Handles in the order their open events came.
  const std::vector<Handle>& opened() const { return opened_; }
  // Bytes queued in the worker for this slot.
  size_t queued(uint32_t slot) const { return worker_ ? worker_->queued_bytes(slot) : 0; }

 private:
  size_t pump(Client& c) {
    size_t total = 0;
    while (!c.unsent.empty()) {
      ssize_t n = ::send(c.fd, c.unsent.data(), c.unsent.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.unsent.erase(0, size_t(n));
        total += size_t(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        c.write_error = errno;
        c.unsent.clear();
      }
      break;
    }
    return total;
  }

  // What queued commands hold when no worker will run them: publish
  // references and adopted fds (as Worker::release_publishes does).
  void release_outbox() {
    size_t pos = 0;
    while (pos + sizeof(server::CommandHeader) <= outbox_.size()) {
      server::CommandHeader h;
      std::memcpy(&h, outbox_.data() + pos, sizeof h);
      const uint8_t* payload = outbox_.data() + pos + sizeof h;
      if (h.type == server::CommandType::kPublish) {
        server::PublishPayload p;
        std::memcpy(&p, payload, sizeof p);
        static_cast<core::SharedBytes*>(p.frame)->unref();
      } else if (h.type == server::CommandType::kAdopt || h.type == server::CommandType::kAdoptBridged) {
        int32_t fd;
        std::memcpy(&fd, payload, 4);
        ::close(fd);
      }
      pos += sizeof h + server::pad8(h.len);
    }
    outbox_.clear();
  }

  // What the addon's CallJs and src/server.ts #dispatch do with each batch.
  void dispatch() {
    for (auto& batch : sink_.take()) {
      size_t index = batches_++;
      size_t first = events_.size();
      if (!decode_batch(*batch, index, events_)) ++bad_batches_;
      for (size_t i = first; i < events_.size(); ++i) {
        const RecordedEvent e = events_[i];  // a copy: handlers may record more
        Handle h = e.handle();
        if (e.type == EventType::kOpen) {
          sockets_[h] = JsSocket{};
          opened_.push_back(h);
          if (!e.strings.empty()) {
            auto t = by_target_.find(e.strings[0]);
            if (t != by_target_.end()) {
              auto c = clients_.find(t->second);
              if (c != clients_.end() && !c->second.handle.valid()) c->second.handle = h;
            }
          }
        } else if (e.type == EventType::kPeerClose || e.type == EventType::kProtocolError) {
          if (JsSocket* s = js(h); s && s->state == 1) s->state = 2;
        } else if (e.type == EventType::kClosed) {
          if (JsSocket* s = js(h)) {
            s->state = 3;
            s->topics.clear();
          }
        }
        if (on_event) on_event(e);
        if (options_.answer_closes && (e.type == EventType::kPeerClose || e.type == EventType::kProtocolError)) {
          uint16_t code = e.type == EventType::kPeerClose && e.num == 1005 ? 0 : uint16_t(e.num);
          std::string reason = e.type == EventType::kProtocolError && !e.strings.empty() ? e.strings[0] : "";
          close(h, code, reason);
        }
      }
      size_t bytes = batch->cost();
      if (options_.hold_batches) held_.push_back(std::move(batch));
      batch.reset();
      if (on_batch) on_batch(index);
      if (worker_ && !options_.js_behind) worker_->consumed(bytes);
      flush();
    }
  }

  HarnessOptions options_;
  std::shared_ptr<server::WorkerConfig> config_;
  std::shared_ptr<server::SharedLimits> limits_;
  server::SlotCounters* counters_;
  RecordingSink sink_;
  std::unique_ptr<server::Worker> worker_;
  server::CommandBuffer outbox_;
  bool stopped_ = false;
  std::map<int, Client> clients_;
  std::map<std::string, int> by_target_;
  std::map<Handle, JsSocket> sockets_;
  std::vector<Handle> opened_;
  std::vector<RecordedEvent> events_;
  std::vector<std::unique_ptr<server::EventBatch>> held_;  // hold_batches: what JS still holds
  size_t batches_ = 0;
  size_t bad_batches_ = 0;
  uint64_t serial_ = 0;
};

}  // namespace corews::harness
