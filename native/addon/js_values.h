// Reading plain values out of the option objects JS hands the addon. The
// TypeScript layer has validated them; a missing or mistyped field reads as
// empty (or 0), never as an exception.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

namespace corews::addon {

inline std::string utf8(const Napi::Value& v) { return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(); }

inline std::vector<std::string> string_list(const Napi::Value& v) {
  std::vector<std::string> out;
  if (!v.IsArray()) return out;
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(utf8(a.Get(i)));
  return out;
}

inline double number(const Napi::Value& v) { return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0; }

}  // namespace corews::addon
