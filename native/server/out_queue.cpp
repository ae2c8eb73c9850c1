#include "out_queue.h"

#include <cstddef>
#include <cstring>

namespace corews::server {
namespace {
constexpr size_t kMinBlock = 16 * 1024;
constexpr int kMaxIov = 64;
// A shared block shorter than this is copied rather than referenced: a segment
// costs as much as the bytes then, and a queue of tiny publishes would hold
// more bookkeeping than data.
constexpr size_t kCopyBelow = 256;
// Written segments are dropped from the front once they are this many and at
// least half the list.
constexpr size_t kCompactAfter = 32;
}  // namespace

void OutQueue::append_copy(const uint8_t* data, size_t len) {
  if (len == 0) return;
  if (head_ < segments_.size()) {
    Segment& last = segments_.back();
    if (last.owned && last.offset + last.len + len <= last.block->capacity()) {
      std::memcpy(last.block->data() + last.offset + last.len, data, len);
      last.len += len;
      last.block->set_size(last.offset + last.len);
      bytes_ += len;
      return;
    }
  }
  core::SharedBytes* block = core::SharedBytes::create(len > kMinBlock ? len : kMinBlock);
  std::memcpy(block->data(), data, len);
  block->set_size(len);
  segments_.push_back({block, 0, len, true});
  bytes_ += len;
}

void OutQueue::append_shared(core::SharedBytes* block, size_t offset, size_t len) {
  if (len == 0) return;
  if (len < kCopyBelow) return append_copy(block->data() + offset, len);
  block->ref();
  segments_.push_back({block, offset, len, false});
  bytes_ += len;
}

IoResult OutQueue::write_to(Transport& transport) {
  iovec iov[kMaxIov];
  int n = 0;
  for (size_t i = head_; i < segments_.size() && n < kMaxIov; ++i) {
    iov[n++] = {segments_[i].block->data() + segments_[i].offset, segments_[i].len};
  }
  if (n == 0) return {IoResult::kDone};
  IoResult r = transport.write_some(iov, n);
  if (r.status == IoResult::kDone) consume(r.bytes);
  return r;
}

void OutQueue::consume(size_t written) {
  size_t left = written;
  bytes_ -= left;
  while (left > 0) {
    Segment& s = segments_[head_];
    if (left < s.len) {
      s.offset += left;
      s.len -= left;
      break;
    }
    left -= s.len;
    s.block->unref();
    ++head_;
  }
  if (head_ == segments_.size()) {
    // Drained: give the memory back, an idle connection keeps no buffer.
    std::vector<Segment>().swap(segments_);
    head_ = 0;
  } else if (head_ >= kCompactAfter && 2 * head_ >= segments_.size()) {
    // A queue that never drains (a subscriber always a little behind) would
    // otherwise keep every segment it ever wrote: drop the written ones, at a
    // cost spread over at least as many appends as it moves.
    segments_.erase(segments_.begin(), segments_.begin() + std::ptrdiff_t(head_));
    head_ = 0;
  }
}

void OutQueue::clear() {
  for (size_t i = head_; i < segments_.size(); ++i) segments_[i].block->unref();
  std::vector<Segment>().swap(segments_);
  head_ = 0;
  bytes_ = 0;
}

}  // namespace corews::server
