// The server's TLS contexts: the default one and those chosen by SNI, each an
// OpenSSL SSL_CTX shared by every worker (so a session ticket issued on one
// worker resumes on any other), and what TLS counts. Built and changed on the
// JS thread (createServer, addContext, setSecureContext), read by the workers
// when they accept a connection and in the SNI callback; a mutex guards the
// table, and every SSL holds its own reference to the SSL_CTX it uses, so a
// context replaced by rotation lives on for the connections made with it.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace corews::server {

// A certificate set as the `tls` option gives it (already validated by JS).
struct TlsConfig {
  struct Key {
    std::string pem;
    std::string passphrase;
    bool has_passphrase = false;
  };
  std::vector<Key> keys;
  std::vector<std::string> certs;  // PEM; each may hold a chain (leaf first)
  std::vector<std::string> ca;     // PEM; used to complete the chain
  std::string ciphers;             // OpenSSL cipher list; TLS_* names are TLS 1.3 suites
  std::string ecdh_curve;          // groups list, e.g. "X25519:P-256"
  int min_version = 0;             // TLS1_2_VERSION or TLS1_3_VERSION (0: TLS 1.2)
  int max_version = 0;             // 0: TLS 1.3
  int64_t session_timeout_s = 0;   // 0: OpenSSL's default (300 s)
};

// Thrown when a certificate set cannot be loaded: the message names what and
// carries OpenSSL's reason.
struct TlsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TlsStats {
  using Counter = std::atomic<uint64_t>;
  Counter handshakes{0};          // completed
  Counter resumed{0};             // of them, session resumptions
  Counter tls12{0};
  Counter tls13{0};
  Counter handshake_failures{0};  // a bad or truncated handshake, a timeout, a peer that left mid-handshake
  Counter renegotiations_refused{0};
  static void add(Counter& c) { c.fetch_add(1, std::memory_order_relaxed); }
};

class TlsContexts {
 public:
  // Loads `config` as the default context; throws TlsError.
  explicit TlsContexts(const TlsConfig& config);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  // A new SSL for an accepted connection, in server mode on the current
  // default context; null when OpenSSL cannot make one.
  SSL* new_ssl();
  // Replaces the default context (certificate rotation). The session ticket
  // keys carry over, so tickets issued before still resume.
  void set_default(const TlsConfig& config);
  // SNI: `hostname` ("example.com" or "*.example.com") gets `config`;
  // a second call for the same name replaces the first.
  void add_context(const std::string& hostname, const TlsConfig& config);

  TlsStats& stats() { return stats_; }

  // Builds one SSL_CTX (exposed for the unit tests); throws TlsError.
  static SSL_CTX* build(const TlsConfig& config);

 private:
  static int on_servername(SSL* ssl, int* alert, void* arg);
  SSL_CTX* lookup(const std::string& hostname);  // with a reference taken; null if none
  void install_callbacks(SSL_CTX* ctx);

  std::mutex mutex_;
  SSL_CTX* default_ = nullptr;
  std::vector<std::pair<std::string, SSL_CTX*>> named_;  // lower-case names
  TlsStats stats_;
};

}  // namespace corews::server
