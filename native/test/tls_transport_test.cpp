// TlsTransport over a socketpair, with an OpenSSL client in the test: the
// handshake split across reads, would-block both ways with held output,
// decrypted input held beyond a small buffer, close_notify both ways, garbage,
// and the certificate checks of TlsContexts.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "server/tls_context.h"
#include "server/tls_transport.h"

using corews::server::IoResult;
using corews::server::TlsConfig;
using corews::server::TlsContexts;
using corews::server::TlsTransport;

namespace {

std::string to_pem(EVP_PKEY* key, X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  if (key) PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  if (cert) PEM_write_bio_X509(b, cert);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string s(p, size_t(n));
  BIO_free(b);
  return s;
}

// A self-signed P-256 certificate for "localhost", made once.
const TlsConfig& test_config() {
  static TlsConfig config = [] {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    TlsConfig c;
    c.keys.push_back({to_pem(key, nullptr), "", false});
    c.certs.push_back(to_pem(nullptr, cert));
    X509_free(cert);
    EVP_PKEY_free(key);
    return c;
  }();
  return config;
}

struct Pair {
  int server = -1;
  int client = -1;
  Pair(int bufsize = 0) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0) {
      server = fds[0];
      client = fds[1];
      if (bufsize) {
        for (int fd : fds) {
          setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
          setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
        }
      }
    }
  }
};

// An OpenSSL client on the other end, non-blocking.
struct Client {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  explicit Client(int fd, int version = 0) {
    if (version) {
      SSL_CTX_set_min_proto_version(ctx, version);
      SSL_CTX_set_max_proto_version(ctx, version);
    }
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_host_name(ssl, "localhost");
  }
  ~Client() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  int step() {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    return r == 1 ? 1 : SSL_get_error(ssl, r);
  }
};

// Alternates client and server steps until both finished the handshake.
bool handshake(Client& c, TlsTransport& t) {
  uint8_t buf[64];
  for (int i = 0; i < 100; ++i) {
    int cr = c.step();
    IoResult r = t.read_some(buf, sizeof buf);
    if (r.status == IoResult::kError) return false;
    if (cr == 1 && t.handshake_done()) return true;
    if (cr != 1 && cr != SSL_ERROR_WANT_READ && cr != SSL_ERROR_WANT_WRITE) return false;
  }
  return false;
}

}  // namespace

TEST(tls_transport_handshake_then_data_both_ways) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    CTX("version %x", version);
    TlsContexts contexts(test_config());
    Pair p;
    auto t = TlsTransport::create(p.server, contexts);
    Client c(p.client, version);
    CHECK(handshake(c, *t));
    CHECK_EQ(contexts.stats().handshakes.load(), uint64_t(1));
    CHECK_EQ(SSL_version(c.ssl), version);
    iovec iov[2] = {{const_cast<char*>("hello "), 6}, {const_cast<char*>("client"), 6}};
    IoResult w = t->write_some(iov, 2);
    CHECK_EQ(w.status, IoResult::kDone);
    CHECK_EQ(w.bytes, size_t(12));
    CHECK_EQ(t->held_output(), size_t(0));
    char got[64] = {};
    size_t n = 0;
    CHECK_EQ(SSL_read_ex(c.ssl, got, sizeof got, &n), 1);
    CHECK_EQ(std::string(got, n), std::string("hello client"));
    CHECK_EQ(SSL_write_ex(c.ssl, "hi server", 9, &n), 1);
    uint8_t buf[64];
    IoResult r = t->read_some(buf, sizeof buf);
    CHECK_EQ(r.status, IoResult::kDone);
    CHECK_EQ(std::string(reinterpret_cast<char*>(buf), r.bytes), std::string("hi server"));
    close(p.client);
  }
}

TEST(tls_transport_handshake_split_across_reads) {
  TlsContexts contexts(test_config());
  Pair p;
  auto t = TlsTransport::create(p.server, contexts);
  // The client's hello, captured, then fed to the server one byte per read.
  int cfds[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cfds);
  Client c(cfds[0]);
  c.step();
  uint8_t hello[4096];
  ssize_t len = recv(cfds[1], hello, sizeof hello, 0);
  CHECK(len > 0);
  uint8_t buf[64];
  int would_block = 0;
  for (ssize_t i = 0; i < len; ++i) {
    CHECK_EQ(send(p.client, hello + i, 1, 0), ssize_t(1));
    IoResult r = t->read_some(buf, sizeof buf);
    if (r.status == IoResult::kWouldBlock) ++would_block;
    CHECK(r.status != IoResult::kError);
  }
  CHECK_EQ(would_block, int(len));  // a handshake in progress reads nothing
  CHECK(!t->handshake_done());
  // The server answered the complete hello with its flight.
  uint8_t answer[8192];
  CHECK(recv(p.client, answer, sizeof answer, 0) > 0);
  CHECK_EQ(contexts.stats().handshake_failures.load(), uint64_t(0));
  close(cfds[0]);
  close(cfds[1]);
  close(p.client);
  t.reset();
  CHECK_EQ(contexts.stats().handshake_failures.load(), uint64_t(1));  // it never finished
}

TEST(tls_transport_holds_output_the_kernel_will_not_take_and_flushes_it) {
  TlsContexts contexts(test_config());
  Pair p(16 * 1024);
  auto t = TlsTransport::create(p.server, contexts);
  Client c(p.client);
  CHECK(handshake(c, *t));
  std::vector<uint8_t> data(1 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  size_t sent = 0;
  std::vector<uint8_t> got;
  int blocked = 0;
  while (got.size() < data.size()) {
    if (sent < data.size()) {
      iovec iov{data.data() + sent, data.size() - sent};
      IoResult w = t->write_some(&iov, 1);
      CHECK(w.status == IoResult::kDone || w.status == IoResult::kWouldBlock);
      if (w.status == IoResult::kDone) sent += w.bytes;
      if (w.status == IoResult::kWouldBlock) ++blocked;
      CHECK(t->held_output() <= TlsTransport::kHeldLimit + TlsTransport::kWriteChunk + 4096);
    } else if (t->held_output()) {
      IoResult f = t->flush_held();
      CHECK(f.status == IoResult::kDone || f.status == IoResult::kWouldBlock);
    }
    uint8_t buf[32 * 1024];
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(c.ssl, buf, sizeof buf, &n) == 1) got.insert(got.end(), buf, buf + n);
  }
  CHECK(blocked > 0);  // the socket's buffer filled: write_some took nothing for a while
  CHECK(got == data);
  CHECK_EQ(t->held_output(), size_t(0));
  CHECK_EQ(t->own_interest(), uint8_t(0));
  close(p.client);
}

TEST(tls_transport_holds_decrypted_input_beyond_a_small_buffer) {
  TlsContexts contexts(test_config());
  Pair p;
  auto t = TlsTransport::create(p.server, contexts);
  Client c(p.client);
  CHECK(handshake(c, *t));
  std::string msg(10000, 'x');
  size_t n = 0;
  CHECK_EQ(SSL_write_ex(c.ssl, msg.data(), msg.size(), &n), 1);
  uint8_t buf[1000];
  size_t total = 0;
  IoResult r = t->read_some(buf, sizeof buf);
  CHECK_EQ(r.status, IoResult::kDone);
  CHECK(t->holds_input());  // no poller would say so
  total += r.bytes;
  while (t->holds_input()) {
    r = t->read_some(buf, sizeof buf);
    if (r.status == IoResult::kDone) total += r.bytes;
  }
  CHECK_EQ(total, msg.size());
  close(p.client);
}

TEST(tls_transport_close_notify_both_ways) {
  TlsContexts contexts(test_config());
  Pair p;
  auto t = TlsTransport::create(p.server, contexts);
  Client c(p.client);
  CHECK(handshake(c, *t));
  t->end_sending();
  CHECK_EQ(t->held_output(), size_t(0));
  char buf[16];
  size_t n = 0;
  ERR_clear_error();
  int r = SSL_read_ex(c.ssl, buf, sizeof buf, &n);
  CHECK_EQ(SSL_get_error(c.ssl, r), SSL_ERROR_ZERO_RETURN);
  // After ours, the peer may still send; then its close_notify is EOF.
  CHECK_EQ(SSL_write_ex(c.ssl, "late", 4, &n), 1);
  SSL_shutdown(c.ssl);
  uint8_t in[64];
  IoResult got = t->read_some(in, sizeof in);
  CHECK_EQ(got.status, IoResult::kDone);
  CHECK_EQ(std::string(reinterpret_cast<char*>(in), got.bytes), std::string("late"));
  got = t->read_some(in, sizeof in);
  CHECK_EQ(got.status, IoResult::kEof);
  // No writes after our close_notify.
  iovec iov{const_cast<char*>("x"), 1};
  CHECK_EQ(t->write_some(&iov, 1).status, IoResult::kError);
  close(p.client);
}

TEST(tls_transport_garbage_and_plain_http_fail_the_handshake) {
  for (const char* input : {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x01\x02garbage, not TLS"}) {
    CTX("input %s", input);
    TlsContexts contexts(test_config());
    Pair p;
    auto t = TlsTransport::create(p.server, contexts);
    send(p.client, input, strlen(input), 0);
    uint8_t buf[64];
    IoResult r = t->read_some(buf, sizeof buf);
    CHECK_EQ(r.status, IoResult::kError);
    CHECK_EQ(contexts.stats().handshake_failures.load(), uint64_t(1));
    // No write before a handshake: the connection just ends.
    iovec iov{const_cast<char*>("HTTP/1.1 408\r\n\r\n"), 16};
    CHECK_EQ(t->write_some(&iov, 1).status, IoResult::kError);
    t.reset();
    CHECK_EQ(contexts.stats().handshake_failures.load(), uint64_t(1));  // counted once
    close(p.client);
  }
}

TEST(tls_contexts_refuse_bad_sets) {
  TlsConfig bad = test_config();
  bad.certs[0] = "not a pem";
  bool threw = false;
  try {
    TlsContexts c(bad);
  } catch (const corews::server::TlsError& e) {
    threw = std::string(e.what()).find("tls.cert") != std::string::npos;
  }
  CHECK(threw);
  TlsConfig mismatch = test_config();
  EVP_PKEY* other = EVP_EC_gen("P-256");
  mismatch.keys[0].pem = to_pem(other, nullptr);
  EVP_PKEY_free(other);
  threw = false;
  try {
    TlsContexts c(mismatch);
  } catch (const corews::server::TlsError& e) {
    threw = std::string(e.what()).find("does not match") != std::string::npos;
  }
  CHECK(threw);
}
