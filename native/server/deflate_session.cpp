// One connection's permessage-deflate: incoming messages inflated with its
// own stream (client context takeover) or a borrowed one, outgoing ones
// compressed with its own stream or the worker's shared one.
#include "deflate_session.h"

#include "deflate_resources.h"

namespace corews::server {

namespace {

// Counts what the inflater hands the parser, on the way through.
struct CountingSink {
  proto::InflateSink sink;
  void* context;
  uint64_t bytes;
  static bool take(void* self, const uint8_t* data, size_t len) {
    auto* s = static_cast<CountingSink*>(self);
    s->bytes += len;
    return s->sink(s->context, data, len);
  }
};

}  // namespace

DeflateSession::DeflateSession(DeflateResources& resources, const proto::DeflateParams& params)
    : resources_(&resources), params_(params) {}

DeflateSession::~DeflateSession() { end(); }

void DeflateSession::end() {
  if (resources_ == nullptr) return;
  drop_inflater();
  deflater_.reset();
  resources_->unreserve(resources_->reservation(params_));
  resources_ = nullptr;
}

void DeflateSession::drop_inflater() {
  if (!inflater_) return;
  if (params_.client_no_context_takeover) {
    resources_->give_back(std::move(inflater_));
  } else {
    inflater_.reset();
  }
}

proto::InflateStatus DeflateSession::write(const uint8_t* data, size_t len, uint64_t limit, proto::InflateSink sink,
                                           void* context) {
  if (resources_ == nullptr) return proto::InflateStatus::kStopped;  // the connection is gone
  if (!inflater_) {
    inflater_ = params_.client_no_context_takeover ? resources_->borrow_inflater()
                                                   : resources_->own_inflater(params_.client_max_window_bits);
  }
  message_in_ += uint32_t(len);
  CountingSink counting{sink, context, 0};
  proto::InflateStatus st = inflater_->write(data, len, limit, &CountingSink::take, &counting);
  resources_->stats().inflated_out.fetch_add(counting.bytes, std::memory_order_relaxed);
  return after(st, false);
}

proto::InflateStatus DeflateSession::finish(uint64_t limit, proto::InflateSink sink, void* context) {
  if (resources_ == nullptr) return proto::InflateStatus::kStopped;
  if (!inflater_) {  // a compressed message with no payload at all
    inflater_ = params_.client_no_context_takeover ? resources_->borrow_inflater()
                                                   : resources_->own_inflater(params_.client_max_window_bits);
  }
  CountingSink counting{sink, context, 0};
  proto::InflateStatus st = inflater_->finish(limit, &CountingSink::take, &counting);
  DeflateStats& stats = resources_->stats();
  stats.inflated_out.fetch_add(counting.bytes, std::memory_order_relaxed);
  if (st == proto::InflateStatus::kOk) {
    stats.messages_inflated.fetch_add(1, std::memory_order_relaxed);
    stats.inflated_in.fetch_add(message_in_, std::memory_order_relaxed);
  }
  message_in_ = 0;
  return after(st, true);
}

// A borrowed stream goes back once its message is over, or failed.
proto::InflateStatus DeflateSession::after(proto::InflateStatus status, bool message_done) {
  if ((message_done || status != proto::InflateStatus::kOk) && params_.client_no_context_takeover) drop_inflater();
  return status;
}

void DeflateSession::abandon() {
  message_in_ = 0;
  if (!inflater_) return;
  inflater_->abandon();
  if (resources_ != nullptr) drop_inflater();
}

bool DeflateSession::compress(const uint8_t* data, size_t len, std::vector<uint8_t>& out) {
  if (resources_ == nullptr) return false;
  DeflateStats& stats = resources_->stats();
  size_t start = out.size();
  bool ok;
  if (params_.server_no_context_takeover) {
    ok = resources_->compress_shared(params_.server_max_window_bits, data, len, out);
  } else {
    if (!deflater_) deflater_ = resources_->own_deflater(params_.server_max_window_bits);
    if (deflater_) {
      ok = deflater_->compress(data, len, out);
    } else {
      // No room in the budget for a stream of its own now: this message
      // refers to nothing before it, which context takeover allows (§7.2.1).
      stats.shared_compressions.fetch_add(1, std::memory_order_relaxed);
      ok = resources_->compress_shared(params_.server_max_window_bits, data, len, out);
    }
  }
  if (!ok) {
    out.resize(start);
    // A failed stream has released itself; the next message starts afresh.
    stats.deflate_failures.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  resources_->count_compressed(len, out.size() - start);
  return true;
}

// Dropping the stream is how a compressor forgets: the next message starts
// with an empty history, and the memory goes back to the budget meanwhile.
void DeflateSession::forget_history() { deflater_.reset(); }

}  // namespace corews::server
