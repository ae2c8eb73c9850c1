// What inline mode (native/addon/inline_loop.h) needs of the Worker beyond
// run_once: its commands run without a wakeup (run_commands), the deadline it
// would wait for (next_timeout_ms), and a descriptor that polls readable when
// run_once(0) has work (poll_fd).
#include <poll.h>

#include <string>

#include "check.h"
#include "test/worker_harness.h"

using namespace corews;
using harness::WorkerHarness;

namespace {

server::WorkerConfig inline_config() {
  server::WorkerConfig c;
  c.ping_interval_ms = 0;
  c.idle_timeout_ms = 0;
  c.handshake_timeout_ms = 5000;
  return c;
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

}  // namespace

TEST(worker_run_commands_writes_without_run_once) {
  WorkerHarness h(inline_config());
  int c = h.adopt();
  harness::Handle ws = h.open(c);
  CHECK(ws.valid());
  h.send(ws, proto::kOpText, "now");
  h.flush();  // into the inbox (and a wakeup, which run_commands does not need)
  CHECK(h.worker().run_commands());
  h.read_client(c);
  auto frames = h.frames(c);
  if (CHECK_EQ(frames.size(), 1u)) CHECK_EQ(frames[0].payload, std::string("now"));
}

TEST(worker_next_timeout_follows_the_handshake_timer) {
  WorkerHarness h(inline_config());
  CHECK_EQ(h.worker().next_timeout_ms(), -1);  // nothing to wait for
  int c = h.adopt();
  h.steps(1);                                   // adopted: its handshake timer runs
  int ms = h.worker().next_timeout_ms();
  CHECK(ms > 4000 && ms <= 5000);
  harness::Handle ws = h.open(c);
  CHECK(ws.valid());
  CHECK_EQ(h.worker().next_timeout_ms(), -1);  // open, no heartbeat configured: no deadline
}

TEST(worker_poll_fd_is_readable_when_a_client_wrote) {
  WorkerHarness h(inline_config());
  int c = h.adopt();
  harness::Handle ws = h.open(c);
  CHECK(ws.valid());
  h.steps(2);
  CHECK(!readable(h.worker().poll_fd()));
  h.send_raw(c, harness::client_frame(proto::kOpText, "hi"));
  CHECK(readable(h.worker().poll_fd()));
  h.steps(1);
  CHECK(!readable(h.worker().poll_fd()));
}
