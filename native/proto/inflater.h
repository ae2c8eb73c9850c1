// Decompression of incoming messages for permessage-deflate (RFC 7692 §7.2.2).
//
// An Inflater is fed the payload of a compressed message in whatever pieces
// it arrives (across frames and reads), appends the 00 00 ff ff the sender
// removed when the message ends, and streams what it inflates to a sink in
// chunks of at most chunk_size bytes. The caller can check text as it
// inflates and stop at the first bad byte; and once the message's inflated
// size passes the limit it stops with kTooBig, having handed out exactly the
// bytes up to the limit, so a small frame that would inflate to gigabytes
// costs at most the limit plus one chunk of output. Which of the two stops a
// message depends only on the data, not on how it was cut into pieces.
//
// Window: inflate runs with the agreed client_max_window_bits (zlib allocates
// 2^bits bytes for it on the first output). zlib's raw inflate rejects a
// distance that reaches past both its window and the output chunk it is
// writing ("invalid distance too far back"). So a client that breaks the
// agreed limit gets kBadData, or, when the bytes it points to are still in
// the chunk being written, its message as it encoded it; which one can
// depend on how its bytes arrived. Never a wrong message, and a client that
// keeps the agreement never sees the difference. (With 15 bits, the largest
// distance DEFLATE can express, the outcome never depends on the pieces.)
//
// Decisions where the RFC leaves room:
//  - A message that does not end on a DEFLATE block boundary once 00 00 ff ff
//    is appended is kBadData: §7.2.1 has every sender end with an empty
//    stored block, whose removed tail the trailer restores, and a stream cut
//    elsewhere would corrupt the next message under context takeover.
//  - A block with BFINAL set (§7.2.3.4) ends the DEFLATE stream: the rest of
//    that message's payload (the padding octet §7.2.3.4 shows, the trailer)
//    is not inflated. With context takeover the next message continues with
//    the same window (the stream is restarted with the old window as its
//    dictionary, at most once per message).
//  - A compressed message with an empty payload (no octets at all, which
//    §7.2.1 never produces: an empty message is 0x00) is an empty message,
//    and leaves the stream as it was: some senders emit nothing when a sync
//    flush has nothing to flush.
//
// The zlib state and the chunk buffer are allocated when a message first
// needs them and counted in memory(). Without context takeover they are
// reset, or with release_after_message freed, after each message. With
// context takeover they must be kept: the peer's next message may refer to
// this one's data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "message_inflater.h"

namespace corews::proto {

struct InflaterOptions {
  int window_bits = 15;               // the agreed client_max_window_bits, 8..15
  bool no_context_takeover = false;   // the agreed client_no_context_takeover
  bool release_after_message = true;  // with no context takeover: free the state after each message
  size_t chunk_size = 16 * 1024;      // largest piece handed to the sink at once
  size_t* memory_total = nullptr;     // optional counter shared with other streams (see ZlibMemory)
};

class Inflater final : public MessageInflater {
 public:
  explicit Inflater(const InflaterOptions& options = {});
  ~Inflater();
  Inflater(Inflater&&) noexcept;
  Inflater& operator=(Inflater&&) noexcept;
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // After any status but kOk the message is lost, the zlib state is freed,
  // and every further call returns that status until release().
  InflateStatus write(const uint8_t* data, size_t len, uint64_t limit, InflateSink sink, void* context) override;
  InflateStatus finish(uint64_t limit, InflateSink sink, void* context) override;
  void abandon() override { release(); }

  // The same with a callable: bool f(const uint8_t* data, size_t len).
  template <class F>
  InflateStatus write(const uint8_t* data, size_t len, uint64_t limit, F& f) {
    return write(data, len, limit, &call<F>, &f);
  }
  template <class F>
  InflateStatus finish(uint64_t limit, F& f) {
    return finish(limit, &call<F>, &f);
  }

  // Frees the zlib state and clears a failure. With context takeover the
  // window goes too: only for a connection that is failing or closing.
  void release();

  bool holds_stream() const { return stream_ != nullptr; }
  bool mid_message() const { return mid_message_; }
  // Bytes inflated so far of the current message.
  uint64_t message_size() const { return message_out_; }
  // Bytes held now: zlib's state and window, and the chunk buffer.
  size_t memory() const;
  // zlib's description of the last kBadData, or a fixed text; never null.
  const char* error() const { return error_; }
  const InflaterOptions& options() const { return options_; }

 private:
  struct Stream;
  template <class F>
  static bool call(void* f, const uint8_t* data, size_t len) {
    return (*static_cast<F*>(f))(data, len);
  }
  bool ensure_stream();
  InflateStatus pump(const uint8_t* data, size_t len, uint64_t limit, InflateSink sink, void* context);
  InflateStatus fail(InflateStatus status, const char* why);
  bool end_message();

  InflaterOptions options_;
  std::unique_ptr<Stream> stream_;
  uint64_t message_in_ = 0;   // compressed bytes of the current message
  uint64_t message_out_ = 0;  // inflated bytes of the current message
  const char* error_ = "";
  InflateStatus failed_ = InflateStatus::kOk;
  bool mid_message_ = false;
  bool stream_ended_ = false;  // a BFINAL block ended the DEFLATE stream in this message
};

}  // namespace corews::proto
