#include "tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

#include "openssl_reasons.h"

namespace corews::server {
namespace {

[[noreturn]] void fail(const std::string& what) {
  std::string reasons = tls::openssl_reasons();
  throw TlsError(what + ": " + (reasons.empty() ? "unknown OpenSSL error" : reasons));
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr pem_bio(const std::string& pem) { return BioPtr(BIO_new_mem_buf(pem.data(), int(pem.size()))); }

int passphrase_cb(char* buf, int size, int, void* userdata) {
  auto* key = static_cast<const TlsConfig::Key*>(userdata);
  if (!key->has_passphrase) return 0;  // an encrypted key without a passphrase: fail, never prompt
  int n = int(key->passphrase.size());
  if (n > size) return 0;
  std::memcpy(buf, key->passphrase.data(), size_t(n));
  return n;
}

// ALPN: http/1.1 when the client offers it; otherwise no ALPN at all (a
// client offering only h2 is answered without the extension, as Node does).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  static constexpr unsigned char kHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
  for (unsigned int i = 0; i < inlen;) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == sizeof kHttp11 && std::memcmp(in + i + 1, kHttp11, len) == 0) {
      *out = in + i + 1;
      *outlen = uint8_t(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// Node's matching of SNI names: case-insensitive, '*' matches within one label.
bool name_matches(const std::string& pattern, const std::string& host) {
  size_t p = 0, h = 0;
  while (p < pattern.size()) {
    if (pattern[p] == '*') {
      // '*' takes any run of non-dot characters; try every length.
      ++p;
      for (size_t k = h;; ++k) {
        if (name_matches(pattern.substr(p), host.substr(k))) return true;
        if (k >= host.size() || host[k] == '.') return false;
      }
    }
    if (h >= host.size() || pattern[p] != host[h]) return false;
    ++p;
    ++h;
  }
  return h == host.size();
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  }
  return s;
}

}  // namespace

SSL_CTX* TlsContexts::build(const TlsConfig& config) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) fail("cannot create a TLS context");
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> guard(ctx, SSL_CTX_free);

  SSL_CTX_set_min_proto_version(ctx, config.min_version ? config.min_version : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, config.max_version ? config.max_version : TLS1_3_VERSION);
  // No renegotiation (TLS 1.2 and earlier; TLS 1.3 has none); a peer's FIN
  // without close_notify is an ordinary end of stream, as for plain TCP.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their record buffers back (tens of KiB each).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  static constexpr unsigned char kSidContext[] = "corews";
  SSL_CTX_set_session_id_context(ctx, kSidContext, sizeof kSidContext - 1);
  if (config.session_timeout_s > 0) SSL_CTX_set_timeout(ctx, long(config.session_timeout_s));

  if (!config.ciphers.empty()) {
    // Like Node: TLS_* names are TLS 1.3 suites, the rest the TLS 1.2 list.
    std::string v12, v13;
    size_t start = 0;
    while (start <= config.ciphers.size()) {
      size_t end = config.ciphers.find(':', start);
      if (end == std::string::npos) end = config.ciphers.size();
      std::string part = config.ciphers.substr(start, end - start);
      if (!part.empty()) {
        std::string& dest = part.rfind("TLS_", 0) == 0 ? v13 : v12;
        if (!dest.empty()) dest += ':';
        dest += part;
      }
      start = end + 1;
    }
    if (!v13.empty() && SSL_CTX_set_ciphersuites(ctx, v13.c_str()) != 1) fail("option 'tls.ciphers' is invalid");
    if (!v12.empty() && SSL_CTX_set_cipher_list(ctx, v12.c_str()) != 1) fail("option 'tls.ciphers' is invalid");
    if (v12.empty() && !v13.empty()) SSL_CTX_set_cipher_list(ctx, "");  // TLS 1.3 suites only
  }
  if (!config.ecdh_curve.empty() && SSL_CTX_set1_groups_list(ctx, config.ecdh_curve.c_str()) != 1) {
    fail("option 'tls.ecdhCurve' is invalid");
  }

  for (size_t i = 0; i < config.certs.size(); ++i) {
    BioPtr bio = pem_bio(config.certs[i]);
    X509* leaf = PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr);
    if (leaf == nullptr) fail("option 'tls.cert' holds no PEM certificate");
    int ok = SSL_CTX_use_certificate(ctx, leaf);
    X509_free(leaf);
    if (ok != 1) fail("option 'tls.cert' cannot be used");
    // The rest of the PEM is the chain, for this certificate.
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
        X509_free(extra);
        fail("option 'tls.cert' has a chain certificate that cannot be used");
      }
    }
    ERR_clear_error();  // the end of the PEM
  }
  for (const TlsConfig::Key& k : config.keys) {
    BioPtr bio = pem_bio(k.pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, passphrase_cb, const_cast<TlsConfig::Key*>(&k));
    if (key == nullptr) {
      fail(k.has_passphrase ? "option 'tls.key' cannot be read (a bad PEM or a wrong passphrase)"
                            : "option 'tls.key' cannot be read (a bad PEM, or encrypted and no passphrase given)");
    }
    int ok = SSL_CTX_use_PrivateKey(ctx, key);
    EVP_PKEY_free(key);
    if (ok != 1) fail("option 'tls.key' does not match the certificate of option 'tls.cert'");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) fail("option 'tls.key' does not match the certificate of option 'tls.cert'");

  if (!config.ca.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const std::string& pem : config.ca) {
      BioPtr bio = pem_bio(pem);
      int n = 0;
      while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        X509_STORE_add_cert(store, ca);  // a duplicate is not an error worth failing for
        X509_free(ca);
        ++n;
      }
      if (n == 0) fail("option 'tls.ca' holds no PEM certificate");
      ERR_clear_error();
    }
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  return guard.release();
}

TlsContexts::TlsContexts(const TlsConfig& config) : default_(build(config)) { install_callbacks(default_); }

TlsContexts::~TlsContexts() {
  SSL_CTX_free(default_);
  for (auto& [name, ctx] : named_) SSL_CTX_free(ctx);
}

void TlsContexts::install_callbacks(SSL_CTX* ctx) {
  SSL_CTX_set_tlsext_servername_callback(ctx, &TlsContexts::on_servername);
  SSL_CTX_set_tlsext_servername_arg(ctx, this);
}

SSL* TlsContexts::new_ssl() {
  std::lock_guard<std::mutex> lock(mutex_);
  return SSL_new(default_);  // the SSL holds its own reference to the context
}

void TlsContexts::set_default(const TlsConfig& config) {
  SSL_CTX* fresh = build(config);
  install_callbacks(fresh);
  std::lock_guard<std::mutex> lock(mutex_);
  // The ticket keys carry over: a ticket issued before the rotation resumes after it.
  unsigned char keys[80];
  if (SSL_CTX_get_tlsext_ticket_keys(default_, keys, sizeof keys) == 1) {
    SSL_CTX_set_tlsext_ticket_keys(fresh, keys, sizeof keys);
  }
  OPENSSL_cleanse(keys, sizeof keys);
  SSL_CTX_free(default_);  // connections made with it keep their own references
  default_ = fresh;
}

void TlsContexts::add_context(const std::string& hostname, const TlsConfig& config) {
  SSL_CTX* ctx = build(config);
  std::string name = lower(hostname);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [n, c] : named_) {
    if (n == name) {
      SSL_CTX_free(c);
      c = ctx;
      return;
    }
  }
  named_.emplace_back(std::move(name), ctx);
}

SSL_CTX* TlsContexts::lookup(const std::string& hostname) {
  std::lock_guard<std::mutex> lock(mutex_);
  // The latest match wins, as in Node (an exact name added later than a wildcard overrides it).
  for (auto it = named_.rbegin(); it != named_.rend(); ++it) {
    if (name_matches(it->first, hostname)) {
      SSL_CTX_up_ref(it->second);
      return it->second;
    }
  }
  return nullptr;
}

int TlsContexts::on_servername(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<TlsContexts*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  if (SSL_CTX* ctx = self->lookup(lower(name))) {
    SSL_set_SSL_CTX(ssl, ctx);  // takes its own reference
    SSL_CTX_free(ctx);
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace corews::server
