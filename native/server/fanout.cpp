// Publishing: one shared frame to every subscriber of a topic on this
// worker, queued by reference, and a command batch's publishes to a
// connection written together.
#include "worker.h"

#include "worker_tuning.h"

namespace corews::server {

// One framed message to every subscriber of a topic on this worker, from the
// shared block: what the kernel does not take is queued as a reference to it.
void Worker::publish(const CommandHeader& h, const PublishPayload& p) {
  auto* frame = static_cast<core::SharedBytes*>(p.frame);
  // Connections that close meanwhile stay listed (and are skipped) until the
  // end of the iteration, so this list does not change under the loop.
  if (const std::vector<Subscriber>* subs = topics_.subscribers(p.topic)) {
    for (const Subscriber& s : *subs) {
      Connection* c = s.c;
      if (c->state != ConnState::kOpen) continue;
      if (c->slot == h.slot && c->gen == h.gen) continue;  // ws.publish skips its sender
      if (!admit(c)) continue;
      core::SharedBytes* bytes = frame;
      if (should_compress(c, uint8_t(p.flags), frame->data())) {
        if (core::SharedBytes* compressed = compressed_publish(c, frame)) bytes = compressed;
      }
      WorkerStats::add(stats_.messages_out);
      WorkerStats::add(stats_.bytes_out, bytes->size());
      // Queue a reference; all of this batch's small publishes to a
      // connection then leave in one writev (flush_published), not one send
      // each. Past the low mark, write now, as a send would.
      c->out.append_shared(bytes, 0, bytes->size());
      if (c->queued_bytes() > kDrainLowMark) {
        on_writable(c);
      } else if (!c->publish_pending) {
        c->publish_pending = true;
        published_.push_back(c);
      }
    }
  }
  end_publish();
  frame->unref();
}

void Worker::flush_published() {
  for (Connection* c : published_) {
    c->publish_pending = false;
    if (c->state != ConnState::kDead) on_writable(c);
  }
  published_.clear();
}

}  // namespace corews::server
