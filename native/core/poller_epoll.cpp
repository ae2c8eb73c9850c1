#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

#include "poller.h"

namespace corews::core {
namespace {

uint32_t to_epoll(uint32_t interest) {
  uint32_t e = 0;
  if (interest & kPollIn) e |= EPOLLIN;
  if (interest & kPollOut) e |= EPOLLOUT;
  if (interest & kPollRdHup) e |= EPOLLRDHUP;
  return e;
}

int ctl(int epfd, int op, int fd, uint32_t interest, void* tag) {
  epoll_event ev{};
  ev.events = to_epoll(interest);
  ev.data.ptr = tag;
  return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

}  // namespace

struct Poller::Backend {
  int epfd;
  int error;
};

Poller::Poller() : backend_(new Backend{epoll_create1(EPOLL_CLOEXEC), 0}) {
  if (backend_->epfd < 0) backend_->error = errno;
}

Poller::~Poller() {
  if (backend_->epfd >= 0) close(backend_->epfd);
  delete backend_;
}

bool Poller::ok() const { return backend_->epfd >= 0; }

int Poller::error() const { return backend_->error; }

int Poller::fd() const { return backend_->epfd; }

void Poller::flush_changes() {}

int Poller::add(int fd, uint32_t interest, void* tag) { return ctl(backend_->epfd, EPOLL_CTL_ADD, fd, interest, tag); }

int Poller::modify(int fd, uint32_t interest, void* tag) { return ctl(backend_->epfd, EPOLL_CTL_MOD, fd, interest, tag); }

int Poller::remove(int fd) { return ctl(backend_->epfd, EPOLL_CTL_DEL, fd, 0, nullptr); }

int Poller::wait(PollEvent* out, int max, int timeout_ms) {
  constexpr int kBatch = 256;
  epoll_event evs[kBatch];
  int n = epoll_wait(backend_->epfd, evs, max < kBatch ? max : kBatch, timeout_ms);
  if (n < 0) return 0;  // EINTR: the caller just loops
  for (int i = 0; i < n; ++i) {
    uint32_t f = 0;
    if (evs[i].events & EPOLLIN) f |= kPollIn;
    if (evs[i].events & EPOLLRDHUP) f |= kPollRdHup;
    if (evs[i].events & EPOLLOUT) f |= kPollOut;
    if (evs[i].events & (EPOLLHUP | EPOLLERR)) f |= kPollHup;
    out[i] = {evs[i].data.ptr, f};
  }
  return n;
}

}  // namespace corews::core
