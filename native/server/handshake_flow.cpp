// The HTTP handshake: the request collected and decided, the hooks asked,
// and the answer (101 and OPEN, or a refusal and the end), with the
// connection's place under maxConnections and maxConnectionsPerIp.
#include "worker.h"

#include <string>

#include "../proto/http_body.h"
#include "parser_events.h"

namespace corews::server {

void Worker::on_request_bytes(Connection* c, const uint8_t* data, size_t len) {
  if (c->http_idle) end_keep_alive_wait(c);
  c->http.append(reinterpret_cast<const char*>(data), len);
  if (c->exchange) return read_http_body(c);  // the head is in: these bytes are its body
  decide_request(c);
}

void Worker::decide_request(Connection* c) {
  proto::HttpRequest req;
  size_t head_len = 0;
  switch (proto::parse_request_head(c->http.data(), c->http.size(), req, head_len)) {
    case proto::HeadStatus::kIncomplete:
      return;
    case proto::HeadStatus::kTooLarge:
      return refuse(c, 431, "request head too large");
    case proto::HeadStatus::kBad:
      return refuse(c, 400, "malformed HTTP request");
    case proto::HeadStatus::kComplete:
      break;
  }
  proto::HandshakeDecision d = proto::decide_upgrade(req, config_->policy);
  switch (d.kind) {
    case proto::HandshakeDecision::kReject:
      return refuse(c, d.status, d.reason, &req);
    case proto::HandshakeDecision::kNotUpgrade:
      // Plain HTTP is no failed handshake: JS does not hear of the 426.
      if (!config_->http_hook) return refuse(c, d.status, d.reason, &req, false);
      return begin_exchange(c, req, head_len);
    case proto::HandshakeDecision::kAccept:
      break;
  }
  // Bytes after an upgrade's head are frames: a body would be read as them.
  if (proto::body_framing(req).kind != proto::BodyFraming::kNone) return refuse(c, 400, "an upgrade request has no body", &req);
  if (shutting_down_) return refuse(c, 503, "server shutting down", &req, false);
  if (!limits_->acquire()) return refuse(c, 503, "server is at its connection limit", &req);
  if (limits_->per_ip_enabled()) {
    std::string ip = c->transport->peer_address();
    if (!limits_->acquire_ip(ip)) {
      limits_->release();
      return refuse(c, 429, "too many connections from this address", &req);
    }
    c->rare_state().ip = std::move(ip);
    c->ip_counted = true;
  }
  c->counted = true;
  if (config_->upgrade_hook) return await_js(c, EventType::kUpgrade, req, d.protocol);
  accept_upgrade(c, d.protocol, {});
}

// The request is complete; a hook decides. The handshake timeout is for slow
// clients, not slow hooks, so it stops here. Whatever the client sends before
// the answer stays in the kernel (TCP pushes back) and is read after it; only
// the client's FIN is watched, to tell JS the client has gone.
void Worker::await_js(Connection* c, EventType type, const proto::HttpRequest& req, std::string_view protocol,
                      std::string_view body) {
  core::DeadlineList::cancel(c);
  c->upgrade_request = type == EventType::kUpgrade;
  c->state = ConnState::kAwaitingJs;
  update_interest(c);
  emit_request(c, type, req, protocol, body);
}

void Worker::emit_request(Connection* c, EventType type, const proto::HttpRequest& req,
                          std::string_view protocol, std::string_view body) {
  c->js_knows = true;
  std::string remote = c->transport->peer_address();
  uint32_t offset = batch_->begin_strings();
  batch_->append_bytes(body);
  batch_->append_string(req.method);
  batch_->append_string(req.target);
  batch_->append_string(remote);
  batch_->append_string(protocol);
  for (size_t i = 0; i < req.header_count; ++i) {
    batch_->append_string(req.headers[i].name);
    batch_->append_string(req.headers[i].value);
  }
  batch_->end_strings(type, c->slot, c->gen, offset, uint32_t(4 + 2 * req.header_count), uint32_t(body.size()));
}

// Answers 101 and opens the connection. The request is still in c->http;
// anything after its head is the client's first frames.
void Worker::accept_upgrade(Connection* c, std::string_view protocol, std::string_view extra_headers) {
  proto::HttpRequest req;
  size_t head_len = 0;
  proto::parse_request_head(c->http.data(), c->http.size(), req, head_len);
  // permessage-deflate: agreed here, after the hooks, so that a refused
  // upgrade never reserved any of the zlib budget.
  std::string extensions;
  std::string headers;
  if (deflate_.enabled()) {
    c->deflate = deflate_.negotiate(req, extensions);
    if (c->deflate) {
      c->parser.set_inflater(c->deflate.get());
      headers.reserve(extra_headers.size() + extensions.size() + 32);
      headers += "Sec-WebSocket-Extensions: ";
      headers += extensions;
      headers += "\r\n";
      headers += extra_headers;
      extra_headers = headers;
    }
  }
  std::string response =
      proto::build_switching_protocols(req.get("sec-websocket-key"), protocol, extra_headers);
  // A connection that served HTTP first counted its streamed bodies as
  // taken sends; the WebSocket's bufferedAmount starts from nothing.
  c->sends_taken = 0;
  write_bytes(c, reinterpret_cast<const uint8_t*>(response.data()), response.size());
  if (c->state == ConnState::kDead) return;

  core::DeadlineList::cancel(c);
  c->state = ConnState::kOpen;
  c->js_knows = true;
  c->opened = true;
  c->last_activity_ms = now_ms_;
  c->tokens = float(config_->max_messages_per_second > 1 ? config_->max_messages_per_second : 1);
  c->tokens_at_ms = now_ms_;
  c->reports = config_->report_control;
  if (config_->ping_interval_ms > 0 || config_->idle_timeout_ms > 0) heartbeat_timers_.arm(&c->heartbeat, now_ms_);
  WorkerStats::add(stats_.handshakes_accepted);
  WorkerStats::add(stats_.connections_open);
  WorkerStats::add(stats_.connections_total);
  update_interest(c);
  batch_->add(EventType::kOpen, c->slot, c->gen, 0, {req.target, protocol, c->transport->peer_address(), extensions});

  std::string early = c->http.substr(head_len);
  std::string().swap(c->http);  // an open connection keeps no request buffer
  if (!early.empty()) {
    ParserEvents events{*this, c};
    c->parser.feed(events, reinterpret_cast<uint8_t*>(early.data()), early.size());
  }
}

void Worker::release_place(Connection* c) {
  if (!c->counted) return;
  c->counted = false;
  limits_->release();
  // The flag, not the string: a peer without an address ("") holds a place too.
  if (c->ip_counted) limits_->release_ip(c->rare->ip);
  c->ip_counted = false;
}

void Worker::refuse(Connection* c, int status, std::string_view reason, const proto::HttpRequest* req, bool report) {
  // A connection JS holds (a hook was deciding) is not a refusal to report: JS has it already.
  if (report && report_refusals_ && !c->js_knows) emit_refusal(c, status, reason, req);
  stats_.rejected(status);
  release_place(c);  // a refused handshake holds no place under the limits
  std::string body(reason);
  body += '\n';
  std::string response = proto::build_response(status, {}, body, true);
  std::string().swap(c->http);
  write_bytes(c, reinterpret_cast<const uint8_t*>(response.data()), response.size());
  begin_drain(c);
}

// The request's parts are views into c->http, which refuse() frees after
// this: they are copied into the batch here. Its size is bounded by the
// request-head limit (431 beyond it), and only with refusals reported.
void Worker::emit_refusal(Connection* c, int status, std::string_view reason, const proto::HttpRequest* req) {
  std::string remote = c->transport->peer_address();
  uint32_t offset = batch_->begin_strings();
  batch_->append_string(reason);
  batch_->append_string(req ? req->method : std::string_view());
  batch_->append_string(req ? req->target : std::string_view());
  batch_->append_string(remote);
  batch_->append_string({});  // no protocol: from here on laid out as kUpgrade
  size_t headers = req ? req->header_count : 0;
  for (size_t i = 0; i < headers; ++i) {
    batch_->append_string(req->headers[i].name);
    batch_->append_string(req->headers[i].value);
  }
  batch_->end_strings(EventType::kRefused, c->slot, c->gen, offset, uint32_t(5 + 2 * headers));
  batch_->events.back().num = uint32_t(status);
}

}  // namespace corews::server
