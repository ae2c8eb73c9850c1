#define ZLIB_CONST
#include "inflater.h"

#include <zlib.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "zlib_memory.h"

namespace corews::proto {

// Heap-allocated for the same reason as the Deflater's: zlib keeps pointers
// to the z_stream and to the counter.
struct Inflater::Stream {
  Stream(size_t* total, size_t chunk_size) : memory(total), chunk(new uint8_t[chunk_size]), chunk_bytes(chunk_size) {
    memory.add(chunk_bytes);  // the chunk buffer is part of what a stream costs
  }
  ~Stream() { memory.remove(chunk_bytes); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ZlibMemory memory;
  std::unique_ptr<uint8_t[]> chunk;
  size_t chunk_bytes;
  z_stream z{};
};

Inflater::Inflater(const InflaterOptions& options) : options_(options) {
  if (options_.chunk_size == 0) options_.chunk_size = 1;
  // One inflate call fills at most avail_out, which is 32 bits wide.
  options_.chunk_size = std::min<size_t>(options_.chunk_size, 1u << 30);
}
Inflater::~Inflater() { release(); }
Inflater::Inflater(Inflater&& other) noexcept
    : MessageInflater(other),
      options_(other.options_),
      stream_(std::move(other.stream_)),
      message_in_(other.message_in_),
      message_out_(other.message_out_),
      error_(other.error_),
      failed_(other.failed_),
      mid_message_(other.mid_message_),
      stream_ended_(other.stream_ended_) {
  other.release();
}
Inflater& Inflater::operator=(Inflater&& other) noexcept {
  if (this != &other) {
    release();
    options_ = other.options_;
    stream_ = std::move(other.stream_);
    message_in_ = other.message_in_;
    message_out_ = other.message_out_;
    error_ = other.error_;
    failed_ = other.failed_;
    mid_message_ = other.mid_message_;
    stream_ended_ = other.stream_ended_;
    other.release();
  }
  return *this;
}

size_t Inflater::memory() const { return stream_ ? stream_->memory.bytes() : 0; }

bool Inflater::ensure_stream() {
  if (stream_) return true;
  if (options_.window_bits < 8 || options_.window_bits > 15) return false;
  auto s = std::make_unique<Stream>(options_.memory_total, options_.chunk_size);
  s->memory.attach(s->z);
  // Negative window bits: raw DEFLATE (§7.2.2). zlib's raw inflate takes 8
  // to 15, and fails on a distance beyond 2^bits.
  if (inflateInit2(&s->z, -options_.window_bits) != Z_OK) return false;
  stream_ = std::move(s);
  return true;
}

void Inflater::release() {
  if (stream_) {
    inflateEnd(&stream_->z);
    stream_.reset();
  }
  message_in_ = 0;
  message_out_ = 0;
  mid_message_ = false;
  stream_ended_ = false;
  failed_ = InflateStatus::kOk;
  error_ = "";
}

InflateStatus Inflater::fail(InflateStatus status, const char* why) {
  // zlib's own message points into its state: keep only static texts.
  release();
  failed_ = status;
  error_ = why;
  return status;
}

// Inflates `data` (all of it, unless the DEFLATE stream ends first), handing
// each chunk of output to the sink.
InflateStatus Inflater::pump(const uint8_t* data, size_t len, uint64_t limit, InflateSink sink, void* context) {
  z_stream& z = stream_->z;
  uint8_t* chunk = stream_->chunk.get();
  const size_t chunk_size = options_.chunk_size;
  while (true) {
    if (z.avail_in == 0 && len > 0) {
      size_t piece = std::min<size_t>(len, 1u << 30);  // avail_in is 32 bits wide
      z.next_in = data;
      z.avail_in = uInt(piece);
      data += piece;
      len -= piece;
    }
    z.next_out = chunk;
    z.avail_out = uInt(chunk_size);
    int r = inflate(&z, Z_SYNC_FLUSH);
    size_t produced = chunk_size - z.avail_out;
    if (produced > 0) {
      // message_out_ never passes limit, so the subtraction cannot wrap.
      uint64_t room = limit - message_out_;
      if (produced > room) {
        // The bytes up to the limit still go to the sink first, so that what
        // stops the message (say, invalid UTF-8 before the limit, or the
        // limit) does not depend on how the input was cut into pieces.
        if (room > 0 && !sink(context, chunk, size_t(room))) return fail(InflateStatus::kStopped, "stopped by the sink");
        return fail(InflateStatus::kTooBig, "message inflates past the limit");
      }
      message_out_ += produced;
      if (!sink(context, chunk, produced)) return fail(InflateStatus::kStopped, "stopped by the sink");
    }
    switch (r) {
      case Z_OK:
        break;
      case Z_STREAM_END:
        // A final block (BFINAL) ended the stream: what follows in this
        // message is not DEFLATE data for this stream (see inflater.h).
        stream_ended_ = true;
        z.avail_in = 0;
        return InflateStatus::kOk;
      case Z_BUF_ERROR:
        // No progress possible: all input is used and no output is pending.
        if (len == 0) return InflateStatus::kOk;
        break;
      case Z_MEM_ERROR:
        return fail(InflateStatus::kNoMemory, "out of memory for the inflate window");
      case Z_DATA_ERROR:
        return fail(InflateStatus::kBadData, z.msg && std::string_view(z.msg) == "invalid distance too far back"
                                                 ? "a DEFLATE distance beyond the agreed window"
                                                 : "invalid DEFLATE data");
      default:  // Z_NEED_DICT cannot happen for raw inflate; Z_STREAM_ERROR is a bug
        return fail(InflateStatus::kBadData, "inflate failed");
    }
    // Done when all input went in and the last call had room to spare (so
    // zlib holds no more output for us).
    if (z.avail_in == 0 && len == 0 && z.avail_out != 0) return InflateStatus::kOk;
  }
}

InflateStatus Inflater::write(const uint8_t* data, size_t len, uint64_t limit, InflateSink sink, void* context) {
  if (failed_ != InflateStatus::kOk) return failed_;
  mid_message_ = true;
  if (len == 0 || stream_ended_) return InflateStatus::kOk;
  if (!ensure_stream()) return fail(InflateStatus::kNoMemory, "cannot create the inflate stream");
  message_in_ += len;
  return pump(data, len, limit, sink, context);
}

InflateStatus Inflater::finish(uint64_t limit, InflateSink sink, void* context) {
  if (failed_ != InflateStatus::kOk) return failed_;
  if (message_in_ > 0 && !stream_ended_) {
    // §7.2.2: append the 4 octets the sender removed, then inflate them.
    static const uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};
    InflateStatus st = pump(kTail, sizeof kTail, limit, sink, context);
    if (st != InflateStatus::kOk) return st;
    // zlib sets bit 7 of data_type when it stopped right at the start of a
    // block header: the message ended on a block boundary.
    if (!stream_ended_ && !(stream_->z.data_type & 128)) {
      return fail(InflateStatus::kBadData, "compressed message does not end on a DEFLATE block boundary");
    }
  }
  if (!end_message()) return fail(InflateStatus::kNoMemory, "cannot restart the inflate stream");
  return InflateStatus::kOk;
}

bool Inflater::end_message() {
  bool ended = stream_ended_;
  message_in_ = 0;
  message_out_ = 0;
  mid_message_ = false;
  stream_ended_ = false;
  if (!stream_) return true;
  z_stream& z = stream_->z;
  if (options_.no_context_takeover) {
    // §7.1.1.2: the client starts every message with an empty window.
    if (options_.release_after_message) {
      release();
      return true;
    }
    return inflateReset(&z) == Z_OK;
  }
  if (ended) {
    // Context takeover across a final block: a new DEFLATE stream that
    // starts with the old window as its dictionary.
    std::vector<uint8_t> window(size_t(1) << options_.window_bits);
    uInt have = uInt(window.size());
    if (inflateGetDictionary(&z, window.data(), &have) != Z_OK) return false;
    if (inflateReset(&z) != Z_OK) return false;
    if (have > 0 && inflateSetDictionary(&z, window.data(), have) != Z_OK) return false;
  }
  return true;
}

}  // namespace corews::proto
