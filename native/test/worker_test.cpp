// The Worker over socketpairs, driven from the test thread by
// worker_harness.h: the handshake, an echo, both closing handshakes,
// terminate, pings, topics, and that a worker gives back its descriptors.
#include <string>
#include <vector>

#include "check.h"
#include "proto/close_code.h"
#include "test/worker_harness.h"

using namespace corews;
using harness::Handle;
using harness::WorkerHarness;
using server::EventType;

namespace {

// The text and binary frames a client received, as "t:payload" / "b:payload".
std::vector<std::string> data_frames(const WorkerHarness& h, int client) {
  std::vector<std::string> out;
  for (const auto& f : h.frames(client)) {
    if (f.op == proto::kOpText) out.push_back("t:" + f.payload);
    if (f.op == proto::kOpBinary) out.push_back("b:" + f.payload);
  }
  return out;
}

const harness::ServerFrame* last_close(const std::vector<harness::ServerFrame>& frames) {
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    if (it->op == proto::kOpClose) return &*it;
  }
  return nullptr;
}

}  // namespace

TEST(worker_handshake_opens) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  CHECK(c >= 0);
  Handle ws = h.open(c, "/chat?room=1");
  CHECK(ws.valid());
  CHECK(h.upgraded(c));
  CHECK_EQ(h.count(EventType::kOpen, ws), 1u);
  auto evs = h.events_of(ws);
  if (CHECK(!evs.empty()) && CHECK_EQ(evs[0].strings.size(), 4u)) {
    CHECK_EQ(evs[0].strings[0], "/chat?room=1");  // url
    CHECK_EQ(evs[0].strings[1], "");              // no subprotocol
    CHECK_EQ(evs[0].strings[2], "");              // AF_UNIX: peer_address has no address to show
    CHECK_EQ(evs[0].strings[3], "");              // no extension
  }
  CHECK_EQ(h.worker().stats().connections_open.load(), 1u);
  CHECK(h.frames(c).empty());
  CHECK(h.bad_batches() == 0);
}

TEST(worker_refuses_bad_request) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  h.send_raw(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");  // no key
  CHECK(h.run_until([&] { return h.client(c).eof; }));
  CHECK_EQ(h.client(c).received.substr(0, 12), "HTTP/1.1 400");
  CHECK_EQ(h.events().size(), 0u);  // JS never hears of it
  h.close_client(c);
  h.steps(3);
  CHECK_EQ(h.events().size(), 0u);
}

TEST(worker_echoes_text) {
  WorkerHarness h(harness::quiet_config());
  // The user's message handler: send the message back.
  h.on_event = [&](const harness::RecordedEvent& e) {
    if (e.type == EventType::kMessage) {
      h.ws_send(e.handle(), (e.num & server::kMessageBinary) ? proto::kOpBinary : proto::kOpText, e.payload);
    }
  };
  int c = h.adopt();
  Handle ws = h.open(c);
  CHECK(ws.valid());
  h.send_raw(c, harness::client_frame(proto::kOpText, "hello"));
  h.send_raw(c, harness::client_frame(proto::kOpBinary, std::string("\0\xff", 2)));
  // A fragmented text message: "wor" + "ld".
  h.send_raw(c, harness::client_frame(proto::kOpText, "wor", false) +
                    harness::client_frame(proto::kOpContinuation, "ld", true));
  CHECK(h.run_until([&] { return data_frames(h, c).size() == 3; }));
  auto evs = h.events_of(ws);
  std::vector<std::string> messages;
  for (const auto& e : evs) {
    if (e.type != EventType::kMessage) continue;
    messages.push_back(((e.num & server::kMessageBinary) ? "b:" : "t:") + e.payload);
    if (!(e.num & server::kMessageBinary)) CHECK(e.num & server::kMessageAscii);
  }
  std::vector<std::string> expected = {"t:hello", std::string("b:\0\xff", 4), "t:world"};
  CHECK(messages == expected);
  CHECK(data_frames(h, c) == expected);
  for (const auto& f : h.frames(c)) {
    CHECK(f.fin);
    CHECK(!f.masked);
    CHECK_EQ(f.rsv, 0);
  }
  CHECK_EQ(h.queued(ws.slot), 0u);
}

TEST(worker_answers_ping) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  Handle ws = h.open(c);
  h.send_raw(c, harness::client_frame(proto::kOpPing, "are you there"));
  CHECK(h.run_until([&] { return !h.frames(c).empty(); }));
  auto f = h.frames(c);
  if (CHECK_EQ(f.size(), 1u)) {
    CHECK_EQ(f[0].op, proto::kOpPong);
    CHECK_EQ(f[0].payload, "are you there");
  }
  CHECK_EQ(h.events_of(ws).size(), 1u);  // only the open: pings are answered natively
}

// The peer starts the closing handshake: peer-close, JS echoes the code, the
// worker half-closes; once the client closes too, one closed event.
TEST(worker_peer_close_is_echoed) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  Handle ws = h.open(c);
  h.send_raw(c, harness::client_close(1000, "bye"));
  CHECK(h.run_until([&] { return h.client(c).eof; }));
  CHECK_EQ(h.count(EventType::kPeerClose, ws), 1u);
  for (const auto& e : h.events_of(ws)) {
    if (e.type == EventType::kPeerClose) {
      CHECK_EQ(e.num, 1000u);
      if (CHECK_EQ(e.strings.size(), 1u)) CHECK_EQ(e.strings[0], "bye");
    }
  }
  auto frames = h.frames(c);
  if (CHECK_EQ(frames.size(), 1u)) {
    CHECK_EQ(frames[0].op, proto::kOpClose);
    CHECK_EQ(frames[0].close_code(), 1000);
    CHECK_EQ(frames[0].close_reason(), "");  // JS echoes the code, not the reason
  }
  CHECK_EQ(h.count(EventType::kClosed, ws), 0u);  // waiting for the client's FIN
  h.close_client(c);
  h.steps(5);
  CHECK_EQ(h.count(EventType::kClosed, ws), 1u);
  auto evs = h.events_of(ws);
  if (CHECK(!evs.empty())) {
    CHECK(evs.back().type == EventType::kClosed);
    CHECK_EQ(evs.back().num, 1000u);
    if (CHECK_EQ(evs.back().strings.size(), 1u)) CHECK_EQ(evs.back().strings[0], "bye");
  }
  CHECK_EQ(h.worker().stats().connections_open.load(), 0u);
}

// The server starts it: ws.close(4000), the client answers, one closed event.
TEST(worker_server_close_handshake) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  Handle ws = h.open(c);
  CHECK(h.ws_close(ws, 4000, "done"));
  CHECK(h.run_until([&] { return last_close(h.frames(c)) != nullptr; }));
  auto frames = h.frames(c);
  if (const harness::ServerFrame* f = last_close(frames)) {
    CHECK_EQ(f->close_code(), 4000);
    CHECK_EQ(f->close_reason(), "done");
  }
  CHECK_EQ(h.count(EventType::kPeerClose, ws), 0u);
  h.send_raw(c, harness::client_close(4000, "done"));
  CHECK(h.run_until([&] { return h.client(c).eof; }));
  h.close_client(c);
  CHECK(h.run_until([&] { return h.count(EventType::kClosed, ws) > 0; }));
  h.steps(3);
  CHECK_EQ(h.count(EventType::kClosed, ws), 1u);
  auto evs = h.events_of(ws);
  if (CHECK(!evs.empty())) CHECK_EQ(evs.back().num, 4000u);
}

TEST(worker_terminate_closes_once) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  Handle ws = h.open(c);
  CHECK(h.ws_terminate(ws));
  h.steps(2);
  CHECK_EQ(h.count(EventType::kClosed, ws), 1u);
  CHECK(!h.server_end_open(c));
  CHECK(h.client(c).eof);
  for (const auto& e : h.events_of(ws)) {
    if (e.type == EventType::kClosed) CHECK_EQ(e.num, 1006u);
  }
  // Commands for the old (slot, gen) are no-ops, and nothing more is told.
  h.send(ws, proto::kOpText, "late");
  h.close(ws, 1000);
  h.terminate(ws);
  h.steps(3);
  CHECK_EQ(h.count(EventType::kClosed, ws), 1u);
  CHECK_EQ(h.events_of(ws).size(), 2u);  // open, closed
}

TEST(worker_publishes_to_subscribers) {
  WorkerHarness h(harness::quiet_config());
  int a = h.adopt(), b = h.adopt(), c = h.adopt();
  Handle wa = h.open(a), wb = h.open(b), wc = h.open(c);
  CHECK(wa.valid() && wb.valid() && wc.valid());
  CHECK(h.ws_subscribe(wa, 7));
  CHECK(h.ws_subscribe(wb, 7));
  CHECK(h.ws_subscribe(wc, 8));
  h.publish(7, proto::kOpText, "to seven", wb);  // ws.publish from b: b is skipped
  h.publish(8, proto::kOpBinary, "to eight");
  h.publish(9, proto::kOpText, "to nobody");
  h.steps(3);
  CHECK(data_frames(h, a) == std::vector<std::string>{"t:to seven"});
  CHECK(data_frames(h, b).empty());
  CHECK(data_frames(h, c) == std::vector<std::string>{"b:to eight"});
  CHECK(h.ws_unsubscribe(wa, 7));
  h.publish(7, proto::kOpText, "again");
  h.steps(3);
  CHECK(data_frames(h, a) == std::vector<std::string>{"t:to seven"});
  CHECK(data_frames(h, b) == std::vector<std::string>{"t:again"});
}

// Everything a worker opened is closed again once it is gone, and the
// memory it took is given back.
TEST(worker_gives_back_fds_and_memory) {
  auto fds_before = harness::open_fds();
  size_t heap_before = harness::live_heap_bytes();
  {
    WorkerHarness h(harness::quiet_config());
    int a = h.adopt(4096, 4096), b = h.adopt();
    Handle wa = h.open(a);
    h.open(b);
    h.set_auto_read(a, false);  // a never reads: its queue grows
    std::string big(20000, 'x');
    for (int i = 0; i < 8; ++i) h.ws_send(wa, proto::kOpBinary, big);
    h.publish(1, proto::kOpText, "unheard");
    h.steps(3);
    CHECK(h.queued(wa.slot) > 0);
    h.shutdown(1001, "bye", 0);
    h.steps(3);
    CHECK(h.stopped());
    CHECK_EQ(h.count(EventType::kStopped), 1u);
    CHECK_EQ(h.count(EventType::kClosed), 2u);
  }
  CHECK_EQ(harness::fd_diff(fds_before, harness::open_fds()), "");
  CHECK_EQ(harness::live_heap_bytes(), heap_before);
}

TEST(worker_paused_list_holds_only_live_connections) {
  // JS has fallen behind (nothing is reported consumed) and the inbound bound
  // is one byte: every connection that sends a message is paused. While JS
  // stays behind, 1,000 such connections come and go: the paused list must
  // follow the live ones, not the history.
  server::WorkerConfig config = harness::quiet_config();
  config.max_unconsumed = 1;
  harness::HarnessOptions options;
  options.js_behind = true;
  WorkerHarness h(config, options);
  size_t most = 0;
  for (int round = 0; round < 1000; ++round) {
    int c = h.adopt();
    Handle ws = h.open(c);
    if (!CHECK(ws.valid())) break;
    h.send_raw(c, harness::client_frame(proto::kOpText, "first"));
    h.send_raw(c, harness::client_frame(proto::kOpText, "waits in the kernel"));
    h.steps(3);
    h.terminate(ws);
    h.steps(2);
    CHECK_EQ(h.count(EventType::kClosed, ws), 1u);
    most = std::max(most, h.worker().paused_connections());
    h.close_client(c);
  }
  CHECK(most <= 2);
  if (most > 2) FAIL_MSG("the paused list reached %zu entries with at most one live connection", most);
  CHECK_EQ(h.worker().paused_connections(), 0u);
}

TEST(worker_no_event_after_closed_when_a_write_fails_mid_read) {
  // A ping and then a Close (or a protocol error) arrive in one read from a
  // client that has already gone: the pong's write fails, the connection is
  // destroyed with its one closed event, and what follows in the same buffer
  // must not raise another event.
  for (int variant = 0; variant < 2; ++variant) {
    CTX("then %s", variant ? "a frame with RSV1" : "a Close");
    WorkerHarness h(harness::quiet_config());
    int c = h.adopt();
    Handle ws = h.open(c);
    if (!CHECK(ws.valid())) continue;
    std::string bytes = harness::client_frame(proto::kOpPing, "are you there");
    bytes += variant ? harness::client_frame(proto::kOpText, "x", true, 0x37fa213d, 4) : harness::client_close(1000, "bye");
    h.send_raw(c, bytes);
    h.close_client(c);  // gone before the worker reads: the pong cannot be written
    h.steps(5);
    CHECK_EQ(h.count(EventType::kClosed, ws), 1u);
    CHECK_EQ(h.count(EventType::kPeerClose, ws), 0u);
    CHECK_EQ(h.count(EventType::kProtocolError, ws), 0u);
    auto evs = h.events_of(ws);
    CHECK(!evs.empty() && evs.back().type == EventType::kClosed);
  }
}
