// The end of a connection: our Close frame and the closing handshake, the
// drain (flush, half-close, wait for the peer's FIN), and destroy, which
// closes the transport and tells JS.
#include "worker.h"

#include <algorithm>
#include <cstring>

#include "../core/clock.h"
#include "../proto/frame.h"

namespace corews::server {

void Worker::send_close(Connection* c, uint16_t code, std::string_view reason) {
  switch (c->state) {
    case ConnState::kOpen:
    case ConnState::kPeerClosed:
    case ConnState::kFailed:
      break;
    default:
      return;  // not open yet, or already closing
  }
  if (code == proto::kCloseAbnormal) {
    // The peer is gone (FIN): nothing to say, only what is queued to flush.
    begin_drain(c);
    return;
  }
  // §5.5.1: no payload, or a 2-byte code and a reason, 125 bytes in all.
  size_t r = std::min(reason.size(), proto::kMaxControlPayload - 2);
  size_t len = code != 0 ? 2 + r : 0;
  uint8_t out[proto::kMaxFrameHeader + proto::kMaxControlPayload];
  size_t h = proto::write_frame_header(out, proto::kOpClose, len, nullptr);
  if (code != 0) {
    out[h] = uint8_t(code >> 8);
    out[h + 1] = uint8_t(code);
    std::memcpy(out + h + 2, reason.data(), r);
  }
  WorkerStats::add(stats_.close_sent[close_code_slot(code ? uint32_t(code) : uint32_t(proto::kCloseNoStatus))]);
  queue_pending_pong(c);  // nothing may follow our Close
  write_bytes(c, out, h + len);
  if (c->state == ConnState::kDead) return;

  if (c->state == ConnState::kOpen) {
    // We start the closing handshake: the close handler will hear our code
    // unless the peer answers with its own.
    c->close_code = code ? code : uint16_t(proto::kCloseNoStatus);
    c->set_close_reason(reason.substr(0, len ? r : 0));
    c->state = ConnState::kClosing;
    closing_timers_.arm(c, core::now_ms());
    update_interest(c);
  } else {
    begin_drain(c);  // our Close answers the peer's, or fails the connection
  }
}

// Our last bytes are queued: half-close once they are written, then wait (up
// to the close timeout) for the peer's FIN so the kernel does not reset the
// connection under unread data.
void Worker::begin_drain(Connection* c) {
  if (c->state == ConnState::kDead) return;
  c->state = ConnState::kDraining;
  closing_timers_.arm(c, core::now_ms());
  if (c->out_pending()) {
    c->shutdown_after_flush = true;
  } else {
    c->transport->end_sending();
  }
  update_interest(c);
}

void Worker::destroy(Connection* c) {
  if (c->state == ConnState::kDead) return;
  if (c == corked_) {
    corked_ = nullptr;
    cork_bytes_ = 0;
    cork_iov_.clear();
  }
  core::DeadlineList::cancel(c);
  core::DeadlineList::cancel(&c->heartbeat);
  c->out.clear();
  c->pong.reset();
  if (c->deflate) c->deflate->end();  // zlib state and budget back now; the object stays for the parser
  if (c->read_paused) unlist_paused(c);
  counters_->reset(c->slot);
  release_place(c);
  if (c->opened) WorkerStats::sub(stats_.connections_open);
  --live_;
  poller_.remove(c->transport->fd());  // before close: the libuv backend requires it
  c->transport->close_now();
  c->state = ConnState::kDead;
  if (c->js_knows) batch_->add(EventType::kClosed, c->slot, c->gen, c->close_code, {c->close_reason()});
  slots_[c->slot] = nullptr;
  ++generations_[c->slot];
  free_slots_.push_back(c->slot);
  graveyard_.push_back(c);
}

}  // namespace corews::server
