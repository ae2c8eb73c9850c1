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

napi_value PayloadSlab::no_strings(napi_env env) {
  napi_value array = nullptr;
  if (empty_ != nullptr && napi_get_reference_value(env, empty_, &array) == napi_ok && array != nullptr) return array;
  // Frozen: JS only reads a batch's values, and a write would show in the next batch.
  if (napi_create_array(env, &array) != napi_ok || napi_object_freeze(env, array) != napi_ok) return nullptr;
  if (napi_create_reference(env, array, 1, &empty_) != napi_ok) empty_ = nullptr;  // used once, not kept
  return array;
}

void PayloadSlab::reset(napi_env env) {
  if (empty_ != nullptr) napi_delete_reference(env, empty_);
  empty_ = nullptr;
  if (ref_ != nullptr) napi_delete_reference(env, ref_);
  ref_ = nullptr;
  data_ = nullptr;
  used_ = 0;
}

}  // namespace corews::addon
