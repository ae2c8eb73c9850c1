// Turns one worker's event batch into one JS call:
//   dispatch(worker, meta: Int32Array, values: unknown[], arena?: ArrayBuffer)
// meta holds six int32 per event: type, slot, generation, num, offset, size.
// values holds, in event order, each event's strings and text payloads. Binary
// payloads stay in the arena, which the GC now owns; JS makes Buffers over it.
#pragma once
#include <node_api.h>

#include <memory>

#include "../server/event_batch.h"

namespace corews::addon {

// `async`: called as a callback from the event loop (napi_make_callback:
// microtasks run and async hooks see it when it returns), for inline mode,
// whose calls come from a libuv callback rather than a threadsafe function.
void dispatch_batch(napi_env env, napi_value dispatch, std::unique_ptr<server::EventBatch> batch,
                    napi_async_context async = nullptr);

}  // namespace corews::addon
