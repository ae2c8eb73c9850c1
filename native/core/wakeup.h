// A level a thread can raise to wake a loop that polls it (eventfd on Linux).
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
  int fd_;
  int error_ = 0;
};

}  // namespace corews::core
