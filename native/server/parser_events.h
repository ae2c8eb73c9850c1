// Worker::ParserEvents, for the two places that feed a connection's frame
// parser: the read path (frames as they arrive) and the handshake flow (frames
// that came right behind the request).
#pragma once
#include <ctime>

#include "worker.h"

namespace corews::server {

// The frame parser's handler for one connection: turns what it parsed into
// events for JS, and answers pings on the spot.
struct Worker::ParserEvents {
  Worker& w;
  Connection* c;

  // When a batch's first message arrived: its latency is measured from there.
  static int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }

  void on_message(proto::Opcode op, const uint8_t* data, size_t len, bool ascii) {
    if (gone()) return;
    if (!w.count_message(c, len)) return;
    uint32_t flags = op == proto::kOpBinary ? uint32_t(kMessageBinary) : ascii ? uint32_t(kMessageAscii) : 0u;
    if (w.batch_->messages == 0) w.batch_->first_message_ns = now_ns();
    w.batch_->add_message(c->slot, c->gen, data, len, flags);
  }

  // The parser unmasks a message whose frame is whole in the input straight
  // into the batch's arena (one pass over the bytes instead of an in-place
  // XOR and then a copy); the event is added once the message checked out.
  // Only without a message rate limit: its refusal adds an event to the
  // arena, which would land behind the placed bytes; with one, messages take
  // the ordinary path (unmasked in place, then copied).
  uint8_t* place_message(size_t len) {
    if (gone() || w.config_->max_messages_per_second > 0) return nullptr;  // the ordinary path
    return w.batch_->place(len);
  }
  void unplace_message() { w.batch_->unplace(); }
  void on_placed_message(proto::Opcode op, const uint8_t*, size_t len, bool ascii) {
    w.count_message(c, len);  // no rate limit (place_message), so it counts and never refuses
    uint32_t flags = op == proto::kOpBinary ? uint32_t(kMessageBinary) : ascii ? uint32_t(kMessageAscii) : 0u;
    if (w.batch_->messages == 0) w.batch_->first_message_ns = now_ns();
    w.batch_->commit_placed(c->slot, c->gen, flags);
  }

  // A write failed earlier in this read (the peer reset): the connection is
  // gone and has had its one close event; what follows it in the buffer is moot.
  bool gone() const { return c->state == ConnState::kDead; }

  void on_ping(const uint8_t* data, size_t len) {
    if (c->state != ConnState::kOpen) return;  // after our Close, no more frames from us
    if (!w.within_rate(c)) return;
    w.answer_ping(c, data, len);
    if ((c->reports & kReportPings) && !gone()) w.batch_->add_payload(EventType::kPing, c->slot, c->gen, data, len);
  }

  void on_pong(const uint8_t* data, size_t len) {
    if (c->state != ConnState::kOpen || !w.within_rate(c)) return;
    if (c->reports & kReportPongs) w.batch_->add_payload(EventType::kPong, c->slot, c->gen, data, len);
  }

  void on_close(uint16_t code, const uint8_t* reason, size_t len) {
    if (gone()) return;
    WorkerStats::add(w.stats_.close_received[close_code_slot(code)]);
    c->close_code = code;
    c->set_close_reason({reinterpret_cast<const char*>(reason), len});
    if (c->state == ConnState::kClosing) {
      // The peer answered our Close: the closing handshake is complete (§7.1.2).
      w.begin_drain(c);
      return;
    }
    // Leave the echo to JS, so that replies to the messages before this Close
    // go out first.
    c->state = ConnState::kPeerClosed;
    w.update_interest(c);
    w.batch_->add(EventType::kPeerClose, c->slot, c->gen, code, {c->close_reason()});
  }

  void on_error(uint16_t code, const char* reason) {
    if (gone()) return;
    if (c->state == ConnState::kClosing) {
      w.destroy(c);  // we already sent our Close; nothing more to say
      return;
    }
    c->close_code = code;
    c->set_close_reason(reason);
    c->state = ConnState::kFailed;
    w.update_interest(c);
    w.batch_->add(EventType::kProtocolError, c->slot, c->gen, code, {c->close_reason()});
  }
};

}  // namespace corews::server
