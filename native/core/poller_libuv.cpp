// The portable backend: a private uv_loop_t per poller and a uv_poll_t per fd.
// libuv is kqueue on macOS/BSD and IOCP on Windows underneath; Node exports
// its symbols, so the addon links against the libuv inside node.
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <unordered_map>
#include <vector>

#include "poller.h"

namespace corews::core {
namespace {

struct Watch {
  uv_poll_t handle;
  void* tag;
  Poller::Backend* backend;
  uint32_t interest = 0;
  bool failed = false;  // libuv reported an error and stopped the handle
};

}  // namespace

struct Poller::Backend {
  uv_loop_t loop;
  uv_timer_t timer;
  bool ok = false;
  bool loop_ready = false;  // uv_loop_init succeeded
  int error = 0;            // errno value of a failed initialisation
  std::unordered_map<int, Watch*> watches;
  // Watches whose socket has an error. libuv reports an error once and stops
  // the handle; epoll reports it on every wait until the descriptor goes, and
  // the Poller promises epoll's behaviour: after a reset the first read still
  // returns the bytes that came before it, and a caller that read only those
  // must be told again.
  std::vector<Watch*> failed;
  // Where the callbacks of the current wait() put their events.
  PollEvent* out = nullptr;
  int max = 0;
  int count = 0;
};

namespace {

int to_uv(uint32_t interest) {
  int e = 0;
  if (interest & kPollIn) e |= UV_READABLE;
  if (interest & kPollOut) e |= UV_WRITABLE;
  if (interest & kPollRdHup) e |= UV_DISCONNECT;
  return e;
}

void on_poll(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<Watch*>(handle->data);
  Poller::Backend* b = w->backend;
  if (status < 0) {
    // Reported by wait() from now on, this time included.
    if (!w->failed) b->failed.push_back(w);
    w->failed = true;
    return;
  }
  // Level-triggered underneath: an event not taken now is reported again.
  if (b->out == nullptr || b->count >= b->max) return;
  uint32_t f = 0;
  if (events & UV_READABLE) f |= kPollIn;
  if (events & UV_WRITABLE) f |= kPollOut;
  if (events & UV_DISCONNECT) f |= kPollRdHup;
  b->out[b->count++] = {w->tag, f};
}

void free_watch(uv_handle_t* handle) { delete static_cast<Watch*>(handle->data); }

}  // namespace

Poller::Poller() : backend_(new Backend) {
  int r = uv_loop_init(&backend_->loop);
  backend_->loop_ready = r == 0;
  if (r == 0) r = uv_timer_init(&backend_->loop, &backend_->timer);
  backend_->ok = r == 0;
  if (r != 0) backend_->error = -r;  // libuv's codes are negated errno values on Unix
}

Poller::~Poller() {
  if (!backend_->ok) {
    if (backend_->loop_ready) uv_loop_close(&backend_->loop);
    delete backend_;
    return;
  }
  for (auto& [fd, w] : backend_->watches) uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), free_watch);
  uv_close(reinterpret_cast<uv_handle_t*>(&backend_->timer), nullptr);
  uv_run(&backend_->loop, UV_RUN_DEFAULT);  // runs the close callbacks
  uv_loop_close(&backend_->loop);
  delete backend_;
}

bool Poller::ok() const { return backend_->ok; }

int Poller::error() const { return backend_->error; }

int Poller::fd() const { return backend_->ok ? uv_backend_fd(&backend_->loop) : -1; }

void Poller::flush_changes() {
  if (!backend_->ok) return;
  backend_->out = nullptr;  // on_poll drops what this run reports
  uv_run(&backend_->loop, UV_RUN_NOWAIT);
}

int Poller::add(int fd, uint32_t interest, void* tag) {
  auto* w = new Watch{};
  w->tag = tag;
  w->backend = backend_;
  w->handle.data = w;
  int r = uv_poll_init(&backend_->loop, &w->handle, fd);
  if (r != 0) {
    delete w;
    return r;
  }
  backend_->watches[fd] = w;
  return modify(fd, interest, tag);
}

int Poller::modify(int fd, uint32_t interest, void* tag) {
  auto it = backend_->watches.find(fd);
  if (it == backend_->watches.end()) return -ENOENT;
  Watch* w = it->second;
  w->tag = tag;
  w->interest = interest;
  if (w->failed) return 0;  // stays stopped; wait() reports the error
  if (interest == 0) return uv_poll_stop(&w->handle);
  return uv_poll_start(&w->handle, to_uv(interest), on_poll);
}

int Poller::remove(int fd) {
  auto it = backend_->watches.find(fd);
  if (it == backend_->watches.end()) return -ENOENT;
  if (it->second->failed) {
    auto& f = backend_->failed;
    f.erase(std::find(f.begin(), f.end(), it->second));
  }
  uv_poll_stop(&it->second->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&it->second->handle), free_watch);
  backend_->watches.erase(it);
  return 0;
}

int Poller::wait(PollEvent* out, int max, int timeout_ms) {
  Backend* b = backend_;
  b->out = out;
  b->max = max;
  b->count = 0;
  if (timeout_ms == 0 || !b->failed.empty()) {
    uv_run(&b->loop, UV_RUN_NOWAIT);
  } else {
    // The timer bounds the wait; its callback only has to exist.
    if (timeout_ms > 0) uv_timer_start(&b->timer, [](uv_timer_t*) {}, uint64_t(timeout_ms), 0);
    uv_run(&b->loop, UV_RUN_ONCE);
    uv_timer_stop(&b->timer);
  }
  // Sockets with an error, as epoll reports them: hang-up plus whatever
  // interest was asked for, since a read or write now returns at once.
  for (Watch* w : b->failed) {
    if (b->count >= b->max) break;
    b->out[b->count++] = {w->tag, kPollHup | (w->interest & (kPollIn | kPollOut))};
  }
  b->out = nullptr;
  return b->count;
}

}  // namespace corews::core
