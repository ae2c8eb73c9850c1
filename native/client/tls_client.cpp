#include "tls_client.h"

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>

#include "../server/openssl_reasons.h"

namespace corews::client {
namespace {

// Plaintext is decrypted into the caller's buffer this much at a time (one
// record's worth: SSL_read returns at most a record per call).
constexpr size_t kReadChunk = 16 * 1024;

// ALPN, in the wire format: one length-prefixed protocol.
constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

using tls::openssl_reasons;

// ---------------------------------------------------------------- the context

TlsClientContext::TlsClientContext(const TlsClientOptions& options) : verify_(options.verify) {
  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) throw TlsClientError("cannot create a TLS client context: " + openssl_reasons());
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> guard(ctx_, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx_, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle connections give their record buffers back (tens of KiB each).
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
  // No session is kept, so none is resumed: every connection makes a full
  // handshake (what `connect` measures).
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof kAlpn) != 0) {  // 0 is success here
    throw TlsClientError("cannot set ALPN: " + openssl_reasons());
  }
  SSL_CTX_set_verify(ctx_, options.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (options.verify) {
    if (options.ca_pem.empty()) {
      SSL_CTX_set_default_verify_paths(ctx_);
    } else {
      BIO* bio = BIO_new_mem_buf(options.ca_pem.data(), int(options.ca_pem.size()));
      X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
      int n = 0;
      while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        X509_STORE_add_cert(store, ca);  // a duplicate is no reason to fail
        X509_free(ca);
        ++n;
      }
      BIO_free(bio);
      ERR_clear_error();  // the end of the PEM
      if (n == 0) throw TlsClientError("no PEM certificate among the trusted CAs");
    }
  }
  guard.release();
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

// ---------------------------------------------------------------- the BIO

const BIO_METHOD* TlsClientSession::bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "corews client bytes");
    BIO_meth_set_write(m, &TlsClientSession::bio_write);
    BIO_meth_set_read(m, &TlsClientSession::bio_read);
    BIO_meth_set_ctrl(m, &TlsClientSession::bio_ctrl);
    BIO_meth_set_create(m, &TlsClientSession::bio_create);
    return m;
  }();
  return method;
}

int TlsClientSession::bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// Records go into the wire buffer of the call in progress; never blocks.
int TlsClientSession::bio_write(BIO* bio, const char* data, int len) {
  auto* self = static_cast<TlsClientSession*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (self->wire_ == nullptr || len < 0) return -1;  // outside a call: cannot happen
  self->wire_->append(data, size_t(len));
  return len;
}

// From the slice of the call in progress; once it is used up, "try again".
int TlsClientSession::bio_read(BIO* bio, char* data, int len) {
  auto* self = static_cast<TlsClientSession*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (self->in_len_ == 0 || len <= 0) {
    BIO_set_retry_read(bio);
    return -1;
  }
  size_t n = self->in_len_ < size_t(len) ? self->in_len_ : size_t(len);
  std::memcpy(data, self->in_, n);
  self->in_ += n;
  self->in_len_ -= n;
  return int(n);
}

long TlsClientSession::bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

// ---------------------------------------------------------------- the session

TlsClientSession::TlsClientSession(const TlsClientContext& context, const std::string& host)
    : verify_(context.verify()) {
  ssl_ = SSL_new(context.ctx());
  if (ssl_ == nullptr) {
    error_ = "cannot create a TLS session: " + openssl_reasons();
    return;
  }
  BIO* bio = BIO_new(bio_method());
  if (bio == nullptr) {
    error_ = "cannot create a TLS session: " + openssl_reasons();
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns it
  SSL_set_connect_state(ssl_);
  // Whole slices rather than a BIO read per record header and per record.
  SSL_set_read_ahead(ssl_, 1);
  bool ip = is_ip_literal(host);
  if (!ip && !host.empty()) SSL_set_tlsext_host_name(ssl_, host.c_str());
  if (verify_) {
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
    } else {
      // A wildcard covers one label, as browsers have it.
      SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl_, host.c_str());
    }
  }
  ERR_clear_error();
}

TlsClientSession::~TlsClientSession() { SSL_free(ssl_); }

TlsClientSession::Status TlsClientSession::start(core::ByteBuffer& wire) {
  if (ssl_ == nullptr) return Status::kError;
  wire_ = &wire;
  Status s = handshake();
  wire_ = nullptr;
  return s;
}

TlsClientSession::Status TlsClientSession::handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    return Status::kOk;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Status::kOk;
  return failed(r);
}

TlsClientSession::Status TlsClientSession::failed(int ret) {
  int e = SSL_get_error(ssl_, ret);
  long verdict = SSL_get_verify_result(ssl_);
  std::string reasons = openssl_reasons();
  if (verify_ && verdict != X509_V_OK) {
    certificate_rejected_ = true;
    error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verdict);
  } else if (!reasons.empty()) {
    error_ = reasons;
  } else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL) {
    error_ = "TLS protocol error";
  } else {
    error_ = "TLS error " + std::to_string(e);
  }
  return Status::kError;
}

TlsClientSession::Status TlsClientSession::receive(const uint8_t* data, size_t len, core::ByteBuffer& plain,
                                                   core::ByteBuffer& wire) {
  if (ssl_ == nullptr) return Status::kError;
  in_ = data;
  in_len_ = len;
  wire_ = &wire;
  Status s = Status::kOk;
  if (!handshake_done_) s = handshake();
  // Application data may follow the handshake's last record in the same slice.
  while (s == Status::kOk && handshake_done_) {
    uint8_t* p = plain.extend(kReadChunk);
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(ssl_, p, kReadChunk, &n);
    plain.shrink_by(kReadChunk - (r == 1 ? n : 0));
    if (r == 1) continue;
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) break;  // the slice is used up
    s = e == SSL_ERROR_ZERO_RETURN ? Status::kClosed : failed(r);
  }
  in_ = nullptr;
  in_len_ = 0;
  wire_ = nullptr;
  return s;
}

TlsClientSession::Status TlsClientSession::send(const uint8_t* data, size_t len, core::ByteBuffer& wire) {
  if (ssl_ == nullptr || !handshake_done_) {
    if (error_.empty()) error_ = "no TLS session to send on";
    return Status::kError;
  }
  if (len == 0) return Status::kOk;
  wire_ = &wire;
  ERR_clear_error();
  size_t n = 0;
  int r = SSL_write_ex(ssl_, data, len, &n);  // whole: the BIO takes everything
  Status s = r == 1 && n == len ? Status::kOk : failed(r);
  wire_ = nullptr;
  return s;
}

std::string TlsClientSession::protocol() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

std::string TlsClientSession::cipher() const {
  const SSL_CIPHER* c = ssl_ ? SSL_get_current_cipher(ssl_) : nullptr;
  return c ? SSL_CIPHER_get_name(c) : "";
}

std::string TlsClientSession::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  if (ssl_) SSL_get0_alpn_selected(ssl_, &p, &n);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : "";
}

}  // namespace corews::client
