#include "socket_calls.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#if defined(__linux__) && !defined(COREWS_PORTABLE)
#define COREWS_LINUX_SOCKET_CALLS 1
#else
#define COREWS_LINUX_SOCKET_CALLS 0
#endif

namespace corews::core {

int make_nonblocking_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  int fd_flags = fcntl(fd, F_GETFD);
  if (fd_flags < 0 || fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) < 0) return -errno;
  return 0;
}

#if COREWS_LINUX_SOCKET_CALLS

int open_stream_socket(int family) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd >= 0 ? fd : -errno;
}

int accept_stream(int listen_fd) {
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

int open_stream_pair(int fds[2]) {
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0 ? 0 : -errno;
}

void no_sigpipe(int) {}  // MSG_NOSIGNAL on every send instead

int send_flags() { return MSG_NOSIGNAL; }

#else

namespace {

// A new descriptor made ours, or closed: -errno when it cannot be.
int own(int fd) {
  if (fd < 0) return -errno;
  int r = make_nonblocking_cloexec(fd);
  if (r < 0) {
    close(fd);
    return r;
  }
  no_sigpipe(fd);
  return fd;
}

}  // namespace

int open_stream_socket(int family) { return own(socket(family, SOCK_STREAM, 0)); }

// Between accept() and fcntl() a fork+exec on another thread could inherit the
// descriptor: a window accept4 closes, and a harmless one here (the child
// would hold a connection open, not leak data).
int accept_stream(int listen_fd) { return own(accept(listen_fd, nullptr, nullptr)); }

int open_stream_pair(int fds[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return -errno;
  for (int i = 0; i < 2; ++i) {
    int r = make_nonblocking_cloexec(fds[i]);
    if (r < 0) {
      close(fds[0]);
      close(fds[1]);
      return r;
    }
    no_sigpipe(fds[i]);
  }
  return 0;
}

void no_sigpipe([[maybe_unused]] int fd) {
#ifdef SO_NOSIGPIPE
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
}

int send_flags() {
#ifdef MSG_NOSIGNAL
  // BSDs have both; Linux's portable build leaves it out on purpose, to run
  // what a system with neither would.
  return COREWS_LINUX_SOCKET_CALLS ? MSG_NOSIGNAL : 0;
#else
  return 0;
#endif
}

#endif

}  // namespace corews::core
