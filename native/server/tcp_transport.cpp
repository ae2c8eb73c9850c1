#include "tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "../core/socket_calls.h"

namespace corews::server {
namespace {

IoResult failed(int error) {
  if (error == EAGAIN || error == EWOULDBLOCK) return {IoResult::kWouldBlock};
  return {IoResult::kError, error};
}

}  // namespace

TcpTransport::TcpTransport(int fd) : Transport(fd) {
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  core::no_sigpipe(fd_);  // adopted descriptors too, not only accepted ones
}

TcpTransport::TcpTransport(int fd, NotTcp) : Transport(fd) { core::no_sigpipe(fd_); }

TcpTransport::~TcpTransport() { close_now(); }

IoResult TcpTransport::read_some(uint8_t* buf, size_t len) {
  for (;;) {
    ssize_t n = recv(fd_, buf, len, 0);
    if (n > 0) return {IoResult::kDone, 0, size_t(n)};
    if (n == 0) return {IoResult::kEof};
    if (errno != EINTR) return failed(errno);
  }
}

IoResult TcpTransport::write_some(const iovec* iov, int count) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = size_t(count);
  for (;;) {
    // A peer that reset is an EPIPE here, not a SIGPIPE that would kill the
    // process (socket_calls.h).
    ssize_t n = sendmsg(fd_, &msg, core::send_flags());
    if (n >= 0) return {IoResult::kDone, 0, size_t(n)};
    if (errno != EINTR) return failed(errno);
  }
}

IoResult TcpTransport::flush_held() { return {IoResult::kDone}; }  // nothing is ever held

void TcpTransport::end_sending() { shutdown(fd_, SHUT_WR); }

void TcpTransport::close_now() {
  if (fd_ < 0) return;
  close(fd_);
  fd_ = -1;
}

std::string TcpTransport::peer_address() const { return tcp_peer_address(fd_); }

std::string tcp_peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      inet_ntop(AF_INET, &a.s6_addr[12], buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &a, buf, sizeof buf);
    }
  }
  return buf;
}

}  // namespace corews::server
