// SharedLimits: the connection counts that span a server's workers.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "server/shared_limits.h"

using corews::server::SharedLimits;

TEST(shared_limits_max_connections_across_threads) {
  SharedLimits limits(100, 0);
  std::atomic<int> got{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (limits.acquire()) got.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK_EQ(got.load(), 100);  // never one more, however the threads race
  for (int i = 0; i < 100; ++i) limits.release();
  CHECK(limits.acquire());
  limits.release();
}

TEST(shared_limits_zero_means_no_limit) {
  SharedLimits limits(0, 0);
  for (int i = 0; i < 100000; ++i) CHECK(limits.acquire());
  CHECK(!limits.per_ip_enabled());
}

TEST(shared_limits_per_ip_counts_live_connections_only) {
  SharedLimits limits(0, 2);
  CHECK(limits.per_ip_enabled());
  CHECK(limits.acquire_ip("10.0.0.1"));
  CHECK(limits.acquire_ip("10.0.0.1"));
  CHECK(!limits.acquire_ip("10.0.0.1"));
  CHECK(limits.acquire_ip("10.0.0.2"));
  limits.release_ip("10.0.0.1");
  CHECK(limits.acquire_ip("10.0.0.1"));
  limits.release_ip("10.0.0.1");
  limits.release_ip("10.0.0.1");
  limits.release_ip("10.0.0.2");
  CHECK_EQ(limits.tracked_addresses(), size_t(0));
  // 100,000 addresses come and go: the map holds only the live ones.
  for (int i = 0; i < 100000; ++i) {
    std::string ip = "fd00::" + std::to_string(i);
    CHECK(limits.acquire_ip(ip));
    if (i % 1000 == 0) CHECK_EQ(limits.tracked_addresses(), size_t(1));
    limits.release_ip(ip);
  }
  CHECK_EQ(limits.tracked_addresses(), size_t(0));
}
