// The write side of a connection: bytes written through the transport at
// once when nothing is queued, the rest queued; sends corked into one
// writev; pongs; the output bound (admit), the queue size JS sees and the
// drain mark (note_queue); writability; and what the poller watches.
#include "worker.h"

#include <cstring>

#include "../proto/frame.h"
#include "worker_tuning.h"

namespace corews::server {

// Consecutive sends to one connection (a handler's replies) go out in one writev.
void Worker::cork(Connection* c, const uint8_t* data, size_t len) {
  if (corked_ != c || cork_iov_.size() == kMaxCorkIov) uncork();
  corked_ = c;
  cork_iov_.push_back({const_cast<uint8_t*>(data), len});
  cork_bytes_ += len;
}

void Worker::uncork() {
  Connection* c = corked_;
  size_t bytes = cork_bytes_;
  corked_ = nullptr;
  cork_bytes_ = 0;
  if (c == nullptr) return;
  // Taken now, so that note_queue (in write_iov) publishes the sends and the
  // queue they leave behind in one store: JS, which counts a send until the
  // worker reports it taken and then counts the queue, never sees the bytes in
  // neither (and passes maxBackpressure) nor in both.
  c->sends_taken += bytes;
  if (!cork_iov_.empty()) write_iov(c, cork_iov_.data(), int(cork_iov_.size()));
  cork_iov_.clear();
}

void Worker::write_bytes(Connection* c, const uint8_t* data, size_t len) {
  iovec iov{const_cast<uint8_t*>(data), len};
  write_iov(c, &iov, 1);
}

// With nothing queued the pong goes out at once. Behind a queue it waits as
// the one pending pong, replaced by the answer to each later ping (§5.5.3), and
// joins the queue once the queue ahead of it has been written.
void Worker::answer_ping(Connection* c, const uint8_t* data, size_t len) {
  uint8_t frame[proto::kMaxFrameHeader + proto::kMaxControlPayload];
  size_t h = proto::write_frame_header(frame, proto::kOpPong, len, nullptr);
  if (len) std::memcpy(frame + h, data, len);
  if (!c->out_pending()) {
    write_bytes(c, frame, h + len);
    return;
  }
  if (!c->pong) c->pong = std::make_unique<uint8_t[]>(2 + proto::kMaxControlPayload);
  std::memcpy(c->pong.get(), frame, h + len);
  c->pong_len = uint8_t(h + len);
}

void Worker::queue_pending_pong(Connection* c) {
  if (!c->pong) return;
  c->out.append_copy(c->pong.get(), c->pong_len);
  c->pong.reset();
}

// Writes now what the kernel takes; queues the rest until the socket is writable.
void Worker::write_iov(Connection* c, iovec* iov, int count) {
  if (c->state == ConnState::kDead) return;
  if (c->published_at != 0) {
    write_owed_publishes(c);  // the batch's publishes came first
    if (c->state == ConnState::kDead) return;
  }
  int first = 0;
  if (!c->out_pending()) {
    IoResult r = c->transport->write_some(iov, count);
    if (r.status != IoResult::kDone && r.status != IoResult::kWouldBlock) {
      destroy(c);
      return;
    }
    size_t written = r.status == IoResult::kDone ? r.bytes : 0;
    while (first < count && written >= iov[first].iov_len) written -= iov[first++].iov_len;
    if (first < count) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + written;
      iov[first].iov_len -= written;
    }
  }
  if (first < count && !c->out_pending()) c->write_progress_ms = now_ms_;  // the queue starts: its clock too
  for (int i = first; i < count; ++i) {
    c->out.append_copy(static_cast<uint8_t*>(iov[i].iov_base), iov[i].iov_len);
  }
  // Also when the kernel took everything: a drain may be owed.
  note_queue(c);
  update_interest(c);
}

void Worker::note_queue(Connection* c) {
  size_t bytes = c->queued_bytes();
  counters_->publish(c->slot, c->sends_taken, bytes);
  // The one rule for output: whatever filled the queue (replies, pongs,
  // publishes, a Close), at the bound the peer is read no more, so nothing it
  // sends can queue more; TCP pushes back on it. Reading resumes at half.
  if (bytes >= config_->max_backpressure) {
    if (!c->output_full) WorkerStats::add(stats_.output_pauses);
    c->output_full = true;
  } else if (c->output_full && bytes <= config_->max_backpressure / 2) {
    c->output_full = false;
  }
  if (bytes > kDrainLowMark) {
    if (!c->above_low_mark) WorkerStats::add(stats_.backpressure_events);
    c->above_low_mark = true;
    c->drain_armed = true;
  } else {
    c->above_low_mark = false;
    if (c->drain_armed) {
      c->drain_armed = false;
      if (c->state == ConnState::kOpen || c->state == ConnState::kHttpStreaming) {
        batch_->add(EventType::kDrain, c->slot, c->gen, 0, {});
      }
    }
  }
}

// The bound applies to what is already queued, so one message larger than
// maxBackpressure still goes to a connection that keeps up; a queue holds at
// most the bound plus one message.
bool Worker::admit(Connection* c) {
  // Sends corked for this connection are queued output too, only not yet
  // handed to the queue: without them a batch of sends would pass the bound.
  size_t queued = c->queued_bytes() + (c == corked_ ? cork_bytes_ : 0) + owed_publish_bytes(c);
  if (queued < config_->max_backpressure) return true;
  if (config_->drop_on_backpressure) {
    WorkerStats::add(stats_.backpressure_drops);
    return false;
  }
  // Close rather than grow without bound: the Close goes behind what is
  // queued, and the closing timeout drops a peer that never reads it.
  WorkerStats::add(stats_.backpressure_closes);
  if (c == corked_) uncork();
  c->close_code = proto::kClosePolicyViolation;
  static constexpr std::string_view kReason = "backpressure limit exceeded";
  c->set_close_reason(kReason);
  send_close(c, proto::kClosePolicyViolation, kReason);
  return false;
}

void Worker::on_writable(Connection* c) {
  while (c->out_pending()) {
    // Once our queue is out, what the transport holds of its own follows
    // (TLS records; plain TCP never holds any).
    IoResult r = c->out.empty() ? c->transport->flush_held() : c->out.write_to(*c->transport);
    if (r.status == IoResult::kWouldBlock) break;
    if (r.status != IoResult::kDone) {
      destroy(c);
      return;
    }
    c->write_progress_ms = now_ms_;
    if (!c->out_pending()) queue_pending_pong(c);  // its turn: the queue ahead of it is gone
  }
  note_queue(c);
  if (!c->out_pending()) {
    if (c->destroy_after_flush) {
      destroy(c);
      return;
    }
    if (c->shutdown_after_flush) {
      c->shutdown_after_flush = false;
      c->transport->end_sending();
    }
  }
  update_interest(c);
}

void Worker::update_interest(Connection* c) {
  if (c->state == ConnState::kDead) return;
  uint8_t want = 0;
  switch (c->state) {
    case ConnState::kAwaitingJs:
    case ConnState::kHttpStreaming:  // a pipelined request waits in the kernel until this one is answered
      want = core::kPollRdHup;
      break;
    case ConnState::kPeerClosed:
    case ConnState::kFailed:
      break;  // while JS answers a Close or an error, the peer's further bytes stay in the kernel
    default:
      if (!c->read_paused && !c->user_paused && !c->output_full && !c->destroy_after_flush) want = core::kPollIn;
  }
  if (c->out_pending()) want |= core::kPollOut;
  want |= c->transport->own_interest();  // a TLS transport's own needs (plain TCP: none)
  if ((want & core::kPollIn) && c->transport->holds_input()) note_held_input(c);  // no poller will say so
  if (want != c->interest) {
    c->interest = want;
    poller_.modify(c->transport->fd(), want, c);
  }
}

}  // namespace corews::server
