// Publishes that come in runs (many to one topic in one command batch, as a
// JS turn of server.publish calls makes them): the worker joins a run into one
// block per subscriber (fanout.cpp). What a subscriber gets must stay what it
// got one publish at a time: every message, in order with the sends between
// them, the sender skipped, and the output bound kept to the message.
#include <string>
#include <vector>

#include "check.h"
#include "proto/close_code.h"
#include "test/worker_harness.h"

using namespace corews;
using harness::Handle;
using harness::WorkerHarness;

namespace {

std::vector<std::string> data_frames(const WorkerHarness& h, int client) {
  std::vector<std::string> out;
  for (const auto& f : h.frames(client)) {
    if (f.op == proto::kOpText || f.op == proto::kOpBinary) out.push_back(f.payload);
  }
  return out;
}

// Payload `i` of a run: its number, padded to `size` bytes.
std::string numbered(int i, size_t size) {
  std::string s = std::to_string(i) + ":";
  s.resize(size, char('a' + i % 26));
  return s;
}

}  // namespace

TEST(worker_publish_runs_keep_order_with_sends_and_senders) {
  WorkerHarness h(harness::quiet_config());
  int a = h.adopt(), b = h.adopt(), c = h.adopt();
  Handle wa = h.open(a), wb = h.open(b), wc = h.open(c);
  CHECK(wa.valid() && wb.valid() && wc.valid());
  CHECK(h.ws_subscribe(wa, 7));
  CHECK(h.ws_subscribe(wb, 7));
  CHECK(h.ws_subscribe(wc, 7));
  CHECK(h.ws_subscribe(wc, 8));
  h.steps(2);
  // One command batch: runs broken by a send, by another topic, and by a
  // change of sender (ws.publish from b skips b).
  h.publish(7, proto::kOpText, "p1");
  h.publish(7, proto::kOpText, "p2");
  h.send(wa, proto::kOpText, "s1");
  h.publish(7, proto::kOpBinary, "p3");
  h.publish(8, proto::kOpText, "q1");
  h.publish(7, proto::kOpText, "p4", wb);
  h.publish(7, proto::kOpText, "p5", wb);
  h.publish(7, proto::kOpText, "p6");
  h.publish(7, proto::kOpText, "p7");
  uint64_t out_before = h.worker().stats().messages_out.load();
  h.steps(3);
  CHECK(data_frames(h, a) == (std::vector<std::string>{"p1", "p2", "s1", "p3", "p4", "p5", "p6", "p7"}));
  CHECK(data_frames(h, b) == (std::vector<std::string>{"p1", "p2", "p3", "p6", "p7"}));
  CHECK(data_frames(h, c) == (std::vector<std::string>{"p1", "p2", "p3", "q1", "p4", "p5", "p6", "p7"}));
  // Each delivery counted once (the send too): 8 + 5 + 8.
  CHECK_EQ(h.worker().stats().messages_out.load() - out_before, uint64_t(21));
  CHECK(h.frames(a).size() > 2 && h.frames(a)[3].op == proto::kOpBinary);
}

TEST(worker_publish_run_longer_than_one_join) {
  // 60 publishes of 1,000 B (several joined blocks) with a 40,000 B one in
  // the middle (never joined): all arrive, whole and in order.
  WorkerHarness h(harness::quiet_config());
  int a = h.adopt(), b = h.adopt();
  Handle wa = h.open(a), wb = h.open(b);
  CHECK(wa.valid() && wb.valid());
  CHECK(h.ws_subscribe(wa, 1));
  CHECK(h.ws_subscribe(wb, 1));
  h.steps(2);
  std::vector<std::string> sent;
  for (int i = 0; i < 60; ++i) {
    sent.push_back(numbered(i, i == 30 ? 40000 : 1000));
    h.publish(1, proto::kOpBinary, sent.back());
  }
  CHECK(h.run_until([&] { return data_frames(h, a).size() == 60 && data_frames(h, b).size() == 60; }));
  CHECK(data_frames(h, a) == sent);
  CHECK(data_frames(h, b) == sent);
}

TEST(worker_publish_run_keeps_the_bound_per_message) {
  // A subscriber that does not read, a 64 KiB bound, drops on: a run of
  // 200 publishes of 1,000 B in one batch. Each is admitted while what is
  // queued before it is under the bound, as one publish at a time would be:
  // the queue ends under the bound plus one message (joining the run's blocks
  // whole would take it up to a block, 16 KiB, past). The reader gets them all.
  server::WorkerConfig config = harness::quiet_config();
  config.max_backpressure = 64 * 1024;
  config.drop_on_backpressure = true;
  WorkerHarness h(config);
  int slow = h.adopt(4096, 4096), fast = h.adopt();
  Handle ws = h.open(slow), wf = h.open(fast);
  CHECK(ws.valid() && wf.valid());
  CHECK(h.ws_subscribe(ws, 3));
  CHECK(h.ws_subscribe(wf, 3));
  h.steps(2);
  h.set_auto_read(slow, false);
  constexpr int kCount = 200;
  constexpr size_t kFrame = 1000 + 4;  // payload and header
  std::vector<std::string> sent;
  for (int i = 0; i < kCount; ++i) {
    sent.push_back(numbered(i, 1000));
    h.publish(3, proto::kOpBinary, sent.back());
  }
  h.step();
  size_t queued = h.queued(ws.slot);
  CHECK(queued >= config.max_backpressure);
  CHECK(queued < config.max_backpressure + kFrame);
  uint64_t drops = h.worker().stats().backpressure_drops.load();
  CHECK(drops > 0);
  CHECK(h.run_until([&] { return data_frames(h, fast).size() == size_t(kCount); }));
  CHECK(data_frames(h, fast) == sent);
  // The slow one, once it reads: the run's first messages, none skipped.
  h.set_auto_read(slow, true);
  CHECK(h.run_until([&] { return h.queued(ws.slot) == 0; }));
  h.steps(3);
  std::vector<std::string> got = data_frames(h, slow);
  CHECK_EQ(got.size() + drops, size_t(kCount));
  CHECK(got == std::vector<std::string>(sent.begin(), sent.begin() + std::ptrdiff_t(got.size())));
}

TEST(worker_publish_run_past_the_bound_closes_1008) {
  // The close policy: the run's first message past the bound closes the
  // subscriber with 1008; it gets what came before, then the Close.
  server::WorkerConfig config = harness::quiet_config();
  config.max_backpressure = 32 * 1024;
  WorkerHarness h(config);
  int slow = h.adopt(4096, 4096);
  Handle ws = h.open(slow);
  CHECK(ws.valid());
  CHECK(h.ws_subscribe(ws, 3));
  h.steps(2);
  h.set_auto_read(slow, false);
  std::vector<std::string> sent;
  for (int i = 0; i < 100; ++i) {
    sent.push_back(numbered(i, 1000));
    h.publish(3, proto::kOpBinary, sent.back());
  }
  h.step();
  CHECK_EQ(h.worker().stats().backpressure_closes.load(), uint64_t(1));
  h.set_auto_read(slow, true);
  CHECK(h.run_until([&] {
    auto f = h.frames(slow);
    return !f.empty() && f.back().op == proto::kOpClose;
  }));
  auto frames = h.frames(slow);
  CHECK_EQ(frames.back().close_code(), uint16_t(proto::kClosePolicyViolation));
  std::vector<std::string> got = data_frames(h, slow);
  CHECK(!got.empty() && got.size() < sent.size());
  CHECK(got == std::vector<std::string>(sent.begin(), sent.begin() + std::ptrdiff_t(got.size())));
}
