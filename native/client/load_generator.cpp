#include "load_generator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>

#include "../core/byte_buffer.h"
#include "../core/poller.h"
#include "../core/socket_calls.h"
#include "../proto/client_deflate.h"
#include "../proto/client_handshake.h"
#include "../proto/deflater.h"
#include "../proto/frame.h"
#include "../proto/frame_parser.h"
#include "../proto/inflater.h"
#include "payloads.h"
#include "tls_client.h"

namespace corews::client {
namespace {

constexpr size_t kReadBufferSize = 256 * 1024;
constexpr int kMaxConnecting = 256;   // handshakes in progress per loop, so SYN queues are not flooded
constexpr int64_t kSpinNs = 1000000;  // poll this long after the last event before sleeping
// JSON-like payloads: distinct messages per pool, and at most this many bytes of them.
constexpr size_t kPoolMessages = 64;
constexpr size_t kPoolBytes = 8 << 20;

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// xorshift64*: masking keys and handshake nonces need to be unpredictable to
// intermediaries (§10.3), not cryptographic; a benchmark must not stall on getrandom.
struct Random {
  uint64_t s;
  explicit Random(uint64_t seed) : s(seed | 1) {}
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
};

bool make_address(const std::string& ip, int port, sockaddr_storage& out, socklen_t& len) {
  std::memset(&out, 0, sizeof out);
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET, ip.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(uint16_t(port));
    len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(uint16_t(port));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

struct LoadGenerator::Shared {
  std::atomic<int> ready{0};                 // loops whose connections are all up
  std::atomic<int64_t> window_start{0};      // 0 until known
  std::atomic<int64_t> window_end{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> stopped_at{0};
  std::unique_ptr<TlsClientContext> tls;     // wss:// only; one for every loop

  void stop_now() {
    int64_t expected = 0;
    stopped_at.compare_exchange_strong(expected, now_ns());
    stop.store(true);
  }
  // A failure no retry can mend: the run ends now, and says why.
  void abort(const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!aborted) abort_reason = why;
      aborted = true;
    }
    stop_now();
  }
  std::mutex mutex;  // guards the two below
  bool aborted = false;
  std::string abort_reason;
};

class LoadGenerator::Loop {
 public:
  Loop(const BenchConfig& config, Shared& shared, int index)
      : config_(config), shared_(shared), index_(index), random_(uint64_t(now_ns()) * 2654435761u + uint64_t(index)),
        read_buffer_(kReadBufferSize) {
    for (int id = index; id < config.connections; id += config.threads) pending_.push_back(id);
    if (config.mode == Mode::kFanout && index == 0) pending_.push_back(config.connections);  // the publisher
    target_ = int(pending_.size());
    // The payloads, and the frames every message is copied from.
    if (config.payload == Payload::kJson) {
      size_t count = std::max<size_t>(1, std::min(kPoolMessages, kPoolBytes / std::max<size_t>(config.size, 1)));
      payloads_ = json_like_messages(config.size, count, 0x5eed);
    } else {
      std::string p(config.size, '\0');
      for (size_t i = 0; i < config.size; ++i) p[i] = config.binary ? char(uint8_t(i * 31 + 7)) : char('a' + i % 26);
      payloads_.push_back(std::move(p));
    }
    for (const std::string& p : payloads_) {
      plain_.push_back(make_frame(reinterpret_cast<const uint8_t*>(p.data()), p.size(), false));
    }
    uint32_t ring = 1;
    while (ring < uint32_t(config.depth)) ring <<= 1;
    ring_mask_ = ring - 1;
    make_address(config.address, config.port, server_, server_len_);
    for (const auto& s : config.sources) {
      sockaddr_storage a;
      socklen_t l;
      if (make_address(s, 0, a, l)) sources_.push_back({a, l});
    }
  }

  ~Loop() {
    for (Conn* c : conns_) {
      unwatch(c);
      if (c->fd >= 0) close(c->fd);
      delete c;
    }
  }

  void run();

  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> errors{0};
  uint64_t bytes = 0;
  uint64_t handshakes = 0;
  core::Histogram histogram;
  uint64_t tls_handshakes = 0;
  std::string tls_protocol, tls_cipher, tls_alpn;  // of this loop's first TLS handshake
  std::string first_error;                         // of this loop's first failed connection

 private:
  // kTls: the TLS handshake (wss:// only), then the HTTP upgrade (kHandshake).
  enum class State { kConnecting, kTls, kHandshake, kOpen, kClosed };

  // One message as sent, before masking: the header with a placeholder key,
  // then the payload.
  struct Frame {
    std::vector<uint8_t> bytes;
    size_t header = 0;  // header bytes before the key
  };

  // A connection's permessage-deflate, as agreed: the frame parser's
  // inflater for what the server compressed, counting it on the way.
  struct Deflate final : proto::MessageInflater {
    Deflate(Loop& l, const proto::DeflateParams& p)
        : loop(l), params(p),
          inflater(proto::InflaterOptions{p.server_max_window_bits, p.server_no_context_takeover, true, 16 * 1024,
                                          nullptr}) {}
    proto::InflateStatus write(const uint8_t* data, size_t len, uint64_t limit, proto::InflateSink sink,
                               void* context) override {
      return inflater.write(data, len, limit, sink, context);
    }
    proto::InflateStatus finish(uint64_t limit, proto::InflateSink sink, void* context) override {
      if (loop.counting_ || loop.config_.mode == Mode::kIdle) ++loop.compressed_in_;
      return inflater.finish(limit, sink, context);
    }
    void abandon() override { inflater.abandon(); }
    Loop& loop;
    proto::DeflateParams params;
    proto::Inflater inflater;
  };

  struct Conn {
    explicit Conn(int id_) : id(id_), parser(proto::FrameParserOptions{uint64_t(1) << 40, false}) {}
    int id;
    int fd = -1;
    State state = State::kConnecting;
    bool publisher = false;
    bool watched = false;  // registered with the poller
    uint8_t interest = 0;
    std::string key;
    std::string head;  // the server's response head, until complete
    proto::FrameParser parser;
    core::ByteBuffer out;  // bytes for the socket (over TLS: records), from out_head
    size_t out_head = 0;
    // wss://: the TLS layer, and the plaintext written since the last flush
    // (encrypted by flush() in one go, so the messages of one read share records).
    std::unique_ptr<TlsClientSession> tls;
    core::ByteBuffer plain_out;
    // Send times of the messages in flight, oldest first (echoes come back in
    // order): a ring of `depth` entries, allocated once.
    std::unique_ptr<int64_t[]> sent_at;
    uint32_t sent_head = 0;
    uint32_t in_flight = 0;
    uint32_t next_payload = 0;  // which of the payloads goes next
    int exchanged = 0;          // idle mode: echoes received so far
    std::unique_ptr<Deflate> deflate;  // permessage-deflate agreed
  };

  struct Events {
    Loop& loop;
    Conn* c;
    void on_message(proto::Opcode, const uint8_t* data, size_t len, bool) { loop.on_message(c, data, len); }
    void on_ping(const uint8_t*, size_t) {}
    void on_pong(const uint8_t*, size_t) {}
    void on_close(uint16_t code, const uint8_t*, size_t) {
      loop.fail(c, "the server sent Close (" + std::to_string(code) + ")");
    }
    void on_error(uint16_t, const char* why) { loop.fail(c, std::string("bad frame from the server: ") + why); }
  };

  bool in_window(int64_t now) const {
    int64_t start = shared_.window_start.load(std::memory_order_acquire);
    return start != 0 && now >= start && now < shared_.window_end.load(std::memory_order_relaxed);
  }

  void open_next();
  void on_io(Conn* c, uint32_t flags);
  bool read_from(Conn* c);
  void start_scanning();
  int scan();
  void sleep_until_readable(int timeout_ms);
  void on_connected(Conn* c);
  void on_tls_ready(Conn* c);
  void send_upgrade(Conn* c);
  void on_handshake_bytes(Conn* c, const uint8_t* data, size_t len);
  // Where a connection's outgoing WebSocket bytes go: the socket's buffer, or
  // over TLS the plaintext that flush() encrypts.
  core::ByteBuffer& outbox(Conn* c) { return c->tls ? c->plain_out : c->out; }
  bool has_output(const Conn* c) const { return c->out_head < c->out.size() || !c->plain_out.empty(); }
  void fail_tls(Conn* c);
  void on_open(Conn* c);
  void on_message(Conn* c, const uint8_t* data, size_t len);
  Frame make_frame(const uint8_t* payload, size_t len, bool compressed) const;
  const std::vector<Frame>& compressed_frames(int window_bits);
  bool agree_deflate(Conn* c, const std::string& extensions);
  // In-flight rings are a power of two long, so indexing is a mask, not a division.
  uint32_t ring_mask() const { return ring_mask_; }
  void send_message(Conn* c, int64_t now);
  void publish_more(int64_t now);
  void flush(Conn* c);
  void set_interest(Conn* c, uint8_t want);
  void fail(Conn* c, const std::string& why);
  void fail_errno(Conn* c, const char* what, int err) { fail(c, std::string(what) + ": " + std::strerror(err)); }
  void retire(Conn* c);
  void unwatch(Conn* c);
  void mark_ready();

  const BenchConfig& config_;
  Shared& shared_;
  int index_;
  Random random_;
  std::vector<uint8_t> read_buffer_;
  core::ByteBuffer plain_in_;  // wss://: what one read decrypted to
  std::vector<std::string> payloads_;
  std::vector<Frame> plain_;  // one per payload
  // With deflate: the payloads compressed, each on its own (so by no context
  // of earlier messages, which §7.2.1 leaves to the sender), once per window
  // size agreed; a message then costs the generator a masked copy, as a plain one.
  std::array<std::vector<Frame>, 16> compressed_;
  uint32_t ring_mask_ = 0;
  std::deque<int> pending_;  // connection ids still to open
  std::vector<Conn*> conns_;
  std::vector<Conn*> dead_;
  core::Poller poller_;
  sockaddr_storage server_{};
  socklen_t server_len_ = 0;
  struct Source {
    sockaddr_storage addr;
    socklen_t len;
  };
  std::vector<Source> sources_;
  int target_ = 0;      // connections this loop holds
  int connecting_ = 0;  // in connect or handshake
  int settled_ = 0;     // opened or failed during set-up
  bool ready_ = false;
  // Echo loops, once all their connections are open, leave epoll and read
  // every socket in turn (see start_scanning).
  bool scanning_ = false;
  int64_t now_ = 0;        // when the current read happened
  bool counting_ = false;  // and whether that is inside the window
  uint64_t counted_ = 0;   // messages in the window; published to `messages` once per iteration
  Conn* publisher_ = nullptr;
  uint64_t published_ = 0;
  uint64_t first_receiver_got_ = 0;  // fanout flow control: the publisher stays `depth` ahead of receiver 0

 public:
  // Deflate counters (see BenchResult), kept only with config.deflate.
  uint64_t deflate_negotiated_ = 0;
  std::string deflate_agreed_;
  uint64_t wire_in_ = 0;
  uint64_t wire_out_ = 0;
  uint64_t payload_out_ = 0;
  uint64_t compressed_in_ = 0;
};

void LoadGenerator::Loop::open_next() {
  while (!pending_.empty() && connecting_ < kMaxConnecting) {
    int id = pending_.front();
    pending_.pop_front();
    auto* c = new Conn(id);
    conns_.push_back(c);
    ++connecting_;
    c->publisher = config_.mode == Mode::kFanout && id == config_.connections;
    c->fd = core::open_stream_socket(server_.ss_family);
    if (c->fd < 0) {
      fail_errno(c, "socket", -c->fd);
      continue;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (config_.mode == Mode::kConnect) {
      linger l{1, 0};  // drop with RST: no TIME_WAIT pile-up at thousands of connects per second
      setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    if (!sources_.empty()) {
      const Source& s = sources_[size_t(id) % sources_.size()];
#ifdef IP_BIND_ADDRESS_NO_PORT
      setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
      if (bind(c->fd, reinterpret_cast<const sockaddr*>(&s.addr), s.len) != 0) {
        fail_errno(c, "bind", errno);
        continue;
      }
    }
    if (connect(c->fd, reinterpret_cast<const sockaddr*>(&server_), server_len_) != 0 && errno != EINPROGRESS) {
      fail_errno(c, "connect", errno);
      continue;
    }
    c->interest = core::kPollOut;
    c->watched = poller_.add(c->fd, core::kPollOut, c) == 0;
  }
}

void LoadGenerator::Loop::on_io(Conn* c, uint32_t flags) {
  if (c->state == State::kClosed) return;
  if (c->state == State::kConnecting) {
    if (!(flags & (core::kPollOut | core::kPollHup))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail_errno(c, "connect", err);
    return on_connected(c);
  }
  if (flags & core::kPollOut) flush(c);
  if (c->state == State::kClosed || !(flags & (core::kPollIn | core::kPollHup))) return;
  read_from(c);
}

// One read from the socket and everything it brings; false if nothing was there.
bool LoadGenerator::Loop::read_from(Conn* c) {
  ssize_t n = recv(c->fd, read_buffer_.data(), read_buffer_.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  if (n < 0) {
    fail_errno(c, "recv", errno);
    return false;
  }
  if (n == 0) {
    fail(c, c->state == State::kTls ? "the server closed the connection during the TLS handshake"
                                    : "the server closed the connection");
    return false;
  }
  now_ = now_ns();  // one clock read per read: everything in it arrived at once
  counting_ = in_window(now_);
  uint8_t* data = read_buffer_.data();
  size_t len = size_t(n);
  if (c->tls) {
    plain_in_.clear();
    TlsClientSession::Status s = c->tls->receive(data, len, plain_in_, c->out);
    if (s == TlsClientSession::Status::kClosed) {
      fail(c, "the server closed the connection (TLS close_notify)");
      return true;
    }
    if (s != TlsClientSession::Status::kOk) {
      fail_tls(c);
      return true;
    }
    if (c->state == State::kTls && c->tls->handshake_done()) on_tls_ready(c);
    data = plain_in_.data();
    len = plain_in_.size();
  }
  if (len > 0 && c->state == State::kHandshake) {
    on_handshake_bytes(c, data, len);
  } else if (len > 0 && c->state == State::kOpen) {
    // Socket bytes (encrypted ones over TLS), once the connection is open.
    if (config_.deflate && (counting_ || config_.mode == Mode::kIdle)) wire_in_ += size_t(n);
    Events events{*this, c};
    c->parser.feed(events, data, len);
  }
  if (c->state != State::kClosed) flush(c);
  return true;
}

// A TLS failure ends the connection; the alert OpenSSL wrote is sent if the
// socket takes it at once. A rejected certificate ends the whole run: every
// other connection would be rejected the same way.
void LoadGenerator::Loop::fail_tls(Conn* c) {
  if (c->out_head < c->out.size() && c->fd >= 0) {
    // The socket is non-blocking: what it does not take now is dropped.
    ssize_t ignored = send(c->fd, c->out.data() + c->out_head, c->out.size() - c->out_head, core::send_flags());
    (void)ignored;
  }
  std::string why = (c->state == State::kTls ? "TLS handshake: " : "TLS: ") + c->tls->error();
  if (c->tls->certificate_rejected()) shared_.abort(why);
  fail(c, why);
}

// Why echo loops stop using epoll once their connections are up: every
// connection always has messages in flight, so a read of each socket in turn
// finds data on most of them. A socket registered with epoll makes every
// segment the server sends run epoll's wake-up callback on the server's CPU
// (loopback delivers in the sender's context), which slows down the very
// server being measured; an unregistered socket costs the server nothing
// beyond the delivery. Reads that find nothing cost only this loop's core,
// and only while it would otherwise wait. Measured against bench/c/loadgen.c,
// which keeps epoll: 3 to 5% more messages per second from the same server.
void LoadGenerator::Loop::start_scanning() {
  for (Conn* c : conns_) {
    if (c->state == State::kOpen) unwatch(c);
  }
  scanning_ = true;
}

// One pass over the open connections: write what is pending, read what
// arrived. Returns how many reads brought data.
int LoadGenerator::Loop::scan() {
  int got = 0;
  for (Conn* c : conns_) {
    if (c->state != State::kOpen) continue;
    if (has_output(c)) flush(c);  // what the socket would not take last time
    if (c->state == State::kOpen && read_from(c)) ++got;
  }
  return got;
}

// After a quiet spell a scanning loop sleeps in poll(2) on its sockets, which
// joins their wait queues only while it sleeps.
void LoadGenerator::Loop::sleep_until_readable(int timeout_ms) {
  std::vector<pollfd> fds;
  fds.reserve(conns_.size());
  for (Conn* c : conns_) {
    if (c->state != State::kOpen) continue;
    short want = POLLIN;
    if (has_output(c)) want |= POLLOUT;
    fds.push_back({c->fd, want, 0});
  }
  poll(fds.data(), fds.size(), timeout_ms);
}

void LoadGenerator::Loop::on_connected(Conn* c) {
  if (!shared_.tls) return send_upgrade(c);
  c->tls = std::make_unique<TlsClientSession>(*shared_.tls, config_.tls_host);
  c->state = State::kTls;
  if (c->tls->start(c->out) != TlsClientSession::Status::kOk) return fail_tls(c);
  set_interest(c, core::kPollIn);
  flush(c);  // the ClientHello
}

// The TLS handshake is done: counted, and the HTTP upgrade goes over it.
void LoadGenerator::Loop::on_tls_ready(Conn* c) {
  if (config_.mode != Mode::kConnect || in_window(now_)) ++tls_handshakes;
  if (tls_protocol.empty()) {
    tls_protocol = c->tls->protocol();
    tls_cipher = c->tls->cipher();
    tls_alpn = c->tls->alpn();
  }
  send_upgrade(c);
}

void LoadGenerator::Loop::send_upgrade(Conn* c) {
  uint8_t nonce[16];
  uint64_t a = random_.next(), b = random_.next();
  std::memcpy(nonce, &a, 8);
  std::memcpy(nonce + 8, &b, 8);
  c->key = proto::make_client_key(nonce);
  std::string path = config_.path;
  if (config_.mode == Mode::kFanout) {
    path += path.find('?') == std::string::npos ? '?' : '&';
    path += c->publisher ? "role=publisher" : "role=subscriber";
  }
  std::string req = proto::build_client_request(config_.host_header, path, c->key, {},
                                                config_.deflate ? proto::kClientDeflateOffer : std::string_view{});
  c->state = State::kHandshake;
  outbox(c).append(req.data(), req.size());
  set_interest(c, core::kPollIn);
  flush(c);
}

void LoadGenerator::Loop::on_handshake_bytes(Conn* c, const uint8_t* data, size_t len) {
  c->head.append(reinterpret_cast<const char*>(data), len);
  size_t head_len = 0;
  std::string extensions;
  switch (proto::check_server_response(c->head.data(), c->head.size(), c->key, head_len, &extensions)) {
    case proto::ClientHandshakeStatus::kIncomplete:
      return;
    case proto::ClientHandshakeStatus::kBad: {
      // The status line says most: "HTTP/1.1 404 Not Found".
      size_t eol = c->head.find("\r\n");
      std::string line = c->head.substr(0, eol == std::string::npos ? 80 : std::min<size_t>(eol, 80));
      return fail(c, "the server refused the WebSocket handshake: " + (line.empty() ? std::string("(empty)") : line));
    }
    case proto::ClientHandshakeStatus::kOk:
      break;
  }
  // §4.1 (and RFC 7692 §7.1): an extension the client did not offer, or an answer its offer did not allow.
  if (config_.deflate ? !agree_deflate(c, extensions) : !extensions.empty()) {
    return fail(c, "the server answered with an extension that was not offered: Sec-WebSocket-Extensions: " + extensions);
  }
  std::string early = c->head.substr(head_len);
  std::string().swap(c->head);
  on_open(c);
  if (!early.empty() && c->state == State::kOpen) {
    Events events{*this, c};
    c->parser.feed(events, reinterpret_cast<uint8_t*>(early.data()), early.size());
  }
}

void LoadGenerator::Loop::on_open(Conn* c) {
  --connecting_;
  c->state = State::kOpen;
  int64_t now = now_ns();
  if (config_.mode == Mode::kConnect) {
    if (in_window(now)) ++handshakes;
    retire(c);
    pending_.push_back(c->id);  // and again
    return;
  }
  ++handshakes;
  open.fetch_add(1, std::memory_order_relaxed);
  if (!ready_ && ++settled_ == target_) mark_ready();
  if (c->publisher) {
    publisher_ = c;
    return;
  }
  if (config_.mode == Mode::kEcho || config_.mode == Mode::kLatency) {
    int depth = config_.mode == Mode::kLatency ? 1 : config_.depth;
    for (int i = 0; i < depth; ++i) send_message(c, now);
  } else if (config_.mode == Mode::kIdle && config_.messages > 0) {
    send_message(c, now);
  }
}

// The server's answer to the offer: the connection's deflate, or a failure.
bool LoadGenerator::Loop::agree_deflate(Conn* c, const std::string& extensions) {
  proto::DeflateParams params;
  switch (proto::read_deflate_response(extensions, params)) {
    case proto::ClientDeflateStatus::kNone:
      return true;  // declined: this connection runs uncompressed
    case proto::ClientDeflateStatus::kBad:
      return false;
    case proto::ClientDeflateStatus::kAccepted:
      break;
  }
  c->deflate = std::make_unique<Deflate>(*this, params);
  c->parser.set_inflater(c->deflate.get());
  ++deflate_negotiated_;
  if (deflate_agreed_.empty()) deflate_agreed_ = extensions;
  return true;
}

LoadGenerator::Loop::Frame LoadGenerator::Loop::make_frame(const uint8_t* payload, size_t len, bool compressed) const {
  static const uint8_t kZeroKey[4] = {};
  Frame f;
  f.bytes.resize(proto::kMaxFrameHeader + len);
  size_t h = proto::write_frame_header(f.bytes.data(), config_.binary ? proto::kOpBinary : proto::kOpText, len,
                                       kZeroKey, compressed);
  f.header = h - 4;
  f.bytes.resize(h + len);
  if (len > 0) std::memcpy(f.bytes.data() + h, payload, len);
  return f;
}

const std::vector<LoadGenerator::Loop::Frame>& LoadGenerator::Loop::compressed_frames(int window_bits) {
  std::vector<Frame>& frames = compressed_[size_t(window_bits) & 15];
  if (frames.empty()) {
    proto::Deflater d(proto::DeflaterOptions{-1, 8, window_bits, true, false, nullptr});
    std::vector<uint8_t> out;
    for (const std::string& p : payloads_) {
      out.clear();
      if (!d.compress(reinterpret_cast<const uint8_t*>(p.data()), p.size(), out)) {
        // zlib failed: that message goes uncompressed.
        frames.push_back(make_frame(reinterpret_cast<const uint8_t*>(p.data()), p.size(), false));
        continue;
      }
      frames.push_back(make_frame(out.data(), out.size(), true));
    }
  }
  return frames;
}

void LoadGenerator::Loop::mark_ready() {
  ready_ = true;
  if (config_.mode == Mode::kEcho) start_scanning();
  if (shared_.ready.fetch_add(1) + 1 == config_.threads) {
    // The last loop up opens the window for everyone.
    int64_t start = now_ns() + int64_t(config_.warmup_s * 1e9);
    shared_.window_end.store(start + int64_t(config_.duration_s * 1e9), std::memory_order_relaxed);
    shared_.window_start.store(start, std::memory_order_release);
  }
}

void LoadGenerator::Loop::on_message(Conn* c, const uint8_t* data, size_t len) {
  int64_t now = now_;
  bool counted = counting_;
  if (config_.mode == Mode::kFanout) {
    if (c->publisher) return;
    if (counted) {
      ++counted_;
      bytes += len;
      if (len >= 8) {
        int64_t sent;
        std::memcpy(&sent, data, 8);
        if (sent > 0 && sent <= now) histogram.record(uint64_t(now - sent));
      }
    }
    if (c->id == 0) {
      ++first_receiver_got_;
      publish_more(now);
    }
    return;
  }
  if (c->in_flight == 0) return fail(c, "a message that answers nothing (not an echo server)");
  int64_t sent = c->sent_at[c->sent_head];
  c->sent_head = (c->sent_head + 1) & ring_mask();
  --c->in_flight;
  if (config_.mode == Mode::kIdle) {
    // A conversation before holding: every echo counts, the window aside.
    ++counted_;
    bytes += len;
    if (++c->exchanged < config_.messages) send_message(c, now);
    return;
  }
  if (counted) {
    ++counted_;
    bytes += len;
    histogram.record(uint64_t(now - sent));
  }
  send_message(c, now);
}

// One masked frame with a fresh key (§5.3), appended to the connection's
// output: the prebuilt header with the new key, then the payload masked as it
// is copied.
void LoadGenerator::Loop::send_message(Conn* c, int64_t now) {
  uint32_t key32 = uint32_t(random_.next());
  uint8_t key[4];
  std::memcpy(key, &key32, 4);
  // The publisher's messages carry a send time, so they are never the
  // precompressed ones: it sends uncompressed (compression is per message, §6).
  uint32_t which = c->next_payload++ % uint32_t(plain_.size());
  const Frame& frame = c->deflate && !c->publisher ? compressed_frames(c->deflate->params.client_max_window_bits)[which]
                                                   : plain_[which];
  size_t frame_len = frame.bytes.size();
  size_t head = frame.header + 4;
  uint8_t* f = outbox(c).extend(frame_len);
  std::memcpy(f, frame.bytes.data(), frame.header);
  std::memcpy(f + frame.header, key, 4);
  uint64_t k64 = proto::mask_word(key, 0);
  size_t len = frame_len - head;
  if (c->publisher && len >= 8) {
    // Receivers measure latency from the send time in the first 8 bytes.
    uint8_t first[8];
    std::memcpy(first, &now, 8);
    proto::mask_copy(f + head, first, 8, k64);
    proto::mask_copy(f + head + 8, frame.bytes.data() + head + 8, len - 8, k64);
  } else {
    proto::mask_copy(f + head, frame.bytes.data() + head, len, k64);
  }
  if (config_.deflate && (config_.mode == Mode::kIdle || in_window(now))) {
    wire_out_ += frame_len;
    payload_out_ += payloads_[which].size();
  }
  if (!c->publisher) {
    if (!c->sent_at) c->sent_at = std::make_unique<int64_t[]>(ring_mask() + 1);
    c->sent_at[(c->sent_head + c->in_flight) & ring_mask()] = now;
    ++c->in_flight;
  }
}

void LoadGenerator::Loop::publish_more(int64_t now) {
  if (publisher_ == nullptr || publisher_->state != State::kOpen) return;
  if (shared_.window_start.load(std::memory_order_acquire) == 0) return;
  bool sent = false;
  while (published_ < first_receiver_got_ + uint64_t(config_.depth)) {
    send_message(publisher_, now);
    ++published_;
    sent = true;
  }
  if (sent) flush(publisher_);
}

void LoadGenerator::Loop::flush(Conn* c) {
  if (!c->plain_out.empty()) {
    if (c->tls->send(c->plain_out.data(), c->plain_out.size(), c->out) != TlsClientSession::Status::kOk) {
      return fail_tls(c);
    }
    c->plain_out.clear();
  }
  while (c->out_head < c->out.size()) {
    ssize_t n = send(c->fd, c->out.data() + c->out_head, c->out.size() - c->out_head, core::send_flags());
    if (n < 0) {
      if (errno == EAGAIN) break;
      if (errno == EINTR) continue;
      return fail_errno(c, "send", errno);
    }
    c->out_head += size_t(n);
  }
  if (c->out_head == c->out.size()) {
    c->out.clear();
    c->out_head = 0;
    set_interest(c, core::kPollIn);
  } else {
    set_interest(c, core::kPollIn | core::kPollOut);
  }
}

void LoadGenerator::Loop::set_interest(Conn* c, uint8_t want) {
  if (c->interest == want) return;
  c->interest = want;
  if (!scanning_) poller_.modify(c->fd, want, c);
}

void LoadGenerator::Loop::fail(Conn* c, const std::string& why) {
  if (c->state == State::kClosed) return;
  if (first_error.empty()) first_error = why;
  bool setting_up = c->state != State::kOpen;
  if (setting_up) --connecting_;
  errors.fetch_add(1, std::memory_order_relaxed);
  if (c->state == State::kOpen) open.fetch_sub(1, std::memory_order_relaxed);
  if (c == publisher_) publisher_ = nullptr;
  retire(c);
  if (config_.mode == Mode::kConnect) {
    pending_.push_back(c->id);
  } else if (setting_up && !ready_ && ++settled_ == target_) {
    mark_ready();
  }
}

// Backends other than epoll (libuv) must forget a descriptor before it is
// closed: the number is reused by the next socket.
void LoadGenerator::Loop::unwatch(Conn* c) {
  if (c->watched) poller_.remove(c->fd);
  c->watched = false;
}

void LoadGenerator::Loop::retire(Conn* c) {
  unwatch(c);
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->tls.reset();
  c->state = State::kClosed;
  dead_.push_back(c);
}

void LoadGenerator::Loop::run() {
  if (target_ == 0) mark_ready();
  core::PollEvent events[256];
  int64_t idle_since = 0;
  for (;;) {
    open_next();
    // A load generator owns its core: poll without sleeping for a short while
    // after the last event, because in a VM every sleep costs a slow wake-up
    // that would throttle the server under test.
    if (scanning_) {
      if (scan() > 0) {
        idle_since = 0;
      } else {
        int64_t t = now_ns();
        if (idle_since == 0) idle_since = t;
        if (t - idle_since > kSpinNs) sleep_until_readable(10);
      }
    } else {
      int n = poller_.wait(events, 256, 0);
      if (n == 0) {
        int64_t t = now_ns();
        if (idle_since == 0) idle_since = t;
        if (t - idle_since > kSpinNs) n = poller_.wait(events, 256, 10);
      }
      if (n > 0) idle_since = 0;
      for (int i = 0; i < n; ++i) on_io(static_cast<Conn*>(events[i].tag), events[i].flags);
    }
    messages.store(counted_, std::memory_order_relaxed);
    int64_t now = now_ns();
    if (config_.mode == Mode::kFanout && publisher_ && published_ == 0) publish_more(now);
    if (!dead_.empty()) {
      for (Conn* d : dead_) {
        for (auto& slot : conns_) {
          if (slot == d) {
            slot = conns_.back();
            conns_.pop_back();
            break;
          }
        }
        delete d;
      }
      dead_.clear();
    }
    int64_t end = shared_.window_end.load(std::memory_order_relaxed);
    if (shared_.stop.load(std::memory_order_relaxed) || (end != 0 && now >= end)) break;
  }
  for (Conn* c : conns_) {
    unwatch(c);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
  }
}

LoadGenerator::LoadGenerator(BenchConfig config) : config_(std::move(config)), shared_(std::make_unique<Shared>()) {
  if (config_.tls) {
    TlsClientOptions options;
    options.verify = config_.tls_verify;
    options.ca_pem = config_.tls_ca_pem;
    shared_->tls = std::make_unique<TlsClientContext>(options);
  }
  if (config_.threads < 1) config_.threads = 1;
  if (config_.mode == Mode::kLatency) config_.depth = 1;
  if (config_.depth < 1) config_.depth = 1;
}

LoadGenerator::~LoadGenerator() {
  stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void LoadGenerator::start() {
  // Every connection is a descriptor: use all the process may have.
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (config_.mode == Mode::kConnect) {
    // Nothing to set up first: the window starts after the warm-up.
    int64_t start = now_ns() + int64_t(config_.warmup_s * 1e9);
    shared_->window_end.store(start + int64_t(config_.duration_s * 1e9));
    shared_->window_start.store(start);
    shared_->ready.store(config_.threads);
  }
  for (int i = 0; i < config_.threads; ++i) loops_.push_back(std::make_unique<Loop>(config_, *shared_, i));
  for (auto& l : loops_) {
    threads_.emplace_back([loop = l.get()] { loop->run(); });
#ifdef __linux__
    std::string name = "corews-lg" + std::to_string(threads_.size() - 1);
    pthread_setname_np(threads_.back().native_handle(), name.c_str());
#endif
  }
}

BenchProgress LoadGenerator::progress() const {
  BenchProgress p{0, 0, 0, false, false};
  for (const auto& l : loops_) {
    p.messages += l->messages.load(std::memory_order_relaxed);
    p.open += l->open.load(std::memory_order_relaxed);
    p.errors += l->errors.load(std::memory_order_relaxed);
  }
  int64_t start = shared_->window_start.load(std::memory_order_acquire);
  int64_t now = now_ns();
  p.measuring = start != 0 && now >= start;
  int64_t end = shared_->window_end.load();
  p.done = shared_->stop.load() || (end != 0 && now >= end);
  return p;
}

void LoadGenerator::stop() { shared_->stop_now(); }

BenchResult LoadGenerator::finish() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  BenchResult r;
  for (const auto& l : loops_) {
    r.messages += l->messages.load();
    r.bytes += l->bytes;
    r.handshakes += l->handshakes;
    r.errors += l->errors.load();
    r.open += l->open.load();
    r.latency.merge(l->histogram);
    r.deflate_negotiated += l->deflate_negotiated_;
    if (r.deflate_agreed.empty()) r.deflate_agreed = l->deflate_agreed_;
    r.wire_in += l->wire_in_;
    r.wire_out += l->wire_out_;
    r.payload_out += l->payload_out_;
    r.compressed_in += l->compressed_in_;
    r.tls_handshakes += l->tls_handshakes;
    if (r.tls_protocol.empty()) {
      r.tls_protocol = l->tls_protocol;
      r.tls_cipher = l->tls_cipher;
      r.tls_alpn = l->tls_alpn;
    }
    if (r.first_error.empty()) r.first_error = l->first_error;
  }
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    r.aborted = shared_->aborted;
    if (r.aborted) r.first_error = shared_->abort_reason;
  }
  int64_t start = shared_->window_start.load();
  int64_t end = shared_->window_end.load();
  int64_t stopped = shared_->stopped_at.load();
  if (stopped != 0 && (end == 0 || stopped < end)) end = stopped;
  r.seconds = start != 0 && end > start ? double(end - start) / 1e9 : 0;
  return r;
}

}  // namespace corews::client
