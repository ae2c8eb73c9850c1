// The heartbeat timer's handler (pingInterval, idleTimeout).
#include "worker.h"

#include "../proto/frame.h"

namespace corews::server {

// Silence since the last bytes: ping after the ping interval, close after the
// idle timeout. Reads only stamp the time; the list is touched here alone.
void Worker::on_heartbeat(Connection* c) {
  if (c->state == ConnState::kHttpStreaming) {
    // A streamed response whose client takes none of it for idleTimeout
    // would hold the connection and the stream for ever: it ends.
    int64_t stalled = c->out_pending() ? now_ms_ - c->write_progress_ms : 0;
    if (stalled >= config_->idle_timeout_ms) {
      WorkerStats::add(stats_.idle_closes);
      destroy(c);
      return;
    }
    heartbeat_timers_.arm(&c->heartbeat, now_ms_);
    return;
  }
  if (c->state != ConnState::kOpen) return;  // closing has its own timeout
  // Paused by the user (ws.pause()), the peer's bytes wait unread: its silence is ours.
  int64_t silent = c->user_paused ? 0 : now_ms_ - c->last_activity_ms;
  // A peer that reads nothing of what is queued for it is idle too, however
  // much it sends (a ping flood costs one pending pong, so its queue need not
  // fill): idle is no bytes in, or no bytes out while output waits.
  int64_t stalled = c->out_pending() ? now_ms_ - c->write_progress_ms : 0;
  if (config_->idle_timeout_ms > 0 && (silent >= config_->idle_timeout_ms || stalled >= config_->idle_timeout_ms)) {
    WorkerStats::add(stats_.idle_closes);
    send_close(c, proto::kCloseGoingAway, "idle timeout");
    return;
  }
  // A peer that is not reading what is queued would only get the ping queued
  // too; the idle timeout decides about it.
  if (config_->ping_interval_ms > 0 && silent >= config_->ping_interval_ms && !c->out_pending()) {
    static constexpr uint8_t kPing[] = {0x80 | proto::kOpPing, 0};
    WorkerStats::add(stats_.pings_sent);
    write_bytes(c, kPing, sizeof kPing);
    if (c->state == ConnState::kDead) return;
  }
  heartbeat_timers_.arm(&c->heartbeat, now_ms_);
}

}  // namespace corews::server
