// OutQueue: what a connection's kernel would not take yet. Driven through a
// plain transport over a socketpair whose peer reads a little at a time, as a
// slow client would.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "core/shared_bytes.h"
#include "server/out_queue.h"
#include "server/tcp_transport.h"

using corews::core::SharedBytes;
using corews::server::IoResult;
using corews::server::OutQueue;
using corews::server::TcpTransport;

namespace {

struct Pair {
  int server = -1;
  int client = -1;
  std::unique_ptr<TcpTransport> transport;  // the server's end
  Pair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0) {
      server = fds[0];
      client = fds[1];
      int small = 4096;  // the kernel takes little: the queue does the rest
      setsockopt(server, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    transport = std::make_unique<TcpTransport>(server);
  }
  ~Pair() { close(client); }  // the server's end is its transport's to close
  // Reads up to `max` bytes the server wrote.
  std::string read(size_t max) {
    std::string out(max, '\0');
    ssize_t n = ::read(client, out.data(), max);
    out.resize(n > 0 ? size_t(n) : 0);
    return out;
  }
};

SharedBytes* block_of(const std::string& s) {
  SharedBytes* b = SharedBytes::create(s.size());
  std::memcpy(b->data(), s.data(), s.size());
  b->set_size(s.size());
  return b;
}

// Writes until the kernel takes no more; returns what it wrote.
size_t write_all_it_takes(OutQueue& q, TcpTransport& t) {
  size_t total = 0;
  for (;;) {
    IoResult r = q.write_to(t);
    if (r.status != IoResult::kDone || r.bytes == 0) return total;
    total += r.bytes;
  }
}

}  // namespace

TEST(out_queue_keeps_bytes_in_order_across_copies_and_shared_blocks) {
  Pair p;
  OutQueue q;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    std::string small = "copy" + std::to_string(i) + ";";
    q.append_copy(reinterpret_cast<const uint8_t*>(small.data()), small.size());
    expected += small;
    std::string big(1000 + i, char('a' + i % 26));
    SharedBytes* b = block_of(big);
    q.append_shared(b, 10, big.size() - 10);  // a reference of its own
    b->unref();
    expected += big.substr(10);
  }
  CHECK_EQ(q.bytes(), expected.size());
  std::string got;
  while (!q.empty()) {
    write_all_it_takes(q, *p.transport);
    got += p.read(1 << 20);
  }
  got += p.read(1 << 20);
  CHECK_EQ(got.size(), expected.size());
  CHECK(got == expected);
  CHECK_EQ(q.segment_count(), size_t(0));  // drained: no memory kept
}

TEST(out_queue_that_never_drains_keeps_only_its_unwritten_segments) {
  // A subscriber always a little behind: each round appends publishes and the
  // peer reads about as much, so the queue is never empty. Its segment list
  // must follow what is queued, not how many publishes it ever had.
  Pair p;
  OutQueue q;
  std::string publish(600, 'p');
  SharedBytes* b = block_of(publish);
  size_t max_segments = 0;
  for (int round = 0; round < 20000; ++round) {
    q.append_shared(b, 0, b->size());
    write_all_it_takes(q, *p.transport);
    p.read(publish.size());
    if (q.empty()) q.append_shared(b, 0, b->size());  // keep it from draining
    max_segments = std::max(max_segments, q.segment_count());
  }
  b->unref();
  size_t queued_segments = q.bytes() / publish.size() + 2;
  CHECK(max_segments < 2 * queued_segments + 64);
  if (max_segments >= 2 * queued_segments + 64) FAIL_MSG("segments %zu for %zu queued bytes", max_segments, q.bytes());
  q.clear();
  CHECK(q.empty());
  CHECK_EQ(q.segment_count(), size_t(0));
}

TEST(out_queue_copies_short_shared_blocks) {
  // A shared block shorter than a segment's bookkeeping is copied: 10,000
  // tiny publishes queue as a few blocks, not 10,000 references.
  Pair p;
  OutQueue q;
  SharedBytes* b = block_of("tiny!");
  for (int i = 0; i < 10000; ++i) q.append_shared(b, 0, b->size());
  b->unref();  // the queue holds no reference to it
  CHECK_EQ(q.bytes(), size_t(50000));
  CHECK(q.segment_count() <= 4);
}

TEST(out_queue_reports_the_transports_errors) {
  Pair p;
  OutQueue q;
  q.append_copy(reinterpret_cast<const uint8_t*>("x"), 1);
  close(p.client);
  p.client = -1;
  IoResult r = q.write_to(*p.transport);
  CHECK(r.status == IoResult::kError);
  CHECK(r.error == EPIPE || r.error == ECONNRESET);
  CHECK_EQ(q.bytes(), size_t(1));  // nothing was taken
  q.clear();
  CHECK(q.empty());
}
