// The per-connection rate limit (maxMessagesPerSecond): a token bucket
// that messages, pings and pongs all draw on.
#include "worker.h"

namespace corews::server {

bool Worker::count_message(Connection* c, size_t len) {
  if (!within_rate(c)) return false;
  WorkerStats::add(stats_.messages_in);
  WorkerStats::add(stats_.bytes_in, len);
  return true;
}

// Messages, pings and pongs all draw on the bucket: a flood of control frames
// costs the server as much as one of messages.
bool Worker::within_rate(Connection* c) {
  double rate = config_->max_messages_per_second;
  if (rate <= 0) return true;
  // A token bucket: `rate` per second, bursts of up to one second's worth.
  double burst = rate > 1 ? rate : 1;
  double tokens = c->tokens + double(now_ms_ - c->tokens_at_ms) * rate / 1000.0;
  c->tokens_at_ms = now_ms_;
  if (tokens > burst) tokens = burst;
  if (tokens >= 1) {
    c->tokens = float(tokens - 1);
    return true;
  }
  c->tokens = float(tokens);
  c->parser.stop();
  // Already closing: our Close is sent, so there is nothing more to say;
  // the peer's further frames are ignored and the closing timeout ends it.
  if (c->state != ConnState::kOpen) return false;
  WorkerStats::add(stats_.rate_limit_closes);
  // Fail like a protocol error: after the messages before it, through JS.
  c->close_code = proto::kClosePolicyViolation;
  c->set_close_reason("message rate limit exceeded");
  c->state = ConnState::kFailed;
  update_interest(c);
  batch_->add(EventType::kProtocolError, c->slot, c->gen, c->close_code, {c->close_reason()});
  return false;
}

}  // namespace corews::server
