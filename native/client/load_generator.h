// A WebSocket load generator: the client role of the same protocol core, on
// one epoll loop per thread. It drives a server in one of five modes and
// measures messages, bytes and latency inside a fixed window. Over wss://
// every connection has TLS beneath it (tls_client.h): its socket carries
// records, the WebSocket code above sees plaintext.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../core/histogram.h"

namespace corews::client {

enum class Mode {
  kEcho,     // every connection keeps `depth` messages in flight, replaced as echoes return
  kLatency,  // like echo with one message in flight per connection
  kConnect,  // open, handshake, drop, repeat: handshakes per second
  kIdle,     // open `connections` and hold them
  kFanout,   // `connections` receivers and one publisher (?role=publisher); deliveries per second
};

// What messages carry: the fixed pattern (text: a–z repeated; binary: a
// byte sequence repeating every 256), or JSON-like text (payloads.h), a pool
// of distinct messages each connection goes through in turn.
enum class Payload { kPattern, kJson };

struct BenchConfig {
  Mode mode = Mode::kEcho;
  std::string address;            // numeric IPv4/IPv6 of the server
  int port = 0;
  std::string host_header;        // for the Host header
  std::string path = "/";
  int connections = 1;
  int depth = 1;
  size_t size = 32;
  bool binary = false;
  double duration_s = 5;
  double warmup_s = 1;
  int threads = 1;
  std::vector<std::string> sources;  // local addresses to spread connections over
  Payload payload = Payload::kPattern;
  // Offer permessage-deflate (RFC 7692); where agreed, send messages
  // compressed and inflate the server's.
  bool deflate = false;
  // Idle mode: messages each connection exchanges with the server (one in
  // flight, each echo answered by the next) before it holds still.
  int messages = 0;
  // wss://: TLS on every connection.
  bool tls = false;
  std::string tls_host;    // the URL's host: SNI (for a name) and the name the certificate must carry
  bool tls_verify = true;  // false: any certificate is accepted (--insecure)
  std::string tls_ca_pem;  // the trusted issuers, when verifying ("" : OpenSSL's default paths)
};

struct BenchProgress {
  uint64_t messages;  // in the measuring window so far
  uint64_t open;
  uint64_t errors;
  bool measuring;
  bool done;
};

struct BenchResult {
  uint64_t messages = 0;    // received in the window (fanout: deliveries)
  uint64_t bytes = 0;       // payload bytes received in the window
  uint64_t handshakes = 0;  // completed in the window (connect), or opened (others)
  uint64_t errors = 0;
  uint64_t open = 0;        // connections open at the end
  double seconds = 0;       // length of the window
  core::Histogram latency;  // nanoseconds
  // With deflate, in the window: socket bytes (frames and headers) and the
  // payload they carried, each way; messages that came compressed.
  uint64_t deflate_negotiated = 0;  // connections that agreed to permessage-deflate
  std::string deflate_agreed;       // the server's Sec-WebSocket-Extensions, as one connection got it
  uint64_t wire_in = 0;
  uint64_t wire_out = 0;
  uint64_t payload_out = 0;
  uint64_t compressed_in = 0;       // messages received with RSV1
  // wss://: TLS handshakes completed (connect: in the window; others: all),
  // and what the first one negotiated.
  uint64_t tls_handshakes = 0;
  std::string tls_protocol;
  std::string tls_cipher;
  std::string tls_alpn;
  // Why the first connection that failed did ("" if none did).
  std::string first_error;
  // The run stopped early because no connection can succeed (the server's
  // certificate was rejected); first_error says why.
  bool aborted = false;
};

class LoadGenerator {
 public:
  // Throws TlsClientError (tls_client.h) when the TLS settings cannot be
  // used (trusted CAs without a certificate).
  explicit LoadGenerator(BenchConfig config);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  void start();
  BenchProgress progress() const;
  // Ends early (the window is cut short and its real length reported).
  void stop();
  // Waits for the run to end and returns what it measured.
  BenchResult finish();

  struct Shared;  // what the loops share: phase clock, counters

 private:
  class Loop;
  BenchConfig config_;
  std::unique_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
};

}  // namespace corews::client
