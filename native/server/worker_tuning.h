// Sizes and marks shared by the worker's files.
#pragma once
#include <cstddef>

namespace corews::server {

constexpr size_t kMaxCorkIov = 64;  // sends to one connection written by one writev
// A batch's arena is one allocation that JS frees when the GC gets to it.
// Megabytes of arena per batch would mean growth by reallocation (each step a
// copy) into fresh pages (faulted in and zeroed) every time; batches handed
// over at about 1 MiB reuse the allocator's memory instead.
constexpr size_t kFlushArenaBytes = 1u << 20;
// A frame with at least this much payload still to come is read straight into
// the parser's message buffer (read_path.cpp): below it the extra read that
// stops at the frame's end would cost more than the copy it saves.
constexpr size_t kDirectReadMin = 16 * 1024;
constexpr size_t kDrainLowMark = 16 * 1024;  // a JS send reports BACKPRESSURE above it; drain fires back under it

}  // namespace corews::server
