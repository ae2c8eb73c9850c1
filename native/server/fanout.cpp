// Publishing: one shared frame to every subscriber of a topic on this
// worker. A command batch's publishes are not queued per subscriber while the
// batch runs: each frame is held once, by the worker, and each subscriber gets
// a chain of links to the frames it is owed. At the batch's end (or before
// anything else is written to it) each subscriber's chain goes out in one
// writev, straight from the shared frames: no copy and no allocation per
// delivery; only what the kernel does not take is queued.
#include "worker.h"

#include "worker_tuning.h"

namespace corews::server {

namespace {
constexpr uint32_t kNoLink = ~uint32_t(0);
constexpr int kMaxPublishIov = 64;
}  // namespace

// Index of `bytes` among the batch's frames; the batch takes a reference.
uint32_t Worker::hold_publish_frame(core::SharedBytes* bytes) {
  bytes->ref();
  publish_frames_held_.push_back(bytes);
  return uint32_t(publish_frames_held_.size() - 1);
}

void Worker::publish(const CommandHeader& h, const PublishPayload& p) {
  auto* frame = static_cast<core::SharedBytes*>(p.frame);
  // The command's reference becomes the batch's.
  publish_frames_held_.push_back(frame);
  const uint32_t plain = uint32_t(publish_frames_held_.size() - 1);
  std::array<uint32_t, 16> compressed_at;  // by window bits, once compressed
  compressed_at.fill(kNoLink);
  // Connections that close meanwhile stay listed (and are skipped) until the
  // end of the iteration, so this list does not change under the loop.
  if (const std::vector<Subscriber>* subs = topics_.subscribers(p.topic)) {
    for (const Subscriber& s : *subs) {
      Connection* c = s.c;
      if (c->state != ConnState::kOpen) continue;
      if (c->slot == h.slot && c->gen == h.gen) continue;  // ws.publish skips its sender
      if (!admit(c)) continue;
      core::SharedBytes* bytes = frame;
      uint32_t at = plain;
      if (should_compress(c, uint8_t(p.flags), frame->data())) {
        if (core::SharedBytes* compressed = compressed_publish(c, frame)) {
          uint32_t& cached = compressed_at[size_t(c->deflate->params().server_max_window_bits) & 15];
          if (cached == kNoLink) cached = hold_publish_frame(compressed);
          bytes = compressed;
          at = cached;
        }
      }
      WorkerStats::add(stats_.messages_out);
      WorkerStats::add(stats_.bytes_out, bytes->size());
      owe_publish(c, at, bytes->size());
    }
  }
  end_publish();
}

// Links frame `at` to c's chain. Past the low mark the chain goes out now,
// as a send would.
void Worker::owe_publish(Connection* c, uint32_t at, size_t len) {
  if (c->published_at == 0) {
    published_.push_back({c, kNoLink, kNoLink, 0});
    c->published_at = uint32_t(published_.size());
  }
  PublishTarget& t = published_[c->published_at - 1];
  uint32_t link = uint32_t(publish_links_.size());
  publish_links_.push_back({at, kNoLink});
  if (t.head == kNoLink) t.head = link;
  else publish_links_[t.tail].next = link;
  t.tail = link;
  t.bytes += len;
  if (c->queued_bytes() + t.bytes > kDrainLowMark) write_owed_publishes(c);
}

size_t Worker::owed_publish_bytes(const Connection* c) const {
  return c->published_at == 0 ? 0 : published_[c->published_at - 1].bytes;
}

// c's chain, written now: what the kernel takes, the rest queued (as
// references to the shared frames). Its entry in published_ is spent.
void Worker::write_owed_publishes(Connection* c) {
  PublishTarget& t = published_[c->published_at - 1];
  uint32_t link = t.head;
  t.c = nullptr;
  c->published_at = 0;
  if (c->state == ConnState::kDead) return;
  bool queue = c->out_pending();  // behind what waits: no write now
  if (!queue) c->write_progress_ms = now_ms_;  // if a queue starts, its clock starts too
  while (link != kNoLink) {
    iovec iov[kMaxPublishIov];
    uint32_t first = link;
    int n = 0;
    for (; link != kNoLink && n < kMaxPublishIov; link = publish_links_[link].next) {
      core::SharedBytes* f = publish_frames_held_[publish_links_[link].frame];
      iov[n++] = {f->data(), f->size()};
    }
    size_t written = 0;
    if (!queue) {
      IoResult r = c->transport->write_some(iov, n);
      if (r.status == IoResult::kDone) {
        written = r.bytes;
      } else if (r.status != IoResult::kWouldBlock) {
        destroy(c);
        return;
      }
    }
    for (uint32_t l = first; l != link; l = publish_links_[l].next) {
      core::SharedBytes* f = publish_frames_held_[publish_links_[l].frame];
      if (written >= f->size()) {
        written -= f->size();
        continue;
      }
      c->out.append_shared(f, written, f->size() - written);
      written = 0;
      queue = true;
    }
  }
  note_queue(c);
  update_interest(c);
}

void Worker::flush_published() {
  for (PublishTarget& t : published_) {
    if (t.c != nullptr) write_owed_publishes(t.c);
  }
  published_.clear();
  publish_links_.clear();
  for (core::SharedBytes* f : publish_frames_held_) f->unref();
  publish_frames_held_.clear();
}

}  // namespace corews::server
