// The read side of a connection: readiness from the poller, a read from
// the transport, and where the bytes go (the HTTP request, the frame parser,
// or nowhere); the peer's FIN; and inbound backpressure, which leaves bytes
// in the kernel while JS is behind.
#include "worker.h"

#include "parser_events.h"
#include "worker_tuning.h"

namespace corews::server {

void Worker::on_io(Connection* c, uint32_t flags) {
  if (c->state == ConnState::kDead) return;
  bool with_js = c->state == ConnState::kAwaitingJs || c->state == ConnState::kHttpStreaming;
  if (with_js && (flags & (core::kPollRdHup | core::kPollHup))) {
    destroy(c);  // the client gave up while a hook was deciding, or a response was streaming
    return;
  }
  if (flags & core::kPollOut) on_writable(c);
  if (c->state == ConnState::kDead) return;
  if (flags & (core::kPollIn | core::kPollHup)) on_readable(c);
}

void Worker::on_readable(Connection* c) {
  bool framed = c->state == ConnState::kOpen || c->state == ConnState::kClosing;
  if (framed && reading_paused_.load(std::memory_order_relaxed)) {
    pause_reading(c);  // JS is behind: leave the bytes in the kernel, TCP pushes back
    return;
  }
  // The rest of a large frame is read straight into the parser's message
  // buffer: one copy from the kernel instead of two (through the read buffer).
  size_t room = 0;
  uint8_t* into = nullptr;
  if (framed && c->parser.payload_left() >= kDirectReadMin) into = c->parser.payload_room(read_buffer_.size(), &room);
  IoResult r = into ? c->transport->read_some(into, room) : c->transport->read_some(read_buffer_.data(), read_buffer_.size());
  if (into && (r.status != IoResult::kDone)) {
    c->parser.give_back_room(room);
    into = nullptr;
  }
  // A TLS read may leave records to write (its handshake) or bytes to read.
  if ((c->transport->own_interest() & ~c->interest) && r.status != IoResult::kError) update_interest(c);
  if (c->transport->holds_input()) note_held_input(c);
  if (r.status == IoResult::kWouldBlock) return;
  if (r.status == IoResult::kError) {
    destroy(c);
    return;
  }
  if (r.status == IoResult::kEof) {
    // FIN. On an open connection it goes through JS like a peer's Close, so
    // replies to the messages before it still go out; JS answers with 1006,
    // which is never sent: the queue is flushed and the connection closed.
    // The close handler hears 1006, as no Close frame came.
    if (c->state == ConnState::kOpen) {
      c->close_code = proto::kCloseAbnormal;
      c->state = ConnState::kPeerClosed;
      update_interest(c);
      batch_->add(EventType::kPeerClose, c->slot, c->gen, c->close_code, {std::string_view()});  // no reason
      return;
    }
    // Otherwise the end: after what is still queued for the peer.
    if (c->out_pending()) {
      c->destroy_after_flush = true;
      c->state = ConnState::kDraining;
      closing_timers_.arm(c, now_ms_);
      update_interest(c);
      return;
    }
    destroy(c);
    return;
  }
  if (framed) c->last_activity_ms = now_ms_;
  uint8_t* data = read_buffer_.data();
  switch (c->state) {
    case ConnState::kHandshake:
      on_request_bytes(c, data, r.bytes);
      break;
    case ConnState::kOpen:
    case ConnState::kClosing: {
      ParserEvents events{*this, c};
      if (into) {
        c->parser.feed_room(events, room, r.bytes);
      } else {
        c->parser.feed(events, data, r.bytes);
      }
      if (batch_->cost() > kFlushArenaBytes) flush_batch();
      break;
    }
    default:
      break;  // draining, or waiting for JS after a Close or an error: discard
  }
}

void Worker::note_held_input(Connection* c) { held_input_.emplace_back(c->slot, c->gen); }

void Worker::read_held_input() {
  std::vector<std::pair<uint32_t, uint32_t>> held;
  held.swap(held_input_);
  for (auto [slot, gen] : held) {
    Connection* c = lookup(slot, gen);
    // Read only what the connection would read if the poller reported it.
    if (c != nullptr && c->state != ConnState::kDead && (c->interest & core::kPollIn) && c->transport->holds_input()) {
      on_readable(c);
    }
  }
}

void Worker::consumed(size_t bytes) {
  int64_t left = unconsumed_.fetch_sub(int64_t(bytes), std::memory_order_acq_rel) - int64_t(bytes);
  if (reading_paused_.load(std::memory_order_acquire) && left <= int64_t(config_->max_unconsumed / 2)) wake();
}

void Worker::pause_reading(Connection* c) {
  if (c->read_paused) return;
  c->read_paused = true;
  c->paused_at = uint32_t(paused_.size());
  paused_.push_back(c);
  update_interest(c);
}

// A paused connection that closes leaves the list at once, so the list holds
// only live connections however many come and go while JS is behind.
void Worker::unlist_paused(Connection* c) {
  Connection* last = paused_.back();
  paused_[c->paused_at] = last;
  last->paused_at = c->paused_at;
  paused_.pop_back();
  c->read_paused = false;
}

// The user's pause composes with the backpressure pause through
// update_interest, which reads only when neither holds the connection: either
// lifting leaves the other in force. The kernel's buffer fills meanwhile and
// TCP pushes back on the peer. The silence while paused is the server's doing,
// not the peer's: the heartbeat neither pings nor counts it idle (heartbeat.cpp),
// and the idle clock starts again on resume.
void Worker::set_user_paused(Connection* c, bool paused) {
  if (c->user_paused == paused) return;
  c->user_paused = paused;
  if (!paused) c->last_activity_ms = now_ms_;
  update_interest(c);
}

void Worker::resume_reading() {
  if (unconsumed_.load(std::memory_order_acquire) > int64_t(config_->max_unconsumed / 2)) return;
  reading_paused_.store(false, std::memory_order_release);
  std::vector<Connection*> paused;
  paused.swap(paused_);
  for (Connection* c : paused) {
    c->read_paused = false;
    update_interest(c);
  }
}

}  // namespace corews::server
