// TLS beneath a client connection, on OpenSSL, non-blocking: the model of
// uSockets' SSL layer. The session never touches the socket; the connection
// reads and writes its socket as over plain TCP and passes the bytes through:
//
//   socket bytes ──► receive() ──► plaintext (appended to the caller's buffer)
//                        └──► handshake records, alerts ──► the wire buffer
//   plaintext ──► send() ──► records ──► the wire buffer ──► socket
//
// The wire buffer is the caller's (the bytes it has still to write), so a
// record is written to the socket by the same code, with the same would-block
// handling, as a plain frame. OpenSSL reads from the slice given to receive()
// through a BIO of ours and writes into the wire buffer through the same BIO;
// neither ever blocks. receive() reads until OpenSSL wants more, so nothing of
// the slice is left behind when it returns (a partial record stays inside
// OpenSSL). The handshake runs inside receive(): start() sends the
// ClientHello, and every receive() until handshake_done() drives it on.
//
// Plain C++ over OpenSSL, no Node: in the addon the OpenSSL is the one the
// node binary exports (as for the server's TLS transport), in the native unit
// tests the system's.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../core/byte_buffer.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;
typedef struct bio_method_st BIO_METHOD;

namespace corews::client {

struct TlsClientOptions {
  // Check the server's certificate chain and that it names the host. Off is
  // curl's --insecure: anything is accepted (encryption without authentication).
  bool verify = true;
  // The certificates trusted as issuers (PEM, one or more), when verifying.
  std::string ca_pem;
};

// Thrown by TlsClientContext: the message says what and carries OpenSSL's reason.
struct TlsClientError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One SSL_CTX for all connections of a run (shared by the loops' threads:
// OpenSSL makes SSLs from one context on several threads safely).
class TlsClientContext {
 public:
  explicit TlsClientContext(const TlsClientOptions& options);  // throws TlsClientError
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  bool verify() const { return verify_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  bool verify_ = true;
};

class TlsClientSession {
 public:
  enum class Status {
    kOk,      // go on (the handshake may or may not be done yet)
    kClosed,  // the server's close_notify
    kError,   // error() says why; the connection is over
  };

  // `host` is the URL's host: a name gets SNI and, when verifying, is the name
  // the certificate must carry; an IP literal gets no SNI (RFC 6066 §3) and is
  // checked against the certificate's IP addresses.
  TlsClientSession(const TlsClientContext& context, const std::string& host);
  ~TlsClientSession();
  TlsClientSession(const TlsClientSession&) = delete;
  TlsClientSession& operator=(const TlsClientSession&) = delete;

  // Starts the handshake: the ClientHello goes into `wire`.
  Status start(core::ByteBuffer& wire);
  // Bytes read from the socket. Decrypted bytes are appended to `plain`;
  // what TLS has to answer (handshake flights, alerts) to `wire`.
  Status receive(const uint8_t* data, size_t len, core::ByteBuffer& plain, core::ByteBuffer& wire);
  // Encrypts `len` bytes of plaintext into records appended to `wire`.
  // Only after the handshake.
  Status send(const uint8_t* data, size_t len, core::ByteBuffer& wire);

  bool handshake_done() const { return handshake_done_; }
  // Why the last kError: the certificate check's verdict, OpenSSL's reason,
  // or the alert the server sent.
  const std::string& error() const { return error_; }
  // The error was the server's certificate (untrusted, expired, wrong name):
  // a matter of configuration, every connection will fail the same way.
  bool certificate_rejected() const { return certificate_rejected_; }

  // After the handshake: "TLSv1.3", the cipher suite, the ALPN protocol ("" for none).
  std::string protocol() const;
  std::string cipher() const;
  std::string alpn() const;
  SSL* ssl() const { return ssl_; }

 private:
  Status handshake();
  Status failed(int ret);
  static const BIO_METHOD* bio_method();
  static int bio_write(BIO* bio, const char* data, int len);
  static int bio_read(BIO* bio, char* data, int len);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
  static int bio_create(BIO* bio);

  SSL* ssl_ = nullptr;
  // What the BIO reads from and writes to, during one call.
  const uint8_t* in_ = nullptr;
  size_t in_len_ = 0;
  core::ByteBuffer* wire_ = nullptr;
  bool verify_ = true;
  bool handshake_done_ = false;
  bool certificate_rejected_ = false;
  std::string error_;
};

}  // namespace corews::client
