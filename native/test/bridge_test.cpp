// The worker's end of a bridge (server.handleUpgrade on an https.Server's TLS
// socket): adopted by kAdoptBridged, it is a connection like any other, except
// that its peer is the address Node gave, which the events and the per-IP
// limit use (the socketpair itself has none).
#include <string>

#include "check.h"
#include "test/worker_harness.h"

using namespace corews;
using harness::Handle;
using harness::HarnessOptions;
using harness::WorkerHarness;
using server::EventType;

TEST(bridge_open_reports_the_given_address_and_echoes) {
  WorkerHarness h(harness::quiet_config());
  int c = h.adopt_bridged("203.0.113.9");
  CHECK(c >= 0);
  Handle ws = h.open(c, "/b");
  CHECK(ws.valid());
  auto evs = h.events_of(ws);
  if (CHECK(!evs.empty()) && CHECK_EQ(evs[0].strings.size(), 4u)) {
    CHECK_EQ(evs[0].strings[2], "203.0.113.9");  // not the socketpair's (empty) address
  }
  h.send_raw(c, harness::client_frame(proto::kOpText, "over the bridge"));
  CHECK(h.run_until([&] {
    for (const auto& e : h.events_of(ws)) {
      if (e.type == EventType::kMessage && e.payload == "over the bridge") return true;
    }
    return false;
  }));
  h.ws_send(ws, proto::kOpText, "back");
  CHECK(h.run_until([&] {
    for (const auto& f : h.frames(c)) {
      if (f.op == proto::kOpText && f.payload == "back") return true;
    }
    return false;
  }));
  CHECK(h.bad_batches() == 0);
}

TEST(bridge_per_ip_limit_counts_the_given_address) {
  HarnessOptions o;
  o.max_per_ip = 1;
  WorkerHarness h(harness::quiet_config(), o);
  int a = h.adopt_bridged("198.51.100.1");
  CHECK(h.open(a, "/a").valid());
  int b = h.adopt_bridged("198.51.100.1");  // the same client again: over its limit
  h.handshake(b, "/b");
  CHECK(h.run_until([&] { return h.client(b).eof; }));
  CHECK_EQ(h.client(b).received.substr(0, 12), "HTTP/1.1 429");
  int other = h.adopt_bridged("198.51.100.2");  // another client: its own place
  CHECK(h.open(other, "/c").valid());
}
