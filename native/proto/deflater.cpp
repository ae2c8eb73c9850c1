#define ZLIB_CONST
#include "deflater.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "zlib_memory.h"

namespace corews::proto {

// The z_stream lives on the heap with its counter: zlib keeps pointers to
// both (opaque, and the stream's own state points back at the z_stream), so
// neither may move when the Deflater does.
struct Deflater::Stream {
  explicit Stream(size_t* total) : memory(total) {}
  ZlibMemory memory;
  z_stream z{};
};

Deflater::Deflater(const DeflaterOptions& options) : options_(options) {}
Deflater::~Deflater() { release(); }
Deflater::Deflater(Deflater&&) noexcept = default;
Deflater& Deflater::operator=(Deflater&& other) noexcept {
  if (this != &other) {
    release();
    options_ = other.options_;
    stream_ = std::move(other.stream_);
    message_in_ = other.message_in_;
    mid_message_ = other.mid_message_;
  }
  return *this;
}

size_t Deflater::memory() const { return stream_ ? stream_->memory.bytes() : 0; }

bool Deflater::ensure_stream() {
  if (stream_) return true;
  if (options_.window_bits < 8 || options_.window_bits > 15) return false;
  auto s = std::make_unique<Stream>(options_.memory_total);
  s->memory.attach(s->z);
  // 8 runs as 9: see DeflaterOptions::window_bits.
  int bits = options_.window_bits == 8 ? 9 : options_.window_bits;
  // Negative window bits: raw DEFLATE, no zlib header or checksum (§7.2.1).
  if (deflateInit2(&s->z, options_.level, Z_DEFLATED, -bits, options_.mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
    return false;  // nothing was allocated that deflateEnd would free
  }
  stream_ = std::move(s);
  return true;
}

void Deflater::release() {
  if (stream_) {
    deflateEnd(&stream_->z);
    stream_.reset();
  }
  mid_message_ = false;
  message_in_ = 0;
}

bool Deflater::fail() {
  release();
  return false;
}

// Runs deflate until it has taken all input and, for a flush, emitted all it
// owes, growing `out` as it goes.
bool Deflater::run(int flush, std::vector<uint8_t>& out) {
  z_stream& z = stream_->z;
  while (true) {
    size_t room = std::clamp<size_t>(z.avail_in / 4 + 64, 1024, 1 << 20);
    size_t old = out.size();
    out.resize(old + room);
    z.next_out = out.data() + old;
    z.avail_out = uInt(room);
    int r = deflate(&z, flush);
    out.resize(old + room - z.avail_out);
    if (r == Z_STREAM_ERROR) return false;
    // Z_BUF_ERROR is "no progress possible": nothing more to do.
    if (r == Z_BUF_ERROR || (z.avail_in == 0 && z.avail_out != 0)) return true;
  }
}

bool Deflater::write(const uint8_t* data, size_t len, std::vector<uint8_t>& out) {
  mid_message_ = true;
  if (len == 0) return true;
  if (!ensure_stream()) return fail();
  message_in_ += len;
  z_stream& z = stream_->z;
  while (len > 0) {
    // avail_in is 32 bits wide.
    size_t piece = std::min<size_t>(len, 1u << 30);
    z.next_in = data;
    z.avail_in = uInt(piece);
    if (!run(Z_NO_FLUSH, out)) return fail();
    data += piece;
    len -= piece;
  }
  return true;
}

bool Deflater::finish(std::vector<uint8_t>& out) {
  if (message_in_ == 0) {
    // §7.2.3.6: an empty message is the single octet 0x00 (an empty stored
    // block's header bits; the receiver's 00 00 ff ff completes it). Written
    // directly: zlib, asked for a second sync flush in a row, would emit
    // nothing, and the state needs no change as the last message ended on a
    // byte boundary already.
    out.push_back(0x00);
  } else {
    size_t start = out.size();
    z_stream& z = stream_->z;
    z.next_in = nullptr;
    z.avail_in = 0;
    if (!run(Z_SYNC_FLUSH, out)) return fail();
    // §7.2.1: the sync flush ended the data with an empty stored block, whose
    // last four octets are removed; the receiver appends them again.
    static const uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};
    if (out.size() - start < 4 || std::memcmp(out.data() + out.size() - 4, kTail, 4) != 0) return fail();
    out.resize(out.size() - 4);
    if (options_.no_context_takeover) {
      // §7.1.1.1: the next message must not refer to this one.
      if (options_.release_after_message) {
        release();
      } else if (deflateReset(&z) != Z_OK) {
        return fail();
      }
    }
  }
  mid_message_ = false;
  message_in_ = 0;
  return true;
}

bool Deflater::compress(const uint8_t* data, size_t len, std::vector<uint8_t>& out) {
  return write(data, len, out) && finish(out);
}

}  // namespace corews::proto
