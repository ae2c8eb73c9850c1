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

// "1.2.3.4" or "::1" for a connected socket's peer; IPv4-mapped IPv6 addresses
// are shown as IPv4.
std::string peer_address(int fd);

}  // namespace corews::server
