#include "listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <unistd.h>

#include "../core/socket_calls.h"

namespace corews::server {
namespace {

int open_one(const sockaddr_storage& addr, socklen_t len, int backlog, ListenResult& r) {
  int fd = core::open_stream_socket(addr.ss_family);
  if (fd < 0) {
    r.error = -fd;
    r.syscall = "socket";
    return -1;
  }
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    bool any = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &zero : &one, sizeof one);
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    r.error = errno;
    r.syscall = "bind";
    close(fd);
    return -1;
  }
  if (listen(fd, backlog) != 0) {
    r.error = errno;
    r.syscall = "listen";
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

ListenResult open_listeners(const std::string& host, int port, int count, int backlog) {
  ListenResult r;
  sockaddr_storage addr{};
  socklen_t len;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(uint16_t(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(uint16_t(port));
    len = sizeof(sockaddr_in6);
  } else {
    r.error = EINVAL;
    r.syscall = "inet_pton";
    return r;
  }
  for (int i = 0; i < count; ++i) {
    int fd = open_one(addr, len, backlog, r);
    if (fd < 0) {
      for (int f : r.fds) close(f);
      r.fds.clear();
      return r;
    }
    r.fds.push_back(fd);
    if (i == 0) {
      // Port 0: the first socket picks a port, the others join it.
      sockaddr_storage bound{};
      socklen_t blen = sizeof bound;
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
      r.port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                                : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
      if (addr.ss_family == AF_INET) {
        a4->sin_port = htons(uint16_t(r.port));
      } else {
        a6->sin6_port = htons(uint16_t(r.port));
      }
    }
  }
  return r;
}

int accept_connection(int listen_fd) { return core::accept_stream(listen_fd); }

int duplicate_socket(int fd) {
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return -errno;
  // O_NONBLOCK belongs to the open file, which Node's descriptor shares: set
  // anyway, as a worker must never block on a socket.
  int flags = fcntl(own, F_GETFL);
  if (flags < 0 || fcntl(own, F_SETFL, flags | O_NONBLOCK) < 0) {
    int err = errno;
    close(own);
    return -err;
  }
  return own;
}

int open_bridge(int fds[2]) { return core::open_stream_pair(fds); }

void close_socket(int fd) { close(fd); }

}  // namespace corews::server
