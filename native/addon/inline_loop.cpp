#include "inline_loop.h"

#include <system_error>

#ifndef _WIN32
#include <poll.h>

#include <cerrno>
#endif

namespace corews::addon {
namespace {

// Batches one loop iteration hands JS before it lets Node's other callbacks
// (timers, other sockets) run; the rest follow from the next iteration.
constexpr int kMaxBatchesPerDrain = 64;

template <typename Handle>
InlineLoop* owner(Handle* h) {
  return static_cast<InlineLoop*>(h->data);
}

}  // namespace

InlineLoop* InlineLoop::start(uv_loop_t* loop, server::Worker& worker, InlineHost& host) {
  auto* self = new InlineLoop(worker, host);
  int fd = worker.poll_fd();
  int r = fd < 0 ? UV_ENOTSUP : uv_poll_init(loop, &self->poll_, fd);
  if (r != 0) {
    delete self;
    throw std::system_error(-r, std::system_category(), "inline mode cannot poll the worker's event poller");
  }
  // The three are initialised together so that close() closes all three.
  uv_timer_init(loop, &self->timer_);
  uv_idle_init(loop, &self->idle_);
  self->open_handles_ = 3;
  self->poll_.data = self->timer_.data = self->idle_.data = self;
  uv_poll_start(&self->poll_, UV_READABLE, [](uv_poll_t* h, int, int) { owner(h)->step(); });
  self->arm();
  return self;
}

void InlineLoop::step() {
  if (iterate() && busy_poll_ns_ != 0) busy_poll();
}

bool InlineLoop::iterate() {
  if (worker_ == nullptr) return false;
  worker_->run_once(0);  // false once stopped: its last batch says so, and JS then closes us
  bool brought = !pending_.empty();
  drain();
  arm();
  return brought;
}

// The bound: one window of busy_poll_ns_ per libuv callback, measured from
// the end of the iteration that opened it, whatever arrives meanwhile. So
// libuv's other work (timers, other sockets, setImmediate) waits at most the
// window plus the handlers run inside it, and an idle server never spins: a
// window opens only after an iteration that handed JS a batch.
void InlineLoop::busy_poll() {
#ifdef _WIN32
  return;  // no pollable descriptor there: inline mode does not start
#else
  uint64_t deadline = uv_hrtime() + busy_poll_ns_;
  while (worker_ != nullptr && pending_.empty()) {
    pollfd p{worker_->poll_fd(), POLLIN, 0};
    int r = ::poll(&p, 1, 0);
    if (r > 0) {
      iterate();
    } else if (r < 0 && errno != EINTR) {
      return;
    }
    if (uv_hrtime() >= deadline) return;
  }
#endif
}

void InlineLoop::drain() {
  draining_ = true;
  for (int n = 0; n < kMaxBatchesPerDrain && worker_ != nullptr && !pending_.empty(); ++n) {
    std::unique_ptr<server::EventBatch> batch = std::move(pending_.front());
    pending_.pop_front();
    host_.dispatch_inline(std::move(batch));  // may queue more (the commands it ran), or close us
  }
  draining_ = false;
  if (worker_ != nullptr && !pending_.empty()) {
    uv_idle_start(&idle_, &InlineLoop::on_idle);
  }
}

void InlineLoop::on_idle(uv_idle_t* h) {
  InlineLoop* self = owner(h);
  uv_idle_stop(h);
  self->drain();
  self->arm();
}

void InlineLoop::commands_ran() {
  if (worker_ == nullptr) return;
  // Inside drain() the loop there takes them; elsewhere (a timer's or another
  // socket's callback sent something) JS is on the stack: wait for the loop.
  if (!draining_ && !pending_.empty()) {
    uv_idle_start(&idle_, &InlineLoop::on_idle);
  }
  arm();
}

void InlineLoop::arm() {
  if (worker_ == nullptr) return;
  worker_->flush_poll_changes();
  int ms = worker_->next_timeout_ms();
  if (ms < 0) {
    uv_timer_stop(&timer_);
    return;
  }
  uv_timer_start(&timer_, [](uv_timer_t* h) { owner(h)->step(); }, uint64_t(ms), 0);
}

void InlineLoop::close(void (*on_closed)(void*), void* arg) {
  if (worker_ == nullptr) return;
  worker_ = nullptr;
  pending_.clear();  // after the worker's last batch: nobody is left to hear them
  on_closed_ = on_closed;
  on_closed_arg_ = arg;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &InlineLoop::on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &InlineLoop::on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), &InlineLoop::on_handle_closed);
}

void InlineLoop::on_handle_closed(uv_handle_t* h) {
  InlineLoop* self = static_cast<InlineLoop*>(h->data);
  if (--self->open_handles_ > 0) return;
  if (self->on_closed_) self->on_closed_(self->on_closed_arg_);
  delete self;
}

}  // namespace corews::addon
