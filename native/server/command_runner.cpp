// Commands from JS: the inbox's buffers taken and run in order (sends go to
// the write path's cork, publishes gathered for fan-out), and what commands that never
// run still hold (publish references, handed-off fds) released.
#include "worker.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "listener.h"

namespace corews::server {

namespace {

constexpr size_t kKeepCommandCapacity = 1 << 20;  // JS hands over at 512 KiB: buffers past 1 MiB are not reused

}  // namespace

void Worker::process_commands() {
  inbox_.take(taken_);
  for (const auto& commands : taken_) {
    size_t pos = 0;
    while (pos + sizeof(CommandHeader) <= commands.size() && !stopped_) {
      CommandHeader h;
      std::memcpy(&h, commands.data() + pos, sizeof h);
      const uint8_t* payload = commands.data() + pos + sizeof h;
      pos += sizeof h + pad8(h.len);
      if (h.type == CommandType::kPublish) {
        PublishPayload p;
        std::memcpy(&p, payload, sizeof p);
        gather_publish(h, p);
        continue;
      }
      run_gathered_publishes();  // the publishes before this command go first
      run_command(h, payload);
    }
    run_gathered_publishes();
    release_publishes(commands, pos);  // what a stop (env teardown, shutdown deadline) left unrun
  }
  uncork();
  flush_published();
  for (auto& commands : taken_) {
    if (commands.capacity() <= kKeepCommandCapacity) inbox_.recycle(std::move(commands));
  }
  taken_.clear();
}

void Worker::run_command(const CommandHeader& h, const uint8_t* payload) {
  if (h.type == CommandType::kShutdown) {
    uncork();
    uint32_t timeout_ms;
    std::memcpy(&timeout_ms, payload, 4);
    shutdown_gracefully(h.code, {reinterpret_cast<const char*>(payload) + 4, h.len - 4}, timeout_ms);
    return;
  }
  if (h.type == CommandType::kAdopt || h.type == CommandType::kAdoptRequest || h.type == CommandType::kAdoptBridged) {
    int32_t fd;
    std::memcpy(&fd, payload, 4);
    size_t skip = 4;
    Connection* c;
    if (h.type == CommandType::kAdoptBridged) {
      // The socketpair has no address of the client's: Node told us its TLS socket's.
      size_t n = std::min<size_t>(h.code, h.len - 4);  // never past the record
      std::string peer(reinterpret_cast<const char*>(payload) + 4, n);
      skip += n;
      c = adopt(fd, &peer);
    } else {
      c = adopt(fd);
    }
    // The request Node read goes in as if this worker had read it: the
    // handshake is decided as on the worker's own listener.
    if (c != nullptr && h.type != CommandType::kAdopt && h.len > skip) on_request_bytes(c, payload + skip, h.len - skip);
    return;
  }
  if (h.type == CommandType::kReportRefusals) {
    report_refusals_ = h.code != 0;
    return;
  }
  Connection* c = lookup(h.slot, h.gen);
  if (c == nullptr || c->state == ConnState::kDead) return;  // closed meanwhile: a no-op
  if (h.type == CommandType::kSend) {
    // Data may follow an incoming Close or error: it answers what came before.
    size_t frame_len = h.len - h.code;
    // JS told the user BACKPRESSURE for this send: a drain must follow.
    if (h.reserved & kSendWantsDrain) c->drain_armed = true;
    bool open = c->state == ConnState::kOpen || c->state == ConnState::kPeerClosed || c->state == ConnState::kFailed;
    if (open && admit(c)) {
      WorkerStats::add(stats_.messages_out);
      const uint8_t* frame = payload + h.code;
      // Compressed, or as JS framed it (also when zlib failed: nothing is lost).
      if (should_compress(c, h.reserved, frame) && send_compressed(c, frame, frame_len)) return;
      WorkerStats::add(stats_.bytes_out, frame_len);
      cork(c, frame, frame_len);  // taken (for bufferedAmount) once written or queued
    } else if (c->state != ConnState::kDead) {
      // Dropped: gone for good. A drain JS promised still comes.
      c->sends_taken += frame_len;
      note_queue(c);
    }
    return;
  }
  uncork();
  std::string_view body(reinterpret_cast<const char*>(payload), h.len);
  switch (h.type) {
    case CommandType::kClose:
      send_close(c, h.code, body);
      break;
    case CommandType::kTerminate:
      destroy(c);
      break;
    case CommandType::kPauseReading:
      set_user_paused(c, h.code != 0);
      break;
    case CommandType::kReportControl:
      c->reports = uint8_t(h.code & (kReportPings | kReportPongs));
      break;
    case CommandType::kSubscribe:
    case CommandType::kUnsubscribe: {
      uint32_t topic;
      std::memcpy(&topic, payload, 4);
      if (h.type == CommandType::kSubscribe) topics_.subscribe(c, topic);
      else topics_.unsubscribe(c, topic);
      break;
    }
    case CommandType::kAccept: {
      if (c->state != ConnState::kAwaitingJs) break;
      uint32_t plen;
      std::memcpy(&plen, payload, 4);
      accept_upgrade(c, body.substr(4, plen), body.substr(4 + plen));
      break;
    }
    case CommandType::kRespond: {
      if (c->state != ConnState::kAwaitingJs) break;
      uint32_t hlen;
      std::memcpy(&hlen, payload, 4);
      if (!c->upgrade_request && c->exchange) {
        answer_http(c, h.code, body.substr(4, hlen), body.substr(4 + hlen), (h.reserved & kRespondStream) != 0);
        break;
      }
      std::string response = proto::build_response(h.code, body.substr(4, hlen), body.substr(4 + hlen), false);
      if (c->upgrade_request) stats_.rejected(h.code);  // the upgrade hook refused
      release_place(c);
      std::string().swap(c->http);
      write_bytes(c, reinterpret_cast<const uint8_t*>(response.data()), response.size());
      begin_drain(c);
      break;
    }
    case CommandType::kHttpChunk:
      write_http_chunk(c, payload, h.len, h.reserved);
      break;
    default:
      break;
  }
}

// Drops what commands that will never run hold: publish references, handed-off fds.
void Worker::release_publishes(const CommandBuffer& commands, size_t from) {
  size_t pos = from;
  while (pos + sizeof(CommandHeader) <= commands.size()) {
    CommandHeader h;
    std::memcpy(&h, commands.data() + pos, sizeof h);
    if (h.type == CommandType::kPublish) {
      PublishPayload p;
      std::memcpy(&p, commands.data() + pos + sizeof h, sizeof p);
      static_cast<core::SharedBytes*>(p.frame)->unref();
    } else if (h.type == CommandType::kAdopt || h.type == CommandType::kAdoptRequest ||
               h.type == CommandType::kAdoptBridged) {
      int32_t fd;
      std::memcpy(&fd, commands.data() + pos + sizeof h, 4);
      close_socket(fd);
    }
    pos += sizeof h + pad8(h.len);
  }
}

}  // namespace corews::server
