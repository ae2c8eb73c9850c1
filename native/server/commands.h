// What JS asks of a worker. Commands are encoded into a byte buffer on the JS
// thread and moved to the worker's inbox in batches; each record is a fixed
// header and a payload, padded to 8 bytes.
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "../core/inbox.h"

namespace corews::server {

// Where commands are encoded: the buffers the worker's inbox carries.
using CommandBuffer = core::Inbox::Buffer;

enum class CommandType : uint8_t {
  kSend = 1,       // payload: `code` bytes of padding, then a complete frame
  kClose = 2,      // code: close code (0: no code), payload: reason
  kTerminate = 3,  // drop the TCP connection now
  kAccept = 4,     // payload: u32 protocol length, protocol, extra header lines
  kRespond = 5,    // code: HTTP status, payload: u32 header-lines length, header lines, body; flags: kRespondStream
  kSubscribe = 7,    // payload: u32 topic id
  kUnsubscribe = 8,  // payload: u32 topic id
  kPublish = 9,      // slot/gen: the sender to skip (or ~0), payload: PublishPayload
  kShutdown = 10,    // graceful: code: close code, payload: u32 timeout ms, reason
  kAdopt = 11,       // a connection the acceptor worker accepted: payload: i32 fd
  // A connection Node's http server accepted and read the upgrade request of
  // (server.handleUpgrade): payload: i32 fd, then the request's bytes as read.
  kAdoptRequest = 12,
  // As kAdoptRequest, for the worker's end of a bridge (an https.Server's TLS
  // socket piped by Node, listener.h open_bridge): code: length of the
  // client's address; payload: i32 fd, the address, then the request's bytes.
  kAdoptBridged = 13,
  // The user's pause (ws.pause()/resume()): code 1 stops reading from the
  // connection, 0 reads again. Apart from the worker's own pause for inbound
  // backpressure: the connection reads only when neither holds it.
  kPauseReading = 14,
  kReportControl = 15,   // code: kReportPings | kReportPongs, the control frames to report for this connection
  kReportRefusals = 16,  // the worker, not a connection: code 1 reports refused handshakes (kRefused), 0 stops
  kHttpChunk = 17,  // payload: a piece of a streamed response body; flags: kSendWantsDrain, kChunkEnd
};

// kReportControl bits (and WorkerConfig::report_control, every connection's from its open).
constexpr uint8_t kReportPings = 1;
constexpr uint8_t kReportPongs = 2;

// A publish carries a pointer to the framed message, shared by every worker it
// goes to; each holds one reference and drops it once written or queued.
struct PublishPayload {
  uint32_t topic;
  uint32_t flags;  // kSendCompress, kSendNoCompress
  void* frame;     // core::SharedBytes*
};

// kSend flags (CommandHeader::reserved).
constexpr uint8_t kSendWantsDrain = 1;  // JS reported BACKPRESSURE for this send
// kSend and kPublish (PublishPayload::flags): permessage-deflate per message.
// Neither: compress when the payload reaches the threshold.
constexpr uint8_t kSendCompress = 2;    // compress whatever the size
constexpr uint8_t kSendNoCompress = 4;  // never compress
// kRespond flags: the body follows in kHttpChunk commands (sent chunked).
constexpr uint8_t kRespondStream = 1;
// kHttpChunk flags (beside kSendWantsDrain): the body's last piece.
constexpr uint8_t kChunkEnd = 8;

struct CommandHeader {
  CommandType type;
  uint8_t reserved;  // kSend: flags
  uint16_t code;
  uint32_t slot;
  uint32_t gen;
  uint32_t len;  // payload bytes after the header
};
static_assert(sizeof(CommandHeader) == 16);

constexpr size_t pad8(size_t n) { return (n + 7) & ~size_t(7); }

// The largest message payload a send carries: its frame (a 10-byte header at
// this size) must fit the header's 32-bit length. JS refuses larger ones.
constexpr size_t kMaxMessageBytes = (size_t(1) << 32) - 16;

// Appends a record whose payload is at most `max_len` bytes and returns where
// the payload goes; commit() then records how much was actually written.
class CommandWriter {
 public:
  explicit CommandWriter(CommandBuffer& buf) : buf_(buf) {}

  // The payload's bytes (and the padding) are not initialised: the caller
  // writes the payload, and padding is never read.
  uint8_t* begin(CommandType type, uint32_t slot, uint32_t gen, uint16_t code, size_t max_len, uint8_t flags = 0) {
    start_ = buf_.size();
    reserved_ = pad8(max_len);
    uint8_t* p = buf_.extend(sizeof(CommandHeader) + reserved_);
    CommandHeader h{type, flags, code, slot, gen, 0};
    std::memcpy(p, &h, sizeof h);
    return p + sizeof(CommandHeader);
  }

  void commit(size_t len, uint16_t code) {
    CommandHeader h;
    std::memcpy(&h, buf_.data() + start_, sizeof h);
    h.len = uint32_t(len);
    h.code = code;
    std::memcpy(buf_.data() + start_, &h, sizeof h);
    buf_.shrink_by(reserved_ - pad8(len));
  }

  void add(CommandType type, uint32_t slot, uint32_t gen, uint16_t code,
           std::initializer_list<std::string_view> parts, uint8_t flags = 0) {
    size_t len = 0;
    for (auto p : parts) len += p.size();
    uint8_t* out = begin(type, slot, gen, code, len, flags);
    for (auto p : parts) {
      if (!p.empty()) std::memcpy(out, p.data(), p.size());
      out += p.size();
    }
    commit(len, code);
  }

 private:
  CommandBuffer& buf_;
  size_t start_ = 0;     // where the open record's header is
  size_t reserved_ = 0;  // payload bytes begin() made room for
};

}  // namespace corews::server
