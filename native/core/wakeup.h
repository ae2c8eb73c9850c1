// A level a thread can raise to wake a loop that polls it (eventfd on Linux,
// a pipe elsewhere and in the portable build).
#pragma once

namespace corews::core {

class Wakeup {
 public:
  Wakeup();
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  int fd() const { return fd_; }
  // Why it could not be created (an errno value), 0 when fd() is valid.
  int error() const { return error_; }
  void signal();  // any thread
  void drain();   // the polling thread, once readable

 private:
  int fd_ = -1;        // what the loop polls
  [[maybe_unused]] int write_fd_ = -1;  // a pipe's other end (wakeup_pipe.cpp); eventfd has one end
  int error_ = 0;
};

}  // namespace corews::core
