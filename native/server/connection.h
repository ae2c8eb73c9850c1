// One TCP connection as its worker sees it. Owned by exactly one worker thread;
// JS refers to it only by (worker, slot, generation).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/deadline_list.h"
#include "../proto/close_code.h"
#include "../proto/frame_parser.h"
#include "out_queue.h"

namespace corews::server {

enum class ConnState : uint8_t {
  kHandshake,   // reading the HTTP request
  kAwaitingJs,  // the upgrade or http hook is deciding
  kOpen,
  kClosing,     // we sent Close and wait for the peer's
  kPeerClosed,  // the peer sent Close; JS echoes it after handling what came before
  kFailed,      // the peer broke the protocol; JS sends the close after handling what came before
  kDraining,    // our last bytes are queued: flush, half-close, wait for the peer's FIN
  kDead,        // closed; freed at the end of the loop iteration
};

// A Connection is its own deadline node: at most one timeout (handshake or
// closing) runs for it at a time.
struct Connection : core::DeadlineNode {
  Connection(int fd_, uint32_t slot_, uint32_t gen_, const proto::FrameParserOptions& parser_options)
      : fd(fd_), slot(slot_), gen(gen_), parser(parser_options) {}

  int fd;
  uint32_t slot;
  uint32_t gen;
  ConnState state = ConnState::kHandshake;
  uint8_t interest = 0;            // what the poller watches now
  bool js_knows = false;           // JS holds the handle: tell it when the connection goes
  bool shutdown_after_flush = false;
  uint16_t close_code = proto::kCloseAbnormal;  // what the close handler will be told
  proto::FrameParser parser;
  std::string http;                // request bytes, only until the handshake is decided
  std::string close_reason;
  OutQueue out;                    // bytes the kernel would not take yet
  std::vector<uint32_t> topics;    // subscribed topic ids

  bool out_pending() const { return !out.empty(); }
};

}  // namespace corews::server
