// A connection's byte stream: the one place its socket is read, written,
// half-closed and closed. The worker and its connections speak only to this
// interface; beneath it sits plain TCP (tcp_transport.h) and, later, TLS.
// The split follows uSockets (a socket context per transport, the loop and
// the WebSocket logic above it unchanged) and Boost.Beast (the WebSocket
// stream layered over whatever stream it is given).
//
// How TLS will sit in it (a TlsTransport over OpenSSL, non-blocking, in a
// later step). The worker already adds own_interest() to what it watches,
// counts held_output() as queued and calls flush_held(); for plain TCP they
// are 0, 0 and never needed. holds_input() and the readiness routing below
// come with TLS.
//   - The TLS handshake happens inside read_some(): until it completes, calls
//     drive SSL_do_handshake and return kWouldBlock, so the connection stays
//     in its HTTP-handshake state, under the same handshake timeout, and sees
//     its first application byte only after the TLS handshake.
//   - A TLS read can need a write (handshake records, a KeyUpdate) and a TLS
//     write can need a read (WANT_READ). The transport says so in
//     own_interest(), which the worker adds to what the connection itself
//     wants watched (update_interest). Readiness the connection did not ask
//     for is then the transport's: the TLS step routes readability that
//     arrives while the connection's reading is paused to the write side
//     (on_writable), whose write_some()/flush_held() resumes the stalled
//     write, and writability already goes there.
//   - Records encrypted but not yet taken by the kernel stay in the
//     transport: held_output() counts them, they are part of the
//     connection's queued bytes (the maxBackpressure bound, bufferedAmount,
//     the drain mark), and the worker calls flush_held() when its own queue
//     is empty but the transport still holds output. write_some() reports as
//     taken the plaintext it encrypted, so the worker's queue never holds a
//     byte twice.
//   - Records decrypted but not yet read (the caller's buffer was full) are
//     invisible to the poller: holds_input() says so, and the worker will
//     read such a connection again before it next waits.
//   - end_sending() queues a close_notify and flushes it; the TCP half-close
//     follows once the transport holds nothing more (in flush_held() when the
//     kernel did not take it at once). The peer's close_notify is kEof.
//   - A TLS failure (a bad record, a failed handshake) is kError with
//     error = EPROTO; the worker destroys the connection as it does on a
//     reset.
//   - close_now() frees the SSL and closes the fd without a close_notify: it
//     is what a reset or a terminate() means.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace corews::server {

// What one read or write came to. Interrupted calls (EINTR) are retried
// inside the transport and never reported.
struct IoResult {
  enum Status : uint8_t {
    kDone,        // `bytes` read (always > 0) or taken (all, or a part, of what was given)
    kWouldBlock,  // nothing now; the poller says when to try again
    kEof,         // reads only: the peer closed its sending side cleanly
    kError,       // the connection is broken: `error` says why
  };
  Status status;
  int error = 0;     // kError: an errno value
  size_t bytes = 0;  // kDone: how many
};

class Transport {
 public:
  explicit Transport(int fd) : fd_(fd) {}
  virtual ~Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // The descriptor the poller watches; -1 once closed.
  int fd() const { return fd_; }
  // Poller flags the transport needs watched on its own account, whatever
  // the connection wants (TLS: a write waiting for a read). Plain TCP: none.
  uint8_t own_interest() const { return own_interest_; }
  // Output the transport holds of its own, not yet taken by the kernel (TLS:
  // encrypted records). It counts toward the connection's output bound.
  size_t held_output() const { return held_output_; }
  // Input the transport holds, ready to read but not reported by the poller
  // (TLS: decrypted and unread). Plain TCP: never.
  bool holds_input() const { return holds_input_; }

  // Reads up to `len` bytes into `buf`.
  virtual IoResult read_some(uint8_t* buf, size_t len) = 0;
  // Writes what it can of iov[0..count) now; kDone says how many bytes it
  // took (possibly fewer than given, in which case the rest is the caller's
  // to keep and offer again).
  virtual IoResult write_some(const iovec* iov, int count) = 0;
  // Writes out held_output(); kWouldBlock while some of it remains.
  virtual IoResult flush_held() = 0;
  // The graceful end of our sending: the TCP half-close (SHUT_WR), after a
  // close_notify for TLS. The peer may still send; reads go on.
  virtual void end_sending() = 0;
  // Closes the descriptor now, without any goodbye. Idempotent; an
  // implementation's destructor does it too. Remove the fd from the poller first.
  virtual void close_now() = 0;
  // The peer's numeric address ("1.2.3.4", "::1"), "" when unknown.
  virtual std::string peer_address() const = 0;

 protected:
  int fd_;
  uint8_t own_interest_ = 0;
  bool holds_input_ = false;
  size_t held_output_ = 0;
};

}  // namespace corews::server
