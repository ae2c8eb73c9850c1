// Compression of outgoing messages for permessage-deflate (RFC 7692 §7.2.1).
//
// A Deflater compresses one message at a time, given whole or in pieces, into
// the payload to send with RSV1 set on the message's first frame: DEFLATE
// blocks ending with a sync flush whose trailing 00 00 ff ff is removed
// (§7.2.1), or the single octet 0x00 for an empty message (§7.2.3.6).
//
// The zlib stream is created when a message first needs it. Without context
// takeover it is reset after every message, or (release_after_message) freed,
// so an idle connection holds no zlib state. release() may be called between
// any two messages even with context takeover: a compressor that forgets its
// history only stops referring to it, and the peer's window is unaffected
// (§7.2.1 lets the sender choose what it references), so the server can
// shed compression memory whenever its budget asks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace corews::proto {

struct DeflaterOptions {
  int level = -1;         // zlib level 0..9, or -1 for zlib's default (6)
  int mem_level = 8;      // zlib memLevel 1..9
  // The agreed server_max_window_bits, 8..15. 8 runs zlib at 9 bits, which
  // zlib refuses to do itself for raw deflate; 9-bit zlib deflate references
  // at most 250 bytes back (window size - 262), so the stream decodes with a
  // 256-byte window, as the peer was promised.
  int window_bits = 15;
  bool no_context_takeover = false;  // the agreed server_no_context_takeover
  // With no context takeover: free the zlib state after each message rather
  // than reset it (less memory for idle connections, an allocation per message).
  bool release_after_message = true;
  size_t* memory_total = nullptr;  // optional counter shared with other streams (see ZlibMemory)
};

class Deflater {
 public:
  explicit Deflater(const DeflaterOptions& options = {});
  ~Deflater();
  Deflater(Deflater&&) noexcept;
  Deflater& operator=(Deflater&&) noexcept;
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Compresses the next piece of the current message (the first piece starts
  // one), appending what zlib emits to `out`. False when zlib fails (out of
  // memory, or options zlib refuses); the message is then lost and the
  // stream released.
  bool write(const uint8_t* data, size_t len, std::vector<uint8_t>& out);
  // Ends the message: appends the rest of its payload to `out`. After
  // finish() the next write() starts a new message.
  bool finish(std::vector<uint8_t>& out);
  // A whole message: write() then finish().
  bool compress(const uint8_t* data, size_t len, std::vector<uint8_t>& out);

  // Frees the zlib state; only between messages (see above).
  void release();

  bool holds_stream() const { return stream_ != nullptr; }
  bool mid_message() const { return mid_message_; }
  // Bytes the zlib state holds now (0 without a stream).
  size_t memory() const;
  const DeflaterOptions& options() const { return options_; }

 private:
  struct Stream;
  bool ensure_stream();
  bool run(int flush, std::vector<uint8_t>& out);
  bool fail();

  DeflaterOptions options_;
  std::unique_ptr<Stream> stream_;
  uint64_t message_in_ = 0;  // bytes of the current message fed so far
  bool mid_message_ = false;
};

}  // namespace corews::proto
