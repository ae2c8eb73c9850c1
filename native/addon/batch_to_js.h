// Turns one worker's event batch into one JS call:
//   dispatch(worker, meta: Int32Array, values: unknown[], arena: ArrayBuffer | undefined, events)
// meta holds six int32 per event (type, slot, generation, num, offset, size)
// for its first `events` events; it may be longer (see MetaArray).
// values holds, in event order, each event's strings and text payloads. Binary
// payloads stay in the arena, which the GC now owns; JS makes Buffers over it.
#pragma once
#include <node_api.h>

#include <memory>

#include "../server/event_batch.h"
#include "payload_slab.h"

namespace corews::addon {

// The meta Int32Array, kept from one batch to the next: a fresh ArrayBuffer per
// batch costs about 2,500 instructions (callgrind), a tenth of an inline round
// trip. JS reads meta only while dispatch runs and never keeps it, so the next
// batch may overwrite it. One per NativeServer, used on the JS thread only.
class MetaArray {
 public:
  // An Int32Array of at least `fields` elements and its memory; a fresh one
  // when this one is in use (a dispatch inside a dispatch) or `fields` is past
  // what is worth keeping. Null when the env cannot make one.
  napi_value acquire(napi_env env, size_t fields, int32_t*& data);
  void release() { busy_ = false; }
  bool busy() const { return busy_; }
  // Lets go of the kept array (join, teardown).
  void reset(napi_env env);

 private:
  static napi_value make(napi_env env, size_t fields, int32_t*& data);
  napi_ref ref_ = nullptr;
  int32_t* data_ = nullptr;
  size_t capacity_ = 0;  // int32 elements
  bool busy_ = false;
};

// `async`: called as a callback from the event loop (napi_make_callback:
// microtasks run and async hooks see it when it returns), for inline mode,
// whose calls come from a libuv callback rather than a threadsafe function.
// `slab` (inline mode): small arenas are copied into it, and the meta offsets
// point into the slab instead (payload_slab.h).
void dispatch_batch(napi_env env, napi_value dispatch, std::unique_ptr<server::EventBatch> batch, MetaArray& meta,
                    napi_async_context async = nullptr, PayloadSlab* slab = nullptr);

}  // namespace corews::addon
