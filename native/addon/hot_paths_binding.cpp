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

// unmask and isUtf8 are written against the C N-API, not node-addon-api: at
// 1 KiB the work itself takes tens of nanoseconds, so the call's own cost
// (argument unpacking, wrapper objects) shows in the benchmark, and the peers
// (bufferutil, Buffer.isUtf8) pay no more than these do.

// The bytes of a Uint8Array (or Buffer) argument; false if it is not one.
bool bytes_of(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) != napi_ok || type != napi_uint8_array) {
    return false;
  }
  *data = static_cast<uint8_t*>(p);
  return true;
}

napi_value throw_type_error(napi_env env, const char* what) {
  napi_throw_type_error(env, nullptr, what);
  return nullptr;
}

// unmask(data: Uint8Array, key: Uint8Array): unmasks in place.
napi_value Unmask(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint8_t *data, *key;
  size_t len, key_len;
  if (argc < 2 || !bytes_of(env, argv[0], &data, &len) || !bytes_of(env, argv[1], &key, &key_len) || key_len < 4) {
    return throw_type_error(env, "unmask(data: Uint8Array, key: Uint8Array of 4 bytes)");
  }
  proto::apply_mask(data, len, key, 0);
  return nullptr;
}

// mask(source: Uint8Array, key: Uint8Array, output: Uint8Array): output =
// source masked, over the shorter of the two (the client's send path).
napi_value Mask(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint8_t *src, *key, *dst;
  size_t src_len, key_len, dst_len;
  if (argc < 3 || !bytes_of(env, argv[0], &src, &src_len) || !bytes_of(env, argv[1], &key, &key_len) ||
      key_len < 4 || !bytes_of(env, argv[2], &dst, &dst_len)) {
    return throw_type_error(env, "mask(source: Uint8Array, key: Uint8Array of 4 bytes, output: Uint8Array)");
  }
  proto::mask_copy(dst, src, src_len < dst_len ? src_len : dst_len, proto::mask_word(key, 0));
  return nullptr;
}

// isUtf8(data: Uint8Array): boolean
napi_value IsUtf8(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  uint8_t* data;
  size_t len;
  if (argc < 1 || !bytes_of(env, arg, &data, &len)) return throw_type_error(env, "isUtf8(data: Uint8Array)");
  napi_value result;
  napi_get_boolean(env, proto::is_valid_utf8(data, len), &result);
  return result;
}

// simdBodies(): which vector bodies this CPU runs, for the benchmark's header.
Napi::Value SimdBodies(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  auto bodies = proto::utf8_bulk::available();
  o.Set("utf8", bodies.back().name);
#if COREWS_X86_DISPATCH
  o.Set("mask", core::cpu_features().avx2 ? "avx2" : "sse2");
#elif defined(__aarch64__)
  o.Set("mask", "neon");
#else
  o.Set("mask", "scalar");
#endif
  return o;
}

Napi::Function raw_function(Napi::Env env, const char* name, napi_callback cb) {
  napi_value fn;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn), Napi::Function());
  return Napi::Function(env, fn);
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
  o.Set("unmask", raw_function(env, "unmask", Unmask));
  o.Set("mask", raw_function(env, "mask", Mask));
  o.Set("isUtf8", raw_function(env, "isUtf8", IsUtf8));
  o.Set("simdBodies", Napi::Function::New<SimdBodies>(env, "simdBodies"));
  o.Set("acceptKey", Napi::Function::New<AcceptKey>(env, "acceptKey"));
  o.Set("parseFrames", Napi::Function::New<ParseFrames>(env, "parseFrames"));
  return o;
}

}  // namespace corews::addon
