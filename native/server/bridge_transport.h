// The worker's end of a bridge: an AF_UNIX stream socket whose other end Node
// pipes to and from an https.Server's TLS socket (server.handleUpgrade on a
// TLSSocket). Reads and writes are those of a plain stream socket; what
// differs is who the peer is. The socketpair has no address, so the client's
// (as Node's TLS socket reports it) is given at adoption, and it is what the
// hooks, ws.remoteAddress and maxConnectionsPerIp see. TCP options are left
// alone: they would fail on AF_UNIX, and Node's TCP socket has its own.
#pragma once
#include <string>
#include <utility>

#include "tcp_transport.h"

namespace corews::server {

class BridgeTransport final : public TcpTransport {
 public:
  BridgeTransport(int fd, std::string client_address)
      : TcpTransport(fd, NotTcp{}), client_address_(std::move(client_address)) {}

  std::string peer_address() const override { return client_address_; }

 private:
  std::string client_address_;
};

}  // namespace corews::server
