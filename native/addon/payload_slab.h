// Inline mode's small payloads: one ArrayBuffer shared by many batches.
//
// A batch with binary payloads reaches JS with its arena as an ArrayBuffer, and
// JS makes Buffers over it. A fresh ArrayBuffer per batch costs about 2,100
// instructions (callgrind: napi_create_arraybuffer, its backing store, the GC's
// accounting), a tenth of an inline round trip of one small message. Instead,
// small arenas are copied one after the other into a slab, as Node's own
// Buffer pool does: the slab is written only past what earlier batches took,
// never over it, so a Buffer a handler keeps stays as it was. A full slab is
// let go (the GC frees it once no Buffer over it is left) and a new one made.
// The cost is the pool's: a kept message keeps its slab alive (at most
// kSlabBytes), and its Buffer's .buffer is the slab, which holds other
// messages too (as any pooled Buffer's does).
#pragma once
#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace corews::addon {

class PayloadSlab {
 public:
  // Arenas up to this size go into the slab; larger ones get their own buffer.
  static constexpr size_t kMaxArenaBytes = 1024;
  static constexpr size_t kSlabBytes = 16 * 1024;

  // The slab, holding a copy of `bytes` from `base` on; null when the env
  // cannot make one (then the caller makes its own buffer).
  napi_value place(napi_env env, const uint8_t* bytes, size_t len, uint32_t& base);
  // The `values` of a batch without strings (binary messages, pings, pongs
  // only): one frozen empty array, kept, where napi_create_array would cost
  // about 800 instructions a batch (callgrind). Null when the env cannot.
  napi_value no_strings(napi_env env);
  // Lets go of the slab and the array (join, teardown); Buffers over the slab keep it alive.
  void reset(napi_env env);

 private:
  napi_ref empty_ = nullptr;
  napi_ref ref_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t used_ = 0;
};

}  // namespace corews::addon
