// What threads share, under contention: the command inbox with its wakeup
// (JS thread → worker), a publish's shared bytes (one block, every worker),
// and the connection limits (every worker). These run in the ASan build with
// the other tests, and on their own with ThreadSanitizer on x64 and, cross-
// compiled, on arm64 under qemu (make -C native concurrency): see the Makefile.
// qemu on an x86 host does not show arm64's weaker ordering (its stores and
// loads keep the host's order), so there the run proves the code builds and
// behaves on arm64; the ordering itself is what ThreadSanitizer checks.
#include <poll.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "check.h"
#include "core/inbox.h"
#include "core/shared_bytes.h"
#include "core/wakeup.h"
#include "server/shared_limits.h"

using corews::core::Inbox;
using corews::core::SharedBytes;
using corews::core::Wakeup;
using corews::server::SharedLimits;

namespace {

struct Record {
  uint32_t producer;
  uint32_t seq;
};

}  // namespace

TEST(concurrency_inbox_loses_no_command_and_no_wakeup) {
  // Producers push buffers of records; the consumer sleeps in poll() on the
  // wakeup and takes what is queued. A push that finds the inbox empty
  // signals: were a wakeup lost, the consumer would sleep with commands
  // queued (poll times out: a failure, not a hang). Each producer's records
  // must arrive all, once, in order.
  constexpr uint32_t kProducers = 4;
  constexpr uint32_t kBuffers = 5000;
  constexpr uint32_t kPerBuffer = 8;
  Inbox inbox;
  Wakeup wakeup;
  CHECK_EQ(wakeup.error(), 0);
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      Inbox::Buffer batch;
      uint32_t seq = 0;
      for (uint32_t b = 0; b < kBuffers; ++b) {
        for (uint32_t i = 0; i < kPerBuffer; ++i) {
          Record r{p, seq++};
          batch.append(reinterpret_cast<const uint8_t*>(&r), sizeof r);
        }
        if (inbox.push(batch)) wakeup.signal();
      }
    });
  }
  std::vector<uint32_t> next(kProducers, 0);
  long out_of_order = 0, timeouts = 0;
  uint64_t total = 0;
  const uint64_t expected = uint64_t(kProducers) * kBuffers * kPerBuffer;
  std::vector<Inbox::Buffer> taken;
  while (total < expected && timeouts == 0) {
    pollfd pfd{wakeup.fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 5000) == 0) {
      ++timeouts;
      break;
    }
    wakeup.drain();
    inbox.take(taken);
    for (Inbox::Buffer& buf : taken) {
      for (size_t at = 0; at + sizeof(Record) <= buf.size(); at += sizeof(Record)) {
        Record r;
        std::memcpy(&r, buf.data() + at, sizeof r);
        if (r.producer >= kProducers || r.seq != next[r.producer]) ++out_of_order;
        if (r.producer < kProducers) next[r.producer] = r.seq + 1;
        ++total;
      }
      inbox.recycle(std::move(buf));
    }
    taken.clear();
  }
  for (auto& t : producers) t.join();
  CHECK_EQ(timeouts, 0L);
  CHECK_EQ(out_of_order, 0L);
  CHECK_EQ(total, expected);
}

TEST(concurrency_shared_bytes_written_before_sharing_read_whole_by_every_worker) {
  // A publish: one thread fills a block, references it once per worker and
  // hands it over; each worker reads it and lets go; the last frees it.
  // Rounds of this, the handing over through a plain atomic pointer (the
  // inbox's mutex would order it regardless), so the block's own reference
  // count is what orders the free after every read.
  constexpr int kWorkers = 4;
  constexpr int kRounds = 20000;
  std::atomic<SharedBytes*> slots[kWorkers];
  for (auto& s : slots) s.store(nullptr);
  std::atomic<long> torn{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int round = 0; round < kRounds; ++round) {
        SharedBytes* b;
        while ((b = slots[w].exchange(nullptr, std::memory_order_acquire)) == nullptr) std::this_thread::yield();
        const uint8_t* d = b->data();
        for (size_t i = 0; i < b->size(); ++i) {
          if (d[i] != uint8_t(round + i)) {
            torn.fetch_add(1, std::memory_order_relaxed);
            break;
          }
        }
        b->unref();
      }
    });
  }
  for (int round = 0; round < kRounds; ++round) {
    SharedBytes* b = SharedBytes::create(64);
    for (size_t i = 0; i < 64; ++i) b->data()[i] = uint8_t(round + i);
    b->set_size(64);
    b->ref(kWorkers - 1);  // kWorkers references in all
    for (int w = 0; w < kWorkers; ++w) {
      SharedBytes* expected = nullptr;
      while (!slots[w].compare_exchange_weak(expected, b, std::memory_order_release)) {
        expected = nullptr;
        std::this_thread::yield();
      }
    }
  }
  for (auto& t : workers) t.join();
  CHECK_EQ(torn.load(), 0L);
}

TEST(concurrency_shared_limits_never_admit_more_than_the_limit) {
  // Workers take and give back places as handshakes and closes do; at no
  // moment may more than the limit be held, and when all is given back the
  // whole limit is free again.
  constexpr uint64_t kLimit = 8;
  SharedLimits limits(kLimit, 0);
  std::atomic<long> held{0}, over{0}, admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50000; ++i) {
        if (!limits.acquire()) continue;
        admitted.fetch_add(1, std::memory_order_relaxed);
        if (held.fetch_add(1, std::memory_order_acq_rel) + 1 > long(kLimit)) over.fetch_add(1);
        held.fetch_sub(1, std::memory_order_acq_rel);
        limits.release();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK_EQ(over.load(), 0L);
  CHECK(admitted.load() > 0);
  uint64_t free_again = 0;
  while (limits.acquire()) ++free_again;
  CHECK_EQ(free_again, kLimit);
}
