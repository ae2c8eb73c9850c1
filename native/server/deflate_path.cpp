// permessage-deflate on the way out (RFC 7692 §7.2.1): a send or a publish
// that JS framed is compressed here, on the worker, and re-framed with RSV1
// (§6: a message sent in one frame carries RSV1 on that frame).
#include <cstring>

#include "../proto/frame.h"
#include "worker.h"

namespace corews::server {

namespace {

// The header JS wrote (FIN, opcode, the minimal length; no mask): its size.
size_t header_size(const uint8_t* frame) {
  uint8_t len7 = frame[1] & 0x7f;
  return len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
}

proto::Opcode opcode_of(const uint8_t* frame) { return proto::Opcode(frame[0] & 0x0f); }

// The compressed payload at out[kMaxFrameHeader…]: its header goes right in
// front of it, so that frame = out.data() + returned offset.
size_t frame_in_place(std::vector<uint8_t>& out, proto::Opcode op) {
  size_t body = out.size() - proto::kMaxFrameHeader;
  uint8_t header[proto::kMaxFrameHeader];
  size_t h = proto::write_frame_header(header, op, body, nullptr, true);
  size_t at = proto::kMaxFrameHeader - h;
  std::memcpy(out.data() + at, header, h);
  return at;
}

// The scratch buffer keeps its capacity for the next message unless one
// huge message grew it.
constexpr size_t kKeepScratchCapacity = 4 << 20;

void reset_scratch(std::vector<uint8_t>& scratch) {
  if (scratch.capacity() > kKeepScratchCapacity) std::vector<uint8_t>().swap(scratch);
  scratch.assign(proto::kMaxFrameHeader, 0);
}

}  // namespace

bool Worker::should_compress(const Connection* c, uint8_t flags, const uint8_t* frame) const {
  if (!c->deflate || (flags & kSendNoCompress)) return false;
  proto::Opcode op = opcode_of(frame);
  if (op != proto::kOpText && op != proto::kOpBinary) return false;  // never a control frame (§6.1)
  if (flags & kSendCompress) return true;
  uint64_t len = frame[1] & 0x7f;
  if (len == 126) len = (uint64_t(frame[2]) << 8) | frame[3];
  if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | frame[i];
  }
  return len >= deflate_.settings().threshold;
}

bool Worker::send_compressed(Connection* c, const uint8_t* frame, size_t len) {
  uncork();  // what was sent before goes first
  size_t h = header_size(frame);
  reset_scratch(compressed_);
  if (!c->deflate->compress(frame + h, len - h, compressed_)) return false;
  size_t at = frame_in_place(compressed_, opcode_of(frame));
  size_t wire = compressed_.size() - at;
  WorkerStats::add(stats_.bytes_out, wire);
  // JS counted the frame it built; the queue counts what goes on the wire.
  c->sends_taken += len;
  write_bytes(c, compressed_.data() + at, wire);
  return true;
}

// Subscribers that agreed to the same window share one compressed frame: it
// refers to nothing before it, so it suits every connection, with context
// takeover or without; one with context takeover then forgets its own
// history, which no longer matches the peer's (deflate_session.h).
core::SharedBytes* Worker::compressed_publish(Connection* c, core::SharedBytes* frame) {
  int bits = c->deflate->params().server_max_window_bits;
  core::SharedBytes*& cached = publish_frames_[size_t(bits) & 15];
  if (cached == nullptr) {
    size_t h = header_size(frame->data());
    reset_scratch(compressed_);
    if (!deflate_.compress_shared(bits, frame->data() + h, frame->size() - h, compressed_)) return nullptr;
    deflate_.count_compressed(frame->size() - h, compressed_.size() - proto::kMaxFrameHeader);
    size_t at = frame_in_place(compressed_, opcode_of(frame->data()));
    cached = core::SharedBytes::create(compressed_.size() - at);
    std::memcpy(cached->data(), compressed_.data() + at, compressed_.size() - at);
    cached->set_size(compressed_.size() - at);
  }
  if (!c->deflate->params().server_no_context_takeover) c->deflate->forget_history();
  return cached;
}

void Worker::end_publish() {
  for (core::SharedBytes*& f : publish_frames_) {
    if (f != nullptr) f->unref();
    f = nullptr;
  }
}

}  // namespace corews::server
