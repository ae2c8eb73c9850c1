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
  // A descriptor that polls readable while wait(…, 0) has events, for a loop
  // that waits in another poller (inline mode: libuv's own loop). With the
  // libuv backend it is its loop's backend fd, which knows of a watch changed
  // since the last wait() only once wait() ran again (flush_changes): -1
  // where libuv has no such descriptor (Windows).
  int fd() const;
  // Before another loop waits on fd(): hands the kernel the watches changed
  // since the last wait(). epoll applies each change at once (a no-op); libuv
  // queues them until its loop runs, so this runs it without waiting and
  // drops what it reports (level-triggered: reported again by the next wait).
  void flush_changes();

  struct Backend;  // defined by the backend's .cpp

 private:
  Backend* backend_;
};

}  // namespace corews::core
