// A worker's permessage-deflate resources: negotiation within the budget,
// the shared streams, the pool of inflate streams, and what each costs.
#include "deflate_resources.h"

#include "deflate_session.h"

namespace corews::server {

namespace {

// Inflate streams kept for reuse between messages; more are freed as they come back.
constexpr size_t kSpareInflaters = 2;
constexpr size_t kInflateChunk = 16 * 1024;

}  // namespace

DeflateResources::DeflateResources(const DeflateSettings& settings) : settings_(settings) {}

DeflateResources::~DeflateResources() = default;

size_t DeflateResources::deflate_cost(int window_bits) {
  size_t& cost = deflate_costs_[size_t(window_bits) & 15];
  if (cost == 0) {
    proto::Deflater probe({settings_.level, settings_.mem_level, window_bits, false, false, nullptr});
    std::vector<uint8_t> out;
    static const uint8_t kByte = 'x';
    probe.compress(&kByte, 1, out);
    cost = probe.memory();
    if (cost == 0) cost = size_t(1) << 20;  // zlib refused: a stream would fail anyway
  }
  return cost;
}

size_t DeflateResources::inflate_cost(int window_bits) {
  size_t& cost = inflate_costs_[size_t(window_bits) & 15];
  if (cost == 0) {
    // zlib allocates the window on the first output: inflate one byte.
    proto::Deflater deflater({-1, 8, window_bits, false, false, nullptr});
    std::vector<uint8_t> compressed;
    static const uint8_t kByte = 'x';
    deflater.compress(&kByte, 1, compressed);
    proto::Inflater probe({window_bits, false, false, kInflateChunk, nullptr});
    auto sink = [](const uint8_t*, size_t) { return true; };
    probe.write(compressed.data(), compressed.size(), 16, sink);
    probe.finish(16, sink);
    cost = probe.memory();
    if (cost == 0) cost = (size_t(1) << window_bits) + kInflateChunk + 8 * 1024;
  }
  return cost;
}

std::unique_ptr<DeflateSession> DeflateResources::negotiate(const proto::HttpRequest& request, std::string& response) {
  proto::DeflateAgreement a = proto::negotiate_permessage_deflate(request, settings_.negotiation);
  if (!a.accepted) return nullptr;
  size_t reserve = reservation(a.params);
  if (reserve > 0 && committed() + reserve > settings_.max_memory) {
    // The window this connection's context would need does not fit: no
    // context takeover either way, so that it needs none between messages.
    a = proto::negotiate_permessage_deflate(request, settings_.negotiation, true);
    if (!a.accepted) return nullptr;
    reserve = reservation(a.params);  // 0: the forced answer has client_no_context_takeover
    stats_.forced_no_context.fetch_add(1, std::memory_order_relaxed);
  }
  reserved_ += reserve;
  stats_.negotiated.fetch_add(1, std::memory_order_relaxed);
  response = std::move(a.response);
  return std::make_unique<DeflateSession>(*this, a.params);
}

void DeflateResources::unreserve(size_t bytes) { reserved_ -= bytes; }

bool DeflateResources::compress_shared(int window_bits, const uint8_t* data, size_t len, std::vector<uint8_t>& out) {
  std::unique_ptr<proto::Deflater>& d = shared_deflaters_[size_t(window_bits) & 15];
  if (!d) {
    // Reset, not freed, after each message: the stream serves every connection of this worker.
    d = std::make_unique<proto::Deflater>(
        proto::DeflaterOptions{settings_.level, settings_.mem_level, window_bits, true, false, &shared_bytes_});
  }
  return d->compress(data, len, out);
}

std::unique_ptr<proto::Deflater> DeflateResources::own_deflater(int window_bits) {
  if (committed() + deflate_cost(window_bits) > settings_.max_memory) return nullptr;
  return std::make_unique<proto::Deflater>(
      proto::DeflaterOptions{settings_.level, settings_.mem_level, window_bits, false, false, &own_deflate_bytes_});
}

std::unique_ptr<proto::Inflater> DeflateResources::own_inflater(int window_bits) {
  return std::make_unique<proto::Inflater>(
      proto::InflaterOptions{window_bits, false, false, kInflateChunk, &own_inflate_bytes_});
}

std::unique_ptr<proto::Inflater> DeflateResources::borrow_inflater() {
  if (!spare_inflaters_.empty()) {
    std::unique_ptr<proto::Inflater> i = std::move(spare_inflaters_.back());
    spare_inflaters_.pop_back();
    return i;
  }
  // 15 bits whatever the client agreed to: a larger window decodes every
  // stream a smaller one does, so one pool serves all connections.
  return std::make_unique<proto::Inflater>(proto::InflaterOptions{15, true, false, kInflateChunk, &shared_bytes_});
}

void DeflateResources::give_back(std::unique_ptr<proto::Inflater> inflater) {
  // A message cut short leaves state of no use; a failed stream holds none,
  // only its failure, which release() clears.
  if (inflater->mid_message() || !inflater->holds_stream()) inflater->release();
  if (spare_inflaters_.size() < kSpareInflaters) spare_inflaters_.push_back(std::move(inflater));
}

void DeflateResources::publish_gauges() {
  stats_.memory.store(memory(), std::memory_order_relaxed);
  stats_.reserved.store(reserved_, std::memory_order_relaxed);
}

}  // namespace corews::server
