// Internal bindings of the protocol core's hot paths, for microbenchmarks.
#pragma once
#include <napi.h>

namespace corews::addon {

Napi::Object HotPaths(Napi::Env env);

}  // namespace corews::addon
