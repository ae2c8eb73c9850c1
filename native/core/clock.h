#pragma once
#include <cstdint>
#include <ctime>

namespace corews::core {

// Milliseconds on the monotonic clock.
inline int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace corews::core
