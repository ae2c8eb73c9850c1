// permessage-deflate in the Worker (RFC 7692), over socketpairs: the offer
// answered in the 101, compressed messages in and out, the threshold and the
// per-message override, context takeover, a publish compressed once, the
// memory budget forcing no context takeover, and what an idle connection holds.
#include <string>
#include <vector>

#include "check.h"
#include "proto/close_code.h"
#include "proto/inflater.h"
#include "test/worker_harness.h"

using namespace corews;
using harness::Handle;
using harness::WorkerHarness;
using server::EventType;

namespace {

constexpr std::string_view kOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

server::WorkerConfig deflate_config() {
  server::WorkerConfig c = harness::quiet_config();
  c.deflate.enabled = true;
  return c;
}

// A compressible text of `n` bytes (JSON-like, as chat traffic is).
std::string json_text(size_t n, int seed = 0) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) {
    s += "{\"user\":\"u" + std::to_string((i * 7 + seed) % 13) + "\",\"text\":\"hello number " + std::to_string(i) +
         "\",\"room\":\"lobby\"},";
  }
  s.resize(n);
  return s;
}

// The client's side of the server's compressed stream.
struct ClientInflater {
  explicit ClientInflater(int window_bits = 15, bool no_context = false)
      : inflater(proto::InflaterOptions{window_bits, no_context, false, 16 * 1024, nullptr}) {}
  proto::Inflater inflater;
  bool inflate(const std::string& payload, std::string& out) {
    out.clear();
    auto sink = [&](const uint8_t* d, size_t n) {
      out.append(reinterpret_cast<const char*>(d), n);
      return true;
    };
    return inflater.write(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), 1u << 30, sink) ==
               proto::InflateStatus::kOk &&
           inflater.finish(1u << 30, sink) == proto::InflateStatus::kOk;
  }
};

std::vector<harness::ServerFrame> data_frames(const WorkerHarness& h, int client) {
  std::vector<harness::ServerFrame> out;
  for (const auto& f : h.frames(client)) {
    if (f.op == proto::kOpText || f.op == proto::kOpBinary) out.push_back(f);
  }
  return out;
}

std::vector<std::string> messages_of(const WorkerHarness& h, Handle ws) {
  std::vector<std::string> out;
  for (const auto& e : h.events_of(ws)) {
    if (e.type == EventType::kMessage) out.push_back(e.payload);
  }
  return out;
}

// RFC 7692 §7.2.3.1: "Hello" compressed, as a client sends it.
const std::string kHelloCompressed("\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
constexpr uint8_t kRsv1 = 4;  // ServerFrame::rsv holds RSV1..3 as bits 2..0

// Steps until the server sent its Close (for an error: the close handler ran
// in the harness's JS); its code, or 0. The client then hangs up, so the
// connection ends without waiting for the closing timeout.
uint16_t closed_with(WorkerHarness& h, int client) {
  uint16_t code = 0;
  h.run_until([&] {
    for (const auto& f : h.frames(client)) {
      if (f.op == proto::kOpClose) code = f.close_code();
    }
    return code != 0;
  });
  Handle ws = h.handle_of(client);
  h.close_client(client);
  h.run_until([&] { return h.count(EventType::kClosed, ws) == 1; });
  return code;
}

}  // namespace

TEST(worker_deflate_answers_an_offer) {
  WorkerHarness h(deflate_config());
  int c = h.adopt();
  Handle ws = h.open(c, {}, 50, kOffer);
  CHECK(ws.valid());
  CHECK(h.upgraded(c));
  std::string head(h.response_head(c));
  // client_max_window_bits without a value only says the client could take a
  // limit; this server sets none (§7.1.2.2: the response may omit it).
  CHECK(head.find("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n") != std::string::npos);
  auto evs = h.events_of(ws);
  if (CHECK(!evs.empty()) && CHECK_EQ(evs[0].strings.size(), 4u)) {
    CHECK_EQ(evs[0].strings[3], "permessage-deflate");
  }
  CHECK_EQ(h.worker().deflate().stats().negotiated.load(), 1u);

  // Without an offer: no extension, and RSV1 is a protocol error as before.
  int plain = h.adopt();
  Handle p = h.open(plain);
  CHECK(p.valid());
  CHECK(std::string(h.response_head(plain)).find("Sec-WebSocket-Extensions") == std::string::npos);
  h.send_raw(plain, harness::client_frame(proto::kOpText, kHelloCompressed, true, 0x11223344, 4));
  CHECK_EQ(closed_with(h, plain), proto::kCloseProtocolError);
}

TEST(worker_deflate_disabled_declines) {
  server::WorkerConfig config = deflate_config();
  config.deflate.enabled = false;
  WorkerHarness h(config);
  int c = h.adopt();
  Handle ws = h.open(c, {}, 50, kOffer);
  CHECK(ws.valid());
  CHECK(std::string(h.response_head(c)).find("Sec-WebSocket-Extensions") == std::string::npos);
}

TEST(worker_deflate_inflates_client_messages) {
  WorkerHarness h(deflate_config());
  int c = h.adopt();
  Handle ws = h.open(c, {}, 50, kOffer);
  // Whole, and then the same message again split over two frames and two reads
  // (context takeover: the second "Hello" may refer to the first; this one
  // does not, as §7.2.3.1's bytes are the same either way).
  h.send_raw(c, harness::client_frame(proto::kOpText, kHelloCompressed, true, 0x01020304, 4));
  h.step();
  h.send_raw(c, harness::client_frame(proto::kOpText, kHelloCompressed.substr(0, 3), false, 0x0a0b0c0d, 4));
  h.steps(2);
  h.send_raw(c, harness::client_frame(proto::kOpContinuation, kHelloCompressed.substr(3), true, 0x05060708));
  CHECK(h.run_until([&] { return messages_of(h, ws).size() == 2; }));
  std::vector<std::string> expected = {"Hello", "Hello"};
  CHECK(messages_of(h, ws) == expected);
  auto& st = h.worker().deflate().stats();
  CHECK_EQ(st.messages_inflated.load(), 2u);
  CHECK_EQ(st.inflated_in.load(), 14u);
  CHECK_EQ(st.inflated_out.load(), 10u);
}

TEST(worker_deflate_compresses_sends_by_the_threshold) {
  WorkerHarness h(deflate_config());
  int c = h.adopt();
  Handle ws = h.open(c, {}, 50, kOffer);
  std::string big = json_text(4000);
  h.ws_send(ws, proto::kOpText, big);
  h.ws_send(ws, proto::kOpText, "small");                         // under 1 KiB: as it is
  h.send(ws, proto::kOpBinary, big, false, server::kSendNoCompress);  // the override: never
  h.send(ws, proto::kOpText, "tiny", false, server::kSendCompress);   // the override: always
  h.send(ws, proto::kOpPing, "ping", false, server::kSendCompress);   // never a control frame
  CHECK(h.run_until([&] { return data_frames(h, c).size() == 4; }));
  auto frames = data_frames(h, c);
  ClientInflater client;
  std::string out;
  CHECK_EQ(frames[0].rsv, kRsv1);
  CHECK(frames[0].payload.size() < big.size() / 3);
  CHECK(client.inflate(frames[0].payload, out) && out == big);
  CHECK_EQ(frames[1].rsv, 0);
  CHECK_EQ(frames[1].payload, "small");
  CHECK_EQ(frames[2].rsv, 0);
  CHECK_EQ(frames[2].op, proto::kOpBinary);
  CHECK(frames[2].payload == big);
  CHECK_EQ(frames[3].rsv, kRsv1);
  CHECK(client.inflate(frames[3].payload, out) && out == "tiny");
  bool ping_plain = false;
  for (const auto& f : h.frames(c)) ping_plain |= f.op == proto::kOpPing && f.rsv == 0 && f.payload == "ping";
  CHECK(ping_plain);
  // bufferedAmount counts what JS framed until the worker takes it, then the
  // queue: all of it gone now, whatever size went on the wire.
  CHECK_EQ(h.buffered_amount(ws), 0.0);
  auto& st = h.worker().deflate().stats();
  CHECK_EQ(st.messages_compressed.load(), 2u);
  CHECK_EQ(st.bytes_before.load(), big.size() + 4);
}

TEST(worker_deflate_keeps_context_unless_agreed_otherwise) {
  // Context takeover: the same message a second time refers to the first.
  {
    WorkerHarness h(deflate_config());
    int c = h.adopt();
    Handle ws = h.open(c, {}, 50, kOffer);
    std::string text = json_text(3000);
    h.ws_send(ws, proto::kOpText, text);
    h.ws_send(ws, proto::kOpText, text);
    CHECK(h.run_until([&] { return data_frames(h, c).size() == 2; }));
    auto frames = data_frames(h, c);
    CHECK(frames[1].payload.size() < frames[0].payload.size() / 4);
    ClientInflater client;
    std::string out;
    CHECK(client.inflate(frames[0].payload, out) && out == text);
    CHECK(client.inflate(frames[1].payload, out) && out == text);
    CHECK(h.worker().deflate().memory() > 0);  // its own deflate stream, kept
  }
  // server_no_context_takeover asked by the client: every message stands alone.
  {
    WorkerHarness h(deflate_config());
    int c = h.adopt();
    Handle ws = h.open(c, {}, 50, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n");
    CHECK(std::string(h.response_head(c)).find("permessage-deflate; server_no_context_takeover") != std::string::npos);
    std::string text = json_text(3000);
    h.ws_send(ws, proto::kOpText, text);
    h.ws_send(ws, proto::kOpText, text);
    CHECK(h.run_until([&] { return data_frames(h, c).size() == 2; }));
    auto frames = data_frames(h, c);
    CHECK(frames[1].payload == frames[0].payload);
    ClientInflater client(15, true);
    std::string out;
    CHECK(client.inflate(frames[1].payload, out) && out == text);
  }
}

TEST(worker_deflate_budget_forces_no_context_takeover) {
  server::WorkerConfig config = deflate_config();
  WorkerHarness probe_h(config);
  size_t window = probe_h.worker().deflate().inflate_cost(15);
  CHECK(window > 32 * 1024);  // 2^15 window, zlib's state, the chunk buffer
  // Room for two connections' inflate windows, not three.
  config.deflate.max_memory = 2 * window + window / 2;
  WorkerHarness h(config);
  std::vector<int> clients;
  std::vector<Handle> handles;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(h.adopt());
    handles.push_back(h.open(clients.back(), {}, 50, kOffer));
    CHECK(handles.back().valid());
  }
  auto& res = h.worker().deflate();
  CHECK_EQ(res.reserved(), 2 * window);
  CHECK_EQ(res.stats().forced_no_context.load(), 1u);
  CHECK(std::string(h.response_head(clients[2])).find(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover") != std::string::npos);
  CHECK(std::string(h.response_head(clients[0])).find("no_context_takeover") == std::string::npos);
  // What a closed connection reserved comes back: the next one keeps its context.
  // (Before any message: the shared streams count against the budget too.)
  h.ws_terminate(handles[0]);
  CHECK(h.run_until([&] { return h.count(EventType::kClosed, handles[0]) == 1; }));
  CHECK_EQ(res.reserved(), window);
  int again = h.adopt();
  CHECK(h.open(again, {}, 50, kOffer).valid());
  CHECK(std::string(h.response_head(again)).find("no_context_takeover") == std::string::npos);
  CHECK_EQ(res.reserved(), 2 * window);
  // The forced connection still compresses, both ways.
  std::string text = json_text(2000);
  h.ws_send(handles[2], proto::kOpText, text);
  h.send_raw(clients[2], harness::client_frame(proto::kOpText, kHelloCompressed, true, 0x01020304, 4));
  CHECK(h.run_until([&] { return data_frames(h, clients[2]).size() == 1 && messages_of(h, handles[2]).size() == 1; }));
  ClientInflater client(15, true);
  std::string out;
  CHECK(client.inflate(data_frames(h, clients[2])[0].payload, out) && out == text);
  CHECK_EQ(messages_of(h, handles[2])[0], "Hello");
}

TEST(worker_deflate_own_deflater_only_within_budget) {
  server::WorkerConfig config = deflate_config();
  WorkerHarness probe_h(config);
  size_t deflate_cost = probe_h.worker().deflate().deflate_cost(15);
  size_t window = probe_h.worker().deflate().inflate_cost(15);
  // One connection's inflate window and one deflate stream fit; a second
  // deflate stream does not (the shared stream is counted too, once made).
  config.deflate.max_memory = 2 * window + deflate_cost + deflate_cost / 2;
  WorkerHarness h(config);
  int a = h.adopt(), b = h.adopt();
  Handle wa = h.open(a, {}, 50, kOffer), wb = h.open(b, {}, 50, kOffer);
  std::string text = json_text(3000);
  for (int i = 0; i < 2; ++i) {
    h.ws_send(wa, proto::kOpText, text);
    h.ws_send(wb, proto::kOpText, text);
  }
  CHECK(h.run_until([&] { return data_frames(h, a).size() == 2 && data_frames(h, b).size() == 2; }));
  auto& res = h.worker().deflate();
  CHECK(res.stats().shared_compressions.load() >= 2u);  // b's messages went through the shared stream
  // Past the budget only by the shared stream, which must exist.
  CHECK(res.committed() <= config.deflate.max_memory + deflate_cost);
  // Both clients decode what they got, in order, with context takeover.
  for (int client : {a, b}) {
    ClientInflater inflater;
    std::string out;
    for (const auto& f : data_frames(h, client)) CHECK(inflater.inflate(f.payload, out) && out == text);
  }
}

TEST(worker_deflate_idle_connection_holds_no_zlib_state) {
  WorkerHarness h(deflate_config());
  auto& res = h.worker().deflate();
  std::vector<int> clients;
  std::vector<Handle> handles;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(h.adopt());
    handles.push_back(
        h.open(clients.back(), {}, 50, "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"));
    CHECK(handles.back().valid());
  }
  CHECK_EQ(res.memory(), 0u);
  CHECK_EQ(res.reserved(), 0u);  // no client context: nothing to promise
  // Each message borrows a pooled inflate stream and gives it back: the pool
  // keeps at most two, however many connections talked.
  for (int c : clients) h.send_raw(c, harness::client_frame(proto::kOpText, kHelloCompressed, true, 0x01020304, 4));
  CHECK(h.run_until([&] {
    size_t n = 0;
    for (Handle w : handles) n += messages_of(h, w).size();
    return n == handles.size();
  }));
  CHECK(res.memory() > 0);
  CHECK(res.memory() <= 2 * res.inflate_cost(15));
  // With context takeover a connection keeps nothing until its first message either.
  WorkerHarness h2(deflate_config());
  for (int i = 0; i < 20; ++i) CHECK(h2.open(h2.adopt(), {}, 50, kOffer).valid());
  CHECK_EQ(h2.worker().deflate().memory(), 0u);
  CHECK_EQ(h2.worker().deflate().reserved(), 20 * h2.worker().deflate().inflate_cost(15));
}

TEST(worker_deflate_publish_is_compressed_once) {
  WorkerHarness h(deflate_config());
  int a = h.adopt(), b = h.adopt(), c = h.adopt(), plain = h.adopt();
  Handle wa = h.open(a, {}, 50, kOffer);
  Handle wb = h.open(b, {}, 50, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n");
  Handle wc = h.open(c, {}, 50, kOffer);
  Handle wp = h.open(plain);
  for (Handle w : {wa, wb, wc, wp}) h.ws_subscribe(w, 7);
  std::string first = json_text(2000, 1), published = json_text(2500, 2), after = json_text(2000, 3);
  h.ws_send(wa, proto::kOpText, first);  // a's own stream has history now
  h.steps(2);
  uint64_t compressed_before = h.worker().deflate().stats().messages_compressed.load();
  h.publish(7, proto::kOpText, published);
  h.steps(2);
  CHECK_EQ(h.worker().deflate().stats().messages_compressed.load(), compressed_before + 1);  // once for three
  h.ws_send(wa, proto::kOpText, after);  // must not refer to history the publish skipped
  CHECK(h.run_until([&] { return data_frames(h, a).size() == 3 && data_frames(h, b).size() == 1 &&
                                 data_frames(h, c).size() == 1 && data_frames(h, plain).size() == 1; }));
  ClientInflater ia, ib, ic;
  std::string out;
  auto fa = data_frames(h, a);
  CHECK(ia.inflate(fa[0].payload, out) && out == first);
  CHECK(fa[1].rsv == kRsv1 && ia.inflate(fa[1].payload, out) && out == published);
  CHECK(ia.inflate(fa[2].payload, out) && out == after);
  CHECK(ib.inflate(data_frames(h, b)[0].payload, out) && out == published);
  CHECK(ic.inflate(data_frames(h, c)[0].payload, out) && out == published);
  auto fp = data_frames(h, plain);
  CHECK(fp[0].rsv == 0 && fp[0].payload == published);
  // The override: never compressed.
  h.publish(7, proto::kOpText, published, harness::kNoHandle, server::kSendNoCompress);
  CHECK(h.run_until([&] { return data_frames(h, b).size() == 2; }));
  CHECK(data_frames(h, b)[1].rsv == 0 && data_frames(h, b)[1].payload == published);
}

TEST(worker_deflate_bombs_and_bad_data_close) {
  server::WorkerConfig config = deflate_config();
  config.parser.max_payload = 64 * 1024;
  WorkerHarness h(config);
  // 1 MiB of zeros compresses to about a kilobyte: past maxPayload inflated.
  proto::Deflater d;
  std::vector<uint8_t> bomb;
  std::string zeros(1 << 20, '\0');
  CHECK(d.compress(reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size(), bomb));
  CHECK(bomb.size() < 2048);
  int c = h.adopt();
  Handle ws = h.open(c, {}, 50, kOffer);
  h.send_raw(c, harness::client_frame(proto::kOpBinary, std::string(bomb.begin(), bomb.end()), true, 0x01020304, 4));
  CHECK_EQ(closed_with(h, c), proto::kCloseMessageTooBig);
  CHECK(messages_of(h, ws).empty());
  // Not DEFLATE at all.
  int c2 = h.adopt();
  Handle ws2 = h.open(c2, {}, 50, kOffer);
  h.send_raw(c2, harness::client_frame(proto::kOpText, std::string("\xff\xff\xff\xff", 4), true, 0x01020304, 4));
  CHECK_EQ(closed_with(h, c2), proto::kCloseInvalidPayload);
  CHECK(messages_of(h, ws2).empty());
  // Compressed text that inflates to invalid UTF-8: 1007 too.
  proto::Deflater d2;
  std::vector<uint8_t> bad_text;
  const uint8_t invalid[] = {'o', 'k', 0xc3, 0x28};
  CHECK(d2.compress(invalid, sizeof invalid, bad_text));
  int c3 = h.adopt();
  Handle ws3 = h.open(c3, {}, 50, kOffer);
  h.send_raw(c3, harness::client_frame(proto::kOpText, std::string(bad_text.begin(), bad_text.end()), true, 0x01020304, 4));
  CHECK_EQ(closed_with(h, c3), proto::kCloseInvalidPayload);
  CHECK(messages_of(h, ws3).empty());
  // Every stream went back with its connection.
  CHECK_EQ(h.worker().deflate().reserved(), 0u);
}
