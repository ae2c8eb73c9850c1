// What JS can ask of a connection beyond sending (ws.pause()/resume(), the
// control frames it hears of) and of a worker (refused handshakes): the
// commands kPauseReading, kReportControl and kReportRefusals, and the events
// kPing, kPong and kRefused they turn on.
#include <string>
#include <vector>

#include "check.h"
#include "core/clock.h"
#include "proto/close_code.h"
#include "test/worker_harness.h"

using namespace corews;
using harness::Handle;
using harness::WorkerHarness;
using server::EventType;

namespace {

std::vector<std::string> messages(const WorkerHarness& h, Handle ws) {
  std::vector<std::string> out;
  for (const auto& e : h.events_of(ws)) {
    if (e.type == EventType::kMessage) out.push_back(e.payload);
  }
  return out;
}

std::vector<std::string> payloads(const WorkerHarness& h, Handle ws, EventType type) {
  std::vector<std::string> out;
  for (const auto& e : h.events_of(ws)) {
    if (e.type == type) out.push_back(e.payload);
  }
  return out;
}

// Steps with a wait for `ms` of wall time, so that timers can expire.
void steps_for(WorkerHarness& h, int64_t ms) {
  int64_t end = core::now_ms() + ms;
  while (core::now_ms() < end) h.step(5);
}

}  // namespace

TEST(worker_user_pause_reads_nothing_until_resume) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  Handle ws = h.open(c);
  h.pause(ws, true);
  h.steps(2);
  for (int i = 0; i < 20; ++i) h.send_raw(c, harness::client_frame(proto::kOpText, "m" + std::to_string(i)));
  h.steps(10);
  CHECK(messages(h, ws).empty());  // the bytes wait in the kernel
  h.pause(ws, false);
  CHECK(h.run_until([&] { return messages(h, ws).size() == 20; }));
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back("m" + std::to_string(i));
  CHECK(messages(h, ws) == expected);  // none lost, none reordered
}

// JS behind (nothing reported consumed) with a 64-byte inbound bound: the
// open event stays under it, the first message (100 bytes) passes it and
// pauses reading for backpressure. The two pauses compose:
// each holds the connection until it is lifted, whatever the other does.
TEST(worker_user_pause_outlasts_backpressure_pause) {
  server::WorkerConfig config = harness::quiet_config();
  config.max_unconsumed = 64;
  harness::HarnessOptions options;
  options.js_behind = true;
  WorkerHarness h(config, options);
  int c = h.adopt();
  Handle ws = h.open(c);
  h.send_raw(c, harness::client_frame(proto::kOpText, std::string(100, 'x')));
  CHECK(h.run_until([&] { return messages(h, ws).size() == 1; }));
  h.send_raw(c, harness::client_frame(proto::kOpText, "second"));
  h.steps(3);
  CHECK_EQ(h.worker().paused_connections(), 1u);  // backpressure holds it
  h.pause(ws, true);
  h.steps(2);
  h.worker().consumed(size_t(1) << 20);  // JS caught up: the backpressure pause lifts
  h.steps(5);
  CHECK_EQ(h.worker().paused_connections(), 0u);
  CHECK_EQ(messages(h, ws).size(), 1u);  // the user's pause still holds
  h.pause(ws, false);
  CHECK(h.run_until([&] { return messages(h, ws).size() == 2; }));
}

TEST(worker_backpressure_pause_outlasts_user_resume) {
  server::WorkerConfig config = harness::quiet_config();
  config.max_unconsumed = 64;
  harness::HarnessOptions options;
  options.js_behind = true;
  WorkerHarness h(config, options);
  int c = h.adopt();
  Handle ws = h.open(c);
  h.send_raw(c, harness::client_frame(proto::kOpText, std::string(100, 'x')));
  CHECK(h.run_until([&] { return messages(h, ws).size() == 1; }));
  h.pause(ws, true);
  h.steps(2);
  h.send_raw(c, harness::client_frame(proto::kOpText, "second"));
  h.steps(3);
  h.pause(ws, false);  // the user resumes while JS is still behind
  h.steps(5);
  CHECK_EQ(messages(h, ws).size(), 1u);
  CHECK_EQ(h.worker().paused_connections(), 1u);
  h.worker().consumed(size_t(1) << 20);
  CHECK(h.run_until([&] { return messages(h, ws).size() == 2; }));
}

// The idle timeout counts the peer's silence; while the server has paused
// the connection the silence is the server's: no idle close, no pings. Once
// resumed, a silent peer is idle again.
TEST(worker_user_pause_is_not_idle) {
  server::WorkerConfig config = harness::quiet_config();
  config.idle_timeout_ms = 60;
  config.ping_interval_ms = 20;
  WorkerHarness h(config);
  int c = h.adopt();
  Handle ws = h.open(c);
  h.pause(ws, true);
  steps_for(h, 300);
  CHECK_EQ(h.count(EventType::kClosed, ws), 0u);
  CHECK(h.frames(c).empty());  // neither a ping nor a Close
  h.pause(ws, false);
  CHECK(h.run_until([&] {
    h.step(5);
    for (const auto& f : h.frames(c)) {
      if (f.op == proto::kOpClose) return true;
    }
    return false;
  }, 400));
  auto frames = h.frames(c);
  CHECK(!frames.empty() && frames.back().op == proto::kOpClose && frames.back().close_code() == proto::kCloseGoingAway);
}

TEST(worker_reports_control_frames_only_when_asked) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt();
  Handle ws = h.open(c);
  h.send_raw(c, harness::client_frame(proto::kOpPing, "unheard"));
  CHECK(h.run_until([&] { return h.frames(c).size() == 1; }));
  CHECK(payloads(h, ws, EventType::kPing).empty());
  h.report_control(ws, server::kReportPings | server::kReportPongs);
  h.steps(2);
  h.send_raw(c, harness::client_frame(proto::kOpPing, "p1"));
  h.send_raw(c, harness::client_frame(proto::kOpPong, "q1"));
  h.send_raw(c, harness::client_frame(proto::kOpPing, ""));
  CHECK(h.run_until([&] { return payloads(h, ws, EventType::kPing).size() == 2; }));
  CHECK(payloads(h, ws, EventType::kPing) == std::vector<std::string>({"p1", ""}));
  CHECK(payloads(h, ws, EventType::kPong) == std::vector<std::string>({"q1"}));
  // Still answered natively, each with its own payload.
  CHECK(h.run_until([&] { return h.frames(c).size() == 3; }));
  auto f = h.frames(c);
  if (CHECK_EQ(f.size(), 3u)) {
    CHECK(f[1].op == proto::kOpPong && f[1].payload == "p1");
    CHECK(f[2].op == proto::kOpPong && f[2].payload.empty());
  }
  h.report_control(ws, server::kReportPongs);  // pings no longer
  h.steps(2);
  h.send_raw(c, harness::client_frame(proto::kOpPing, "p2"));
  h.send_raw(c, harness::client_frame(proto::kOpPong, "q2"));
  CHECK(h.run_until([&] { return payloads(h, ws, EventType::kPong).size() == 2; }));
  CHECK_EQ(payloads(h, ws, EventType::kPing).size(), 2u);
  CHECK(h.bad_batches() == 0);
}

TEST(worker_reports_control_frames_from_the_config) {
  server::WorkerConfig config = harness::quiet_config();
  config.report_control = server::kReportPongs;
  WorkerHarness h(config);
  int c = h.adopt();
  Handle ws = h.open(c);
  h.send_raw(c, harness::client_frame(proto::kOpPong, "from the start"));
  h.send_raw(c, harness::client_frame(proto::kOpPing, "not asked for"));
  CHECK(h.run_until([&] { return payloads(h, ws, EventType::kPong).size() == 1; }));
  h.steps(3);
  CHECK_EQ(payloads(h, ws, EventType::kPong)[0], "from the start");
  CHECK(payloads(h, ws, EventType::kPing).empty());
}

TEST(worker_reports_refusals_only_when_asked) {
  WorkerHarness h(harness::quiet_config());
  const std::string bad_version =
      "GET /chat?x=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
  int quiet = h.adopt();
  h.send_raw(quiet, bad_version);
  CHECK(h.run_until([&] { return h.client(quiet).eof; }));
  CHECK_EQ(h.count(EventType::kRefused), 0u);

  h.report_refusals(true);
  int c = h.adopt();
  h.send_raw(c, bad_version);
  CHECK(h.run_until([&] { return h.client(c).eof; }));
  CHECK_EQ(h.client(c).received.substr(0, 12), "HTTP/1.1 426");  // answered natively as before
  if (CHECK_EQ(h.count(EventType::kRefused), 1u)) {
    const harness::RecordedEvent* e = nullptr;
    for (const auto& ev : h.events()) {
      if (ev.type == EventType::kRefused) e = &ev;
    }
    CHECK_EQ(e->num, 426u);
    if (CHECK_EQ(e->strings.size(), 5u + 2 * 5)) {
      CHECK(e->strings[0].find("Sec-WebSocket-Version") != std::string::npos);
      CHECK_EQ(e->strings[1], "GET");
      CHECK_EQ(e->strings[2], "/chat?x=1");
      CHECK_EQ(e->strings[4], "");  // no protocol
      CHECK_EQ(e->strings[5], "Host");
      CHECK_EQ(e->strings[14], "8");
    }
  }
  int garbage = h.adopt();  // no request to show: method and url empty
  h.send_raw(garbage, "\x01\x02 nonsense\r\n\r\n");
  CHECK(h.run_until([&] { return h.client(garbage).eof; }));
  CHECK_EQ(h.count(EventType::kRefused), 2u);
  CHECK_EQ(h.events().back().num, 400u);
  CHECK_EQ(h.events().back().strings.size(), 5u);
  CHECK_EQ(h.events().back().strings[1], "");

  int plain = h.adopt();  // plain HTTP is no failed handshake
  h.send_raw(plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(h.run_until([&] { return h.client(plain).eof; }));
  CHECK_EQ(h.client(plain).received.substr(0, 12), "HTTP/1.1 426");
  CHECK_EQ(h.count(EventType::kRefused), 2u);

  h.report_refusals(false);
  int later = h.adopt();
  h.send_raw(later, bad_version);
  CHECK(h.run_until([&] { return h.client(later).eof; }));
  CHECK_EQ(h.count(EventType::kRefused), 2u);
  CHECK(h.bad_batches() == 0);
  // A refused handshake was never a connection of JS: no closed event follows.
  CHECK_EQ(h.count(EventType::kClosed), 0u);
}

// Empty pings put no bytes in the arena; with pings reported, a flood of them
// must still count toward inbound backpressure (each event costs its size), or
// batches JS has not dispatched yet could pile up without bound.
TEST(worker_reported_empty_pings_count_toward_inbound_backpressure) {
  server::WorkerConfig config = harness::quiet_config();
  config.max_unconsumed = 4096;
  config.report_control = server::kReportPings;
  harness::HarnessOptions options;
  options.js_behind = true;
  WorkerHarness h(config, options);
  int c = h.adopt();
  Handle ws = h.open(c);
  std::string flood;
  for (int i = 0; i < 40000; ++i) flood += harness::client_frame(proto::kOpPing, "");
  h.send_raw(c, flood);
  h.steps(20);
  CHECK(h.count(EventType::kPing, ws) > 0);
  CHECK(h.count(EventType::kPing, ws) < 40000);
  CHECK_EQ(h.worker().paused_connections(), 1u);
  h.worker().consumed(size_t(1) << 30);  // JS caught up: the rest comes
  CHECK(h.run_until([&] { return h.count(EventType::kPing, ws) == 40000; }, 400));
}
