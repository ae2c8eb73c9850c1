// What a worker tells JS, collected over one loop iteration and handed over in
// one threadsafe-function call. Payloads and strings live in one arena; the
// addon turns the arena into JS values (text) or hands it to the GC (binary).
#pragma once
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <vector>

#include "arena_pool.h"

namespace corews::server {

enum class EventType : uint32_t {
  kOpen = 1,           // strings: url, protocol, remote address, extensions agreed
  kMessage = 2,        // payload; num: MessageFlags
  kPeerClose = 3,      // the peer sent Close; num: code, strings: reason
  kProtocolError = 4,  // the peer broke the protocol; num: close code, strings: reason
  kClosed = 5,         // the connection is gone; num: code, strings: reason
  kUpgrade = 6,        // strings: method, url, remote address, protocol, then header name/value pairs
  kHttpRequest = 7,    // num: body bytes, at offset, before the strings (as kUpgrade, protocol empty)
  kStopped = 8,        // the worker has closed everything and is exiting
  kDrain = 9,          // the connection's queue fell under the low mark
  // Reported only where JS asked for them (commands.h kReportControl,
  // kReportRefusals), so the default path never builds them:
  kPing = 10,     // a ping the peer sent, already answered: payload
  kPong = 11,     // a pong the peer sent: payload
  kRefused = 12,  // a handshake the worker refused: num: status; strings: reason, then as kUpgrade with protocol
                  // empty (method and url empty, no headers, when the request did not parse)
};

// Events whose arena bytes are one payload, not a list of strings.
constexpr bool is_payload_event(EventType t) {
  return t == EventType::kMessage || t == EventType::kPing || t == EventType::kPong;
}

enum MessageFlags : uint32_t {
  kMessageBinary = 1,
  kMessageAscii = 2,  // text that is pure ASCII (cheaper to turn into a JS string)
};

struct Event {
  EventType type;
  uint32_t slot;
  uint32_t gen;
  uint32_t num;
  uint32_t offset;  // into the arena
  uint32_t size;    // kMessage: payload bytes; otherwise: number of strings at offset
};

struct EventBatch {
  uint32_t worker = 0;
  bool has_binary = false;
  int64_t first_message_ns = 0;  // when the batch's first message was complete (for the JS hop latency)
  uint32_t messages = 0;
  std::vector<Event> events;
  Arena arena;
  // Where the arena goes back when JS is done with it (the worker's pool);
  // null: freed. An arena handed to the GC takes the pool along (batch_to_js).
  std::shared_ptr<ArenaPool> pool;
  size_t placed_at_ = 0;  // where the last place() began

  EventBatch() = default;
  EventBatch(const EventBatch&) = delete;
  EventBatch& operator=(const EventBatch&) = delete;
  ~EventBatch() {
    if (pool) pool->give(std::move(arena));
  }

  void add_message(uint32_t slot, uint32_t gen, const uint8_t* data, size_t len, uint32_t flags) {
    uint32_t offset = uint32_t(arena.size());
    if (len) arena.insert(arena.end(), data, data + len);
    has_binary |= (flags & kMessageBinary) != 0;
    ++messages;
    events.push_back({EventType::kMessage, slot, gen, flags, offset, uint32_t(len)});
  }

  // Room at the arena's end for a message's n bytes, written in place (the
  // frame parser unmasks into it), then either committed as a message with
  // commit_placed() or given back with unplace(). Nothing else may touch the
  // arena in between.
  uint8_t* place(size_t n) {
    placed_at_ = arena.size();
    arena.resize(placed_at_ + n);  // uninitialised (UninitAllocator): no memset
    return arena.data() + placed_at_;
  }
  void unplace() { arena.resize(placed_at_); }
  void commit_placed(uint32_t slot, uint32_t gen, uint32_t flags) {
    uint32_t offset = uint32_t(placed_at_);
    has_binary |= (flags & kMessageBinary) != 0;
    ++messages;
    events.push_back({EventType::kMessage, slot, gen, flags, offset, uint32_t(arena.size() - placed_at_)});
  }

  // A control frame's payload (kPing, kPong): at most 125 bytes, handed to JS as binary.
  void add_payload(EventType type, uint32_t slot, uint32_t gen, const uint8_t* data, size_t len) {
    uint32_t offset = uint32_t(arena.size());
    if (len) arena.insert(arena.end(), data, data + len);
    has_binary = true;
    events.push_back({type, slot, gen, 0, offset, uint32_t(len)});
  }

  // Strings are stored as a 4-byte length followed by the bytes.
  void add(EventType type, uint32_t slot, uint32_t gen, uint32_t num,
           std::initializer_list<std::string_view> strings) {
    uint32_t offset = uint32_t(arena.size());
    for (std::string_view s : strings) append_string(s);
    events.push_back({type, slot, gen, num, offset, uint32_t(strings.size())});
  }

  // For variable-length string lists: begin, append_string() each, then end.
  uint32_t begin_strings() const { return uint32_t(arena.size()); }
  void append_string(std::string_view s) {
    uint32_t n = uint32_t(s.size());
    size_t at = arena.size();
    arena.resize(at + 4 + n);
    std::memcpy(arena.data() + at, &n, 4);
    if (n) std::memcpy(arena.data() + at + 4, s.data(), n);
  }
  void end_strings(EventType type, uint32_t slot, uint32_t gen, uint32_t offset, uint32_t count, uint32_t num = 0) {
    events.push_back({type, slot, gen, num, offset, count});
  }
  // Raw bytes ahead of an event's strings (an HTTP request's body): JS takes them from the arena.
  void append_bytes(std::string_view bytes) {
    if (bytes.empty()) return;
    arena.insert(arena.end(), bytes.begin(), bytes.end());
    has_binary = true;
  }

  bool empty() const { return events.empty(); }
  // What the batch costs while JS has not dispatched it, for inbound backpressure: its bytes and
  // its events, so that a flood of empty frames (pings, messages) is bounded too.
  size_t cost() const { return arena.size() + events.size() * sizeof(Event); }
};

}  // namespace corews::server
