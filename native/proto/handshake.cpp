#include "handshake.h"

#include "base64.h"
#include "sha1.h"

namespace corews::proto {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

HandshakeDecision reject(int status, const char* reason) {
  HandshakeDecision d;
  d.kind = HandshakeDecision::kReject;
  d.status = status;
  d.reason = reason;
  return d;
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed) {
    if (iequals(origin, a)) return true;
  }
  return false;
}

// The first server protocol that appears among the client's offers; names
// are case-sensitive (§11.3.4).
std::string_view choose_protocol(const HttpRequest& req, const std::vector<std::string>& ours) {
  for (const auto& p : ours) {
    for (size_t i = 0; i < req.header_count; ++i) {
      if (iequals(req.headers[i].name, "sec-websocket-protocol") && list_contains(req.headers[i].value, p, false)) {
        return p;
      }
    }
  }
  return {};
}

}  // namespace

HandshakeDecision decide_upgrade(const HttpRequest& req, const HandshakePolicy& policy) {
  bool upgrade = req.has_token("upgrade", "websocket");
  if (!upgrade) {
    HandshakeDecision d;
    d.kind = HandshakeDecision::kNotUpgrade;
    d.status = 426;
    d.reason = "this endpoint speaks WebSocket only: send an Upgrade: websocket request";
    return d;
  }
  // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
  if (req.method != "GET") return reject(405, "a WebSocket upgrade must use GET");
  if (req.version_major != 1 || req.version_minor < 1) return reject(400, "a WebSocket upgrade needs HTTP/1.1");
  if (!policy.path.empty() && req.path() != policy.path) return reject(404, "no WebSocket endpoint at this path");
  if (!req.has_token("connection", "upgrade")) return reject(400, "missing 'Connection: upgrade'");
  if (req.count("host") != 1) return reject(400, "missing or repeated Host header");
  if (req.count("sec-websocket-key") != 1) return reject(400, "missing or repeated Sec-WebSocket-Key");
  std::string_view key = req.get("sec-websocket-key");
  if (base64_decoded_size(key) != 16) return reject(400, "Sec-WebSocket-Key is not 16 bytes of base64");
  if (req.count("sec-websocket-version") != 1 || req.get("sec-websocket-version") != "13") {
    return reject(426, "unsupported Sec-WebSocket-Version: this server speaks version 13");
  }
  if (!policy.origins.empty()) {
    std::string_view origin = req.get("origin");
    if (origin.empty() || !origin_allowed(origin, policy.origins)) return reject(403, "origin not allowed");
  }
  HandshakeDecision d;
  d.kind = HandshakeDecision::kAccept;
  d.status = 101;
  d.key = key;
  d.protocol = choose_protocol(req, policy.protocols);
  return d;
}

std::string accept_key(std::string_view key) {
  std::string input;
  input.reserve(key.size() + kGuid.size());
  input.append(key).append(kGuid);
  Sha1Digest digest = sha1(input.data(), input.size());
  return base64_encode(digest.data(), digest.size());
}

std::string build_switching_protocols(std::string_view key, std::string_view protocol,
                                      std::string_view extra_headers) {
  std::string out;
  out.reserve(160 + protocol.size() + extra_headers.size());
  out += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
  out += accept_key(key);
  out += "\r\n";
  if (!protocol.empty()) {
    out += "Sec-WebSocket-Protocol: ";
    out += protocol;
    out += "\r\n";
  }
  out += extra_headers;
  out += "\r\n";
  return out;
}

std::string build_response(int status, std::string_view extra_headers, std::string_view body,
                           bool add_text_content_type) {
  std::string out;
  out.reserve(128 + extra_headers.size() + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\nConnection: close\r\n";
  if (status == 426) out += "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  if (status == 405) out += "Allow: GET\r\n";
  if (add_text_content_type) out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += extra_headers;
  out += "Content-Length: ";
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  out += body;
  return out;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace corews::proto
