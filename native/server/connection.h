// One connection as its worker sees it. Owned by exactly one worker thread;
// JS refers to it only by (worker, slot, generation). Its bytes go through
// its transport (plain TCP, or later TLS), never straight to a socket.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/deadline_list.h"
#include "../proto/close_code.h"
#include "../proto/frame_parser.h"
#include "deflate_session.h"
#include "http_exchange.h"
#include "out_queue.h"
#include "topics.h"
#include "transport.h"

namespace corews::server {

enum class ConnState : uint8_t {
  kHandshake,   // reading the HTTP request
  kAwaitingJs,  // the upgrade or http hook is deciding
  kHttpStreaming,  // the http hook's response head is out; its body follows in chunks from JS
  kOpen,
  kClosing,     // we sent Close and wait for the peer's
  kPeerClosed,  // the peer sent Close; JS echoes it after handling what came before
  kFailed,      // the peer broke the protocol; JS sends the close after handling what came before
  kDraining,    // our last bytes are queued: flush, half-close, wait for the peer's FIN
  kDead,        // closed; freed at the end of the loop iteration
};

struct Connection;

// What few connections hold, apart from the hot struct so that an idle one
// does not pay for it: the address counted under maxConnectionsPerIp, and the
// close reason once a close begins. Made on first use.
struct ConnectionRare {
  std::string ip;
  std::string close_reason;
};

// The heartbeat's timer, beside the lifecycle one the connection itself is.
struct HeartbeatNode : core::DeadlineNode {
  Connection* owner = nullptr;
};

// A Connection is its own deadline node for the lifecycle timeout (handshake,
// keep-alive or closing: never two at once); the heartbeat has its own node.
struct Connection : core::DeadlineNode {
  Connection(std::unique_ptr<Transport> transport_, uint32_t slot_, uint32_t gen_,
             const proto::FrameParserOptions& parser_options)
      : transport(std::move(transport_)), slot(slot_), gen(gen_), parser(parser_options) {}

  std::unique_ptr<Transport> transport;
  uint32_t slot;
  uint32_t gen;
  ConnState state = ConnState::kHandshake;
  uint8_t interest = 0;            // what the poller watches now
  bool js_knows = false;           // JS holds the handle: tell it when the connection goes
  bool shutdown_after_flush = false;
  bool destroy_after_flush = false;  // the peer sent FIN: write what is queued, then close
  bool read_paused = false;        // JS fell behind: leave bytes in the kernel
  bool user_paused = false;        // ws.pause(): read nothing until ws.resume(), whatever read_paused says
  uint8_t reports = 0;             // kReportPings | kReportPongs: control frames JS hears of
  bool output_full = false;        // our queue reached maxBackpressure: read nothing until it halves
  bool drain_armed = false;        // tell JS when the queue is back under the low mark
  bool above_low_mark = false;     // the queue is over the low mark now
  bool counted = false;            // holds a place under maxConnections
  bool ip_counted = false;         // and one under maxConnectionsPerIp, for `ip`
  bool opened = false;             // reached OPEN (for the connections gauge)
  bool upgrade_request = false;    // JS's answer to it is the upgrade hook's
  bool http_idle = false;          // kept alive between HTTP requests, on the keep-alive timer
  uint8_t pong_len = 0;            // bytes of the pending pong frame
  // Beside the flags, where it fills what would be padding (every byte of an
  // idle connection counts: see docs/where-the-time-goes.md).
  uint16_t close_code = proto::kCloseAbnormal;  // what the close handler will be told
  float tokens = 0;                // rate limit bucket
  uint32_t paused_at = 0;          // index in the worker's list of read-paused connections
  uint32_t published_at = 0;       // publishes owed in this command batch: 1 + index in the worker's list
  int64_t last_activity_ms = 0;    // last bytes from the peer
  int64_t write_progress_ms = 0;   // while output is queued: when the kernel last took some of it
  int64_t tokens_at_ms = 0;
  uint64_t sends_taken = 0;        // bytes of JS sends taken from the inbox (for bufferedAmount)
  HeartbeatNode heartbeat;
  proto::FrameParser parser;
  std::string http;                // request bytes, only until the handshake is decided
  std::unique_ptr<HttpExchange> exchange;  // an http hook request in progress, else null
  OutQueue out;                    // bytes the kernel would not take yet
  // The answer to the latest ping while output is queued: §5.5.3 lets an
  // endpoint answer only the most recent of several pings, so a ping flood
  // costs one frame, not one per ping. Allocated only while pending.
  std::unique_ptr<uint8_t[]> pong;
  std::vector<Subscription> topics;  // subscribed topics
  // permessage-deflate, when negotiated: the frame parser's inflater and the
  // write path's compressor. Lives until the connection is freed (the parser
  // may still call it for the rest of a read after destroy()).
  std::unique_ptr<DeflateSession> deflate;
  std::unique_ptr<ConnectionRare> rare;  // null until needed

  ConnectionRare& rare_state() {
    if (!rare) rare = std::make_unique<ConnectionRare>();
    return *rare;
  }
  // What the close handler will be told ("" until a close begins).
  std::string_view close_reason() const { return rare ? std::string_view(rare->close_reason) : std::string_view(); }
  void set_close_reason(std::string_view reason) { rare_state().close_reason.assign(reason.data(), reason.size()); }

  // Output not yet taken by the kernel: our queue, and what the transport
  // holds of its own (TLS records; plain TCP holds none). The bound, the
  // drain mark and bufferedAmount count both.
  size_t queued_bytes() const { return out.bytes() + transport->held_output(); }
  bool out_pending() const { return !out.empty() || transport->held_output() != 0; }
};

}  // namespace corews::server
