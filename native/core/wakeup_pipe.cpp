// The Wakeup of systems without eventfd: a pipe, its read end polled. A
// signal writes a byte; drain reads them all. A full pipe (EAGAIN) already
// means "wake up", as a full eventfd counter does.
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "socket_calls.h"
#include "wakeup.h"

namespace corews::core {

Wakeup::Wakeup() {
  int fds[2];
  if (pipe(fds) != 0) {
    error_ = errno;
    return;
  }
  for (int fd : fds) {
    int r = make_nonblocking_cloexec(fd);
    if (r < 0) {
      error_ = -r;
      close(fds[0]);
      close(fds[1]);
      return;
    }
  }
  fd_ = fds[0];
  write_fd_ = fds[1];
}

Wakeup::~Wakeup() {
  if (fd_ >= 0) close(fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

void Wakeup::signal() {
  uint8_t one = 1;
  [[maybe_unused]] ssize_t n = write(write_fd_, &one, 1);
}

void Wakeup::drain() {
  uint8_t buf[64];
  while (read(fd_, buf, sizeof buf) == ssize_t(sizeof buf)) {
  }
}

}  // namespace corews::core
