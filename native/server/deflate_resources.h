// One worker's permessage-deflate resources (RFC 7692): the settings, the
// share of the server's zlib memory budget (maxMemory) it may spend, the
// streams its connections share, and the negotiation that decides, per
// connection, whether its context can be kept within that budget.
//
// How memory is budgeted (the why is in README, "permessage-deflate"):
//  - Context takeover from the client (the client compresses against its
//    earlier messages) obliges this server to keep an inflate window for the
//    connection's whole life once a message came. That cost is reserved at
//    the handshake; a connection that does not fit is offered no context
//    takeover either way (RFC 7692 §7.1.1), and still compresses.
//  - The server's own context is optional at any moment: a compressor that
//    forgets its history only stops referring to it (§7.2.1). A connection
//    that may keep context gets its own deflate stream when the budget has
//    room when it first sends, and otherwise uses the shared one.
//  - Without context takeover, messages are compressed by one shared deflate
//    stream per window size, and inflated by streams borrowed from a pool for
//    the length of one message: an idle connection holds no zlib state.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../proto/deflate_negotiation.h"
#include "../proto/deflater.h"
#include "../proto/inflater.h"

namespace corews::server {

class DeflateSession;

struct DeflateSettings {
  bool enabled = false;
  proto::DeflateConfig negotiation;
  int level = -1;      // zlib level 0..9, -1: zlib's default
  int mem_level = 8;   // zlib memLevel 1..9
  size_t threshold = 1024;  // payloads shorter than this go uncompressed unless a send asks
  // This worker's share of maxMemory: zlib state (and inflate chunk buffers)
  // it may hold, reserved or in use.
  size_t max_memory = SIZE_MAX;
};

// What a worker's deflate counts, for server.stats(). Written by the worker
// thread, read by the JS thread: relaxed atomics.
struct DeflateStats {
  using Counter = std::atomic<uint64_t>;
  Counter negotiated{0};           // connections that agreed to permessage-deflate
  Counter forced_no_context{0};    // of those, offered no context takeover for want of budget
  Counter messages_compressed{0};
  Counter bytes_before{0};         // payload bytes of compressed messages
  Counter bytes_after{0};          // their compressed size
  Counter messages_inflated{0};
  Counter inflated_in{0};          // compressed payload bytes received
  Counter inflated_out{0};         // what they inflated to
  Counter shared_compressions{0};  // messages a connection with context takeover sent through a shared stream
  Counter deflate_failures{0};     // zlib failed: the message went uncompressed
  Counter memory{0};               // a gauge: zlib bytes held now
  Counter reserved{0};             // a gauge: inflate windows promised to connections
};

class DeflateResources {
 public:
  explicit DeflateResources(const DeflateSettings& settings);
  ~DeflateResources();
  DeflateResources(const DeflateResources&) = delete;
  DeflateResources& operator=(const DeflateResources&) = delete;

  const DeflateSettings& settings() const { return settings_; }
  bool enabled() const { return settings_.enabled; }

  // Negotiates for a request's Sec-WebSocket-Extensions. On agreement,
  // `response` is the header value to answer with and the session is the
  // connection's; otherwise null (the connection runs uncompressed).
  std::unique_ptr<DeflateSession> negotiate(const proto::HttpRequest& request, std::string& response);

  // For sessions. Compresses one message without context takeover with the
  // shared stream for `window_bits`; false when zlib fails.
  bool compress_shared(int window_bits, const uint8_t* data, size_t len, std::vector<uint8_t>& out);
  // A deflate stream of the connection's own, if the budget has room for one
  // now; null otherwise.
  std::unique_ptr<proto::Deflater> own_deflater(int window_bits);
  // An inflate stream of the connection's own, for context takeover (its
  // memory was reserved at the handshake).
  std::unique_ptr<proto::Inflater> own_inflater(int window_bits);
  // An inflate stream for one message without context takeover, and its return.
  std::unique_ptr<proto::Inflater> borrow_inflater();
  void give_back(std::unique_ptr<proto::Inflater> inflater);
  // What the handshake reserves for a session with these params (the
  // inflate window client context takeover needs), and its return.
  size_t reservation(const proto::DeflateParams& params) {
    return params.client_no_context_takeover ? 0 : inflate_cost(params.client_max_window_bits);
  }
  void unreserve(size_t bytes);

  DeflateStats& stats() { return stats_; }
  // One message compressed: `before` payload bytes became `after`.
  void count_compressed(size_t before, size_t after) {
    stats_.messages_compressed.fetch_add(1, std::memory_order_relaxed);
    stats_.bytes_before.fetch_add(before, std::memory_order_relaxed);
    stats_.bytes_after.fetch_add(after, std::memory_order_relaxed);
  }
  // Bytes of zlib state held now (all streams, own and shared), and reserved.
  size_t memory() const { return own_deflate_bytes_ + own_inflate_bytes_ + shared_bytes_; }
  size_t reserved() const { return reserved_; }
  // What counts against max_memory: reservations, and the streams held
  // outside them. Only the shared streams (which must exist) can take it past.
  size_t committed() const { return reserved_ + own_deflate_bytes_ + shared_bytes_; }
  void publish_gauges();

  // What one stream costs with this worker's settings, measured once per
  // window size on this zlib (tests and the budget).
  size_t deflate_cost(int window_bits);
  size_t inflate_cost(int window_bits);

 private:
  DeflateSettings settings_;
  DeflateStats stats_;
  size_t reserved_ = 0;            // inflate windows promised (own inflaters are counted inside this)
  size_t own_deflate_bytes_ = 0;   // counted by the connections' own deflate streams
  size_t own_inflate_bytes_ = 0;   // counted by their own inflate streams (within reserved_)
  size_t shared_bytes_ = 0;        // the shared deflaters and the inflater pool
  std::array<std::unique_ptr<proto::Deflater>, 16> shared_deflaters_;  // by window bits
  std::vector<std::unique_ptr<proto::Inflater>> spare_inflaters_;
  std::array<size_t, 16> deflate_costs_{};
  std::array<size_t, 16> inflate_costs_{};
};

}  // namespace corews::server
