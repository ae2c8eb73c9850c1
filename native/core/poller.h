// One event-loop interface; a backend per OS, chosen at build time:
// poller_epoll.cpp on Linux, poller_libuv.cpp elsewhere (kqueue on macOS/BSD,
// IOCP on Windows underneath), each worker with its own uv_loop_t.
// Level-triggered: a readable fd is reported again until it is drained, which
// lets a loop read once per fd per iteration and stay fair. An fd must be
// removed before it is closed.
#pragma once
#include <cstdint>

namespace corews::core {

enum PollFlags : uint32_t {
  kPollIn = 1,
  kPollOut = 2,
  kPollHup = 4,    // hung up or in error (reported, never requested)
  kPollRdHup = 8,  // the peer shut down its sending side (FIN), even when kPollIn is not watched
};

struct PollEvent {
  void* tag;
  uint32_t flags;
};

class Poller {
 public:
  Poller();
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  bool ok() const;
  // Why the backend could not be created (an errno value), 0 when ok().
  int error() const;
  // Each returns 0 or -errno.
  int add(int fd, uint32_t interest, void* tag);
  int modify(int fd, uint32_t interest, void* tag);
  int remove(int fd);
  // Waits up to timeout_ms (-1: forever); fills `out`, returns the count (0 on
  // timeout or EINTR).
  int wait(PollEvent* out, int max, int timeout_ms);

  struct Backend;  // defined by the backend's .cpp

 private:
  Backend* backend_;
};

}  // namespace corews::core
