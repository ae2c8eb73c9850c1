#include "worker.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "../core/clock.h"
#include "../proto/frame.h"
#include "commands.h"
#include "listener.h"
#include "tcp_transport.h"

namespace corews::server {
namespace {

constexpr size_t kReadBufferSize = 256 * 1024;
constexpr int kMaxEventsPerWait = 256;
constexpr int kMaxAcceptsPerWake = 64;     // then let the loop serve established connections
constexpr int64_t kAcceptPauseMs = 100;     // after EMFILE/ENFILE
constexpr size_t kMaxCorkIov = 64;
constexpr size_t kKeepCommandCapacity = 1 << 20;  // JS hands over at 512 KiB: buffers past 1 MiB are not reused
// A batch's arena is one allocation that JS frees when the GC gets to it.
// Megabytes of arena per batch would mean growth by reallocation (each step a
// copy) into fresh pages (faulted in and zeroed) every time; batches handed
// over at about 1 MiB reuse the allocator's memory instead.
constexpr size_t kFlushArenaBytes = 1u << 20;
constexpr size_t kDrainLowMark = 16 * 1024;  // a JS send reports BACKPRESSURE above it; drain fires back under it

// The heartbeat checks at the shorter of the two periods that are set.
int64_t heartbeat_period(const WorkerConfig& c) {
  if (c.ping_interval_ms > 0 && c.idle_timeout_ms > 0) return std::min(c.ping_interval_ms, c.idle_timeout_ms);
  return c.ping_interval_ms > 0 ? c.ping_interval_ms : c.idle_timeout_ms;
}

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// `arena_hint`: the size the previous batch's arena reached. Traffic comes in
// runs, so reserving that much up front saves the arena its growth by
// reallocation (a copy of everything so far at each doubling).
std::unique_ptr<EventBatch> new_batch(uint32_t worker, size_t arena_hint) {
  auto b = std::make_unique<EventBatch>();
  b->worker = worker;
  b->events.reserve(64);
  b->arena.reserve(std::clamp(arena_hint, size_t(16 * 1024), kFlushArenaBytes + kReadBufferSize));
  return b;
}

}  // namespace

// The frame parser's handler for one connection: turns what it parsed into
// events for JS, and answers pings on the spot.
struct Worker::ParserEvents {
  Worker& w;
  Connection* c;

  void on_message(proto::Opcode op, const uint8_t* data, size_t len, bool ascii) {
    if (gone()) return;
    if (!w.count_message(c, len)) return;
    uint32_t flags = op == proto::kOpBinary ? uint32_t(kMessageBinary) : ascii ? uint32_t(kMessageAscii) : 0u;
    if (w.batch_->messages == 0) w.batch_->first_message_ns = now_ns();
    w.batch_->add_message(c->slot, c->gen, data, len, flags);
  }

  // A write failed earlier in this read (the peer reset): the connection is
  // gone and has had its one close event; what follows it in the buffer is moot.
  bool gone() const { return c->state == ConnState::kDead; }

  void on_ping(const uint8_t* data, size_t len) {
    if (c->state != ConnState::kOpen) return;  // after our Close, no more frames from us
    if (!w.within_rate(c)) return;
    w.answer_ping(c, data, len);
  }

  void on_pong(const uint8_t*, size_t) {
    if (c->state == ConnState::kOpen) w.within_rate(c);
  }

  void on_close(uint16_t code, const uint8_t* reason, size_t len) {
    if (gone()) return;
    WorkerStats::add(w.stats_.close_received[close_code_slot(code)]);
    c->close_code = code;
    c->close_reason.assign(reinterpret_cast<const char*>(reason), len);
    if (c->state == ConnState::kClosing) {
      // The peer answered our Close: the closing handshake is complete (§7.1.2).
      w.begin_drain(c);
      return;
    }
    // Leave the echo to JS, so that replies to the messages before this Close
    // go out first.
    c->state = ConnState::kPeerClosed;
    w.update_interest(c);
    w.batch_->add(EventType::kPeerClose, c->slot, c->gen, code, {c->close_reason});
  }

  void on_error(uint16_t code, const char* reason) {
    if (gone()) return;
    if (c->state == ConnState::kClosing) {
      w.destroy(c);  // we already sent our Close; nothing more to say
      return;
    }
    c->close_code = code;
    c->close_reason = reason;
    c->state = ConnState::kFailed;
    w.update_interest(c);
    w.batch_->add(EventType::kProtocolError, c->slot, c->gen, code, {c->close_reason});
  }
};

Worker::Worker(uint32_t id, std::shared_ptr<const WorkerConfig> config, int listen_fd, EventSink& sink,
               std::shared_ptr<SharedLimits> limits, SlotCounters* counters)
    : id_(id),
      config_(std::move(config)),
      listen_fd_(listen_fd),
      sink_(sink),
      handshake_timers_(config_->handshake_timeout_ms),
      closing_timers_(config_->close_timeout_ms),
      heartbeat_timers_(heartbeat_period(*config_)),
      limits_(std::move(limits)),
      counters_(counters),
      batch_(new_batch(id, 0)),
      read_buffer_(kReadBufferSize) {
  // A worker without its poller or wakeup would spin or never hear from JS:
  // refuse to exist, so that listen() fails with the reason.
  if (!poller_.ok()) throw std::system_error(poller_.error(), std::system_category(), "cannot create the event poller");
  if (wakeup_.fd() < 0) throw std::system_error(wakeup_.error(), std::system_category(), "cannot create the wakeup descriptor");
  if (int r = poller_.add(wakeup_.fd(), core::kPollIn, &wakeup_tag_); r != 0) {
    throw std::system_error(-r, std::system_category(), "cannot watch the wakeup descriptor");
  }
  if (listen_fd_ >= 0) {
    if (int r = poller_.add(listen_fd_, core::kPollIn, &listen_tag_); r != 0) {
      poller_.remove(wakeup_.fd());
      throw std::system_error(-r, std::system_category(), "cannot watch the listening socket");
    }
  }
  counters_->ref();
  cork_iov_.reserve(kMaxCorkIov);
}

Worker::~Worker() {
  join();
  if (!stopped_) stop_all();
  std::vector<CommandBuffer> leftover;
  inbox_.take(leftover);  // commands JS queued after the stop
  for (const auto& commands : leftover) release_publishes(commands, 0);
  for (Connection* c : graveyard_) {
    topics_.remove_all(c);
    delete c;
  }
  close_listener();
  poller_.remove(wakeup_.fd());
  counters_->unref();
}

void Worker::start() {
  thread_ = std::thread([this] {
    while (run_once(-1)) {
    }
  });
#ifdef __linux__
  // Named, so tools (and the leak tests) can tell our threads from Node's.
  std::string name = "corews-w" + std::to_string(id_);
  pthread_setname_np(thread_.native_handle(), name.c_str());
#endif
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::request_stop() {
  stop_requested_.store(true, std::memory_order_release);
  wakeup_.signal();
}

bool Worker::run_once(int timeout_ms) {
  if (stopped_) return false;
  int64_t now = core::now_ms();
  int64_t next = -1;
  for (int64_t d : {handshake_timers_.next_deadline(), closing_timers_.next_deadline(),
                    heartbeat_timers_.next_deadline(), accept_paused_until_ ? accept_paused_until_ : -1,
                    shutting_down_ ? shutdown_deadline_ : -1}) {
    if (d >= 0 && (next < 0 || d < next)) next = d;
  }
  if (next >= 0) {
    int until = int(next > now ? next - now : 0);
    if (timeout_ms < 0 || until < timeout_ms) timeout_ms = until;
  }

  core::PollEvent events[kMaxEventsPerWait];
  int n = poller_.wait(events, kMaxEventsPerWait, timeout_ms);
  now_ms_ = core::now_ms();
  WorkerStats::add(stats_.loop_iterations);
  if (reading_paused_.load(std::memory_order_acquire)) resume_reading();
  for (int i = 0; i < n && !stopped_; ++i) {
    if (events[i].tag == &wakeup_tag_) {
      wakeup_.drain();
      process_commands();
    } else if (events[i].tag == &listen_tag_) {
      accept_connections();
    } else {
      on_io(static_cast<Connection*>(events[i].tag), events[i].flags);
    }
  }
  if (stop_requested_.load(std::memory_order_acquire) && !stopped_) stop_all();
  if (!stopped_) expire_timers();
  // A graceful shutdown ends when the last connection has gone, or at its deadline.
  if (shutting_down_ && !stopped_ && (live_ == 0 || now_ms_ >= shutdown_deadline_)) stop_all();
  flush_batch();
  for (Connection* c : graveyard_) {
    topics_.remove_all(c);
    delete c;
  }
  graveyard_.clear();
  return !stopped_;
}

// ---------------------------------------------------------------- accepting

void Worker::accept_connections() {
  for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
    int fd = accept_connection(listen_fd_);
    if (fd < 0) {
      if (fd == -EINTR || fd == -ECONNABORTED) continue;
      if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
        // Out of descriptors: stop watching the listener for a moment rather
        // than spin on a readable socket we cannot accept from.
        poller_.modify(listen_fd_, 0, &listen_tag_);
        accept_paused_until_ = core::now_ms() + kAcceptPauseMs;
      }
      break;
    }
    if (siblings_.empty()) {
      adopt(fd);
    } else {
      hand_off(fd);
    }
  }
  // One inbox push and one wakeup per sibling per round.
  for (size_t i = 0; i < handoffs_.size(); ++i) {
    if (!handoffs_[i].empty() && siblings_[i]->inbox().push(handoffs_[i])) siblings_[i]->wake();
  }
}

// Round-robin over all workers, this one included.
void Worker::hand_off(int fd) {
  size_t target = next_sibling_++ % siblings_.size();
  if (siblings_[target] == this) return adopt(fd);
  if (handoffs_.size() < siblings_.size()) handoffs_.resize(siblings_.size());
  int32_t value = fd;
  CommandWriter(handoffs_[target]).add(CommandType::kAdopt, 0, 0, 0, {{reinterpret_cast<const char*>(&value), 4}});
}

void Worker::adopt(int fd) {
  if (shutting_down_ || stopped_) {
    close_socket(fd);
    return;
  }
  uint32_t slot;
  if (free_slots_.empty()) {
    slot = uint32_t(slots_.size());
    slots_.push_back(nullptr);
    generations_.push_back(1);
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  if (slot >= counters_->slots()) {  // cannot happen below the fd limit the counters were sized for
    close_socket(fd);
    free_slots_.push_back(slot);
    return;
  }
  auto* c = new Connection(std::make_unique<TcpTransport>(fd), slot, generations_[slot], config_->parser);
  c->heartbeat.owner = c;
  counters_->reset(slot);
  slots_[slot] = c;
  ++live_;
  c->interest = core::kPollIn;
  if (poller_.add(fd, core::kPollIn, c) != 0) {
    destroy(c);
    return;
  }
  handshake_timers_.arm(c, core::now_ms());
}

Connection* Worker::lookup(uint32_t slot, uint32_t gen) const {
  if (slot >= slots_.size() || generations_[slot] != gen) return nullptr;
  return slots_[slot];
}

// ---------------------------------------------------------------- reading

void Worker::on_io(Connection* c, uint32_t flags) {
  if (c->state == ConnState::kDead) return;
  if (c->state == ConnState::kAwaitingJs && (flags & (core::kPollRdHup | core::kPollHup))) {
    destroy(c);  // the client gave up while a hook was deciding
    return;
  }
  if (flags & core::kPollOut) on_writable(c);
  if (c->state == ConnState::kDead) return;
  if (flags & (core::kPollIn | core::kPollHup)) on_readable(c);
}

void Worker::on_readable(Connection* c) {
  bool framed = c->state == ConnState::kOpen || c->state == ConnState::kClosing;
  if (framed && reading_paused_.load(std::memory_order_relaxed)) {
    pause_reading(c);  // JS is behind: leave the bytes in the kernel, TCP pushes back
    return;
  }
  IoResult r = c->transport->read_some(read_buffer_.data(), read_buffer_.size());
  if (r.status == IoResult::kWouldBlock) return;
  if (r.status == IoResult::kError) {
    destroy(c);
    return;
  }
  if (r.status == IoResult::kEof) {
    // FIN. On an open connection it goes through JS like a peer's Close, so
    // replies to the messages before it still go out; JS answers with 1006,
    // which is never sent: the queue is flushed and the connection closed.
    // The close handler hears 1006, as no Close frame came.
    if (c->state == ConnState::kOpen) {
      c->close_code = proto::kCloseAbnormal;
      c->state = ConnState::kPeerClosed;
      update_interest(c);
      batch_->add(EventType::kPeerClose, c->slot, c->gen, c->close_code, {std::string_view()});  // no reason
      return;
    }
    // Otherwise the end: after what is still queued for the peer.
    if (c->out_pending()) {
      c->destroy_after_flush = true;
      c->state = ConnState::kDraining;
      closing_timers_.arm(c, now_ms_);
      update_interest(c);
      return;
    }
    destroy(c);
    return;
  }
  if (framed) c->last_activity_ms = now_ms_;
  uint8_t* data = read_buffer_.data();
  switch (c->state) {
    case ConnState::kHandshake:
      on_request_bytes(c, data, r.bytes);
      break;
    case ConnState::kOpen:
    case ConnState::kClosing: {
      ParserEvents events{*this, c};
      c->parser.feed(events, data, r.bytes);
      if (batch_->arena.size() > kFlushArenaBytes) flush_batch();
      break;
    }
    default:
      break;  // draining, or waiting for JS after a Close or an error: discard
  }
}

void Worker::on_request_bytes(Connection* c, const uint8_t* data, size_t len) {
  c->http.append(reinterpret_cast<const char*>(data), len);
  proto::HttpRequest req;
  size_t head_len = 0;
  switch (proto::parse_request_head(c->http.data(), c->http.size(), req, head_len)) {
    case proto::HeadStatus::kIncomplete:
      return;
    case proto::HeadStatus::kTooLarge:
      return refuse(c, 431, "request head too large");
    case proto::HeadStatus::kBad:
      return refuse(c, 400, "malformed HTTP request");
    case proto::HeadStatus::kComplete:
      break;
  }
  proto::HandshakeDecision d = proto::decide_upgrade(req, config_->policy);
  switch (d.kind) {
    case proto::HandshakeDecision::kReject:
      return refuse(c, d.status, d.reason);
    case proto::HandshakeDecision::kNotUpgrade:
      if (!config_->http_hook) return refuse(c, d.status, d.reason);
      return await_js(c, EventType::kHttpRequest, req, {});
    case proto::HandshakeDecision::kAccept:
      break;
  }
  if (shutting_down_) return refuse(c, 503, "server shutting down");
  if (!limits_->acquire()) return refuse(c, 503, "server is at its connection limit");
  if (limits_->per_ip_enabled()) {
    std::string ip = c->transport->peer_address();
    if (!limits_->acquire_ip(ip)) {
      limits_->release();
      return refuse(c, 429, "too many connections from this address");
    }
    c->ip = std::move(ip);
  }
  c->counted = true;
  if (config_->upgrade_hook) return await_js(c, EventType::kUpgrade, req, d.protocol);
  accept_upgrade(c, d.protocol, {});
}

// The request is complete; a hook decides. The handshake timeout is for slow
// clients, not slow hooks, so it stops here. Whatever the client sends before
// the answer stays in the kernel (TCP pushes back) and is read after it; only
// the client's FIN is watched, to tell JS the client has gone.
void Worker::await_js(Connection* c, EventType type, const proto::HttpRequest& req, std::string_view protocol) {
  core::DeadlineList::cancel(c);
  c->upgrade_request = type == EventType::kUpgrade;
  c->state = ConnState::kAwaitingJs;
  update_interest(c);
  emit_request(c, type, req, protocol);
}

void Worker::emit_request(Connection* c, EventType type, const proto::HttpRequest& req,
                          std::string_view protocol) {
  c->js_knows = true;
  std::string remote = c->transport->peer_address();
  uint32_t offset = batch_->begin_strings();
  batch_->append_string(req.method);
  batch_->append_string(req.target);
  batch_->append_string(remote);
  batch_->append_string(protocol);
  for (size_t i = 0; i < req.header_count; ++i) {
    batch_->append_string(req.headers[i].name);
    batch_->append_string(req.headers[i].value);
  }
  batch_->end_strings(type, c->slot, c->gen, offset, uint32_t(4 + 2 * req.header_count));
}

// Answers 101 and opens the connection. The request is still in c->http;
// anything after its head is the client's first frames.
void Worker::accept_upgrade(Connection* c, std::string_view protocol, std::string_view extra_headers) {
  proto::HttpRequest req;
  size_t head_len = 0;
  proto::parse_request_head(c->http.data(), c->http.size(), req, head_len);
  std::string response =
      proto::build_switching_protocols(req.get("sec-websocket-key"), protocol, extra_headers);
  write_bytes(c, reinterpret_cast<const uint8_t*>(response.data()), response.size());
  if (c->state == ConnState::kDead) return;

  core::DeadlineList::cancel(c);
  c->state = ConnState::kOpen;
  c->js_knows = true;
  c->opened = true;
  c->last_activity_ms = now_ms_;
  c->tokens = float(config_->max_messages_per_second > 1 ? config_->max_messages_per_second : 1);
  c->tokens_at_ms = now_ms_;
  if (config_->ping_interval_ms > 0 || config_->idle_timeout_ms > 0) heartbeat_timers_.arm(&c->heartbeat, now_ms_);
  WorkerStats::add(stats_.handshakes_accepted);
  WorkerStats::add(stats_.connections_open);
  WorkerStats::add(stats_.connections_total);
  update_interest(c);
  batch_->add(EventType::kOpen, c->slot, c->gen, 0, {req.target, protocol, c->transport->peer_address()});

  std::string early = c->http.substr(head_len);
  std::string().swap(c->http);  // an open connection keeps no request buffer
  if (!early.empty()) {
    ParserEvents events{*this, c};
    c->parser.feed(events, reinterpret_cast<uint8_t*>(early.data()), early.size());
  }
}

void Worker::release_place(Connection* c) {
  if (!c->counted) return;
  c->counted = false;
  limits_->release();
  if (!c->ip.empty()) limits_->release_ip(c->ip);
}

void Worker::refuse(Connection* c, int status, std::string_view reason) {
  stats_.rejected(status);
  release_place(c);  // a refused handshake holds no place under the limits
  std::string body(reason);
  body += '\n';
  std::string response = proto::build_response(status, {}, body, true);
  std::string().swap(c->http);
  write_bytes(c, reinterpret_cast<const uint8_t*>(response.data()), response.size());
  begin_drain(c);
}

// ---------------------------------------------------------------- commands from JS

void Worker::process_commands() {
  inbox_.take(taken_);
  for (const auto& commands : taken_) {
    size_t pos = 0;
    while (pos + sizeof(CommandHeader) <= commands.size() && !stopped_) {
      CommandHeader h;
      std::memcpy(&h, commands.data() + pos, sizeof h);
      const uint8_t* payload = commands.data() + pos + sizeof h;
      pos += sizeof h + pad8(h.len);
      run_command(h, payload);
    }
    release_publishes(commands, pos);  // what a stop (env teardown, shutdown deadline) left unrun
  }
  uncork();
  flush_published();
  for (auto& commands : taken_) {
    if (commands.capacity() <= kKeepCommandCapacity) inbox_.recycle(std::move(commands));
  }
  taken_.clear();
}

void Worker::run_command(const CommandHeader& h, const uint8_t* payload) {
  if (h.type == CommandType::kShutdown) {
    uncork();
    uint32_t timeout_ms;
    std::memcpy(&timeout_ms, payload, 4);
    shutdown_gracefully(h.code, {reinterpret_cast<const char*>(payload) + 4, h.len - 4}, timeout_ms);
    return;
  }
  if (h.type == CommandType::kAdopt) {
    int32_t fd;
    std::memcpy(&fd, payload, 4);
    adopt(fd);
    return;
  }
  if (h.type == CommandType::kPublish) {
    uncork();  // what was sent before this publish goes first
    PublishPayload p;
    std::memcpy(&p, payload, sizeof p);
    publish(h, p);
    return;
  }
  Connection* c = lookup(h.slot, h.gen);
  if (c == nullptr || c->state == ConnState::kDead) return;  // closed meanwhile: a no-op
  if (h.type == CommandType::kSend) {
    // Data may follow an incoming Close or error: it answers what came before.
    size_t frame_len = h.len - h.code;
    // JS told the user BACKPRESSURE for this send: a drain must follow.
    if (h.reserved & kSendWantsDrain) c->drain_armed = true;
    bool open = c->state == ConnState::kOpen || c->state == ConnState::kPeerClosed || c->state == ConnState::kFailed;
    if (open && admit(c)) {
      WorkerStats::add(stats_.messages_out);
      WorkerStats::add(stats_.bytes_out, frame_len);
      cork(c, payload + h.code, frame_len);  // taken (for bufferedAmount) once written or queued
    } else if (c->state != ConnState::kDead) {
      // Dropped: gone for good. A drain JS promised still comes.
      c->sends_taken += frame_len;
      note_queue(c);
    }
    return;
  }
  uncork();
  std::string_view body(reinterpret_cast<const char*>(payload), h.len);
  switch (h.type) {
    case CommandType::kClose:
      send_close(c, h.code, body);
      break;
    case CommandType::kTerminate:
      destroy(c);
      break;
    case CommandType::kSubscribe:
    case CommandType::kUnsubscribe: {
      uint32_t topic;
      std::memcpy(&topic, payload, 4);
      if (h.type == CommandType::kSubscribe) topics_.subscribe(c, topic);
      else topics_.unsubscribe(c, topic);
      break;
    }
    case CommandType::kAccept: {
      if (c->state != ConnState::kAwaitingJs) break;
      uint32_t plen;
      std::memcpy(&plen, payload, 4);
      accept_upgrade(c, body.substr(4, plen), body.substr(4 + plen));
      break;
    }
    case CommandType::kRespond: {
      if (c->state != ConnState::kAwaitingJs) break;
      uint32_t hlen;
      std::memcpy(&hlen, payload, 4);
      std::string response = proto::build_response(h.code, body.substr(4, hlen), body.substr(4 + hlen), false);
      if (c->upgrade_request) stats_.rejected(h.code);  // the upgrade hook refused
      release_place(c);
      std::string().swap(c->http);
      write_bytes(c, reinterpret_cast<const uint8_t*>(response.data()), response.size());
      begin_drain(c);
      break;
    }
    default:
      break;
  }
}

// Consecutive sends to one connection (a handler's replies) go out in one writev.
void Worker::cork(Connection* c, const uint8_t* data, size_t len) {
  if (corked_ != c || cork_iov_.size() == kMaxCorkIov) uncork();
  corked_ = c;
  cork_iov_.push_back({const_cast<uint8_t*>(data), len});
  cork_bytes_ += len;
}

void Worker::uncork() {
  Connection* c = corked_;
  size_t bytes = cork_bytes_;
  corked_ = nullptr;
  cork_bytes_ = 0;
  if (c == nullptr) return;
  if (!cork_iov_.empty()) write_iov(c, cork_iov_.data(), int(cork_iov_.size()));
  cork_iov_.clear();
  // JS counts a send in bufferedAmount until the worker reports it taken, and
  // then counts the queue: reported before the write, the bytes would be in
  // neither for a moment, and JS sending meanwhile (a turn sending megabytes
  // is handed over while it runs) would pass maxBackpressure. Reported after
  // the queue is updated, they are briefly in both: an overestimate, which
  // errs on the side of the limit.
  if (c->state != ConnState::kDead) {
    c->sends_taken += bytes;
    counters_->publish(c->slot, c->sends_taken, c->queued_bytes());
  }
}

// One framed message to every subscriber of a topic on this worker, from the
// shared block: what the kernel does not take is queued as a reference to it.
void Worker::publish(const CommandHeader& h, const PublishPayload& p) {
  auto* frame = static_cast<core::SharedBytes*>(p.frame);
  // Connections that close meanwhile stay listed (and are skipped) until the
  // end of the iteration, so this list does not change under the loop.
  if (const std::vector<Subscriber>* subs = topics_.subscribers(p.topic)) {
    for (const Subscriber& s : *subs) {
      Connection* c = s.c;
      if (c->state != ConnState::kOpen) continue;
      if (c->slot == h.slot && c->gen == h.gen) continue;  // ws.publish skips its sender
      if (!admit(c)) continue;
      WorkerStats::add(stats_.messages_out);
      WorkerStats::add(stats_.bytes_out, frame->size());
      // Queue a reference; all of this batch's small publishes to a
      // connection then leave in one writev (flush_published), not one send
      // each. Past the low mark, write now, as a send would.
      c->out.append_shared(frame, 0, frame->size());
      if (c->queued_bytes() > kDrainLowMark) {
        on_writable(c);
      } else if (!c->publish_pending) {
        c->publish_pending = true;
        published_.push_back(c);
      }
    }
  }
  frame->unref();
}

void Worker::flush_published() {
  for (Connection* c : published_) {
    c->publish_pending = false;
    if (c->state != ConnState::kDead) on_writable(c);
  }
  published_.clear();
}

// Drops what commands that will never run hold: publish references, handed-off fds.
void Worker::release_publishes(const CommandBuffer& commands, size_t from) {
  size_t pos = from;
  while (pos + sizeof(CommandHeader) <= commands.size()) {
    CommandHeader h;
    std::memcpy(&h, commands.data() + pos, sizeof h);
    if (h.type == CommandType::kPublish) {
      PublishPayload p;
      std::memcpy(&p, commands.data() + pos + sizeof h, sizeof p);
      static_cast<core::SharedBytes*>(p.frame)->unref();
    } else if (h.type == CommandType::kAdopt) {
      int32_t fd;
      std::memcpy(&fd, commands.data() + pos + sizeof h, 4);
      close_socket(fd);
    }
    pos += sizeof h + pad8(h.len);
  }
}

// ---------------------------------------------------------------- writing

void Worker::write_bytes(Connection* c, const uint8_t* data, size_t len) {
  iovec iov{const_cast<uint8_t*>(data), len};
  write_iov(c, &iov, 1);
}

// With nothing queued the pong goes out at once. Behind a queue it waits as
// the one pending pong, replaced by the answer to each later ping (§5.5.3), and
// joins the queue once the queue ahead of it has been written.
void Worker::answer_ping(Connection* c, const uint8_t* data, size_t len) {
  uint8_t frame[proto::kMaxFrameHeader + proto::kMaxControlPayload];
  size_t h = proto::write_frame_header(frame, proto::kOpPong, len, nullptr);
  if (len) std::memcpy(frame + h, data, len);
  if (!c->out_pending()) {
    write_bytes(c, frame, h + len);
    return;
  }
  if (!c->pong) c->pong = std::make_unique<uint8_t[]>(2 + proto::kMaxControlPayload);
  std::memcpy(c->pong.get(), frame, h + len);
  c->pong_len = uint8_t(h + len);
}

void Worker::queue_pending_pong(Connection* c) {
  if (!c->pong) return;
  c->out.append_copy(c->pong.get(), c->pong_len);
  c->pong.reset();
}

// Writes now what the kernel takes; queues the rest until the socket is writable.
void Worker::write_iov(Connection* c, iovec* iov, int count) {
  if (c->state == ConnState::kDead) return;
  int first = 0;
  if (!c->out_pending()) {
    IoResult r = c->transport->write_some(iov, count);
    if (r.status != IoResult::kDone && r.status != IoResult::kWouldBlock) {
      destroy(c);
      return;
    }
    size_t written = r.status == IoResult::kDone ? r.bytes : 0;
    while (first < count && written >= iov[first].iov_len) written -= iov[first++].iov_len;
    if (first < count) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + written;
      iov[first].iov_len -= written;
    }
  }
  for (int i = first; i < count; ++i) {
    c->out.append_copy(static_cast<uint8_t*>(iov[i].iov_base), iov[i].iov_len);
  }
  // Also when the kernel took everything: a drain may be owed.
  note_queue(c);
  update_interest(c);
}

void Worker::note_queue(Connection* c) {
  size_t bytes = c->queued_bytes();
  counters_->publish(c->slot, c->sends_taken, bytes);
  // The one rule for output: whatever filled the queue (replies, pongs,
  // publishes, a Close), at the bound the peer is read no more, so nothing it
  // sends can queue more; TCP pushes back on it. Reading resumes at half.
  if (bytes >= config_->max_backpressure) {
    if (!c->output_full) WorkerStats::add(stats_.output_pauses);
    c->output_full = true;
  } else if (c->output_full && bytes <= config_->max_backpressure / 2) {
    c->output_full = false;
  }
  if (bytes > kDrainLowMark) {
    if (!c->above_low_mark) WorkerStats::add(stats_.backpressure_events);
    c->above_low_mark = true;
    c->drain_armed = true;
  } else {
    c->above_low_mark = false;
    if (c->drain_armed) {
      c->drain_armed = false;
      if (c->state == ConnState::kOpen) batch_->add(EventType::kDrain, c->slot, c->gen, 0, {});
    }
  }
}

// The bound applies to what is already queued, so one message larger than
// maxBackpressure still goes to a connection that keeps up; a queue holds at
// most the bound plus one message.
bool Worker::admit(Connection* c) {
  if (c->queued_bytes() < config_->max_backpressure) return true;
  if (config_->drop_on_backpressure) {
    WorkerStats::add(stats_.backpressure_drops);
    return false;
  }
  // Close rather than grow without bound: the Close goes behind what is
  // queued, and the closing timeout drops a peer that never reads it.
  WorkerStats::add(stats_.backpressure_closes);
  if (c == corked_) uncork();
  c->close_code = proto::kClosePolicyViolation;
  c->close_reason = "backpressure limit exceeded";
  send_close(c, proto::kClosePolicyViolation, c->close_reason);
  return false;
}

void Worker::on_writable(Connection* c) {
  while (c->out_pending()) {
    // Once our queue is out, what the transport holds of its own follows
    // (TLS records; plain TCP never holds any).
    IoResult r = c->out.empty() ? c->transport->flush_held() : c->out.write_to(*c->transport);
    if (r.status == IoResult::kWouldBlock) break;
    if (r.status != IoResult::kDone) {
      destroy(c);
      return;
    }
    if (!c->out_pending()) queue_pending_pong(c);  // its turn: the queue ahead of it is gone
  }
  note_queue(c);
  if (!c->out_pending()) {
    if (c->destroy_after_flush) {
      destroy(c);
      return;
    }
    if (c->shutdown_after_flush) {
      c->shutdown_after_flush = false;
      c->transport->end_sending();
    }
  }
  update_interest(c);
}

void Worker::update_interest(Connection* c) {
  if (c->state == ConnState::kDead) return;
  uint8_t want = 0;
  switch (c->state) {
    case ConnState::kAwaitingJs:
      want = core::kPollRdHup;
      break;
    case ConnState::kPeerClosed:
    case ConnState::kFailed:
      break;  // while JS answers a Close or an error, the peer's further bytes stay in the kernel
    default:
      if (!c->read_paused && !c->output_full && !c->destroy_after_flush) want = core::kPollIn;
  }
  if (c->out_pending()) want |= core::kPollOut;
  want |= c->transport->own_interest();  // a TLS transport's own needs (plain TCP: none)
  if (want != c->interest) {
    c->interest = want;
    poller_.modify(c->transport->fd(), want, c);
  }
}

// ---------------------------------------------------------------- closing

void Worker::send_close(Connection* c, uint16_t code, std::string_view reason) {
  switch (c->state) {
    case ConnState::kOpen:
    case ConnState::kPeerClosed:
    case ConnState::kFailed:
      break;
    default:
      return;  // not open yet, or already closing
  }
  if (code == proto::kCloseAbnormal) {
    // The peer is gone (FIN): nothing to say, only what is queued to flush.
    begin_drain(c);
    return;
  }
  // §5.5.1: no payload, or a 2-byte code and a reason, 125 bytes in all.
  size_t r = std::min(reason.size(), proto::kMaxControlPayload - 2);
  size_t len = code != 0 ? 2 + r : 0;
  uint8_t out[proto::kMaxFrameHeader + proto::kMaxControlPayload];
  size_t h = proto::write_frame_header(out, proto::kOpClose, len, nullptr);
  if (code != 0) {
    out[h] = uint8_t(code >> 8);
    out[h + 1] = uint8_t(code);
    std::memcpy(out + h + 2, reason.data(), r);
  }
  WorkerStats::add(stats_.close_sent[close_code_slot(code ? uint32_t(code) : uint32_t(proto::kCloseNoStatus))]);
  queue_pending_pong(c);  // nothing may follow our Close
  write_bytes(c, out, h + len);
  if (c->state == ConnState::kDead) return;

  if (c->state == ConnState::kOpen) {
    // We start the closing handshake: the close handler will hear our code
    // unless the peer answers with its own.
    c->close_code = code ? code : uint16_t(proto::kCloseNoStatus);
    c->close_reason.assign(reason.substr(0, len ? r : 0));
    c->state = ConnState::kClosing;
    closing_timers_.arm(c, core::now_ms());
    update_interest(c);
  } else {
    begin_drain(c);  // our Close answers the peer's, or fails the connection
  }
}

// Our last bytes are queued: half-close once they are written, then wait (up
// to the close timeout) for the peer's FIN so the kernel does not reset the
// connection under unread data.
void Worker::begin_drain(Connection* c) {
  if (c->state == ConnState::kDead) return;
  c->state = ConnState::kDraining;
  closing_timers_.arm(c, core::now_ms());
  if (c->out_pending()) {
    c->shutdown_after_flush = true;
  } else {
    c->transport->end_sending();
  }
  update_interest(c);
}

void Worker::destroy(Connection* c) {
  if (c->state == ConnState::kDead) return;
  if (c == corked_) {
    corked_ = nullptr;
    cork_bytes_ = 0;
    cork_iov_.clear();
  }
  core::DeadlineList::cancel(c);
  core::DeadlineList::cancel(&c->heartbeat);
  c->out.clear();
  c->pong.reset();
  if (c->read_paused) unlist_paused(c);
  counters_->reset(c->slot);
  release_place(c);
  if (c->opened) WorkerStats::sub(stats_.connections_open);
  --live_;
  poller_.remove(c->transport->fd());  // before close: the libuv backend requires it
  c->transport->close_now();
  c->state = ConnState::kDead;
  if (c->js_knows) batch_->add(EventType::kClosed, c->slot, c->gen, c->close_code, {c->close_reason});
  slots_[c->slot] = nullptr;
  ++generations_[c->slot];
  free_slots_.push_back(c->slot);
  graveyard_.push_back(c);
}

void Worker::expire_timers() {
  int64_t now = core::now_ms();
  while (core::DeadlineNode* n = handshake_timers_.pop_expired(now)) {
    Connection* c = static_cast<Connection*>(n);
    refuse(c, 408, "handshake timed out");
  }
  while (core::DeadlineNode* n = closing_timers_.pop_expired(now)) {
    Connection* c = static_cast<Connection*>(n);
    destroy(c);
  }
  while (core::DeadlineNode* n = heartbeat_timers_.pop_expired(now)) {
    on_heartbeat(static_cast<HeartbeatNode*>(n)->owner);
  }
  if (accept_paused_until_ && now >= accept_paused_until_) {
    accept_paused_until_ = 0;
    poller_.modify(listen_fd_, core::kPollIn, &listen_tag_);
  }
}

void Worker::close_listener() {
  if (listen_fd_ < 0) return;
  poller_.remove(listen_fd_);  // before close: the libuv backend requires it
  close_socket(listen_fd_);
  listen_fd_ = -1;
}

void Worker::stop_all() {
  close_listener();
  static constexpr std::string_view kReason = "server shutting down";
  for (Connection* c : slots_) {
    if (c == nullptr) continue;
    if (c->state == ConnState::kOpen || c->state == ConnState::kPeerClosed || c->state == ConnState::kFailed) {
      if (c->close_code == proto::kCloseAbnormal) {
        c->close_code = proto::kCloseGoingAway;
        c->close_reason = kReason;
      }
      send_close(c, proto::kCloseGoingAway, kReason);
    }
    destroy(c);
  }
  batch_->add(EventType::kStopped, 0, 0, 0, {});
  stopped_ = true;
}

void Worker::flush_batch() {
  if (batch_->empty()) return;
  // Inbound backpressure: past the bound, stop reading until JS catches up.
  int64_t bytes = int64_t(batch_->arena.size());
  if (unconsumed_.fetch_add(bytes, std::memory_order_acq_rel) + bytes > int64_t(config_->max_unconsumed) &&
      !reading_paused_.exchange(true, std::memory_order_acq_rel)) {
    WorkerStats::add(stats_.read_pauses);
  }
  size_t arena_size = batch_->arena.size();
  sink_.deliver(std::move(batch_));
  batch_ = new_batch(id_, arena_size);
}

void Worker::consumed(size_t bytes) {
  int64_t left = unconsumed_.fetch_sub(int64_t(bytes), std::memory_order_acq_rel) - int64_t(bytes);
  if (reading_paused_.load(std::memory_order_acquire) && left <= int64_t(config_->max_unconsumed / 2)) wake();
}

void Worker::pause_reading(Connection* c) {
  if (c->read_paused) return;
  c->read_paused = true;
  c->paused_at = uint32_t(paused_.size());
  paused_.push_back(c);
  update_interest(c);
}

// A paused connection that closes leaves the list at once, so the list holds
// only live connections however many come and go while JS is behind.
void Worker::unlist_paused(Connection* c) {
  Connection* last = paused_.back();
  paused_[c->paused_at] = last;
  last->paused_at = c->paused_at;
  paused_.pop_back();
  c->read_paused = false;
}

void Worker::resume_reading() {
  if (unconsumed_.load(std::memory_order_acquire) > int64_t(config_->max_unconsumed / 2)) return;
  reading_paused_.store(false, std::memory_order_release);
  std::vector<Connection*> paused;
  paused.swap(paused_);
  for (Connection* c : paused) {
    c->read_paused = false;
    update_interest(c);
  }
}

// Silence since the last bytes: ping after the ping interval, close after the
// idle timeout. Reads only stamp the time; the list is touched here alone.
void Worker::on_heartbeat(Connection* c) {
  if (c->state != ConnState::kOpen) return;  // closing has its own timeout
  int64_t silent = now_ms_ - c->last_activity_ms;
  if (config_->idle_timeout_ms > 0 && silent >= config_->idle_timeout_ms) {
    WorkerStats::add(stats_.idle_closes);
    send_close(c, proto::kCloseGoingAway, "idle timeout");
    return;
  }
  // A peer that is not reading what is queued would only get the ping queued
  // too; the idle timeout decides about it.
  if (config_->ping_interval_ms > 0 && silent >= config_->ping_interval_ms && !c->out_pending()) {
    static constexpr uint8_t kPing[] = {0x80 | proto::kOpPing, 0};
    WorkerStats::add(stats_.pings_sent);
    write_bytes(c, kPing, sizeof kPing);
    if (c->state == ConnState::kDead) return;
  }
  heartbeat_timers_.arm(&c->heartbeat, now_ms_);
}

bool Worker::count_message(Connection* c, size_t len) {
  if (!within_rate(c)) return false;
  WorkerStats::add(stats_.messages_in);
  WorkerStats::add(stats_.bytes_in, len);
  return true;
}

// Messages, pings and pongs all draw on the bucket: a flood of control frames
// costs the server as much as one of messages.
bool Worker::within_rate(Connection* c) {
  double rate = config_->max_messages_per_second;
  if (rate <= 0) return true;
  // A token bucket: `rate` per second, bursts of up to one second's worth.
  double burst = rate > 1 ? rate : 1;
  double tokens = c->tokens + double(now_ms_ - c->tokens_at_ms) * rate / 1000.0;
  c->tokens_at_ms = now_ms_;
  if (tokens > burst) tokens = burst;
  if (tokens >= 1) {
    c->tokens = float(tokens - 1);
    return true;
  }
  c->tokens = float(tokens);
  WorkerStats::add(stats_.rate_limit_closes);
  // Fail like a protocol error: after the messages before it, through JS.
  c->parser.stop();
  c->close_code = proto::kClosePolicyViolation;
  c->close_reason = "message rate limit exceeded";
  c->state = ConnState::kFailed;
  update_interest(c);
  batch_->add(EventType::kProtocolError, c->slot, c->gen, c->close_code, {c->close_reason});
  return false;
}

// Stop accepting, close every connection with `code`, and stop once all are
// gone or the timeout passes.
void Worker::shutdown_gracefully(uint16_t code, std::string_view reason, int64_t timeout_ms) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_deadline_ = core::now_ms() + timeout_ms;
  close_listener();
  std::string why(reason);
  for (Connection* c : slots_) {
    if (c == nullptr || c->state == ConnState::kDead) continue;
    switch (c->state) {
      case ConnState::kHandshake:
      case ConnState::kAwaitingJs:
        refuse(c, 503, "server shutting down");
        break;
      case ConnState::kOpen:
      case ConnState::kPeerClosed:
      case ConnState::kFailed:
        send_close(c, code, why);
        break;
      default:
        break;  // already closing
    }
  }
}

}  // namespace corews::server
