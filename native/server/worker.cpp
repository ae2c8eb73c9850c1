// The worker's loop and its life: construction, the thread, one iteration
// (wait, dispatch, timers, hand the batch to JS), accepting connections and
// handing them to siblings or adopting them, and the two ways it ends (a
// graceful shutdown, or stopping at once). What a connection does is in the
// files named for it: read_path, handshake_flow, write_path, fanout,
// closing, command_runner, heartbeat, rate_limit.
#include "worker.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

#include "../core/clock.h"
#include "bridge_transport.h"
#include "commands.h"
#include "listener.h"
#include "tcp_transport.h"
#include "tls_transport.h"
#include "worker_tuning.h"

namespace corews::server {

namespace {

constexpr size_t kReadBufferSize = 256 * 1024;
// A batch is handed over past kFlushArenaBytes, so its arena ends at most a
// read beyond: arenas up to this size are pooled, larger ones (a message of
// many megabytes) are freed. Two pooled per worker: one JS is dispatching,
// one the worker fills; more would be memory held for a burst.
constexpr size_t kLargestPooledArena = kFlushArenaBytes + kReadBufferSize;
constexpr size_t kPooledArenas = 2;
constexpr size_t kMaxEventsReserved = 16 * 1024;
constexpr int kMaxEventsPerWait = 256;
constexpr int kMaxAcceptsPerWake = 64;     // then let the loop serve established connections
constexpr int64_t kAcceptPauseMs = 100;     // after EMFILE/ENFILE

// The heartbeat checks at the shorter of the two periods that are set.
int64_t heartbeat_period(const WorkerConfig& c) {
  if (c.ping_interval_ms > 0 && c.idle_timeout_ms > 0) return std::min(c.ping_interval_ms, c.idle_timeout_ms);
  return c.ping_interval_ms > 0 ? c.ping_interval_ms : c.idle_timeout_ms;
}

// The arena is reserved at the most a batch holds (handed over past
// kFlushArenaBytes, so at most one read beyond), whatever the previous batch
// used: a batch larger than its reservation grew by reallocation, a copy of
// everything so far at each doubling, and that was half the worker's
// instructions in a 1 KiB echo (docs/where-the-time-goes.md). A pooled arena
// has that capacity already; a fresh one costs only the pages it touches.
// `events_hint`: the previous batch's event count; twice that is reserved, as
// a vector that grows copies every event so far at each step.
std::unique_ptr<EventBatch> new_batch(uint32_t worker, const std::shared_ptr<ArenaPool>& pool, size_t events_hint) {
  auto b = std::make_unique<EventBatch>();
  b->worker = worker;
  b->pool = pool;
  b->events.reserve(std::clamp(2 * events_hint, size_t(64), kMaxEventsReserved));
  b->arena = pool->take();
  b->arena.reserve(kLargestPooledArena);
  return b;
}

}  // namespace

Worker::Worker(uint32_t id, std::shared_ptr<const WorkerConfig> config, int listen_fd, EventSink& sink,
               std::shared_ptr<SharedLimits> limits, SlotCounters* counters)
    : id_(id),
      config_(std::move(config)),
      listen_fd_(listen_fd),
      sink_(sink),
      handshake_timers_(config_->handshake_timeout_ms),
      closing_timers_(config_->close_timeout_ms),
      keep_alive_timers_(config_->http_keep_alive_timeout_ms),
      heartbeat_timers_(heartbeat_period(*config_)),
      limits_(std::move(limits)),
      counters_(counters),
      report_refusals_(config_->report_refusals),
      deflate_(config_->deflate),
      arena_pool_(std::make_shared<ArenaPool>(kPooledArenas, kLargestPooledArena)),
      batch_(new_batch(id, arena_pool_, 0)),
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

int Worker::next_timeout_ms() const {
  if (!held_input_.empty()) return 0;  // held input is read before waiting
  int64_t next = -1;
  for (int64_t d : {handshake_timers_.next_deadline(), closing_timers_.next_deadline(), keep_alive_timers_.next_deadline(),
                    heartbeat_timers_.next_deadline(), accept_paused_until_ ? accept_paused_until_ : -1,
                    shutting_down_ ? shutdown_deadline_ : -1}) {
    if (d >= 0 && (next < 0 || d < next)) next = d;
  }
  if (next < 0) return -1;
  int64_t now = core::now_ms();
  return int(std::min<int64_t>(next > now ? next - now : 0, INT32_MAX));
}

bool Worker::run_once(int timeout_ms) {
  if (stopped_) return false;
  int until = next_timeout_ms();
  if (until >= 0 && (timeout_ms < 0 || until < timeout_ms)) timeout_ms = until;

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
  if (!stopped_) read_held_input();
  if (stop_requested_.load(std::memory_order_acquire) && !stopped_) stop_all();
  if (!stopped_) expire_timers();
  end_iteration();
  return !stopped_;
}

bool Worker::run_commands() {
  if (stopped_) return false;
  now_ms_ = core::now_ms();
  process_commands();
  end_iteration();
  return !stopped_;
}

void Worker::end_iteration() {
  // A graceful shutdown ends when the last connection has gone, or at its deadline.
  if (shutting_down_ && !stopped_ && (live_ == 0 || now_ms_ >= shutdown_deadline_)) stop_all();
  flush_batch();
  for (Connection* c : graveyard_) {
    topics_.remove_all(c);
    delete c;
  }
  graveyard_.clear();
  if (deflate_.enabled()) deflate_.publish_gauges();
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
  if (siblings_[target] == this) {
    adopt(fd);
    return;
  }
  if (handoffs_.size() < siblings_.size()) handoffs_.resize(siblings_.size());
  int32_t value = fd;
  CommandWriter(handoffs_[target]).add(CommandType::kAdopt, 0, 0, 0, {{reinterpret_cast<const char*>(&value), 4}});
}

Connection* Worker::adopt(int fd, const std::string* bridged_from) {
  if (shutting_down_ || stopped_) {
    close_socket(fd);
    return nullptr;
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
    return nullptr;
  }
  std::unique_ptr<Transport> transport;
  if (bridged_from != nullptr) {
    transport = std::make_unique<BridgeTransport>(fd, *bridged_from);  // TLS is Node's, on the far side
  } else if (config_->tls) {
    transport = TlsTransport::create(fd, *config_->tls);  // closes fd if it fails
  } else {
    transport = std::make_unique<TcpTransport>(fd);
  }
  if (!transport) {
    free_slots_.push_back(slot);
    return nullptr;
  }
  auto* c = new Connection(std::move(transport), slot, generations_[slot], config_->parser);
  c->heartbeat.owner = c;
  counters_->reset(slot);
  slots_[slot] = c;
  ++live_;
  c->interest = core::kPollIn;
  if (poller_.add(fd, core::kPollIn, c) != 0) {
    destroy(c);
    return nullptr;
  }
  handshake_timers_.arm(c, core::now_ms());
  return c;
}

size_t Worker::queued_bytes(uint32_t slot) const {
  Connection* c = slot < slots_.size() ? slots_[slot] : nullptr;
  return c == nullptr ? 0 : c->queued_bytes();
}

Connection* Worker::lookup(uint32_t slot, uint32_t gen) const {
  if (slot >= slots_.size() || generations_[slot] != gen) return nullptr;
  return slots_[slot];
}

// ---------------------------------------------------------------- timers, the batch, the end

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
  // An idle keep-alive connection just ends (a FIN, no response: no request is outstanding).
  while (core::DeadlineNode* n = keep_alive_timers_.pop_expired(now)) {
    Connection* c = static_cast<Connection*>(n);
    c->http_idle = false;
    begin_drain(c);
  }
  while (core::DeadlineNode* n = heartbeat_timers_.pop_expired(now)) {
    on_heartbeat(static_cast<HeartbeatNode*>(n)->owner);
  }
  if (accept_paused_until_ && now >= accept_paused_until_) {
    accept_paused_until_ = 0;
    poller_.modify(listen_fd_, core::kPollIn, &listen_tag_);
  }
}

void Worker::flush_batch() {
  if (batch_->empty()) return;
  // Inbound backpressure: past the bound, stop reading until JS catches up.
  int64_t bytes = int64_t(batch_->cost());
  if (unconsumed_.fetch_add(bytes, std::memory_order_acq_rel) + bytes > int64_t(config_->max_unconsumed) &&
      !reading_paused_.exchange(true, std::memory_order_acq_rel)) {
    WorkerStats::add(stats_.read_pauses);
  }
  size_t events = batch_->events.size();
  sink_.deliver(std::move(batch_));
  batch_ = new_batch(id_, arena_pool_, events);
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
        // Between keep-alive requests nothing is owed: close without a response.
        if (c->http_idle) {
          c->http_idle = false;
          begin_drain(c);
        } else {
          refuse(c, 503, "server shutting down");
        }
        break;
      case ConnState::kAwaitingJs:
        refuse(c, 503, "server shutting down", nullptr, false);
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
        c->set_close_reason(kReason);
      }
      send_close(c, proto::kCloseGoingAway, kReason);
    }
    destroy(c);
  }
  batch_->add(EventType::kStopped, 0, 0, 0, {});
  stopped_ = true;
}

}  // namespace corews::server
