#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "wakeup.h"

namespace corews::core {

Wakeup::Wakeup() {
  fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0) error_ = errno;
}

Wakeup::~Wakeup() {
  if (fd_ >= 0) close(fd_);
}

void Wakeup::signal() {
  uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up"; nothing to retry.
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
}

void Wakeup::drain() {
  uint64_t value;
  [[maybe_unused]] ssize_t n = read(fd_, &value, sizeof value);
}

}  // namespace corews::core
