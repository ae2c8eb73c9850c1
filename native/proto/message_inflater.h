// The frame parser's view of a permessage-deflate decompressor (RFC 7692
// §7.2.2): an interface, so that frame_parser.h needs neither zlib nor the
// Inflater's object file, and a caller may hand the parser any implementation.
#pragma once
#include <cstddef>
#include <cstdint>

namespace corews::proto {

enum class InflateStatus : uint8_t {
  kOk,
  kTooBig,    // the message's inflated size passed the limit
  kStopped,   // the sink returned false (e.g. invalid UTF-8)
  kBadData,   // not a valid DEFLATE stream (or one that breaks the agreed window)
  kNoMemory,  // zlib could not set up its state (out of memory, or options zlib refuses)
};

// Receives inflated bytes, in chunks, as they are produced; false stops the
// inflation (the status is then kStopped).
using InflateSink = bool (*)(void* context, const uint8_t* data, size_t len);

class MessageInflater {
 public:
  // The next piece of a compressed message's payload (unmasked). `limit` is
  // the most the whole message may inflate to.
  virtual InflateStatus write(const uint8_t* data, size_t len, uint64_t limit, InflateSink sink, void* context) = 0;
  // The message's last frame ended.
  virtual InflateStatus finish(uint64_t limit, InflateSink sink, void* context) = 0;
  // The connection failed in the middle of a message: drop the message (and
  // the zlib state, which no longer matches the peer's).
  virtual void abandon() = 0;

 protected:
  MessageInflater() = default;
  MessageInflater(const MessageInflater&) = default;
  MessageInflater& operator=(const MessageInflater&) = default;
  ~MessageInflater() = default;  // never deleted through the interface
};

}  // namespace corews::proto
