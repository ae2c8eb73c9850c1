// Connection limits that span all workers of one server: the open count for
// maxConnections and per-address counts for maxConnectionsPerIp. Touched once
// per handshake and once per close, never per message.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace corews::server {

class SharedLimits {
 public:
  SharedLimits(uint64_t max_connections, uint32_t max_per_ip)
      : max_connections_(max_connections), max_per_ip_(max_per_ip) {}

  bool per_ip_enabled() const { return max_per_ip_ != 0; }

  // Reserves a place for one more connection; false at the limit.
  bool acquire() {
    if (max_connections_ == 0) return true;
    if (open_.fetch_add(1, std::memory_order_relaxed) >= max_connections_) {
      open_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void release() {
    if (max_connections_ != 0) open_.fetch_sub(1, std::memory_order_relaxed);
  }

  bool acquire_ip(const std::string& ip) {
    std::lock_guard<std::mutex> lock(mutex_);
    uint32_t& n = per_ip_[ip];
    if (n >= max_per_ip_) {
      if (n == 0) per_ip_.erase(ip);
      return false;
    }
    ++n;
    return true;
  }
  void release_ip(const std::string& ip) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = per_ip_.find(ip);
    if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  }
  // Addresses with live connections (tests: the map follows what is live).
  size_t tracked_addresses() {
    std::lock_guard<std::mutex> lock(mutex_);
    return per_ip_.size();
  }

 private:
  const uint64_t max_connections_;  // 0: no limit
  const uint32_t max_per_ip_;       // 0: no limit
  std::atomic<uint64_t> open_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, uint32_t> per_ip_;
};

}  // namespace corews::server
