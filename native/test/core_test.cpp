// DeadlineList, Inbox, CommandWriter and EventBatch: the small data
// structures between the protocol core and the worker.
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "core/deadline_list.h"
#include "core/inbox.h"
#include "server/commands.h"
#include "server/event_batch.h"

using namespace corews;

namespace {

// Pops every expired node at `now` and returns their indices in `nodes`.
std::vector<int> pop_all(core::DeadlineList& list, int64_t now, core::DeadlineNode* nodes, int count) {
  std::vector<int> out;
  while (core::DeadlineNode* n = list.pop_expired(now)) {
    long idx = n - nodes;
    out.push_back(idx >= 0 && idx < count ? int(idx) : -1);
    if (out.size() > size_t(count) + 1) break;  // a cycle would loop forever
  }
  return out;
}

std::string show_ints(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

#define CHECK_INTS(got, ...)                                                                   \
  do {                                                                                         \
    std::vector<int> g_ = (got), e_ = __VA_ARGS__;                                             \
    if (g_ == e_) {                                                                            \
      check::pass();                                                                           \
    } else {                                                                                   \
      FAIL_MSG("%s: got %s, expected %s", #got, show_ints(g_).c_str(), show_ints(e_).c_str()); \
    }                                                                                          \
  } while (0)

}  // namespace


namespace {

core::ByteBuffer bytes(std::initializer_list<uint8_t> list) {
  core::ByteBuffer b;
  b.append(list.begin(), list.size());
  return b;
}

core::ByteBuffer filled(size_t n, uint8_t value) {
  core::ByteBuffer b;
  std::memset(b.extend(n), value, n);
  return b;
}

std::vector<uint8_t> contents(const core::ByteBuffer& b) { return {b.data(), b.data() + b.size()}; }

}  // namespace

TEST(deadline_list_arm_and_expire_in_order) {
  core::DeadlineList list(100);
  CHECK_EQ(list.duration(), 100);
  CHECK_EQ(list.next_deadline(), -1);
  CHECK(list.pop_expired(1000000) == nullptr);
  core::DeadlineNode n[5];
  for (auto& x : n) CHECK(!x.armed());
  list.arm(&n[0], 10);
  list.arm(&n[1], 20);
  list.arm(&n[2], 20);
  list.arm(&n[3], 35);
  CHECK(n[0].armed() && n[1].armed() && n[2].armed() && n[3].armed());
  CHECK(!n[4].armed());
  CHECK_EQ(n[0].deadline, 110);
  CHECK_EQ(n[3].deadline, 135);
  CHECK_EQ(list.next_deadline(), 110);
  CHECK_INTS(pop_all(list, 109, n, 5), {});
  CHECK_INTS(pop_all(list, 110, n, 5), {0});  // deadline == now expires
  CHECK(!n[0].armed());
  CHECK_EQ(list.next_deadline(), 120);
  CHECK_INTS(pop_all(list, 134, n, 5), {1, 2});
  CHECK_EQ(list.next_deadline(), 135);
  CHECK_INTS(pop_all(list, 1000, n, 5), {3});
  CHECK_EQ(list.next_deadline(), -1);
  CHECK(list.pop_expired(1000000) == nullptr);
}

TEST(deadline_list_cancel_and_rearm) {
  core::DeadlineList list(50);
  core::DeadlineNode n[4];
  list.arm(&n[0], 0);
  list.arm(&n[1], 1);
  list.arm(&n[2], 2);
  list.arm(&n[3], 3);
  // Cancel in the middle, at the head, at the tail.
  core::DeadlineList::cancel(&n[1]);
  CHECK(!n[1].armed());
  core::DeadlineList::cancel(&n[0]);
  CHECK_EQ(list.next_deadline(), 52);
  core::DeadlineList::cancel(&n[3]);
  // Cancelling an unarmed node is harmless, twice too.
  core::DeadlineList::cancel(&n[3]);
  core::DeadlineList::cancel(&n[1]);
  CHECK_INTS(pop_all(list, 1000, n, 4), {2});
  CHECK_EQ(list.next_deadline(), -1);

  // Re-arming moves a node to the back with its new deadline.
  list.arm(&n[0], 100);
  list.arm(&n[1], 101);
  list.arm(&n[2], 102);
  list.arm(&n[0], 103);  // re-arm while armed
  CHECK_EQ(n[0].deadline, 153);
  CHECK_EQ(list.next_deadline(), 151);
  CHECK_INTS(pop_all(list, 152, n, 4), {1, 2});
  CHECK_INTS(pop_all(list, 153, n, 4), {0});
  // Re-arm the only node; re-arm a popped node; arm after cancel.
  list.arm(&n[3], 200);
  list.arm(&n[3], 210);
  CHECK_EQ(list.next_deadline(), 260);
  CHECK_INTS(pop_all(list, 259, n, 4), {});
  list.arm(&n[2], 205);
  core::DeadlineList::cancel(&n[2]);
  list.arm(&n[2], 215);
  CHECK_INTS(pop_all(list, 1000, n, 4), {3, 2});
  CHECK_EQ(list.next_deadline(), -1);
  for (auto& x : n) CHECK(!x.armed());
}

TEST(deadline_list_many_nodes) {
  core::DeadlineList list(10);
  std::vector<core::DeadlineNode> n(1000);
  for (int i = 0; i < 1000; ++i) list.arm(&n[size_t(i)], i);
  // Cancel every third, re-arm every fifth (moving it to the back).
  for (int i = 0; i < 1000; i += 3) core::DeadlineList::cancel(&n[size_t(i)]);
  for (int i = 0; i < 1000; i += 5) list.arm(&n[size_t(i)], 2000 + i);
  std::vector<int> expect;
  for (int i = 0; i < 1000; ++i) {
    if (i % 3 != 0 && i % 5 != 0) expect.push_back(i);
  }
  for (int i = 0; i < 1000; i += 5) expect.push_back(i);
  CHECK_INTS(pop_all(list, 1000000, n.data(), 1000), expect);
}

TEST(byte_buffer_grows_moves_and_swaps) {
  core::ByteBuffer a;
  CHECK(a.empty() && a.capacity() == 0 && a.data() == nullptr);
  uint8_t* p = a.extend(10);
  std::memcpy(p, "0123456789", 10);
  a.append("ab", 2);
  a.shrink_by(1);
  CHECK(contents(a) == std::vector<uint8_t>({'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a'}));
  const uint8_t* storage = a.data();
  core::ByteBuffer b(std::move(a));  // moves the memory, leaves the source empty
  CHECK(b.data() == storage && b.size() == 11);
  CHECK(a.empty() && a.capacity() == 0 && a.data() == nullptr);
  core::ByteBuffer c = bytes({1});
  c = std::move(b);
  CHECK(c.data() == storage && c.size() == 11);
  core::ByteBuffer d = bytes({7, 8});
  d.swap(c);
  CHECK(d.data() == storage && contents(c) == std::vector<uint8_t>({7, 8}));
  d.clear();
  CHECK(d.empty() && d.capacity() >= 11);  // clear keeps the memory
  d.release();
  CHECK(d.capacity() == 0 && d.data() == nullptr);
}

TEST(inbox_push_and_take) {
  using Bytes = std::vector<uint8_t>;
  core::Inbox inbox;
  auto a = bytes({1, 2, 3});
  CHECK(inbox.push(a));  // was empty: wake the consumer
  CHECK(a.empty());
  auto b = bytes({4, 5});
  CHECK(!inbox.push(b));  // already had something
  CHECK(b.empty());
  auto c = bytes({6});
  CHECK(!inbox.push(c));
  // Queued side by side, oldest first, not concatenated.
  std::vector<core::ByteBuffer> out;
  inbox.take(out);
  if (CHECK_EQ(out.size(), 3u)) {
    CHECK(contents(out[0]) == (Bytes{1, 2, 3}));
    CHECK(contents(out[1]) == (Bytes{4, 5}));
    CHECK(contents(out[2]) == (Bytes{6}));
  }
  // Empty again: the next push wakes.
  std::vector<core::ByteBuffer> again;
  inbox.take(again);
  CHECK(again.empty());
  auto d = bytes({7});
  CHECK(inbox.push(d));
  std::vector<core::ByteBuffer> out2;
  inbox.take(out2);
  CHECK(out2.size() == 1 && contents(out2[0]) == Bytes{7});
  // An empty batch is ignored: the inbox stays empty and the next push wakes.
  core::ByteBuffer none;
  CHECK(!inbox.push(none));
  auto e = bytes({8});
  CHECK(inbox.push(e));
  std::vector<core::ByteBuffer> out3;
  inbox.take(out3);
  CHECK(out3.size() == 1 && contents(out3[0]) == Bytes{8});
}

TEST(inbox_recycles_consumed_buffers) {
  core::Inbox inbox;
  auto big = filled(100000, 1);
  const uint8_t* storage = big.data();
  CHECK(inbox.push(big));
  std::vector<core::ByteBuffer> taken;
  inbox.take(taken);
  inbox.recycle(std::move(taken[0]));
  // The next push hands the producer the recycled memory, emptied.
  auto next = bytes({2});
  inbox.push(next);
  CHECK(next.empty());
  CHECK(next.capacity() >= 100000);
  CHECK(next.data() == storage);
  // Only a few spares are kept.
  for (int i = 0; i < 10; ++i) inbox.recycle(filled(1000, 3));
  int recycled = 0;
  for (int i = 0; i < 10; ++i) {
    auto x = bytes({4});
    inbox.push(x);
    if (x.capacity() >= 1000) ++recycled;
  }
  CHECK_EQ(recycled, 4);  // kSpares
}

TEST(inbox_moves_buffers) {
  // A batch's memory moves in and out rather than being copied, also when
  // the inbox already holds another batch.
  core::Inbox inbox;
  auto first = filled(1000, 9);
  auto second = filled(2000, 8);
  const uint8_t* storage1 = first.data();
  const uint8_t* storage2 = second.data();
  CHECK(inbox.push(first));
  CHECK(!inbox.push(second));
  std::vector<core::ByteBuffer> out;
  inbox.take(out);
  if (CHECK_EQ(out.size(), 2u)) {
    CHECK(out[0].data() == storage1);
    CHECK(out[1].data() == storage2);
  }
}

TEST(inbox_many_producers) {
  core::Inbox inbox;
  constexpr int kThreads = 4, kPushes = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&inbox, t] {
      for (int i = 0; i < kPushes; ++i) {
        auto b = bytes({uint8_t(t), uint8_t(i & 0xff)});
        inbox.push(b);
      }
    });
  }
  std::vector<uint8_t> all;
  while (all.size() < size_t(kThreads * kPushes * 2)) {
    std::vector<core::ByteBuffer> got;
    inbox.take(got);
    for (auto& b : got) {
      all.insert(all.end(), b.data(), b.data() + b.size());
      inbox.recycle(std::move(b));  // producers get these back on their next push
    }
    std::this_thread::yield();
  }
  for (auto& th : threads) th.join();
  std::vector<core::ByteBuffer> rest;
  inbox.take(rest);
  for (auto& b : rest) all.insert(all.end(), b.data(), b.data() + b.size());
  CHECK_EQ(all.size(), size_t(kThreads * kPushes * 2));
  // Per producer, records arrive whole and in order.
  int next[kThreads] = {};
  bool ordered = all.size() % 2 == 0;
  for (size_t i = 0; ordered && i + 1 < all.size(); i += 2) {
    int t = all[i];
    if (t >= kThreads || all[i + 1] != uint8_t(next[t] & 0xff)) ordered = false;
    else ++next[t];
  }
  CHECK(ordered);
}

namespace {

struct Record {
  server::CommandHeader h;
  std::string payload;
  size_t padded;
};

// Decodes records back, checking the 8-byte alignment as it goes.
std::vector<Record> decode(const std::vector<uint8_t>& buf, bool& ok) {
  std::vector<Record> out;
  size_t at = 0;
  ok = true;
  while (at < buf.size()) {
    if (at % 8 != 0 || buf.size() - at < sizeof(server::CommandHeader)) {
      ok = false;
      break;
    }
    Record r;
    std::memcpy(&r.h, buf.data() + at, sizeof r.h);
    at += sizeof r.h;
    r.padded = server::pad8(r.h.len);
    if (buf.size() - at < r.padded) {
      ok = false;
      break;
    }
    r.payload.assign(reinterpret_cast<const char*>(buf.data() + at), r.h.len);
    // Padding is skipped, never read: the writer leaves it unwritten.
    at += r.padded;
    out.push_back(r);
  }
  return out;
}

}  // namespace

TEST(command_writer_records) {
  CHECK_EQ(server::pad8(0), 0u);
  CHECK_EQ(server::pad8(1), 8u);
  CHECK_EQ(server::pad8(7), 8u);
  CHECK_EQ(server::pad8(8), 8u);
  CHECK_EQ(server::pad8(9), 16u);
  server::CommandBuffer buf;
  server::CommandWriter w(buf);
  w.add(server::CommandType::kClose, 7, 3, 1000, {"bye"});
  CHECK_EQ(buf.size(), 16u + 8u);
  w.add(server::CommandType::kTerminate, 8, 4, 0, {});
  CHECK_EQ(buf.size(), 24u + 16u);
  w.add(server::CommandType::kRespond, 9, 5, 404, {"abc", "", "defgh"});  // exactly 8 bytes
  CHECK_EQ(buf.size(), 40u + 16u + 8u);
  w.add(server::CommandType::kSend, 0xffffffffu, 0xfffffffeu, 65535, {std::string(13, 'z')});
  CHECK_EQ(buf.size(), 64u + 16u + 16u);
  bool ok = false;
  auto recs = decode(contents(buf), ok);
  CHECK(ok);
  if (CHECK_EQ(recs.size(), 4u)) {
    CHECK(recs[0].h.type == server::CommandType::kClose);
    CHECK_EQ(recs[0].h.reserved, 0);
    CHECK_EQ(recs[0].h.slot, 7u);
    CHECK_EQ(recs[0].h.gen, 3u);
    CHECK_EQ(recs[0].h.code, 1000);
    CHECK_EQ(recs[0].payload, "bye");
    CHECK(recs[1].h.type == server::CommandType::kTerminate);
    CHECK_EQ(recs[1].h.len, 0u);
    CHECK(recs[2].h.type == server::CommandType::kRespond);
    CHECK_EQ(recs[2].payload, "abcdefgh");
    CHECK_EQ(recs[2].h.code, 404);
    CHECK_EQ(recs[3].h.slot, 0xffffffffu);
    CHECK_EQ(recs[3].h.gen, 0xfffffffeu);
    CHECK_EQ(recs[3].h.code, 65535);
    CHECK_EQ(recs[3].payload, std::string(13, 'z'));
  }
}

TEST(command_writer_begin_commit_smaller) {
  auto buf = bytes({0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22});  // an earlier 8-byte record body
  server::CommandWriter w(buf);
  uint8_t* p = w.begin(server::CommandType::kSend, 1, 2, 0, 100);
  CHECK(p == buf.data() + 8 + 16);
  CHECK(buf.size() >= 8 + 16 + 100);
  std::memcpy(p, "hello", 5);
  w.commit(5, 42);  // less than reserved, and a code decided late
  CHECK_EQ(buf.size(), 8u + 16u + 8u);
  CHECK(buf.data()[0] == 0xaa && buf.data()[7] == 0x22);  // earlier bytes untouched
  std::vector<uint8_t> rest(buf.data() + 8, buf.data() + buf.size());
  bool ok = false;
  auto recs = decode(rest, ok);
  CHECK(ok);
  if (CHECK_EQ(recs.size(), 1u)) {
    CHECK_EQ(recs[0].h.len, 5u);
    CHECK_EQ(recs[0].h.code, 42);
    CHECK_EQ(recs[0].h.slot, 1u);
    CHECK_EQ(recs[0].h.gen, 2u);
    CHECK_EQ(recs[0].payload, "hello");
  }
  // Commit of zero bytes, and of exactly the reserved size.
  w.begin(server::CommandType::kClose, 3, 4, 1001, 64);
  w.commit(0, 1001);
  CHECK_EQ(buf.size(), 8u + 24u + 16u);
  uint8_t* q = w.begin(server::CommandType::kAccept, 5, 6, 0, 12);
  std::memcpy(q, "0123456789ab", 12);
  w.commit(12, 0);
  CHECK_EQ(buf.size(), 8u + 24u + 16u + 32u);
  rest.assign(buf.data() + 8, buf.data() + buf.size());
  recs = decode(rest, ok);
  CHECK(ok);
  if (CHECK_EQ(recs.size(), 3u)) {
    CHECK_EQ(recs[1].h.len, 0u);
    CHECK_EQ(recs[1].h.code, 1001);
    CHECK(recs[2].h.type == server::CommandType::kAccept);
    CHECK_EQ(recs[2].payload, "0123456789ab");
  }
}

TEST(event_batch_layout) {
  server::EventBatch b;
  CHECK(b.empty());
  const uint8_t msg[] = {'h', 'i', '!'};
  b.add_message(1, 2, msg, 3, server::kMessageAscii);
  CHECK(!b.has_binary);
  b.add_message(3, 4, nullptr, 0, server::kMessageBinary);
  CHECK(b.has_binary);
  b.add(server::EventType::kPeerClose, 5, 6, 1000, {"bye", ""});
  uint32_t off = b.begin_strings();
  b.append_string("GET");
  b.append_string("/x");
  b.end_strings(server::EventType::kUpgrade, 7, 8, off, 2);
  CHECK(!b.empty());
  if (CHECK_EQ(b.events.size(), 4u)) {
    const auto& e = b.events;
    CHECK(e[0].type == server::EventType::kMessage);
    CHECK_EQ(e[0].slot, 1u);
    CHECK_EQ(e[0].gen, 2u);
    CHECK_EQ(e[0].num, uint32_t(server::kMessageAscii));
    CHECK_EQ(e[0].offset, 0u);
    CHECK_EQ(e[0].size, 3u);
    CHECK_EQ(e[1].offset, 3u);
    CHECK_EQ(e[1].size, 0u);
    CHECK(e[2].type == server::EventType::kPeerClose);
    CHECK_EQ(e[2].num, 1000u);
    CHECK_EQ(e[2].offset, 3u);
    CHECK_EQ(e[2].size, 2u);  // number of strings
    CHECK(e[3].type == server::EventType::kUpgrade);
    CHECK_EQ(e[3].offset, 3u + 4u + 3u + 4u);
    CHECK_EQ(e[3].size, 2u);
  }
  // Arena: payload, then length-prefixed strings (native-endian u32, no padding).
  server::Arena expect = {'h', 'i', '!'};
  auto put = [&expect](std::string_view s) {
    uint32_t n = uint32_t(s.size());
    uint8_t len[4];
    std::memcpy(len, &n, 4);
    expect.insert(expect.end(), len, len + 4);
    expect.insert(expect.end(), s.begin(), s.end());
  };
  put("bye");
  put("");
  put("GET");
  put("/x");
  CHECK(b.arena == expect);
}
