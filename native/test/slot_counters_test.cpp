// SlotCounters: the one number per connection that JS reads without atomics
// while the worker writes it. A reader on another thread must only ever see
// values the worker stored: never a mix of two updates.
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "check.h"
#include "server/slot_counters.h"

using corews::server::SlotCounters;

TEST(slot_counters_publish_taken_minus_queued_per_slot) {
  SlotCounters* c = SlotCounters::create(16);
  CHECK_EQ(c->byte_size(), 16 * sizeof(double));
  c->publish(3, 1000, 250);
  CHECK_EQ(c->settled(3), 750.0);
  c->publish(4, 0, 4096);  // only publishes queued: settled goes negative
  CHECK_EQ(c->settled(4), -4096.0);
  CHECK_EQ(c->data()[3], 750.0);  // what JS reads: the same memory
  c->reset(3);
  CHECK_EQ(c->settled(3), 0.0);
  CHECK_EQ(c->settled(0), 0.0);  // untouched slots read zero
  c->unref();  // the last reference frees it (ASan checks)
}

TEST(slot_counters_a_concurrent_reader_sees_only_stored_values) {
  // The worker's sequence: a send of 100 bytes is taken, the kernel takes 60,
  // 40 are queued; then the kernel takes the 40. Settled goes 0, 60, 100, …
  // (multiples of 20 here). A reader that could see `taken` of one update and
  // `queued` of another would see other values, or a value going down.
  SlotCounters* c = SlotCounters::create(1);
  std::atomic<bool> done{false};
  std::atomic<long> bad{0}, reads{0};
  std::thread reader([&] {
    double last = 0;
    while (!done.load(std::memory_order_acquire)) {
      volatile double* p = c->data();
      double v = p[0];  // a plain load, as JS does
      long n = long(v);
      if (double(n) != v || n % 20 != 0 || v < last) bad.fetch_add(1);
      last = v;
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  uint64_t taken = 0;
  for (int i = 0; i < 2000000; ++i) {
    taken += 100;
    c->publish(0, taken, 40);  // 60 of 100 written
    c->publish(0, taken, 0);   // the rest
  }
  done.store(true, std::memory_order_release);
  reader.join();
  CHECK_EQ(bad.load(), 0L);
  CHECK(reads.load() > 0);
  c->unref();
}
