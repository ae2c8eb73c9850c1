// What the frame parser hands its handler, recorded as comparable events,
// for the parser's tests (plain and with permessage-deflate): a Recorder is
// the handler, Ev one event, and the helpers build expected ones.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "check.h"
#include "proto/frame_parser.h"

namespace parser_test {

using corews::proto::FrameParser;
using corews::proto::kOpBinary;
using corews::proto::kOpText;
using corews::proto::Opcode;
using Bytes = std::vector<uint8_t>;

inline Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ---- events ---------------------------------------------------------------

struct Ev {
  char kind;  // M message, P ping, O pong, C close, E error
  int op = 0;
  Bytes data;
  bool ascii = false;
  int code = 0;
  bool operator==(const Ev&) const = default;
};

inline Ev Msg(Opcode op, const Bytes& d, bool ascii) { return {'M', op, d, ascii, 0}; }
inline Ev Text(std::string_view s, bool ascii = true) { return Msg(kOpText, B(s), ascii); }
inline Ev Bin(const Bytes& d) { return Msg(kOpBinary, d, false); }
inline Ev Ping(const Bytes& d) { return {'P', 0, d, false, 0}; }
inline Ev Pong(const Bytes& d) { return {'O', 0, d, false, 0}; }
inline Ev Close(int code, std::string_view reason = "") { return {'C', 0, B(reason), false, code}; }
inline Ev Err(int code) { return {'E', 0, {}, false, code}; }

inline std::string to_string(const Ev& e) {
  std::string data = check::escape(std::string_view(reinterpret_cast<const char*>(e.data.data()), e.data.size()), 40);
  switch (e.kind) {
    case 'M':
      return check::strf("Msg(op=%d,%s,%zu bytes %s)", e.op, e.ascii ? "ascii" : "non-ascii", e.data.size(),
                         data.c_str());
    case 'P': return "Ping(" + data + ")";
    case 'O': return "Pong(" + data + ")";
    case 'C': return check::strf("Close(%d,%s)", e.code, data.c_str());
    case 'E': return check::strf("Error(%d)", e.code);
    default: return "?";
  }
}
inline std::string to_string(const std::vector<Ev>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + to_string(v[i]);
  return s + "]";
}

struct Recorder {
  std::vector<Ev> events;
  std::vector<const uint8_t*> msg_ptrs;
  std::vector<const uint8_t*> ctl_ptrs;  // payloads of pings, pongs and closes (a close's reason)
  FrameParser* parser = nullptr;
  int anomalies = 0;  // null data with a length, empty error reasons, calls after the end...
  bool ended = false;  // on_close or on_error seen

  void event(Ev e) {
    if (ended) ++anomalies;  // nothing may follow on_close / on_error
    events.push_back(std::move(e));
  }

  static Bytes copy(const uint8_t* p, size_t n) {
    if (n == 0) return {};
    return Bytes(p, p + n);
  }
  void on_message(Opcode op, uint8_t* data, size_t len, bool ascii) {
    if (len && !data) ++anomalies;
    msg_ptrs.push_back(data);
    event(Msg(op, copy(data, len), ascii));
  }
  void on_ping(const uint8_t* data, size_t len) {
    if (len && !data) ++anomalies;
    ctl_ptrs.push_back(data);
    event(Ping(copy(data, len)));
  }
  void on_pong(const uint8_t* data, size_t len) {
    if (len && !data) ++anomalies;
    ctl_ptrs.push_back(data);
    event(Pong(copy(data, len)));
  }
  void on_close(uint16_t code, const uint8_t* reason, size_t len) {
    if (len && !reason) ++anomalies;
    if (parser && !parser->stopped()) ++anomalies;  // documented: stopped by then
    ctl_ptrs.push_back(reason);
    event(Close(code, std::string_view(reinterpret_cast<const char*>(len ? reason : nullptr), len)));
    ended = true;
  }
  void on_error(uint16_t code, const char* reason) {
    if (!reason || !*reason) ++anomalies;
    if (parser && !parser->stopped()) ++anomalies;
    event(Err(code));
    ended = true;
  }
};

// A Recorder that takes whole single-frame messages into memory of its own,
// as the worker does into its batch arena (FrameParser's place_message):
// each room its own exact-size heap allocation, so ASan catches a write past it.
struct PlacingRecorder : Recorder {
  std::vector<std::unique_ptr<uint8_t[]>> rooms;
  const uint8_t* placed = nullptr;
  size_t placed_len = 0;
  int placed_messages = 0;

  uint8_t* place_message(size_t len) {
    if (placed) ++anomalies;  // one at a time
    rooms.emplace_back(new uint8_t[len]);
    placed = rooms.back().get();
    placed_len = len;
    return rooms.back().get();
  }
  void unplace_message() {
    if (!placed) ++anomalies;
    placed = nullptr;
  }
  void on_placed_message(Opcode op, uint8_t* data, size_t len, bool ascii) {
    if (data != placed || len != placed_len) ++anomalies;  // the room it was given, whole
    placed = nullptr;
    ++placed_messages;
    event(Msg(op, copy(data, len), ascii));
  }
};

}  // namespace parser_test
