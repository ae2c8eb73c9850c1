// Plain TCP beneath a connection: reads and writes go straight to the
// socket, and nothing is ever held here.
#pragma once
#include <string>

#include "transport.h"

namespace corews::server {

class TcpTransport : public Transport {
 public:
  // Takes ownership of a connected, non-blocking socket and turns Nagle off:
  // a WebSocket frame is a message, and replies must not wait for an ACK.
  explicit TcpTransport(int fd);
  ~TcpTransport() override;

  IoResult read_some(uint8_t* buf, size_t len) override;
  IoResult write_some(const iovec* iov, int count) override;
  IoResult flush_held() override;
  void end_sending() override;
  void close_now() override;
  std::string peer_address() const override;

 protected:
  // For stream sockets that are not TCP (bridge_transport.h): no TCP options.
  struct NotTcp {};
  TcpTransport(int fd, NotTcp);
};

// "1.2.3.4" or "::1" for a connected socket's peer, "" when it has none;
// IPv4-mapped IPv6 addresses are shown as IPv4. (TLS runs over the same socket.)
std::string tcp_peer_address(int fd);

}  // namespace corews::server
