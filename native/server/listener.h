// Listening sockets: one per worker, all bound to the same address with
// SO_REUSEPORT so that the kernel spreads incoming connections across workers.
#pragma once
#include <string>
#include <sys/socket.h>
#include <vector>

namespace corews::server {

struct ListenResult {
  std::vector<int> fds;  // empty on error
  int port = 0;          // the bound port (the one picked when 0 was asked)
  int error = 0;         // errno of the failing call
  const char* syscall = "";
};

// `host` is a numeric IPv4 or IPv6 address; "::" also accepts IPv4 (dual stack).
ListenResult open_listeners(const std::string& host, int port, int count, int backlog);

// The next connection waiting on a listening socket, non-blocking and
// close-on-exec: its fd, or -errno (-EAGAIN when none is waiting).
int accept_connection(int listen_fd);

// A descriptor of our own for a connected socket another owner accepted
// (Node's http server, for server.handleUpgrade), non-blocking and
// close-on-exec: the new fd, or -errno. The owner then closes its own.
int duplicate_socket(int fd);

// The two ends of a bridge (server.handleUpgrade on an https.Server's TLS
// socket): a connected AF_UNIX stream pair, non-blocking and close-on-exec.
// fds[0] goes to a worker like an adopted connection, fds[1] to Node, which
// pipes it to and from the TLS socket. 0, or -errno.
int open_bridge(int fds[2]);

// Closes a socket that is no connection's (a connection's goes through its
// transport): a listening socket, or an accepted one never adopted.
void close_socket(int fd);

}  // namespace corews::server
