// Receiving side of RFC 6455 §5: a streaming parser that turns bytes, in
// whatever pieces they arrive, into complete messages and control frames.
//
// It unmasks in place, validates text as it arrives (§8.1: fail fast, also in
// the middle of a frame and across fragments), reassembles fragmented messages
// (§5.4) while letting control frames interleave, and enforces the limits of
// §5.2 and §5.5. A message whose single frame lies whole in the input is handed
// out without a copy; only a message that spans reads or frames is buffered.
//
// With permessage-deflate negotiated (RFC 7692; set_inflater()), a message
// whose first frame has RSV1 set is compressed: its payload goes through the
// caller's MessageInflater as it arrives, text is UTF-8 checked on the
// inflated bytes as they come out, and max_payload / max_text_payload bound
// the inflated size. Compressed messages are always buffered; uncompressed
// ones keep the zero-copy path.
//
// The handler is a template parameter, so the parser knows nothing of sockets:
//   void on_message(Opcode op, uint8_t* data, size_t len, bool ascii);
//   void on_ping(const uint8_t* data, size_t len);
//   void on_pong(const uint8_t* data, size_t len);
//   void on_close(uint16_t code, const uint8_t* reason, size_t len);  // 1005: no code
//   void on_error(uint16_t close_code, const char* reason);
// After on_close or on_error the parser is stopped and ignores further input.
#pragma once
#include <cstddef>
#include <cstdint>
#include <concepts>
#include <cstring>
#include <memory>

#include "../core/byte_buffer.h"

#include "close_code.h"
#include "frame.h"
#include "mask.h"
#include "message_inflater.h"
#include "utf8.h"

namespace corews::proto {

struct FrameParserOptions {
  uint64_t max_payload = 16 * 1024 * 1024;  // whole messages, after reassembly
  bool require_mask = true;                  // server role: §5.1 clients must mask
  // Text messages, when lower: the consumer may not be able to hold longer
  // strings (V8's limit). Refused at the header like any message too big.
  uint64_t max_text_payload = UINT64_MAX;
};

class FrameParser {
 public:
  explicit FrameParser(const FrameParserOptions& options = {}) : options_(options) {}

  bool stopped() const { return stopped_; }
  // Ignore all further input (the connection is being failed from outside).
  void stop() { stopped_ = true; }
  // True while a message or frame is half-received.
  bool mid_message() const { return msg_op_ != 0 || in_payload_ || header_have_ != 0; }
  // Heap bytes held beyond the parser itself (a message being reassembled, a
  // control frame split across reads): none between messages.
  size_t held_bytes() const { return message_.capacity() + (control_ ? kMaxControlPayload : 0); }

  // permessage-deflate was negotiated (RFC 7692): messages whose first frame
  // has RSV1 set are inflated by `inflater`, which stays the caller's and
  // must outlive its use here. Null (the default) is no extension, and RSV1
  // a protocol error. Set it between messages (normally right after the
  // handshake, before any frame).
  void set_inflater(MessageInflater* inflater) { inflater_ = inflater; }
  MessageInflater* inflater() const { return inflater_; }

  // Consumes all of `data` (or stops early on close or error). `data` is
  // modified: payloads are unmasked in place.
  template <class Handler>
  void feed(Handler& h, uint8_t* data, size_t len) {
    while (len > 0 && !stopped_) {
      if (!in_payload_) {
        size_t used = read_header(h, data, len);
        data += used;
        len -= used;
        if (stopped_ || !in_payload_) continue;
        if (frame_left_ == 0) {
          finish_frame(h, nullptr, 0);
          continue;
        }
        if constexpr (kPlaces<Handler>) {
          if (frame_left_ <= len && placeable()) {
            size_t n = size_t(frame_left_);
            if (place_whole(h, data, n)) {
              data += n;
              len -= n;
              continue;
            }
          }
        }
      }
      size_t n = frame_left_ < len ? size_t(frame_left_) : len;
      consume_payload(h, data, n);
      data += n;
      len -= n;
    }
  }

  // Reading the rest of a large frame straight into place: while a plain
  // (uncompressed) data frame's payload is coming, room in the message buffer
  // for up to `most` of its bytes, which the caller reads into and hands back
  // with feed_room(). Null when not in such a payload. The bytes take one
  // copy from the kernel instead of two (kernel to read buffer, read buffer
  // to message buffer); at most the frame's remaining bytes are asked for, so
  // the next frame's header is never read into a message.
  uint64_t payload_left() const {
    if (stopped_ || !in_payload_ || is_control(frame_op_) || msg_compressed_) return 0;
    return frame_left_;
  }
  uint8_t* payload_room(size_t most, size_t* room) {
    if (payload_left() == 0) return nullptr;
    size_t n = frame_left_ < most ? size_t(frame_left_) : most;
    if (message_.empty()) message_.reserve(reserve_for_message());
    *room = n;
    return message_.extend(n);
  }
  // `got` bytes of a payload_room() of `room` came in (0: none, the read
  // failed or would block). They are unmasked in place and checked as if fed.
  template <class Handler>
  void feed_room(Handler& h, size_t room, size_t got) {
    if (got == 0) return give_back_room(room);
    message_.shrink_by(room - got);
    uint8_t* at = message_.data() + message_.size() - got;
    size_t offset = size_t(frame_len_ - frame_left_);
    if (masked_) apply_mask(at, got, mask_, offset);
    frame_left_ -= got;
    buffered(h, at, got);
  }
  // Nothing came into a payload_room() of `room` bytes.
  void give_back_room(size_t room) {
    message_.shrink_by(room);
    if (message_.empty()) message_.release();  // a connection between messages keeps no buffer
  }

 private:
  // A handler that can take a whole message's payload straight into its own
  // memory (the worker: into the batch's arena) has
  //   uint8_t* place_message(size_t len);  // room for len bytes, or null
  //   void unplace_message();              // the placed message failed: give the room back
  //   void on_placed_message(Opcode op, uint8_t* data, size_t len, bool ascii);
  // and its messages whose frame lies whole in the input are unmasked from the
  // input into that room in one pass, instead of in place and then copied.
  template <class Handler>
  static constexpr bool kPlaces = requires(Handler& h, uint8_t* p, size_t n) {
    { h.place_message(n) } -> std::same_as<uint8_t*>;
    h.unplace_message();
    h.on_placed_message(kOpBinary, p, n, true);
  };

  // The frame just begun is a whole message of its own, kept as it is.
  bool placeable() const {
    return frame_fin_ && frame_op_ != kOpContinuation && !is_control(frame_op_) && !msg_compressed_;
  }

  // A whole single-frame message of n bytes at `data`: unmasked into the
  // handler's room, checked, handed out. False when the handler had no room
  // (nothing consumed: the ordinary path takes the frame).
  template <class Handler>
  bool place_whole(Handler& h, const uint8_t* data, size_t n) {
    uint8_t* dst = h.place_message(n);
    if (dst == nullptr) return false;
    if (masked_) {
      mask_copy(dst, data, n, mask_word(mask_, 0));
    } else {
      std::memcpy(dst, data, n);
    }
    frame_left_ = 0;
    in_payload_ = false;
    bool ascii = false;
    if (msg_op_ == kOpText) {
      if (!utf8_.feed(dst, n)) {
        h.unplace_message();
        fail(h, kCloseInvalidPayload, "invalid UTF-8 in a text message");
        return true;
      }
      if (!utf8_.complete()) {
        h.unplace_message();
        fail(h, kCloseInvalidPayload, "text message ends inside a UTF-8 sequence");
        return true;
      }
      ascii = utf8_.ascii();
    }
    Opcode op = Opcode(msg_op_);
    msg_op_ = 0;
    msg_size_ = 0;
    h.on_placed_message(op, dst, n, ascii);
    return true;
  }

  // What to reserve for a message buffer as its first bytes arrive: the
  // frame's announced length, so it fills without reallocating, but no more
  // than kMostReserved, so a peer that announces a large frame and sends
  // little has the server map little (a reservation touches no pages).
  size_t reserve_for_message() const {
    uint64_t want = frame_fin_ ? frame_left_ : frame_left_ + kMaxFrameHeader;
    return want < kMostReserved ? size_t(want) : kMostReserved;
  }
  static constexpr size_t kMostReserved = 1u << 20;

 private:
  // Collects header bytes; once the header is whole, validates it and enters
  // the payload stage. Returns the number of bytes used.
  template <class Handler>
  size_t read_header(Handler& h, const uint8_t* data, size_t len) {
    const uint8_t* hdr;
    size_t used;
    if (header_have_ == 0 && len >= kMaxFrameHeader) {
      hdr = data;  // fast path: the whole header is in the input
      used = header_size(hdr);
    } else {
      size_t want = header_have_ < 2 ? 2 : header_size(header_);
      size_t take = 0;
      while (header_have_ < want && take < len) {
        header_[header_have_++] = data[take++];
        if (header_have_ == 2) want = header_size(header_);
      }
      if (header_have_ < want) return take;
      hdr = header_;
      used = take;
      header_have_ = 0;
    }
    start_frame(h, hdr);
    return used;
  }

  static size_t header_size(const uint8_t* hdr) {
    uint8_t len7 = hdr[1] & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((hdr[1] & 0x80) ? 4 : 0);
  }

  template <class Handler>
  void start_frame(Handler& h, const uint8_t* hdr) {
    bool fin = hdr[0] & 0x80;
    bool rsv1 = hdr[0] & 0x40;
    uint8_t op = hdr[0] & 0x0f;
    bool masked = hdr[1] & 0x80;
    uint8_t len7 = hdr[1] & 0x7f;
    size_t pos = 2;
    uint64_t len = len7;
    if (len7 == 126) {
      len = uint64_t(hdr[2]) << 8 | hdr[3];
      pos = 4;
    } else if (len7 == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = len << 8 | hdr[2 + i];
      pos = 10;
    }

    // §5.2: RSV1-3 must be 0 unless a negotiated extension defines them; only
    // permessage-deflate can be negotiated, and it defines RSV1 alone.
    if (hdr[0] & 0x30) return fail(h, kCloseProtocolError, "RSV2 or RSV3 set without a negotiated extension");
    if (rsv1) {
      if (!inflater_) return fail(h, kCloseProtocolError, "RSV bits set without a negotiated extension");
      // RFC 7692 §6.1: RSV1 ("Per-Message Compressed") belongs on the first
      // frame of a data message only, never on control frames or continuations.
      if (is_control(op)) return fail(h, kCloseProtocolError, "RSV1 set on a control frame");
      if (op == kOpContinuation) return fail(h, kCloseProtocolError, "RSV1 set on a continuation frame");
    }
    if (!is_known_opcode(op)) return fail(h, kCloseProtocolError, "reserved opcode");
    // §5.1: a server closes the connection on an unmasked client frame.
    if (masked != options_.require_mask) {
      return fail(h, kCloseProtocolError,
                  masked ? "frames from a server must not be masked" : "client frames must be masked");
    }
    // §5.2: the most significant bit of a 64-bit length must be 0.
    if (len >> 63) return fail(h, kCloseProtocolError, "payload length has its top bit set");

    if (is_control(op)) {
      // §5.5: control frames carry at most 125 bytes and are never fragmented.
      if (len > kMaxControlPayload) return fail(h, kCloseProtocolError, "control frame payload over 125 bytes");
      if (!fin) return fail(h, kCloseProtocolError, "fragmented control frame");
    } else if (op == kOpContinuation) {
      // §5.4: a continuation frame only continues a message in progress.
      if (msg_op_ == 0) return fail(h, kCloseProtocolError, "continuation frame without a message to continue");
    } else if (msg_op_ != 0) {
      return fail(h, kCloseProtocolError, "new data frame before the fragmented message ended");
    }
    if (!is_control(op)) {
      bool text = (op == kOpContinuation ? msg_op_ : op) == kOpText;
      bool compressed = op == kOpContinuation ? msg_compressed_ : rsv1;
      if (compressed) {
        // The inflated size is checked as it inflates. The compressed bytes
        // are bounded too, so no message streams in forever, with room for
        // incompressible data (which deflate makes slightly longer): a
        // message allowed inflated is never refused for its wire size.
        if (len > compressed_limit() - (op == kOpContinuation ? wire_size_ : 0)) {
          return fail(h, kCloseMessageTooBig, "compressed message exceeds maxPayload");
        }
      } else {
        if (len > options_.max_payload - msg_size_) return fail(h, kCloseMessageTooBig, "message exceeds maxPayload");
        // msg_size_ never passes the limit of its kind, so neither subtraction wraps.
        if (text && len > options_.max_text_payload - msg_size_) {
          return fail(h, kCloseMessageTooBig, "text message longer than the longest string the server can hold");
        }
      }
    }

    frame_op_ = op;
    frame_fin_ = fin;
    frame_left_ = len;
    frame_len_ = len;
    if (masked) std::memcpy(mask_, hdr + pos, 4);
    masked_ = masked;
    in_payload_ = true;
    if (!is_control(op) && op != kOpContinuation) {
      msg_op_ = op;
      msg_size_ = 0;
      wire_size_ = 0;
      msg_compressed_ = rsv1;
      utf8_.reset();
    }
    if (is_control(op)) control_len_ = 0;
  }

  template <class Handler>
  void consume_payload(Handler& h, uint8_t* data, size_t n) {
    size_t offset = size_t(frame_len_ - frame_left_);
    frame_left_ -= n;

    if (is_control(frame_op_)) {
      // The usual case, the whole payload in this input, is unmasked in place
      // and handed out from there; only one split across reads is gathered, in
      // a buffer made for it, so that an idle connection holds none.
      if (control_len_ == 0 && frame_left_ == 0) {
        if (masked_) apply_mask(data, n, mask_, offset);
        return finish_frame(h, data, n);
      }
      if (!control_) control_ = std::make_unique_for_overwrite<uint8_t[]>(kMaxControlPayload);
      unmask_to(control_.get() + control_len_, data, n, offset);
      control_len_ += uint8_t(n);
      if (frame_left_ == 0) finish_frame(h, nullptr, 0);
      return;
    }
    if (msg_compressed_) {
      if (masked_) apply_mask(data, n, mask_, offset);
      wire_size_ += n;
      check_inflate(h, inflater_->write(data, n, inflate_limit(), &FrameParser::take_inflated, this));
      if (!stopped_ && frame_left_ == 0) finish_frame(h, nullptr, 0);
      return;
    }
    bool whole = frame_fin_ && frame_left_ == 0 && offset == 0 && message_.empty();
    if (whole) {
      // A message whole in the input, for a handler that does not place:
      // unmasked in place and handed out without a copy.
      if (masked_) apply_mask(data, n, mask_, offset);
      if (msg_op_ == kOpText && !utf8_.feed(data, n)) {
        return fail(h, kCloseInvalidPayload, "invalid UTF-8 in a text message");
      }
      msg_size_ += n;
      finish_frame(h, data, n);
      return;
    }
    // Part of a message that spans reads or frames: unmasked from the input
    // into the message buffer in one pass.
    if (message_.empty()) message_.reserve(reserve_for_message());
    uint8_t* at = message_.extend(n);
    unmask_to(at, data, n, offset);
    buffered(h, at, n);
  }

  // n payload bytes at `offset` in the frame, from `src` unmasked to `dst`.
  void unmask_to(uint8_t* dst, const uint8_t* src, size_t n, size_t offset) const {
    if (masked_) {
      mask_copy(dst, src, n, mask_word(mask_, offset));
    } else if (n) {
      std::memcpy(dst, src, n);
    }
  }

  // n payload bytes of the current data frame, already unmasked at the end of
  // the message buffer.
  template <class Handler>
  void buffered(Handler& h, const uint8_t* at, size_t n) {
    if (msg_op_ == kOpText && !utf8_.feed(at, n)) {
      return fail(h, kCloseInvalidPayload, "invalid UTF-8 in a text message");
    }
    msg_size_ += n;
    if (frame_left_ == 0) finish_frame(h, nullptr, 0);
  }

  // The frame's payload is complete. For a final data frame `data` holds the
  // whole message when it was not buffered; for a control frame, its payload
  // when it was not gathered (null: gathered in control_, or empty).
  template <class Handler>
  void finish_frame(Handler& h, uint8_t* data, size_t n) {
    in_payload_ = false;
    if (is_control(frame_op_)) {
      // The gathered buffer goes once the frame is handled.
      std::unique_ptr<uint8_t[]> gathered = std::move(control_);
      static constexpr uint8_t kEmpty[1] = {0};
      const uint8_t* payload = data != nullptr ? data : gathered ? gathered.get() : kEmpty;
      size_t len = data != nullptr ? n : control_len_;
      switch (frame_op_) {
        case kOpPing:
          h.on_ping(payload, len);
          return;
        case kOpPong:
          h.on_pong(payload, len);
          return;
        default:
          return finish_close(h, payload, len);
      }
    }
    if (!frame_fin_) return;
    if (msg_compressed_) {
      // §7.2.2: the message's end, where the removed 00 00 ff ff belongs.
      check_inflate(h, inflater_->finish(inflate_limit(), &FrameParser::take_inflated, this));
      if (stopped_) return;
      msg_compressed_ = false;
    }
    if (msg_op_ == kOpText && !utf8_.complete()) {
      return fail(h, kCloseInvalidPayload, "text message ends inside a UTF-8 sequence");
    }
    Opcode op = Opcode(msg_op_);
    bool ascii = op == kOpText && utf8_.ascii();
    msg_op_ = 0;
    msg_size_ = 0;
    if (data == nullptr) {
      // Hand out the buffered message, then release its memory: an idle
      // connection keeps no buffer.
      core::ByteBuffer message;
      message.swap(message_);
      h.on_message(op, message.data(), message.size(), ascii);
    } else {
      h.on_message(op, data, n, ascii);
    }
  }

  // §5.5.1: an optional 2-byte code, then an optional UTF-8 reason.
  template <class Handler>
  void finish_close(Handler& h, const uint8_t* payload, size_t len) {
    if (len == 0) {
      stopped_ = true;
      h.on_close(kCloseNoStatus, nullptr, 0);
      return;
    }
    if (len == 1) return fail(h, kCloseProtocolError, "close frame with a 1-byte payload");
    uint16_t code = uint16_t(payload[0] << 8 | payload[1]);
    if (!is_valid_close_code(code)) return fail(h, kCloseProtocolError, "invalid close code");
    if (!is_valid_utf8(payload + 2, len - 2)) {
      return fail(h, kCloseInvalidPayload, "close reason is not valid UTF-8");
    }
    stopped_ = true;
    h.on_close(code, payload + 2, len - 2);
  }

  // The inflater's sink: inflated bytes of the current compressed message.
  static bool take_inflated(void* self, const uint8_t* data, size_t n) {
    FrameParser& p = *static_cast<FrameParser*>(self);
    // §8.1 of RFC 6455: fail fast, here at the first bad chunk of output.
    if (p.msg_op_ == kOpText && !p.utf8_.feed(data, n)) return false;
    p.message_.append(data, n);
    p.msg_size_ += n;
    return true;
  }

  // The most a compressed message may inflate to.
  uint64_t inflate_limit() const {
    uint64_t limit = options_.max_payload;
    if (msg_op_ == kOpText && options_.max_text_payload < limit) limit = options_.max_text_payload;
    return limit;
  }

  // The most compressed bytes a message may take on the wire: twice
  // max_payload and a little, saturating (deflate's worst case is a few
  // bytes per stored block of at most 64 KiB; compressed bytes are never
  // buffered, so the bound is generous at no cost in memory).
  uint64_t compressed_limit() const {
    uint64_t m = options_.max_payload;
    return m > (UINT64_MAX - 1024) / 2 ? UINT64_MAX : 2 * m + 1024;
  }

  template <class Handler>
  void check_inflate(Handler& h, InflateStatus status) {
    switch (status) {
      case InflateStatus::kOk:
        return;
      case InflateStatus::kTooBig:
        if (msg_op_ == kOpText && options_.max_text_payload < options_.max_payload) {
          return fail(h, kCloseMessageTooBig, "text message longer than the longest string the server can hold");
        }
        return fail(h, kCloseMessageTooBig, "message exceeds maxPayload");
      case InflateStatus::kStopped:
        return fail(h, kCloseInvalidPayload, "invalid UTF-8 in a text message");
      case InflateStatus::kBadData:
        return fail(h, kCloseInvalidPayload, "invalid permessage-deflate data");
      case InflateStatus::kNoMemory:
        return fail(h, kCloseInternalError, "out of memory for permessage-deflate");
    }
    fail(h, kCloseInternalError, "unknown inflate status");
  }

  template <class Handler>
  void fail(Handler& h, uint16_t code, const char* reason) {
    stopped_ = true;
    in_payload_ = false;
    message_.release();
    // A half-inflated message leaves the stream out of step with the peer.
    if (msg_compressed_ && inflater_) inflater_->abandon();
    msg_compressed_ = false;
    h.on_error(code, reason);
  }

  FrameParserOptions options_;
  MessageInflater* inflater_ = nullptr;  // permessage-deflate negotiated when set
  // A control frame's payload split across reads, only until it is complete.
  std::unique_ptr<uint8_t[]> control_;
  core::ByteBuffer message_;  // only while a message spans reads or frames, or is compressed
  uint64_t msg_size_ = 0;         // bytes of the current message so far (inflated, when compressed)
  uint64_t wire_size_ = 0;        // compressed bytes of the current compressed message
  uint64_t frame_len_ = 0;
  uint64_t frame_left_ = 0;
  Utf8Validator utf8_;
  uint8_t header_[kMaxFrameHeader];
  uint8_t header_have_ = 0;
  uint8_t mask_[4] = {};
  uint8_t msg_op_ = 0;    // opcode of the message in progress, 0 when none
  uint8_t frame_op_ = 0;
  uint8_t control_len_ = 0;
  bool frame_fin_ = false;
  bool masked_ = false;
  bool in_payload_ = false;
  bool stopped_ = false;
  bool msg_compressed_ = false;  // the current message's first frame had RSV1
};

}  // namespace corews::proto
