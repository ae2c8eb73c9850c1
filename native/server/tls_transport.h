// TLS beneath a connection, on OpenSSL, non-blocking (transport.h says how it
// fits the worker). Reads come from the socket through a BIO of ours; the
// records OpenSSL writes go into a buffer of ours (the held output), which is
// written to the socket at once and, for what the kernel would not take, when
// the socket is writable. The handshake is driven from read_some(), so it
// runs under the connection's handshake timeout like the HTTP request after it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "tls_context.h"
#include "transport.h"

namespace corews::server {

class TlsTransport final : public Transport {
 public:
  // Takes ownership of a connected, non-blocking socket; null (and the
  // socket closed) when OpenSSL cannot make an SSL for it.
  static std::unique_ptr<TlsTransport> create(int fd, TlsContexts& contexts);
  ~TlsTransport() override;

  IoResult read_some(uint8_t* buf, size_t len) override;
  IoResult write_some(const iovec* iov, int count) override;
  IoResult flush_held() override;
  void end_sending() override;
  void close_now() override;
  std::string peer_address() const override;

  bool handshake_done() const { return handshake_done_; }
  SSL* ssl() const { return ssl_; }

  // Plaintext encrypted per SSL_write (then written out), and the held output
  // past which write_some takes no more plaintext until the kernel took some:
  // the bound on what a connection holds here beside its queue.
  static constexpr size_t kWriteChunk = 64 * 1024;
  static constexpr size_t kHeldLimit = 128 * 1024;

 private:
  TlsTransport(int fd, SSL* ssl, TlsStats& stats);
  IoResult handshake();
  bool flush_out();  // false on a socket error (in error_)
  void set_held();
  static int bio_write(BIO* bio, const char* data, int len);
  static int bio_read(BIO* bio, char* data, int len);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
  static int bio_create(BIO* bio);
  static const BIO_METHOD* bio_method();
  static void on_message(int write_p, int version, int content_type, const void* buf, size_t len, SSL* ssl, void* arg);

  SSL* ssl_;
  TlsStats& stats_;
  std::vector<uint8_t> out_;  // encrypted records not yet taken by the kernel, from out_head_
  size_t out_head_ = 0;
  int error_ = 0;             // the socket's errno, once broken
  bool handshake_done_ = false;
  bool failure_counted_ = false;
  bool renegotiation_ = false;  // the peer tried to renegotiate: the connection ends
  bool eof_ = false;
  bool sent_close_notify_ = false;
  bool shut_wr_pending_ = false;  // SHUT_WR once the held output is out
};

}  // namespace corews::server
