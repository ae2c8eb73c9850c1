// Batch arenas go back to the worker's pool once JS is done with them and the
// next batches write into them (arena_pool.h); while JS holds them nothing is
// pooled, and once it lets go the pool keeps at most its bound.
#include <string>

#include "check.h"
#include "server/arena_pool.h"
#include "test/worker_harness.h"

using namespace corews;
using harness::Handle;
using harness::WorkerHarness;
using server::Arena;
using server::ArenaPool;
using server::EventType;

namespace {

// Sends `rounds` binary messages of `size` bytes, one per step, so that each
// lands in a batch of its own.
void send_in_steps(WorkerHarness& h, int client, int rounds, size_t size) {
  std::string payload(size, 'a');
  for (int i = 0; i < rounds; ++i) {
    h.send_raw(client, harness::client_frame(proto::kOpBinary, payload));
    h.steps(2);
  }
}

}  // namespace

TEST(arena_pool_keeps_at_most_its_bound) {
  ArenaPool pool(2, 1 << 16);
  CHECK_EQ(pool.take().capacity(), 0u);  // empty: a fresh vector
  for (int i = 0; i < 5; ++i) {
    Arena a(1000, 7);
    pool.give(std::move(a));
  }
  CHECK_EQ(pool.pooled(), 2u);
  Arena huge(1 << 17);
  pool.give(std::move(huge));  // past `largest`: freed, not kept
  CHECK_EQ(pool.pooled(), 2u);
  Arena a = pool.take();
  CHECK(a.empty());  // given back cleared
  CHECK(a.capacity() >= 1000u);
  CHECK_EQ(pool.reused(), 1u);
  CHECK_EQ(pool.pooled(), 1u);
}

TEST(worker_reuses_batch_arenas) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  Handle ws = h.open(c);
  CHECK(ws.valid());
  size_t batches_before = h.batches();
  uint64_t reused_before = h.worker().arena_pool().reused();
  send_in_steps(h, c, 20, 3000);
  CHECK_EQ(h.count(EventType::kMessage), 20u);
  size_t batches = h.batches() - batches_before;
  CHECK(batches >= 20u);
  // Each batch but the first few starts in an arena an earlier batch gave back.
  CHECK(h.worker().arena_pool().reused() - reused_before + 2 >= batches);
}

TEST(worker_arena_pool_bounded_while_js_holds_messages) {
  harness::HarnessOptions options;
  options.hold_batches = true;  // JS keeps every message buffer: no arena comes back
  WorkerHarness h(harness::quiet_config(), options);
  int c = h.adopt();
  Handle ws = h.open(c);
  CHECK(ws.valid());
  uint64_t reused_before = h.worker().arena_pool().reused();
  send_in_steps(h, c, 30, 2000);
  CHECK_EQ(h.count(EventType::kMessage), 30u);
  CHECK(h.held_batches().size() >= 30u);
  CHECK_EQ(h.worker().arena_pool().pooled(), 0u);  // nothing came back, nothing reused
  CHECK_EQ(h.worker().arena_pool().reused(), reused_before);
  h.held_batches().clear();  // the GC frees them all at once
  CHECK_EQ(h.worker().arena_pool().pooled(), 2u);  // the bound: the rest were freed
  send_in_steps(h, c, 3, 2000);
  CHECK(h.worker().arena_pool().reused() > reused_before);
}
