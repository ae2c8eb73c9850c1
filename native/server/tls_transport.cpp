#include "tls_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include <cerrno>
#include <cstring>

#include "../core/poller.h"
#include "../core/socket_calls.h"
#include "tcp_transport.h"

namespace corews::server {

// ---------------------------------------------------------------- the BIO

// Reads: straight from the socket. Writes: appended to the held output, which
// flush_out() gives the kernel; they never block, so OpenSSL never holds a
// half-written record of its own.
const BIO_METHOD* TlsTransport::bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "corews socket");
    BIO_meth_set_write(m, &TlsTransport::bio_write);
    BIO_meth_set_read(m, &TlsTransport::bio_read);
    BIO_meth_set_ctrl(m, &TlsTransport::bio_ctrl);
    BIO_meth_set_create(m, &TlsTransport::bio_create);
    return m;
  }();
  return method;
}

int TlsTransport::bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int TlsTransport::bio_write(BIO* bio, const char* data, int len) {
  auto* self = static_cast<TlsTransport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  self->out_.insert(self->out_.end(), data, data + len);
  return len;
}

int TlsTransport::bio_read(BIO* bio, char* data, int len) {
  auto* self = static_cast<TlsTransport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  for (;;) {
    ssize_t n = recv(self->fd_, data, size_t(len), 0);
    if (n >= 0) return int(n);  // 0: the peer's FIN
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(bio);
    } else {
      self->error_ = errno;
    }
    return -1;
  }
}

long TlsTransport::bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

// A handshake record from the peer after the TLS 1.2 handshake finished is a
// renegotiation (TLS 1.3 has none): refused, and the connection ended.
void TlsTransport::on_message(int write_p, int, int content_type, const void* buf, size_t len, SSL* ssl, void* arg) {
  if (write_p || content_type != SSL3_RT_HEADER || len < 1) return;
  if (static_cast<const uint8_t*>(buf)[0] != SSL3_RT_HANDSHAKE) return;
  if (!SSL_is_init_finished(ssl) || SSL_version(ssl) >= TLS1_3_VERSION) return;
  auto* self = static_cast<TlsTransport*>(arg);
  if (!self->renegotiation_) TlsStats::add(self->stats_.renegotiations_refused);
  self->renegotiation_ = true;
}

// ---------------------------------------------------------------- the transport

std::unique_ptr<TlsTransport> TlsTransport::create(int fd, TlsContexts& contexts) {
  SSL* ssl = contexts.new_ssl();
  if (ssl == nullptr) {
    ERR_clear_error();
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<TlsTransport>(new TlsTransport(fd, ssl, contexts.stats()));
}

TlsTransport::TlsTransport(int fd, SSL* ssl, TlsStats& stats) : Transport(fd), ssl_(ssl), stats_(stats) {
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  core::no_sigpipe(fd_);
  BIO* bio = BIO_new(bio_method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns it
  SSL_set_accept_state(ssl_);
  // Whole socket reads rather than a read per record header and per record.
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_msg_callback(ssl_, &TlsTransport::on_message);
  SSL_set_msg_callback_arg(ssl_, this);
}

TlsTransport::~TlsTransport() { close_now(); }

IoResult TlsTransport::handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  bool sent = flush_out();  // our flight, or the alert that ends it
  if (r == 1) {
    handshake_done_ = true;
    TlsStats::add(stats_.handshakes);
    if (SSL_session_reused(ssl_)) TlsStats::add(stats_.resumed);
    TlsStats::add(SSL_version(ssl_) >= TLS1_3_VERSION ? stats_.tls13 : stats_.tls12);
    return sent ? IoResult{IoResult::kDone} : IoResult{IoResult::kError, error_};
  }
  int e = SSL_get_error(ssl_, r);
  ERR_clear_error();
  if (sent && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)) return {IoResult::kWouldBlock};
  // Garbage, plain HTTP, a truncated hello, a FIN or a reset mid-handshake.
  if (!failure_counted_) TlsStats::add(stats_.handshake_failures);
  failure_counted_ = true;
  return {IoResult::kError, error_ ? error_ : EPROTO};
}

IoResult TlsTransport::read_some(uint8_t* buf, size_t len) {
  holds_input_ = false;
  if (eof_) return {IoResult::kEof};
  if (!handshake_done_) {
    IoResult h = handshake();
    if (h.status != IoResult::kDone) return h;
  }
  ERR_clear_error();
  size_t got = 0;
  bool failed = false;
  while (got < len) {
    size_t n = 0;
    int r = SSL_read_ex(ssl_, buf + got, len - got, &n);
    if (r == 1) {
      got += n;
      continue;
    }
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_ZERO_RETURN) {
      eof_ = true;  // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a bare FIN
    } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      failed = true;
    }
    break;
  }
  ERR_clear_error();
  // Session tickets, key update answers and alerts go out now.
  if (!flush_out() || failed || renegotiation_) return {IoResult::kError, error_ ? error_ : EPROTO};
  // A full buffer may leave decrypted bytes here that no poller sees; the
  // EOF after data is reported by the next read.
  holds_input_ = (got == len && SSL_has_pending(ssl_)) || (got > 0 && eof_);
  if (got > 0) return {IoResult::kDone, 0, got};
  return {eof_ ? IoResult::kEof : IoResult::kWouldBlock};
}

IoResult TlsTransport::write_some(const iovec* iov, int count) {
  // Before the handshake is done there is no one to speak HTTP to (a
  // handshake timeout, a shutdown): the connection just ends.
  if (!handshake_done_ || sent_close_notify_) {
    if (!handshake_done_ && !failure_counted_) {
      TlsStats::add(stats_.handshake_failures);
      failure_counted_ = true;
    }
    return {IoResult::kError, EPROTO};
  }
  if (!flush_out()) return {IoResult::kError, error_};
  size_t taken = 0;
  ERR_clear_error();
  // Small pieces (corked replies, a frame header and its payload) share
  // records: gathered into one buffer, encrypted with one SSL_write.
  uint8_t gather[16 * 1024];
  size_t gathered = 0;
  int i = 0;
  for (; i < count && gathered + iov[i].iov_len <= sizeof gather; ++i) {
    std::memcpy(gather + gathered, iov[i].iov_base, iov[i].iov_len);
    gathered += iov[i].iov_len;
  }
  if (i > 1 || (i == 1 && i == count)) {
    size_t n = 0;
    if (gathered > 0 && SSL_write_ex(ssl_, gather, gathered, &n) != 1) {
      ERR_clear_error();
      return {IoResult::kError, EPROTO};
    }
    taken = gathered;
    if (!flush_out()) return {IoResult::kError, error_};
  } else {
    i = 0;  // one large piece first: written from where it is
  }
  for (; i < count && held_output_ < kHeldLimit; ++i) {
    const uint8_t* p = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t left = iov[i].iov_len;
    while (left > 0 && held_output_ < kHeldLimit) {
      size_t n = 0;
      if (SSL_write_ex(ssl_, p, left < kWriteChunk ? left : kWriteChunk, &n) != 1) {
        ERR_clear_error();
        return {IoResult::kError, EPROTO};
      }
      p += n;
      left -= n;
      taken += n;
      if (!flush_out()) return {IoResult::kError, error_};
    }
    if (left > 0) break;
  }
  if (taken == 0) return {IoResult::kWouldBlock};
  return {IoResult::kDone, 0, taken};
}

IoResult TlsTransport::flush_held() {
  if (!flush_out()) return {IoResult::kError, error_};
  return {held_output_ ? IoResult::kWouldBlock : IoResult::kDone};
}

bool TlsTransport::flush_out() {
  if (error_) return false;
  while (out_head_ < out_.size()) {
    ssize_t n = send(fd_, out_.data() + out_head_, out_.size() - out_head_, core::send_flags());
    if (n > 0) {
      out_head_ += size_t(n);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      error_ = errno;
      set_held();
      return false;
    }
  }
  if (out_head_ == out_.size()) {
    out_head_ = 0;
    // An idle connection keeps no large buffer.
    if (out_.capacity() > 2 * kWriteChunk) {
      std::vector<uint8_t>().swap(out_);
    } else {
      out_.clear();
    }
  } else if (out_head_ >= kWriteChunk) {
    out_.erase(out_.begin(), out_.begin() + std::ptrdiff_t(out_head_));
    out_head_ = 0;
  }
  set_held();
  if (held_output_ == 0 && shut_wr_pending_) {
    shut_wr_pending_ = false;
    shutdown(fd_, SHUT_WR);
  }
  return true;
}

void TlsTransport::set_held() {
  held_output_ = out_.size() - out_head_;
  // The worker watches writability for held output anyway (it is part of
  // the connection's queue); said here too for the handshake's own flight.
  own_interest_ = held_output_ ? uint8_t(core::kPollOut) : uint8_t(0);
}

void TlsTransport::end_sending() {
  if (handshake_done_ && !sent_close_notify_ && !error_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues our close_notify; the peer's may follow
    ERR_clear_error();
  }
  sent_close_notify_ = true;
  shut_wr_pending_ = true;
  flush_out();
}

void TlsTransport::close_now() {
  if (ssl_ != nullptr) {
    if (!handshake_done_ && !failure_counted_) {
      // The peer left, or was dropped, before the handshake finished.
      TlsStats::add(stats_.handshake_failures);
      failure_counted_ = true;
    }
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ < 0) return;
  close(fd_);
  fd_ = -1;
}

std::string TlsTransport::peer_address() const { return tcp_peer_address(fd_); }

}  // namespace corews::server
