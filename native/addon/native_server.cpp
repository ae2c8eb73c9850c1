#include "native_server.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include <cstring>
#include <string>
#include <system_error>

#include "../proto/frame.h"
#include "../core/shared_bytes.h"
#include "../server/commands.h"
#include "../server/listener.h"
#include "batch_to_js.h"
#include "js_values.h"
#include "tls_binding.h"

namespace corews::addon {
namespace {

using server::CommandType;
using server::CommandWriter;

uint32_t u32(const Napi::CallbackInfo& info, size_t i) {
  uint32_t v = 0;
  napi_get_value_uint32(info.Env(), info[i], &v);
  return v;
}

// Bytes of a Uint8Array (JS normalises every binary input to one).
bool bytes_of(napi_env env, napi_value v, const uint8_t*& data, size_t& len) {
  // napi_get_typedarray_info refuses what is not a typed array by itself, so
  // no napi_is_typedarray first; the buffer and offset are not asked for.
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &len, &p, nullptr, nullptr) != napi_ok) return false;
  data = static_cast<const uint8_t*>(p);
  return type == napi_uint8_array;
}

// JS's compress argument (0: by the threshold, 1: always, 2: never) as command flags.
uint8_t compress_flags(uint32_t compress) {
  return compress == 1 ? server::kSendCompress : compress == 2 ? server::kSendNoCompress : 0;
}

}  // namespace

Napi::Function NativeServer::Define(Napi::Env env) {
  return DefineClass(env, "NativeServer",
                     {
                         InstanceMethod<&NativeServer::Listen>("listen"),
                         InstanceMethod<&NativeServer::Close>("close"),
                         InstanceMethod<&NativeServer::Terminate>("terminate"),
                         InstanceMethod<&NativeServer::Pause>("pause"),
                         InstanceMethod<&NativeServer::ReportControl>("reportControl"),
                         InstanceMethod<&NativeServer::ReportRefusals>("reportRefusals"),
                         InstanceMethod<&NativeServer::Accept>("accept"),
                         InstanceMethod<&NativeServer::Respond>("respond"),
                         InstanceMethod<&NativeServer::HttpChunk>("httpChunk"),
                         InstanceMethod<&NativeServer::Subscribe>("subscribe"),
                         InstanceMethod<&NativeServer::Unsubscribe>("unsubscribe"),
                         InstanceMethod<&NativeServer::Publish>("publish"),
                         InstanceMethod<&NativeServer::Flush>("flush"),
                         InstanceMethod<&NativeServer::BusyPoll>("busyPoll"),
                         InstanceMethod<&NativeServer::Adopt>("adopt"),
                         InstanceMethod<&NativeServer::Bridge>("bridge"),
                         InstanceMethod<&NativeServer::Join>("join"),
                         InstanceMethod<&NativeServer::Shutdown>("shutdown"),
                         InstanceMethod<&NativeServer::Counters>("counters"),
                         InstanceMethod<&NativeServer::Stats>("stats"),
                         InstanceMethod<&NativeServer::AddContext>("addContext"),
                         InstanceMethod<&NativeServer::SetSecureContext>("setSecureContext"),
                     });
}

// new NativeServer(options): { path, origins, protocols, maxPayload,
// handshakeTimeout, closeTimeout, upgradeHook, httpHook }, validated by the
// TypeScript layer.
NativeServer::NativeServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeServer>(info) {
  env_ = info.Env();
  {
    // send(): this instance's own function, which finds the instance in its
    // data (SendCallback). It lives as a property of the instance, so it is
    // called only while the instance (and so this object) is alive.
    napi_value send_fn;
    if (napi_create_function(env_, "send", NAPI_AUTO_LENGTH, &NativeServer::SendCallback, this, &send_fn) != napi_ok) {
      NAPI_THROW_VOID(Napi::Error::New(env_, "cannot create send()"));
    }
    info.This().As<Napi::Object>().Set("send", Napi::Value(env_, send_fn));
  }
  auto o = info[0].As<Napi::Object>();
  config_ = std::make_shared<server::WorkerConfig>();
  config_->policy.path = utf8(o.Get("path"));
  config_->policy.origins = string_list(o.Get("origins"));
  config_->policy.protocols = string_list(o.Get("protocols"));
  config_->parser.max_payload = uint64_t(o.Get("maxPayload").As<Napi::Number>().DoubleValue());
  config_->parser.max_text_payload = uint64_t(o.Get("maxTextPayload").As<Napi::Number>().DoubleValue());
  config_->handshake_timeout_ms = int64_t(o.Get("handshakeTimeout").As<Napi::Number>().DoubleValue());
  config_->close_timeout_ms = int64_t(o.Get("closeTimeout").As<Napi::Number>().DoubleValue());
  config_->upgrade_hook = o.Get("upgradeHook").ToBoolean();
  config_->http_hook = o.Get("httpHook").ToBoolean();
  config_->report_control = uint8_t(o.Get("reportControl").As<Napi::Number>().Uint32Value() &
                                    (server::kReportPings | server::kReportPongs));
  config_->report_refusals = o.Get("reportRefusals").ToBoolean();
  config_->max_http_body = size_t(o.Get("maxHttpBody").As<Napi::Number>().DoubleValue());
  config_->http_keep_alive_timeout_ms = int64_t(o.Get("httpKeepAliveTimeout").As<Napi::Number>().DoubleValue());
  config_->acceptor_handoff = o.Get("acceptorHandoff").ToBoolean();
  config_->max_backpressure = size_t(o.Get("maxBackpressure").As<Napi::Number>().DoubleValue());
  config_->drop_on_backpressure = o.Get("dropOnBackpressure").ToBoolean();
  config_->idle_timeout_ms = int64_t(o.Get("idleTimeout").As<Napi::Number>().DoubleValue());
  config_->ping_interval_ms = int64_t(o.Get("pingInterval").As<Napi::Number>().DoubleValue());
  config_->max_messages_per_second = o.Get("maxMessagesPerSecond").As<Napi::Number>().DoubleValue();
  // The inbound bound must let the largest message through.
  size_t floor = size_t(64) << 20;
  config_->max_unconsumed = std::max(floor, size_t(2 * config_->parser.max_payload));
  limits_ = std::make_shared<server::SharedLimits>(
      uint64_t(o.Get("maxConnections").As<Napi::Number>().DoubleValue()),
      uint32_t(o.Get("maxConnectionsPerIp").As<Napi::Number>().DoubleValue()));
  if (o.Get("perMessageDeflate").IsObject()) {
    auto d = o.Get("perMessageDeflate").As<Napi::Object>();
    server::DeflateSettings& s = config_->deflate;
    s.enabled = true;
    s.negotiation.server_no_context_takeover = d.Get("serverNoContextTakeover").ToBoolean();
    s.negotiation.client_no_context_takeover = d.Get("clientNoContextTakeover").ToBoolean();
    s.negotiation.server_max_window_bits = uint8_t(number(d.Get("serverMaxWindowBits")));  // 0: no limit
    s.negotiation.client_max_window_bits = uint8_t(number(d.Get("clientMaxWindowBits")));
    s.level = int(number(d.Get("level")));
    s.mem_level = int(number(d.Get("memLevel")));
    s.threshold = size_t(number(d.Get("threshold")));
    deflate_max_memory_ = number(d.Get("maxMemory"));  // shared out among the workers at listen()
  }
  if (o.Get("tls").IsObject()) {  // wss://: a bad certificate set fails createServer
    try {
      config_->tls = std::make_shared<server::TlsContexts>(tls_config_from(o.Get("tls")));
    } catch (const server::TlsError& e) {
      throw_tls_error(env_, e);
    }
  }

}

NativeServer::~NativeServer() {
  // meta_ is let go in join(); a server still listening is destroyed only at
  // env teardown, when the env frees its references itself.
  shutdown_workers();
  for (auto* c : counters_) c->unref();
}

// listen(host, port, threads, backlog, dispatch, noListener) → bound port
// noListener: the workers run without a listening socket of their own, for
// connections handed over by adopt() (server.handleUpgrade); the port is 0.
//
// The threadsafe function lives from here to join(): while it exists it keeps
// the process alive and holds `dispatch` (and so the JS server) strongly.
Napi::Value NativeServer::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!workers_.empty() || tsfn_ || inline_) NAPI_THROW(Napi::Error::New(env, "already listening"), env.Undefined());
  std::string host = utf8(info[0]);
  int port = int(u32(info, 1));
  // threads: 0 is inline mode: one worker, run on this thread (inline_server.cpp).
  bool inline_mode = u32(info, 2) == 0;
  int threads = inline_mode ? 1 : int(u32(info, 2));
  int backlog = int(u32(info, 3));
  bool no_listener = info[5].ToBoolean();
  // With acceptor hand-off one listening socket serves all workers.
  server::ListenResult r;
  if (!no_listener) r = server::open_listeners(host, port, config_->acceptor_handoff ? 1 : threads, backlog);
  if (r.fds.empty() && !no_listener) {
    std::string code = r.error == EADDRINUSE ? "EADDRINUSE" : r.error == EACCES ? "EACCES"
                     : r.error == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : "E" + std::to_string(r.error);
    Napi::Error e = Napi::Error::New(env, std::string(r.syscall) + " " + code + " " + host + ":" +
                                              std::to_string(port) + ": " + std::strerror(r.error));
    e.Set("code", Napi::String::New(env, code));
    e.Set("errno", Napi::Number::New(env, -r.error));
    e.Set("syscall", Napi::String::New(env, r.syscall));
    NAPI_THROW(e, env.Undefined());
  }
  // A slot per descriptor the process may have: slots never outnumber fds.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  size_t slots = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ? (1u << 20) : size_t(rl.rlim_max);
  for (auto* c : counters_) c->unref();
  counters_.clear();
  // Each worker holds at most its share of the zlib budget: no lock between them.
  if (config_->deflate.enabled) {
    double share = deflate_max_memory_ / double(threads);
    config_->deflate.max_memory = share >= double(SIZE_MAX) ? SIZE_MAX : size_t(share);
  }
  // Every worker is made before any starts: one that cannot get its poller
  // or wakeup (out of descriptors) fails listen() with the reason.
  for (size_t i = 0; i < size_t(threads); ++i) {
    int fd = i < r.fds.size() ? r.fds[i] : -1;
    counters_.push_back(server::SlotCounters::create(slots));
    try {
      workers_.push_back(std::make_unique<server::Worker>(uint32_t(i), config_, fd, *this, limits_, counters_[i]));
    } catch (const std::system_error& e) {
      workers_.clear();  // each closes the listening socket it was given
      for (size_t j = i; j < r.fds.size(); ++j) close(r.fds[j]);
      int err = e.code().value();
      std::string code = err == EMFILE ? "EMFILE" : err == ENFILE ? "ENFILE" : err == ENOMEM ? "ENOMEM" : "E" + std::to_string(err);
      Napi::Error js = Napi::Error::New(env, std::string("listen ") + code + ": " + e.what());
      js.Set("code", Napi::String::New(env, code));
      js.Set("errno", Napi::Number::New(env, -err));
      NAPI_THROW(js, env.Undefined());
    }
  }
  if (inline_mode) {
    outboxes_.clear();
    outboxes_.resize(1);
    start_inline(env, info[4]);  // throws (workers cleared) when the loop cannot watch the worker
    return Napi::Number::New(env, r.port);
  }
  napi_value name = Napi::String::New(env, "corews");
  napi_status st = napi_create_threadsafe_function(env, info[4], nullptr, name, 0, 1, this,
                                                   &NativeServer::OnTsfnFinalized, this, &NativeServer::CallJs, &tsfn_);
  if (st != napi_ok) {
    workers_.clear();
    NAPI_THROW(Napi::Error::New(env, "cannot create the threadsafe function"), env.Undefined());
  }
  Ref();  // released by OnTsfnFinalized, after the last batch was dispatched
  outboxes_.clear();
  outboxes_.resize(size_t(threads));
  if (config_->acceptor_handoff && workers_.size() > 1) {
    std::vector<server::Worker*> all;
    for (auto& w : workers_) all.push_back(w.get());
    workers_[0]->set_siblings(std::move(all));
  }
  for (auto& w : workers_) w->start();
  napi_add_env_cleanup_hook(env, &NativeServer::OnEnvCleanup, this);
  cleanup_hook_ = true;
  return Napi::Number::New(env, r.port);
}

server::CommandBuffer* NativeServer::outbox(const Napi::CallbackInfo& info) {
  uint32_t w = u32(info, 0);
  return w < outboxes_.size() ? &outboxes_[w] : nullptr;
}

// send(worker, slot, gen, data: string | Uint8Array, mode) → frame bytes queued (0: none)
// mode (src/native.ts sendMode): the opcode in bits 0-3, wantsDrain in bit 4,
// compress in bits 5-6 (0 by the threshold, 1 always, 2 never, with
// permessage-deflate): one argument read where three took three N-API calls.
// The frame is built here, on the JS thread, because the data must be copied
// anyway before JS can change it; the worker then only writes.
//
// The one call made per message, so it skips the ObjectWrap machinery: it is
// each instance's own function (made in the constructor) whose data is the
// instance, where an InstanceMethod would napi_unwrap `this` at every call (a
// private-symbol lookup that was a quarter of the call's instructions, see
// docs/where-the-time-goes.md). Plain N-API, so nothing in it throws C++.
napi_value NativeServer::SendCallback(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 5;
  napi_value argv[5];
  void* self = nullptr;
  if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &self) != napi_ok || self == nullptr) return nullptr;
  // Arguments JS left out read as undefined (napi_get_cb_info fills them in):
  // every number below is then 0.
  return static_cast<NativeServer*>(self)->send(env, argv);
}

namespace {
uint32_t arg_u32(napi_env env, napi_value v) {
  uint32_t x = 0;
  napi_get_value_uint32(env, v, &x);
  return x;
}
napi_value queued(napi_env env, size_t bytes) {
  napi_value n = nullptr;
  napi_create_double(env, double(bytes), &n);
  return n;
}
}  // namespace

napi_value NativeServer::send(napi_env env, napi_value* argv) {
  uint32_t w = arg_u32(env, argv[0]);
  if (w >= outboxes_.size()) return queued(env, 0);
  server::CommandBuffer& box = outboxes_[w];
  uint32_t slot = arg_u32(env, argv[1]), gen = arg_u32(env, argv[2]);
  uint32_t mode = arg_u32(env, argv[4]);
  auto op = proto::Opcode(mode & 15);
  uint8_t flags = ((mode & 16) != 0 ? server::kSendWantsDrain : 0) | compress_flags((mode >> 5) & 3);
  CommandWriter writer(box);
  napi_value data = argv[3];
  napi_valuetype type;
  napi_typeof(env, data, &type);
  if (type == napi_string) {
    // The UTF-8 size is known only after conversion: leave room for the
    // largest header and let the command skip what the real header leaves.
    size_t units = 0;
    napi_get_value_string_utf16(env, data, nullptr, 0, &units);
    constexpr size_t kGap = 10;
    uint8_t* out = writer.begin(CommandType::kSend, slot, gen, 0, kGap + 3 * units + 1, flags);
    size_t written = 0;
    napi_get_value_string_utf8(env, data, reinterpret_cast<char*>(out + kGap), 3 * units + 1, &written);
    size_t h = proto::frame_header_size(written, false);
    proto::write_frame_header(out + kGap - h, op, written, nullptr);
    writer.commit(kGap + written, uint16_t(kGap - h));
    hand_over_if_large(box);
    return queued(env, h + written);
  }
  const uint8_t* bytes = nullptr;
  size_t len = 0;
  if (!bytes_of(env, data, bytes, len)) return queued(env, 0);
  // A command's length is 32 bits (JS refuses larger messages first).
  if (len > server::kMaxMessageBytes) {
    std::string why = "send: a message is at most " + std::to_string(server::kMaxMessageBytes) + " bytes";
    napi_throw_range_error(env, nullptr, why.c_str());
    return nullptr;
  }
  uint8_t* out = writer.begin(CommandType::kSend, slot, gen, 0, proto::kMaxFrameHeader + len, flags);
  size_t h = proto::write_frame_header(out, op, len, nullptr);
  if (len) std::memcpy(out + h, bytes, len);
  writer.commit(h + len, 0);
  hand_over_if_large(box);
  return queued(env, h + len);
}

// close(worker, slot, gen, code, reason): code 0 sends a Close without a code.
void NativeServer::Close(const Napi::CallbackInfo& info) {
  if (auto* box = outbox(info)) {
    CommandWriter(*box).add(CommandType::kClose, u32(info, 1), u32(info, 2), uint16_t(u32(info, 3)),
                            {utf8(info[4])});
  }
}

void NativeServer::Terminate(const Napi::CallbackInfo& info) {
  if (auto* box = outbox(info)) CommandWriter(*box).add(CommandType::kTerminate, u32(info, 1), u32(info, 2), 0, {});
}

// pause(worker, slot, gen, paused)
void NativeServer::Pause(const Napi::CallbackInfo& info) {
  if (auto* box = outbox(info)) {
    CommandWriter(*box).add(CommandType::kPauseReading, u32(info, 1), u32(info, 2), info[3].ToBoolean() ? 1 : 0, {});
  }
}

// reportControl(worker, slot, gen, bits): kReportPings | kReportPongs
void NativeServer::ReportControl(const Napi::CallbackInfo& info) {
  if (auto* box = outbox(info)) {
    CommandWriter(*box).add(CommandType::kReportControl, u32(info, 1), u32(info, 2),
                            uint16_t(u32(info, 3) & (server::kReportPings | server::kReportPongs)), {});
  }
}

// reportRefusals(on): to every worker. Before listen() there are none: the
// option reportRefusals is the setting they start with.
void NativeServer::ReportRefusals(const Napi::CallbackInfo& info) {
  bool on = info[0].ToBoolean();
  if (workers_.empty()) {  // no worker reads the config yet
    config_->report_refusals = on;
    return;
  }
  for (auto& box : outboxes_) CommandWriter(box).add(CommandType::kReportRefusals, 0, 0, on ? 1 : 0, {});
}

// accept(worker, slot, gen, protocol, headerLines)
void NativeServer::Accept(const Napi::CallbackInfo& info) {
  auto* box = outbox(info);
  if (box == nullptr) return;
  std::string protocol = utf8(info[3]);
  std::string headers = utf8(info[4]);
  uint32_t plen = uint32_t(protocol.size());
  std::string_view plen_bytes(reinterpret_cast<const char*>(&plen), 4);
  CommandWriter(*box).add(CommandType::kAccept, u32(info, 1), u32(info, 2), 0, {plen_bytes, protocol, headers});
}

// respond(worker, slot, gen, status, headerLines, body: Uint8Array, stream: boolean)
void NativeServer::Respond(const Napi::CallbackInfo& info) {
  auto* box = outbox(info);
  if (box == nullptr) return;
  std::string headers = utf8(info[4]);
  const uint8_t* body = nullptr;
  size_t body_len = 0;
  bytes_of(info.Env(), info[5], body, body_len);
  uint32_t hlen = uint32_t(headers.size());
  std::string_view hlen_bytes(reinterpret_cast<const char*>(&hlen), 4);
  uint8_t flags = info[6].ToBoolean() ? server::kRespondStream : 0;
  CommandWriter(*box).add(CommandType::kRespond, u32(info, 1), u32(info, 2), uint16_t(u32(info, 3)),
                          {hlen_bytes, headers, {reinterpret_cast<const char*>(body), body_len}}, flags);
}

// httpChunk(worker, slot, gen, data: Uint8Array, wantsDrain: boolean, end: boolean)
void NativeServer::HttpChunk(const Napi::CallbackInfo& info) {
  auto* box = outbox(info);
  if (box == nullptr) return;
  const uint8_t* data = nullptr;
  size_t len = 0;
  bytes_of(info.Env(), info[3], data, len);
  uint8_t flags = uint8_t((info[4].ToBoolean() ? server::kSendWantsDrain : 0) | (info[5].ToBoolean() ? server::kChunkEnd : 0));
  CommandWriter(*box).add(CommandType::kHttpChunk, u32(info, 1), u32(info, 2), 0,
                          {{reinterpret_cast<const char*>(data), len}}, flags);
}

// subscribe(worker, slot, gen, topicId) / unsubscribe(…)
void NativeServer::Subscribe(const Napi::CallbackInfo& info) {
  uint32_t topic = u32(info, 3);
  if (auto* box = outbox(info)) {
    CommandWriter(*box).add(CommandType::kSubscribe, u32(info, 1), u32(info, 2), 0,
                            {{reinterpret_cast<const char*>(&topic), 4}});
  }
}

void NativeServer::Unsubscribe(const Napi::CallbackInfo& info) {
  uint32_t topic = u32(info, 3);
  if (auto* box = outbox(info)) {
    CommandWriter(*box).add(CommandType::kUnsubscribe, u32(info, 1), u32(info, 2), 0,
                            {{reinterpret_cast<const char*>(&topic), 4}});
  }
}

// publish(perWorker: Int32Array, topicId, data, opcode, senderWorker, senderSlot, senderGen, compress)
// Frames the message once; every worker with subscribers (perWorker[i] > 0)
// gets a reference to the same bytes. The sender (-1: none) is skipped.
void NativeServer::Publish(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  auto per_worker = info[0].As<Napi::Int32Array>();
  uint32_t topic = u32(info, 1);
  auto op = proto::Opcode(u32(info, 3));
  int32_t sender_worker = info[4].As<Napi::Number>().Int32Value();
  uint32_t sender_slot = u32(info, 5), sender_gen = u32(info, 6);
  uint32_t flags = compress_flags(u32(info, 7));

  uint32_t targets = 0;
  for (size_t i = 0; i < per_worker.ElementLength() && i < workers_.size(); ++i) targets += per_worker[i] > 0;
  if (targets == 0) return;

  core::SharedBytes* frame;
  napi_value data = info[2];
  napi_valuetype type;
  napi_typeof(env, data, &type);
  if (type == napi_string) {
    // Once per publish, however many subscribers: measuring first is cheaper
    // than the gap trick of send().
    size_t len = 0;
    napi_get_value_string_utf8(env, data, nullptr, 0, &len);
    frame = core::SharedBytes::create(proto::kMaxFrameHeader + len + 1);
    size_t h = proto::write_frame_header(frame->data(), op, len, nullptr);
    napi_get_value_string_utf8(env, data, reinterpret_cast<char*>(frame->data() + h), len + 1, &len);
    frame->set_size(h + len);
  } else {
    const uint8_t* bytes = nullptr;
    size_t len = 0;
    if (!bytes_of(env, data, bytes, len)) return;
    frame = core::SharedBytes::create(proto::kMaxFrameHeader + len);
    size_t h = proto::write_frame_header(frame->data(), op, len, nullptr);
    if (len) std::memcpy(frame->data() + h, bytes, len);
    frame->set_size(h + len);
  }
  frame->ref(targets - 1);  // one reference per target worker
  for (size_t i = 0; i < per_worker.ElementLength() && i < workers_.size(); ++i) {
    if (per_worker[i] <= 0) continue;
    bool is_sender = int32_t(i) == sender_worker;
    server::PublishPayload p{topic, flags, frame};
    CommandWriter(outboxes_[i]).add(CommandType::kPublish, is_sender ? sender_slot : ~0u, is_sender ? sender_gen : ~0u,
                                    0, {{reinterpret_cast<const char*>(&p), sizeof p}});
  }
}

void NativeServer::Flush(const Napi::CallbackInfo&) { flush(); }

// adopt(worker, fd, request: Uint8Array) → true when handed over.
// A connection Node's http server accepted: the descriptor is duplicated here,
// so that the caller can destroy Node's socket (which unregisters and closes
// Node's descriptor) while the connection lives on in the worker; `request`
// is what Node read of it (the upgrade request, and any bytes after it).
Napi::Value NativeServer::Adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* box = outbox(info);
  int fd = info[1].As<Napi::Number>().Int32Value();
  const uint8_t* bytes = nullptr;
  size_t len = 0;
  if (box == nullptr || fd < 0 || !bytes_of(env, info[2], bytes, len)) return Napi::Boolean::New(env, false);
  int own = server::duplicate_socket(fd);
  if (own < 0) return Napi::Boolean::New(env, false);
  int32_t value = own;
  CommandWriter(*box).add(CommandType::kAdoptRequest, 0, 0, 0,
                          {{reinterpret_cast<const char*>(&value), 4}, {reinterpret_cast<const char*>(bytes), len}});
  flush();
  return Napi::Boolean::New(env, true);
}

// A worker's commands are one growing buffer until the flush at the end of the
// JS turn. Sending megabytes in one turn would grow it by reallocation (each
// step a copy, and fresh pages to fault in), and keep the worker idle until the
// turn ends; past kHandOverBytes the buffer goes to the worker at once.
void NativeServer::hand_over_if_large(server::CommandBuffer& box) {
  if (box.size() < kHandOverBytes) return;
  if (inline_) return flush();
  size_t i = size_t(&box - outboxes_.data());
  if (workers_[i]->inbox().push(box)) workers_[i]->wake();
}

// One wakeup per worker per flush, and none when the worker still has an
// earlier batch to read.
void NativeServer::flush() {
  if (inline_) {
    // No thread to wake: the worker runs the commands here and now.
    if (outboxes_[0].empty()) return;
    workers_[0]->inbox().push(outboxes_[0]);
    workers_[0]->run_commands();
    inline_->commands_ran();
    return;
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (outboxes_[i].empty()) continue;
    if (workers_[i]->inbox().push(outboxes_[i])) workers_[i]->wake();
  }
}

// shutdown(code, reason, timeoutMs): graceful; the workers stop once their
// connections are gone or at the timeout.
void NativeServer::Shutdown(const Napi::CallbackInfo& info) {
  uint16_t code = uint16_t(u32(info, 0));
  std::string reason = utf8(info[1]);
  uint32_t timeout = u32(info, 2);
  for (auto& box : outboxes_) {
    CommandWriter(box).add(CommandType::kShutdown, 0, 0, code, {{reinterpret_cast<const char*>(&timeout), 4}, reason});
  }
  flush();
}

// counters(worker): Float64Array of one number per slot: send bytes taken minus bytes queued.
Napi::Value NativeServer::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t w = u32(info, 0);
  if (w >= counters_.size()) return env.Undefined();
  server::SlotCounters* c = counters_[w];
  c->ref();  // the ArrayBuffer's reference
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(
      env, c->data(), c->byte_size(), [](napi_env, void*, void* hint) { static_cast<server::SlotCounters*>(hint)->unref(); },
      c, &ab);
  if (st != napi_ok) {
    c->unref();
    NAPI_THROW(Napi::Error::New(env, "cannot share the per-connection counters"), env.Undefined());
  }
  return Napi::Float64Array::New(env, c->slots(), Napi::ArrayBuffer(env, ab), 0);
}

Napi::Value NativeServer::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  auto workers = Napi::Array::New(env, workers_.size());
  auto load = [](const std::atomic<uint64_t>& a) { return double(a.load(std::memory_order_relaxed)); };
  for (size_t i = 0; i < workers_.size(); ++i) {
    const server::WorkerStats& st = workers_[i]->stats();
    auto w = Napi::Object::New(env);
    w.Set("connectionsOpen", load(st.connections_open));
    w.Set("connectionsTotal", load(st.connections_total));
    w.Set("handshakesAccepted", load(st.handshakes_accepted));
    auto rejected = Napi::Array::New(env, server::kRejectStatusCount + 1);
    for (int k = 0; k <= server::kRejectStatusCount; ++k) rejected.Set(uint32_t(k), load(st.handshakes_rejected[k]));
    w.Set("handshakesRejected", rejected);
    w.Set("messagesIn", load(st.messages_in));
    w.Set("bytesIn", load(st.bytes_in));
    w.Set("messagesOut", load(st.messages_out));
    w.Set("bytesOut", load(st.bytes_out));
    auto received = Napi::Array::New(env, server::kCloseCodeSlots);
    auto sent = Napi::Array::New(env, server::kCloseCodeSlots);
    for (int k = 0; k < server::kCloseCodeSlots; ++k) {
      received.Set(uint32_t(k), load(st.close_received[k]));
      sent.Set(uint32_t(k), load(st.close_sent[k]));
    }
    w.Set("closeReceived", received);
    w.Set("closeSent", sent);
    w.Set("backpressureEvents", load(st.backpressure_events));
    w.Set("backpressureDrops", load(st.backpressure_drops));
    w.Set("backpressureCloses", load(st.backpressure_closes));
    w.Set("readPauses", load(st.read_pauses));
    w.Set("outputPauses", load(st.output_pauses));
    w.Set("rateLimitCloses", load(st.rate_limit_closes));
    w.Set("idleCloses", load(st.idle_closes));
    w.Set("pingsSent", load(st.pings_sent));
    w.Set("loopIterations", load(st.loop_iterations));
    workers.Set(uint32_t(i), w);
  }
  out.Set("workers", workers);
  auto hop = Napi::Object::New(env);
  hop.Set("count", double(hop_ns_.count()));
  hop.Set("p50", double(hop_ns_.quantile(0.5)) / 1000.0);
  hop.Set("p99", double(hop_ns_.quantile(0.99)) / 1000.0);
  hop.Set("max", double(hop_ns_.max()) / 1000.0);
  out.Set("hopUs", hop);
  if (config_->tls) out.Set("tls", tls_stats_object(env, config_->tls->stats()));
  if (config_->deflate.enabled) out.Set("perMessageDeflate", deflate_stats_object(env));
  return out;
}

// Summed over the workers.
Napi::Object NativeServer::deflate_stats_object(Napi::Env env) const {
  using server::DeflateStats;
  // Each JS name and the counter it sums.
  static constexpr struct {
    const char* name;
    DeflateStats::Counter DeflateStats::*counter;
  } kFields[] = {
      {"negotiated", &DeflateStats::negotiated},
      {"forcedNoContextTakeover", &DeflateStats::forced_no_context},
      {"messagesCompressed", &DeflateStats::messages_compressed},
      {"bytesBeforeCompression", &DeflateStats::bytes_before},
      {"bytesAfterCompression", &DeflateStats::bytes_after},
      {"messagesInflated", &DeflateStats::messages_inflated},
      {"bytesBeforeInflation", &DeflateStats::inflated_in},
      {"bytesAfterInflation", &DeflateStats::inflated_out},
      {"sharedCompressions", &DeflateStats::shared_compressions},
      {"compressionFailures", &DeflateStats::deflate_failures},
      {"zlibMemory", &DeflateStats::memory},
      {"zlibReserved", &DeflateStats::reserved},
  };
  auto o = Napi::Object::New(env);
  for (const auto& f : kFields) {
    double sum = 0;
    for (const auto& w : workers_) sum += double((w->deflate().stats().*f.counter).load(std::memory_order_relaxed));
    o.Set(f.name, sum);
  }
  return o;
}

// After every worker reported kStopped: join the threads and let go.
void NativeServer::Join(const Napi::CallbackInfo& info) {
  if (inline_) stop_inline(info.Env());
  meta_.reset(info.Env());
  for (auto& w : workers_) w->join();
  workers_.clear();
  outboxes_.clear();
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(info.Env(), &NativeServer::OnEnvCleanup, this);
    cleanup_hook_ = false;
  }
  if (tsfn_) {
    napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
    tsfn_ = nullptr;
  }
}

// Finalizers run outside any JS call, so nothing may throw out of them; in a
// worker_thread being torn down, node-addon-api turns a failing unref into a
// C++ throw.
void NativeServer::OnTsfnFinalized(napi_env, void* self, void*) {
  try {
    static_cast<NativeServer*>(self)->Unref();
  } catch (const Napi::Error&) {
  }
}

void NativeServer::shutdown_workers() {
  if (inline_) {  // the env is going: nothing of it may be used
    inline_->close();
    inline_ = nullptr;
  }
  for (auto& w : workers_) w->request_stop();
  for (auto& w : workers_) w->join();
  workers_.clear();
}

void NativeServer::OnEnvCleanup(void* self) {
  auto* s = static_cast<NativeServer*>(self);
  s->cleanup_hook_ = false;
  s->shutdown_workers();
}

void NativeServer::deliver(std::unique_ptr<server::EventBatch> batch) {
  if (inline_) return inline_->deliver(std::move(batch));
  if (napi_call_threadsafe_function(tsfn_, batch.get(), napi_tsfn_nonblocking) == napi_ok) batch.release();
}

void NativeServer::record_hop(const server::EventBatch& batch) {
  if (batch.messages == 0) return;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now = int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  // Every message of the batch waited at most as long as its first.
  hop_ns_.record(uint64_t(now - batch.first_message_ns), batch.messages);
}

void NativeServer::CallJs(napi_env env, napi_value dispatch, void* context, void* data) {
  std::unique_ptr<server::EventBatch> batch(static_cast<server::EventBatch*>(data));
  if (env == nullptr || dispatch == nullptr) return;  // the env is going away
  auto* self = static_cast<NativeServer*>(context);
  uint32_t worker = batch->worker;
  size_t bytes = batch->cost();  // as the worker counted it
  self->record_hop(*batch);
  dispatch_batch(env, dispatch, std::move(batch), self->meta_);
  // Inbound backpressure: the worker may read again once JS has caught up.
  if (worker < self->workers_.size()) self->workers_[worker]->consumed(bytes);
  // Commands that handlers issued while the batch was dispatched go out now,
  // with one wakeup per worker.
  self->flush();
}

}  // namespace corews::addon
