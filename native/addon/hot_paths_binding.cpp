// The protocol core's hot paths, callable from JS for the microbenchmarks in
// bench/ (each is measured against a JS-world peer). Internal: not part of the
// package's API.
#include "hot_paths_binding.h"

#include <string>

#include "../proto/frame_parser.h"
#include "../proto/handshake.h"
#include "../proto/mask.h"
#include "../proto/utf8.h"

namespace corews::addon {
namespace {

struct Counter {
  size_t messages = 0;
  void on_message(proto::Opcode, const uint8_t*, size_t, bool) { ++messages; }
  void on_ping(const uint8_t*, size_t) {}
  void on_pong(const uint8_t*, size_t) {}
  void on_close(uint16_t, const uint8_t*, size_t) {}
  void on_error(uint16_t, const char*) {}
};

// unmask(data: Uint8Array, key: Uint8Array): unmasks in place.
void Unmask(const Napi::CallbackInfo& info) {
  auto data = info[0].As<Napi::Uint8Array>();
  auto key = info[1].As<Napi::Uint8Array>();
  proto::apply_mask(data.Data(), data.ByteLength(), key.Data(), 0);
}

// isUtf8(data: Uint8Array): boolean
Napi::Value IsUtf8(const Napi::CallbackInfo& info) {
  auto data = info[0].As<Napi::Uint8Array>();
  return Napi::Boolean::New(info.Env(), proto::is_valid_utf8(data.Data(), data.ByteLength()));
}

// acceptKey(key: string): string
Napi::Value AcceptKey(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), proto::accept_key(info[0].As<Napi::String>().Utf8Value()));
}

// parseFrames(data: Uint8Array): number of messages. Masked client frames are
// unmasked in place, so the caller re-masks or passes a fresh copy.
Napi::Value ParseFrames(const Napi::CallbackInfo& info) {
  auto data = info[0].As<Napi::Uint8Array>();
  proto::FrameParser parser;
  Counter counter;
  parser.feed(counter, data.Data(), data.ByteLength());
  return Napi::Number::New(info.Env(), double(counter.messages));
}

}  // namespace

Napi::Object HotPaths(Napi::Env env) {
  auto o = Napi::Object::New(env);
  o.Set("unmask", Napi::Function::New<Unmask>(env, "unmask"));
  o.Set("isUtf8", Napi::Function::New<IsUtf8>(env, "isUtf8"));
  o.Set("acceptKey", Napi::Function::New<AcceptKey>(env, "acceptKey"));
  o.Set("parseFrames", Napi::Function::New<ParseFrames>(env, "parseFrames"));
  return o;
}

}  // namespace corews::addon
