// The http hook's requests after their head: the body read (Content-Length or
// chunked, bounded by maxHttpBody), the answer JS gives (whole, or a head and
// then chunks), and what follows it: the next request on a kept-alive
// connection (pipelined requests wait in Connection::http, one at a time), or
// the end.
#include <sys/uio.h>

#include "../proto/http_response.h"
#include "worker.h"

namespace corews::server {

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace

// Refusals here answer plain HTTP requests the http hook would have had: no
// failed WebSocket handshake, so they are not reported as refusals (kRefused).
void Worker::begin_exchange(Connection* c, const proto::HttpRequest& req, size_t head_len) {
  proto::BodyFraming framing = proto::body_framing(req);
  switch (framing.kind) {
    case proto::BodyFraming::kBad:
      return refuse(c, 400, "ambiguous or malformed request body framing", nullptr, false);
    case proto::BodyFraming::kUnsupported:
      return refuse(c, 501, "only the chunked transfer coding is supported", nullptr, false);
    case proto::BodyFraming::kLength:
      if (framing.length > config_->max_http_body) return refuse(c, 413, "request body too large", nullptr, false);
      break;
    default:
      break;
  }
  auto x = std::make_unique<HttpExchange>();
  x->head_len = head_len;
  x->framing = framing;
  x->keep_alive = proto::wants_keep_alive(req);
  x->head_only = req.method == "HEAD";
  c->exchange = std::move(x);
  // A client that waits for permission to send its body (curl does, for large ones) gets it now.
  if (framing.kind != proto::BodyFraming::kNone && req.version_minor >= 1 && req.has_token("expect", "100-continue")) {
    write_bytes(c, reinterpret_cast<const uint8_t*>(kContinue.data()), kContinue.size());
    if (c->state == ConnState::kDead) return;
  }
  read_http_body(c);
}

// Content-Length bodies stay where they were read, in Connection::http after
// the head; chunked ones are decoded into the exchange, and their framing
// dropped as it is decoded, so neither holds more than the bound and a read.
void Worker::read_http_body(Connection* c) {
  HttpExchange& x = *c->exchange;
  std::string_view body;
  switch (x.framing.kind) {
    case proto::BodyFraming::kLength:
      if (c->http.size() - x.head_len < x.framing.length) return;
      body = std::string_view(c->http).substr(x.head_len, size_t(x.framing.length));
      x.request_end = x.head_len + size_t(x.framing.length);
      break;
    case proto::BodyFraming::kChunked: {
      size_t used = 0;
      auto status = x.chunked.feed(c->http.data() + x.head_len, c->http.size() - x.head_len, config_->max_http_body,
                                   x.body, used);
      c->http.erase(x.head_len, used);
      switch (status) {
        case proto::ChunkedDecoder::Status::kIncomplete:
          return;
        case proto::ChunkedDecoder::Status::kBad:
          return refuse(c, 400, "malformed chunked request body", nullptr, false);
        case proto::ChunkedDecoder::Status::kTooLarge:
          return refuse(c, 413, "request body too large", nullptr, false);
        case proto::ChunkedDecoder::Status::kComplete:
          break;
      }
      body = x.body;
      x.request_end = x.head_len;
      break;
    }
    default:
      x.request_end = x.head_len;
      break;
  }
  // The head again, for views into the buffer as it is now.
  proto::HttpRequest req;
  size_t head_len = 0;
  proto::parse_request_head(c->http.data(), x.head_len, req, head_len);
  await_js(c, EventType::kHttpRequest, req, {}, body);
  std::string().swap(x.body);  // copied into the batch
}

void Worker::answer_http(Connection* c, int status, std::string_view headers, std::string_view body, bool stream) {
  HttpExchange& x = *c->exchange;
  bool has_body = proto::status_has_body(status);
  proto::ResponseHead head;
  head.status = status;
  head.extra_headers = headers;
  head.keep_alive = x.keep_alive && !shutting_down_ && config_->http_keep_alive_timeout_ms > 0;
  head.keep_alive_seconds = config_->http_keep_alive_timeout_ms / 1000;
  head.chunked = stream;
  head.content_length = body.size();
  x.keep_alive = head.keep_alive;
  std::string bytes = proto::build_response_head(head);
  // HEAD gets the head a GET would get (its Content-Length too), and no body.
  bool send_body = has_body && !x.head_only;
  iovec iov[2] = {{bytes.data(), bytes.size()}, {const_cast<char*>(body.data()), send_body ? body.size() : 0}};
  write_iov(c, iov, send_body && !body.empty() ? 2 : 1);
  if (c->state == ConnState::kDead) return;
  if (stream && send_body) {
    c->state = ConnState::kHttpStreaming;
    // idleTimeout, as for a WebSocket that reads nothing of its queue (heartbeat.cpp).
    if (config_->idle_timeout_ms > 0) heartbeat_timers_.arm(&c->heartbeat, now_ms_);
    update_interest(c);
    return;
  }
  finish_exchange(c);
}

// One piece of a streamed body, framed as a chunk. Every byte counts toward
// maxBackpressure like a send: JS waits for the drain a kSendWantsDrain asks
// for, so the queue stays near the low mark; a queue at the bound anyway
// (one piece larger than it) ends the connection, as a body cannot drop bytes.
void Worker::write_http_chunk(Connection* c, const uint8_t* data, size_t len, uint8_t flags) {
  c->sends_taken += len;  // taken, written or not, so that bufferedAmount settles
  if (c->state != ConnState::kHttpStreaming) {
    note_queue(c);
    return;
  }
  if (flags & kSendWantsDrain) c->drain_armed = true;
  if (len > 0) {
    if (c->queued_bytes() >= config_->max_backpressure) {
      WorkerStats::add(stats_.backpressure_closes);
      destroy(c);
      return;
    }
    char size_line[proto::kMaxChunkHeader];
    size_t n = proto::write_chunk_header(size_line, len);
    iovec iov[3] = {{size_line, n}, {const_cast<uint8_t*>(data), len}, {const_cast<char*>("\r\n"), 2}};
    write_iov(c, iov, 3);
    if (c->state == ConnState::kDead) return;
  } else {
    note_queue(c);
  }
  if (flags & kChunkEnd) {
    write_bytes(c, reinterpret_cast<const uint8_t*>(kLastChunk.data()), kLastChunk.size());
    if (c->state == ConnState::kDead) return;
    finish_exchange(c);
  }
}

// The response is queued: read the next request (one already buffered is
// decided at once: pipelining), or end the connection after the response.
void Worker::finish_exchange(Connection* c) {
  bool keep = c->exchange->keep_alive && !shutting_down_;
  size_t end = c->exchange->request_end;
  c->exchange.reset();
  c->drain_armed = false;
  core::DeadlineList::cancel(&c->heartbeat);
  if (!keep) {
    std::string().swap(c->http);
    begin_drain(c);
    return;
  }
  c->http.erase(0, end);
  c->state = ConnState::kHandshake;
  if (c->http.empty()) {
    std::string().swap(c->http);  // waiting costs no buffer
    c->http_idle = true;
    keep_alive_timers_.arm(c, now_ms_);
    update_interest(c);
    return;
  }
  handshake_timers_.arm(c, now_ms_);
  update_interest(c);
  decide_request(c);
}

void Worker::end_keep_alive_wait(Connection* c) {
  c->http_idle = false;
  handshake_timers_.arm(c, now_ms_);  // the request must now arrive within the handshake timeout
}

}  // namespace corews::server
