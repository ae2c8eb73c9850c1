// The load generator's TLS layer (client/tls_client.h) against the server's
// TlsTransport over a socketpair: the handshake with the certificate checked
// (trusted, untrusted, wrong name, IP address) or not checked, SNI and ALPN,
// the server's bytes fed whole, in pieces and byte by byte, data both ways,
// the server's close_notify and garbage.
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "client/tls_client.h"
#include "server/tls_context.h"
#include "server/tls_transport.h"

using corews::client::TlsClientContext;
using corews::client::TlsClientError;
using corews::client::TlsClientOptions;
using corews::client::TlsClientSession;
using corews::core::ByteBuffer;
using corews::server::IoResult;
using corews::server::TlsConfig;
using corews::server::TlsContexts;
using corews::server::TlsTransport;
using Status = TlsClientSession::Status;

namespace {

std::string pem_of(EVP_PKEY* key, X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  if (key) PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  if (cert) PEM_write_bio_X509(b, cert);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string s(p, size_t(n));
  BIO_free(b);
  return s;
}

struct Identity {
  TlsConfig config;  // the server's key and certificate
  std::string cert;  // the certificate alone: trusting it is trusting its (self-)issuer
};

// A self-signed P-256 certificate for `cn` with the subjectAltName `san`.
Identity make_identity(const char* cn, const char* san) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(cert, key, EVP_sha256());
  Identity id;
  id.config.keys.push_back({pem_of(key, nullptr), "", false});
  id.cert = pem_of(nullptr, cert);
  id.config.certs.push_back(id.cert);
  X509_free(cert);
  EVP_PKEY_free(key);
  return id;
}

const Identity& server_identity() {
  static Identity id = make_identity("localhost", "DNS:localhost,IP:127.0.0.1");
  return id;
}

const Identity& stranger() {
  static Identity id = make_identity("stranger", "DNS:localhost");
  return id;
}

TlsClientOptions trusting(const std::string& pem) {
  TlsClientOptions o;
  o.ca_pem = pem;
  return o;
}

TlsClientOptions insecure() {
  TlsClientOptions o;
  o.verify = false;
  return o;
}

// The client side's socket, the session over it, and the server's transport
// on the other end. `piece` cuts what the client reads into slices that
// long (0: whatever one recv gives).
struct Link {
  TlsContexts contexts{server_identity().config};
  TlsClientContext client_ctx;
  int client_fd = -1;
  std::unique_ptr<TlsTransport> server;
  TlsClientSession session;
  ByteBuffer wire;   // the client's records not yet written
  ByteBuffer plain;  // what the client decrypted
  size_t piece = 0;
  Status last = Status::kOk;
  bool server_failed = false;

  Link(const TlsClientOptions& options, const std::string& host) : client_ctx(options), session(client_ctx, host) {
    int fds[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds);
    server = TlsTransport::create(fds[0], contexts);
    client_fd = fds[1];
  }
  ~Link() {
    if (client_fd >= 0) close(client_fd);
  }

  void write_wire() {
    size_t off = 0;
    while (off < wire.size()) {
      ssize_t n = ::send(client_fd, wire.data() + off, wire.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += size_t(n);
    }
    CHECK_EQ(off, wire.size());
    wire.clear();
  }

  // What the server sent, through the session; false once the session failed.
  bool client_reads() {
    uint8_t buf[64 * 1024];
    ssize_t n = recv(client_fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
    size_t step = piece ? piece : size_t(n);
    for (size_t off = 0; off < size_t(n) && last == Status::kOk; off += step) {
      size_t len = size_t(n) - off < step ? size_t(n) - off : step;
      last = session.receive(buf + off, len, plain, wire);
    }
    write_wire();
    return last == Status::kOk;
  }

  void server_reads(std::vector<uint8_t>* into = nullptr) {
    uint8_t buf[64 * 1024];
    for (;;) {
      IoResult r = server->read_some(buf, sizeof buf);
      if (r.status == IoResult::kError) server_failed = true;
      if (r.status != IoResult::kDone) break;
      if (into) into->insert(into->end(), buf, buf + r.bytes);
    }
  }

  // Both sides step until the handshake is done on both or one gives up.
  bool handshake() {
    if (session.start(wire) != Status::kOk) return false;
    write_wire();
    for (int i = 0; i < 200; ++i) {
      server_reads();
      if (server_failed) return false;
      if (!client_reads()) return false;
      if (session.handshake_done() && server->handshake_done()) return true;
    }
    return false;
  }
};

}  // namespace

TEST(tls_client_handshake_verified_by_name_with_sni_and_alpn) {
  Link l(trusting(server_identity().cert), "localhost");
  CHECK(l.handshake());
  CHECK(l.session.error().empty());
  CHECK_EQ(l.session.alpn(), std::string("http/1.1"));
  CHECK_EQ(l.session.protocol(), std::string("TLSv1.3"));
  CHECK(!l.session.cipher().empty());
  const char* sni = SSL_get_servername(l.server->ssl(), TLSEXT_NAMETYPE_host_name);
  CHECK(sni != nullptr && std::string(sni) == "localhost");
  CHECK_EQ(l.contexts.stats().handshakes.load(), uint64_t(1));
  CHECK_EQ(l.contexts.stats().resumed.load(), uint64_t(0));
}

TEST(tls_client_ip_literal_gets_no_sni_and_is_checked_against_the_ip_addresses) {
  {
    Link l(trusting(server_identity().cert), "127.0.0.1");
    CHECK(l.handshake());
    CHECK(SSL_get_servername(l.server->ssl(), TLSEXT_NAMETYPE_host_name) == nullptr);
  }
  {
    Link l(trusting(server_identity().cert), "127.0.0.2");  // not in the certificate
    CHECK(!l.handshake());
    CHECK(l.session.certificate_rejected());
    CHECK_EQ(l.session.error(), std::string("certificate verify failed: IP address mismatch"));
  }
}

TEST(tls_client_rejects_an_untrusted_certificate_and_a_wrong_name) {
  {
    // Trusting another certificate than the server's (the default trust of a
    // test machine knows neither).
    Link l(trusting(stranger().cert), "localhost");
    CHECK(!l.handshake());
    CHECK(!l.session.handshake_done());
    CHECK(l.session.certificate_rejected());
    CHECK_EQ(l.session.error(), std::string("certificate verify failed: self-signed certificate"));
    CHECK_EQ(l.contexts.stats().handshakes.load(), uint64_t(0));
  }
  {
    Link l(trusting(server_identity().cert), "example.org");
    CHECK(!l.handshake());
    CHECK(l.session.certificate_rejected());
    CHECK_EQ(l.session.error(), std::string("certificate verify failed: hostname mismatch"));
  }
}

TEST(tls_client_insecure_accepts_any_certificate) {
  for (const char* host : {"localhost", "example.org", "127.0.0.2"}) {
    CTX("host %s", host);
    Link l(insecure(), host);
    CHECK(l.handshake());
    CHECK(!l.session.certificate_rejected());
    CHECK_EQ(l.session.alpn(), std::string("http/1.1"));
  }
}

TEST(tls_client_context_refuses_a_ca_list_without_certificates) {
  bool threw = false;
  try {
    TlsClientContext c(trusting("-----BEGIN NOTHING-----\nxx\n-----END NOTHING-----\n"));
  } catch (const TlsClientError& e) {
    threw = std::string(e.what()).find("no PEM certificate") != std::string::npos;
  }
  CHECK(threw);
}

TEST(tls_client_data_both_ways_with_the_servers_bytes_whole_split_and_byte_by_byte) {
  for (size_t piece : {size_t(0), size_t(1), size_t(7), size_t(1000)}) {
    CTX("pieces of %zu", piece);
    Link l(trusting(server_identity().cert), "localhost");
    l.piece = piece;
    CHECK(l.handshake());
    // Client → server: two sends, one socket write.
    std::string hello = "GET / HTTP/1.1\r\n\r\n";
    CHECK_EQ(l.session.send(reinterpret_cast<const uint8_t*>(hello.data()), 10, l.wire), Status::kOk);
    CHECK_EQ(l.session.send(reinterpret_cast<const uint8_t*>(hello.data()) + 10, hello.size() - 10, l.wire),
             Status::kOk);
    l.write_wire();
    std::vector<uint8_t> got;
    l.server_reads(&got);
    CHECK_EQ(std::string(got.begin(), got.end()), hello);
    // Three records in one read: all three come out of that read (nothing
    // stays inside OpenSSL for a later call that may never come).
    l.plain.clear();
    for (const char* part : {"one ", "two ", "three"}) {
      iovec iov{const_cast<char*>(part), strlen(part)};
      CHECK_EQ(l.server->write_some(&iov, 1).status, IoResult::kDone);
    }
    CHECK(l.client_reads());
    CHECK_EQ(std::string(reinterpret_cast<const char*>(l.plain.data()), l.plain.size()), std::string("one two three"));
    // Server → client: 200 KiB in several records (and the session tickets
    // of TLS 1.3 before them), whatever the pieces.
    std::vector<uint8_t> data(200 * 1024);
    for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 131 + 3);
    size_t sent = 0;
    l.plain.clear();
    for (int i = 0; i < 10000 && l.plain.size() < data.size(); ++i) {
      if (sent < data.size()) {
        iovec iov{data.data() + sent, data.size() - sent};
        IoResult w = l.server->write_some(&iov, 1);
        if (w.status == IoResult::kDone) sent += w.bytes;
      } else if (l.server->held_output()) {
        l.server->flush_held();
      }
      CHECK(l.client_reads());
    }
    CHECK_EQ(l.plain.size(), data.size());
    CHECK(l.plain.size() == data.size() && std::memcmp(l.plain.data(), data.data(), data.size()) == 0);
  }
}

TEST(tls_client_server_close_notify_is_closed_and_garbage_an_error) {
  {
    Link l(trusting(server_identity().cert), "localhost");
    CHECK(l.handshake());
    l.server->end_sending();
    l.client_reads();
    CHECK_EQ(l.last, Status::kClosed);
  }
  {
    // Not TLS at all (a plain HTTP server's answer).
    TlsClientContext ctx(insecure());
    TlsClientSession s(ctx, "localhost");
    ByteBuffer wire, plain;
    CHECK_EQ(s.start(wire), Status::kOk);
    CHECK(wire.size() > 0);  // the ClientHello
    const char* junk = "HTTP/1.1 400 Bad Request\r\n\r\n";
    CHECK_EQ(s.receive(reinterpret_cast<const uint8_t*>(junk), strlen(junk), plain, wire), Status::kError);
    CHECK(!s.error().empty());
    CHECK(!s.certificate_rejected());
    CHECK_EQ(plain.size(), size_t(0));
    // Sending on a failed session is refused, not a crash.
    CHECK_EQ(s.send(reinterpret_cast<const uint8_t*>("x"), 1, wire), Status::kError);
  }
}
