#include "payload_slab.h"

#include <cstring>

namespace corews::addon {

napi_value PayloadSlab::place(napi_env env, const uint8_t* bytes, size_t len, uint32_t& base) {
  // 8-byte aligned, so that a view a handler makes over its message is as
  // aligned as one over a buffer of its own would be at that offset.
  size_t at = (used_ + 7) & ~size_t(7);
  napi_value slab = nullptr;
  if (ref_ != nullptr && at + len <= kSlabBytes && napi_get_reference_value(env, ref_, &slab) == napi_ok && slab != nullptr) {
    used_ = at + len;
  } else {
    reset(env);
    void* data = nullptr;
    if (len > kSlabBytes || napi_create_arraybuffer(env, kSlabBytes, &data, &slab) != napi_ok || data == nullptr) return nullptr;
    if (napi_create_reference(env, slab, 1, &ref_) != napi_ok) ref_ = nullptr;  // used once, not kept
    data_ = static_cast<uint8_t*>(data);
    at = 0;
    used_ = len;
  }
  if (len) std::memcpy(data_ + at, bytes, len);
  base = uint32_t(at);
  return slab;
}

void PayloadSlab::reset(napi_env env) {
  if (ref_ != nullptr) napi_delete_reference(env, ref_);
  ref_ = nullptr;
  data_ = nullptr;
  used_ = 0;
}

}  // namespace corews::addon
