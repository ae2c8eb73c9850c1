#include "zlib_memory.h"

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace corews::proto {

namespace {
// Each block carries its size in front of it, so that zfree (which zlib calls
// with the address only) can count it off. The header keeps the block aligned
// as malloc would.
constexpr size_t kHeader = alignof(std::max_align_t) > sizeof(size_t) ? alignof(std::max_align_t) : sizeof(size_t);
}  // namespace

void ZlibMemory::attach(z_stream_s& stream) {
  stream.zalloc = &ZlibMemory::alloc;
  stream.zfree = &ZlibMemory::release;
  stream.opaque = this;
}

void ZlibMemory::add(size_t n) {
  bytes_ += n;
  if (total_) *total_ += n;
}

void ZlibMemory::remove(size_t n) {
  bytes_ -= n;
  if (total_) *total_ -= n;
}

void* ZlibMemory::alloc(void* opaque, unsigned items, unsigned size) {
  // Two 32-bit factors cannot overflow a 64-bit size_t; elsewhere, refuse.
  if (size != 0 && items > (SIZE_MAX - kHeader) / size) return Z_NULL;
  size_t n = size_t(items) * size;
  // Zeroed, as zlib's own allocator on small-int systems gives it, so that
  // output never depends on what the heap held before (deflate may look at
  // window bytes it has not written yet when it scans for matches).
  void* raw = std::calloc(1, kHeader + n);
  if (!raw) return Z_NULL;
  std::memcpy(raw, &n, sizeof n);
  static_cast<ZlibMemory*>(opaque)->add(n);
  return static_cast<char*>(raw) + kHeader;
}

void ZlibMemory::release(void* opaque, void* address) {
  if (!address) return;
  char* raw = static_cast<char*>(address) - kHeader;
  size_t n;
  std::memcpy(&n, raw, sizeof n);
  static_cast<ZlibMemory*>(opaque)->remove(n);
  std::free(raw);
}

}  // namespace corews::proto
