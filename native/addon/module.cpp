// Entry point of the addon. Context-aware: every env (main thread or
// worker_thread) gets its own class and state, nothing is global.
#include <napi.h>

#include "hot_paths_binding.h"
#include "load_generator_binding.h"
#include "native_server.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeServer", corews::addon::NativeServer::Define(env));
  exports.Set("LoadGenerator", corews::addon::LoadGeneratorBinding::Define(env));
  exports.Set("hotPaths", corews::addon::HotPaths(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(corews, Init)
