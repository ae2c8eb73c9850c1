// TcpTransport: a connection's plain-TCP byte stream. Reads, writes, would
// block, EOF, errors and the half-close, over a socketpair (where the kernel's
// buffers can be made small) and over loopback TCP (resets, peer addresses,
// TCP_NODELAY).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "check.h"
#include "server/listener.h"
#include "server/tcp_transport.h"

using corews::server::IoResult;
using corews::server::TcpTransport;

namespace {

struct SocketPair {
  int server = -1;
  int client = -1;
  SocketPair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0) {
      server = fds[0];
      client = fds[1];
    }
  }
  ~SocketPair() {
    if (client >= 0) close(client);
  }
};

// A connected loopback TCP pair: `server` as the worker gets it (accepted,
// non-blocking), `client` blocking.
struct TcpPair {
  int server = -1;
  int client = -1;
  explicit TcpPair(const char* host = "127.0.0.1") {
    corews::server::ListenResult l = corews::server::open_listeners(host, 0, 1, 16);
    if (l.fds.empty()) return;
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(l.port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (client >= 0 && connect(client, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
      int fd = corews::server::accept_connection(l.fds[0]);
      if (fd >= 0) server = fd;
    }
    corews::server::close_socket(l.fds[0]);
  }
  ~TcpPair() {
    if (client >= 0) close(client);
  }
};

bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

std::string read_client(int fd, size_t max) {
  std::string out(max, '\0');
  ssize_t n = recv(fd, out.data(), max, MSG_DONTWAIT);
  out.resize(n > 0 ? size_t(n) : 0);
  return out;
}

}  // namespace

TEST(tcp_transport_writes_iovecs_in_order_and_reads_what_came) {
  SocketPair p;
  CHECK(p.server >= 0);
  TcpTransport t(p.server);
  CHECK_EQ(t.fd(), p.server);
  char a[] = "hello, ", b[] = "world";
  iovec iov[2] = {{a, 7}, {b, 5}};
  IoResult w = t.write_some(iov, 2);
  CHECK(w.status == IoResult::kDone);
  CHECK_EQ(w.bytes, size_t(12));
  CHECK(read_client(p.client, 64) == "hello, world");

  CHECK_EQ(send(p.client, "ping", 4, 0), ssize_t(4));
  uint8_t buf[64];
  IoResult r = t.read_some(buf, sizeof buf);
  CHECK(r.status == IoResult::kDone);
  CHECK_EQ(r.bytes, size_t(4));
  CHECK(std::memcmp(buf, "ping", 4) == 0);
}

TEST(tcp_transport_reads_at_most_the_buffer) {
  SocketPair p;
  TcpTransport t(p.server);
  CHECK_EQ(send(p.client, "abcdef", 6, 0), ssize_t(6));
  uint8_t buf[4];
  IoResult r = t.read_some(buf, sizeof buf);
  CHECK(r.status == IoResult::kDone);
  CHECK_EQ(r.bytes, size_t(4));
  r = t.read_some(buf, sizeof buf);
  CHECK(r.status == IoResult::kDone);
  CHECK_EQ(r.bytes, size_t(2));
  CHECK(std::memcmp(buf, "ef", 2) == 0);
}

TEST(tcp_transport_reports_would_block_for_reads_and_writes) {
  SocketPair p;
  int small = 4096;  // the kernel takes little before a write would block
  setsockopt(p.server, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(p.client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  TcpTransport t(p.server);
  uint8_t buf[16];
  CHECK(t.read_some(buf, sizeof buf).status == IoResult::kWouldBlock);

  std::string chunk(65536, 'x');
  iovec iov{chunk.data(), chunk.size()};
  size_t taken = 0;
  IoResult w{IoResult::kDone};
  for (int i = 0; i < 1000 && w.status == IoResult::kDone; ++i) {
    w = t.write_some(&iov, 1);
    if (w.status == IoResult::kDone) taken += w.bytes;
  }
  CHECK(w.status == IoResult::kWouldBlock);
  CHECK(taken > 0);
  CHECK(taken < chunk.size() * 1000);
  // The peer reads some: the transport takes more again.
  size_t drained = 0;
  while (read_client(p.client, 65536).size() > 0) drained += 1;
  CHECK(drained > 0);
  w = t.write_some(&iov, 1);
  CHECK(w.status == IoResult::kDone);
  CHECK(w.bytes > 0);
}

TEST(tcp_transport_reports_eof_after_the_bytes_before_it) {
  SocketPair p;
  TcpTransport t(p.server);
  CHECK_EQ(send(p.client, "last", 4, 0), ssize_t(4));
  shutdown(p.client, SHUT_WR);
  uint8_t buf[16];
  IoResult r = t.read_some(buf, sizeof buf);
  CHECK(r.status == IoResult::kDone);
  CHECK_EQ(r.bytes, size_t(4));
  CHECK(t.read_some(buf, sizeof buf).status == IoResult::kEof);
  CHECK(t.read_some(buf, sizeof buf).status == IoResult::kEof);  // and stays there
  // A half-closed peer still reads what we send.
  char reply[] = "bye";
  iovec iov{reply, 3};
  IoResult w = t.write_some(&iov, 1);
  CHECK(w.status == IoResult::kDone);
  CHECK_EQ(w.bytes, size_t(3));
  CHECK(read_client(p.client, 16) == "bye");
}

TEST(tcp_transport_reports_a_closed_peer_as_an_error_on_write) {
  SocketPair p;
  TcpTransport t(p.server);
  close(p.client);
  p.client = -1;
  char x[] = "x";
  iovec iov{x, 1};
  IoResult w = t.write_some(&iov, 1);  // no SIGPIPE: the test would die of it
  CHECK(w.status == IoResult::kError);
  CHECK(w.error == EPIPE || w.error == ECONNRESET);
}

TEST(tcp_transport_reports_a_reset_as_an_error_on_read) {
  TcpPair p;
  CHECK(p.server >= 0);
  TcpTransport t(p.server);
  linger l{1, 0};  // close with a RST, as a crashed client's kernel would
  setsockopt(p.client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(p.client);
  p.client = -1;
  uint8_t buf[16];
  IoResult r{IoResult::kWouldBlock};
  for (int i = 0; i < 1000 && r.status == IoResult::kWouldBlock; ++i) {
    r = t.read_some(buf, sizeof buf);
    if (r.status == IoResult::kWouldBlock) usleep(1000);
  }
  CHECK(r.status == IoResult::kError);
  CHECK_EQ(r.error, ECONNRESET);
}

TEST(tcp_transport_end_sending_half_closes_and_keeps_reading) {
  TcpPair p;
  CHECK(p.server >= 0);
  TcpTransport t(p.server);
  char last[] = "goodbye";
  iovec iov{last, 7};
  CHECK(t.write_some(&iov, 1).status == IoResult::kDone);
  t.end_sending();
  char buf[16];
  CHECK_EQ(recv(p.client, buf, sizeof buf, 0), ssize_t(7));
  CHECK_EQ(recv(p.client, buf, sizeof buf, 0), ssize_t(0));  // our FIN
  // The peer may still send; we still read.
  CHECK_EQ(send(p.client, "late", 4, 0), ssize_t(4));
  uint8_t in[16];
  IoResult r{IoResult::kWouldBlock};
  for (int i = 0; i < 1000 && r.status == IoResult::kWouldBlock; ++i) {
    r = t.read_some(in, sizeof in);
    if (r.status == IoResult::kWouldBlock) usleep(1000);
  }
  CHECK(r.status == IoResult::kDone);
  CHECK_EQ(r.bytes, size_t(4));
  CHECK(t.fd() >= 0);  // half-closed, not closed
}

TEST(tcp_transport_turns_nagle_off_and_knows_the_peer) {
  TcpPair p;
  CHECK(p.server >= 0);
  TcpTransport t(p.server);
  int nodelay = 0;
  socklen_t len = sizeof nodelay;
  CHECK_EQ(getsockopt(p.server, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  CHECK(nodelay != 0);
  CHECK(t.peer_address() == "127.0.0.1");
}

TEST(tcp_transport_shows_ipv4_mapped_peers_as_ipv4) {
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  if (probe < 0) return;  // no IPv6 here: nothing to map
  close(probe);
  TcpPair p("::");  // dual stack: an IPv4 client arrives as ::ffff:127.0.0.1
  if (p.server < 0) return;
  TcpTransport t(p.server);
  CHECK(t.peer_address() == "127.0.0.1");
}

TEST(tcp_transport_without_a_peer_has_no_address) {
  SocketPair p;  // AF_UNIX: no IP address to show
  TcpTransport t(p.server);
  CHECK(t.peer_address().empty());
}

TEST(tcp_transport_holds_nothing_of_its_own) {
  SocketPair p;
  TcpTransport t(p.server);
  CHECK_EQ(int(t.own_interest()), 0);
  CHECK_EQ(t.held_output(), size_t(0));
  CHECK(!t.holds_input());
  IoResult f = t.flush_held();
  CHECK(f.status == IoResult::kDone);
  CHECK_EQ(f.bytes, size_t(0));
}

TEST(tcp_transport_closes_once_and_on_destruction) {
  SocketPair p;
  int fd = p.server;
  {
    TcpTransport t(fd);
    t.close_now();
    CHECK_EQ(t.fd(), -1);
    CHECK(!fd_is_open(fd));
    t.close_now();  // idempotent: must not close a descriptor reused meanwhile
  }
  SocketPair q;
  int fd2 = q.server;
  { TcpTransport t(fd2); }
  CHECK(!fd_is_open(fd2));
  char buf[4];
  CHECK_EQ(recv(q.client, buf, sizeof buf, MSG_DONTWAIT), ssize_t(0));  // the peer sees it closed
}
