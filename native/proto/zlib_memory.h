// Memory accounting for zlib streams: the zalloc/zfree hooks of one stream
// count the bytes it holds, so that a server can budget its zlib state
// (a deflate stream with the default window and memLevel holds about 256 KiB,
// an inflate stream about 7 KiB plus its window) and see what an idle
// connection keeps.
//
// Coded against the plain zlib API only (zalloc, zfree, opaque), so the same
// code runs with the system zlib in the tests and with the zlib that Node
// exports in the addon.
#pragma once
#include <cstddef>

struct z_stream_s;

namespace corews::proto {

class ZlibMemory {
 public:
  // `total`, when given, is a counter shared by several streams (for example
  // all of one worker's): every byte counted here is also added to it.
  explicit ZlibMemory(size_t* total = nullptr) : total_(total) {}
  ~ZlibMemory() = default;
  ZlibMemory(const ZlibMemory&) = delete;
  ZlibMemory& operator=(const ZlibMemory&) = delete;

  // Points the stream's zalloc, zfree and opaque at this counter. Call before
  // deflateInit2 / inflateInit2; the counter must stay where it is while the
  // stream lives (zlib keeps the pointer).
  void attach(z_stream_s& stream);

  // Bytes the stream (and whatever was add()ed) holds now.
  size_t bytes() const { return bytes_; }
  // Buffers of the stream's owner that belong to its budget too.
  void add(size_t n);
  void remove(size_t n);

 private:
  static void* alloc(void* opaque, unsigned items, unsigned size);
  static void release(void* opaque, void* address);

  size_t bytes_ = 0;
  size_t* total_;
};

}  // namespace corews::proto
