// One connection's permessage-deflate (RFC 7692): what was agreed, and the
// streams it uses. It is the connection's frame parser's MessageInflater, and
// the write path asks it to compress. Without zlib state while idle (its
// streams come and go with messages, see deflate_resources.h), so a
// connection that negotiated deflate costs this object and nothing more.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../proto/deflate_negotiation.h"
#include "../proto/deflater.h"
#include "../proto/inflater.h"
#include "../proto/message_inflater.h"

namespace corews::server {

class DeflateResources;

class DeflateSession final : public proto::MessageInflater {
 public:
  // `reserved`: the inflate window the handshake promised (0 without client context takeover).
  DeflateSession(DeflateResources& resources, const proto::DeflateParams& params, uint32_t reserved);
  ~DeflateSession();
  DeflateSession(const DeflateSession&) = delete;
  DeflateSession& operator=(const DeflateSession&) = delete;

  // The frame parser's calls, for a compressed message's payload.
  proto::InflateStatus write(const uint8_t* data, size_t len, uint64_t limit, proto::InflateSink sink,
                             void* context) override;
  proto::InflateStatus finish(uint64_t limit, proto::InflateSink sink, void* context) override;
  void abandon() override;

  // Compresses one whole message's payload, appending it to `out`. False
  // when zlib failed: the caller sends the message uncompressed.
  bool compress(const uint8_t* data, size_t len, std::vector<uint8_t>& out);
  // A compressed message went out that this session's stream did not make
  // (a publish compressed once for many): its history no longer matches
  // what the peer has, so it must not be referred to.
  void forget_history();
  // The connection is gone: streams and reservation go back now, and any
  // later call (the rest of a read the parser is still going through) fails.
  void end();

  const proto::DeflateParams& params() const { return params_; }
  bool holds_streams() const { return deflater_ || inflater_; }

 private:
  proto::InflateStatus after(proto::InflateStatus status, bool message_done);
  void drop_inflater();

  DeflateResources* resources_;  // null once ended
  std::unique_ptr<proto::Deflater> deflater_;  // own, with server context takeover, when the budget allowed
  std::unique_ptr<proto::Inflater> inflater_;  // own (client context takeover) or borrowed for one message
  uint64_t message_in_ = 0;  // compressed bytes of the current incoming message
  uint32_t reserved_;
  proto::DeflateParams params_;
};

}  // namespace corews::server
