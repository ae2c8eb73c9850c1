// Publishing: one shared frame to every subscriber of a topic on this
// worker. A command batch's publishes are not queued per subscriber while the
// batch runs: each frame is held once, by the worker, and each subscriber gets
// a chain of links to the frames it is owed. At the batch's end (or before
// anything else is written to it) each subscriber's chain goes out in one
// writev, straight from the shared frames: no copy and no allocation per
// delivery; only what the kernel does not take is queued.
//
// Consecutive publishes to one topic (same sender, same flags, no
// compression possible) are gathered first and joined into one frame block:
// each subscriber is then admitted, linked and counted once per run of
// publishes instead of once per publish, and gets them in one iovec. The
// bound stays exact: a subscriber that the whole run would take past it gets
// the run's publishes one by one, each admitted as before.
#include "worker.h"

#include <cstring>

#include "worker_tuning.h"

namespace corews::server {

namespace {
constexpr uint32_t kNoLink = ~uint32_t(0);
constexpr int kMaxPublishIov = 64;
// Publishes are joined while their frames total at most this (one copy per
// run, on the worker, not one per subscriber); a larger frame goes alone.
constexpr size_t kJoinBytes = 16 * 1024;
}  // namespace

void Worker::gather_publish(const CommandHeader& h, const PublishPayload& p) {
  auto* frame = static_cast<core::SharedBytes*>(p.frame);
  // With permessage-deflate on, a subscriber may get its own compressed copy
  // of each publish: those go one by one, as they come.
  const bool joinable = (p.flags & kSendNoCompress) != 0 || !deflate_.enabled();
  GatheredPublishes& g = gathered_;
  if (!g.frames.empty() && (!joinable || p.topic != g.topic || p.flags != g.flags || h.slot != g.header.slot ||
                            h.gen != g.header.gen || g.bytes + frame->size() > kJoinBytes)) {
    run_gathered_publishes();
  }
  if (!joinable || frame->size() > kJoinBytes) {
    uncork();  // what was sent before this publish goes first
    publish(h, p);
    return;
  }
  if (g.frames.empty()) {
    g.header = h;
    g.topic = p.topic;
    g.flags = p.flags;
  }
  g.frames.push_back(frame);
  g.bytes += frame->size();
}

void Worker::run_gathered_publishes() {
  GatheredPublishes& g = gathered_;
  if (g.frames.empty()) return;
  uncork();  // what was sent before these publishes goes first
  if (g.frames.size() == 1) {
    publish(g.header, PublishPayload{g.topic, g.flags, g.frames[0]});
  } else {
    publish_joined(g);
  }
  g.frames.clear();
  g.bytes = 0;
}

// The gathered frames, copied once into one block that every subscriber is
// owed as a whole. The commands' references to the originals are dropped at
// the end; one that a subscriber had to get one by one holds its own.
void Worker::publish_joined(const GatheredPublishes& g) {
  core::SharedBytes* joined = core::SharedBytes::create(g.bytes);
  size_t at_byte = 0;
  for (core::SharedBytes* f : g.frames) {
    std::memcpy(joined->data() + at_byte, f->data(), f->size());
    at_byte += f->size();
  }
  joined->set_size(at_byte);
  publish_frames_held_.push_back(joined);  // its creator's reference becomes the batch's
  const uint32_t whole = uint32_t(publish_frames_held_.size() - 1);
  const size_t count = g.frames.size();
  // Admitted as a whole when the last publish would be: each is admitted
  // while what is queued and owed before it is under the bound.
  const size_t before_last = g.bytes - g.frames.back()->size();
  const size_t bound = config_->max_backpressure;
  uint64_t messages = 0, bytes = 0;
  if (const std::vector<Subscriber>* subs = topics_.subscribers(g.topic)) {
    for (const Subscriber& s : *subs) {
      Connection* c = s.c;
      if (c->state != ConnState::kOpen) continue;
      if (c->slot == g.header.slot && c->gen == g.header.gen) continue;  // ws.publish skips its sender
      if (c->queued_bytes() + owed_publish_bytes(c) + before_last < bound) {
        messages += count;
        bytes += g.bytes;
        owe_publish(c, whole, g.bytes);
        continue;
      }
      for (core::SharedBytes* f : g.frames) {
        if (c->state != ConnState::kOpen || !admit(c)) continue;
        messages += 1;
        bytes += f->size();
        owe_publish(c, hold_publish_frame(f), f->size());
      }
    }
  }
  WorkerStats::add(stats_.messages_out, messages);
  WorkerStats::add(stats_.bytes_out, bytes);
  for (core::SharedBytes* f : g.frames) f->unref();
}

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
  uint64_t messages = 0, bytes_out = 0;
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
      messages += 1;
      bytes_out += bytes->size();
      owe_publish(c, at, bytes->size());
    }
  }
  WorkerStats::add(stats_.messages_out, messages);
  WorkerStats::add(stats_.bytes_out, bytes_out);
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
  const bool was_idle = !queue;
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
  // The usual case, all taken by a socket that had nothing waiting (nor holds
  // any now, as a TLS transport could): the queue JS sees, the drain state and
  // what the poller watches are as they were.
  if (was_idle && !queue && !c->output_full && !c->drain_armed && !c->out_pending()) return;
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
