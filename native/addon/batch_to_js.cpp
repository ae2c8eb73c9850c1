#include "batch_to_js.h"

#include <cstring>
#include <memory>
#include <vector>

namespace corews::addon {
namespace {

using server::Event;
using server::EventType;

constexpr size_t kMetaFields = 6;

napi_value string_at(napi_env env, const uint8_t* p, size_t len, bool ascii) {
  napi_value s = nullptr;
  if (ascii) {
    napi_create_string_latin1(env, reinterpret_cast<const char*>(p), len, &s);
  } else {
    napi_create_string_utf8(env, reinterpret_cast<const char*>(p), len, &s);
  }
  return s;
}

// An arena the GC holds, and the pool it goes back to when the GC is done.
struct HeldArena {
  server::Arena bytes;
  std::shared_ptr<server::ArenaPool> pool;
  ~HeldArena() {
    if (pool) pool->give(std::move(bytes));
  }
};

// Arenas up to this size are copied into a plain ArrayBuffer rather than
// handed over as an external one. In Node an external ArrayBuffer is a Buffer
// with a weak callback, an env cleanup hook and, once collected, a native
// SetImmediate that frees it: about 8,000 instructions a batch (callgrind, one
// 32-byte message per batch), a quarter of an inline round trip. Copying 4 KiB
// costs a few hundred, and a copied arena stays with its batch, which gives it
// back to the worker's pool at once.
constexpr size_t kCopyArenaBytes = 4096;

// The arena as an ArrayBuffer the GC owns, without a copy where the runtime
// allows external buffers and the arena is large; its finalizer gives the
// arena back to the worker's pool. Null when the env can no longer make one.
napi_value arena_to_js(napi_env env, server::Arena&& arena, const std::shared_ptr<server::ArenaPool>& pool) {
  napi_value ab = nullptr;
  if (arena.size() > kCopyArenaBytes) {
    auto* owned = new HeldArena{std::move(arena), pool};
    napi_status st = napi_create_external_arraybuffer(
        env, owned->bytes.data(), owned->bytes.size(),
        [](napi_env, void*, void* hint) { delete static_cast<HeldArena*>(hint); }, owned, &ab);
    if (st == napi_ok) return ab;
    arena = std::move(owned->bytes);
    owned->pool.reset();
    delete owned;
  }
  void* data = nullptr;
  if (napi_create_arraybuffer(env, arena.size(), &data, &ab) != napi_ok) return nullptr;
  if (!arena.empty()) std::memcpy(data, arena.data(), arena.size());
  return ab;
}

// Whether any event of the batch brings strings into `values` (the
// loop below): all but binary messages, pings and pongs do.
bool has_strings(const std::vector<Event>& events) {
  for (const Event& e : events) {
    bool binary_only = server::is_payload_event(e.type) && !(e.type == EventType::kMessage && !(e.num & server::kMessageBinary));
    if (!binary_only) return true;
  }
  return false;
}

// Every N-API call can fail once the env is being torn down (a worker_thread
// terminating under traffic); then the batch is dropped, as JS is gone.
void dispatch_in_scope(napi_env env, napi_value dispatch, server::EventBatch& batch, MetaArray& meta_array,
                       napi_async_context async, PayloadSlab* slab) {
  const std::vector<Event>& events = batch.events;
  const uint8_t* arena = batch.arena.data();
  napi_value args[5];
  // A small arena copied into the slab: JS reads it there, at `base` on.
  uint32_t base = 0;
  args[3] = nullptr;
  if (batch.has_binary && slab != nullptr && batch.arena.size() <= PayloadSlab::kMaxArenaBytes) {
    args[3] = slab->place(env, arena, batch.arena.size(), base);
  }

  int32_t* m = nullptr;
  napi_value meta = meta_array.acquire(env, events.size() * kMetaFields, m);
  napi_value values = nullptr;
  if (slab != nullptr && !has_strings(events)) values = slab->no_strings(env);
  if (meta == nullptr || (values == nullptr && napi_create_array(env, &values) != napi_ok)) return;
  uint32_t vi = 0;
  for (const Event& e : events) {
    *m++ = int32_t(e.type);
    *m++ = int32_t(e.slot);
    *m++ = int32_t(e.gen);
    *m++ = int32_t(e.num);
    *m++ = int32_t(e.offset + base);
    *m++ = int32_t(e.size);
    if (server::is_payload_event(e.type)) {
      // Pings and pongs are binary, read from the arena like binary messages.
      if (e.type == EventType::kMessage && !(e.num & server::kMessageBinary)) {
        napi_set_element(env, values, vi++,
                         string_at(env, arena + e.offset, e.size, (e.num & server::kMessageAscii) != 0));
      }
      continue;
    }
    const uint8_t* p = arena + e.offset;
    if (e.type == EventType::kHttpRequest) p += e.num;  // the body: JS reads it from the arena
    for (uint32_t i = 0; i < e.size; ++i) {
      uint32_t len;
      std::memcpy(&len, p, 4);
      napi_set_element(env, values, vi++, string_at(env, p + 4, len, false));
      p += 4 + len;
    }
  }

  if (napi_create_uint32(env, batch.worker, &args[0]) != napi_ok ||
      napi_create_uint32(env, uint32_t(events.size()), &args[4]) != napi_ok) {
    return;
  }
  args[1] = meta;
  args[2] = values;
  if (args[3] != nullptr) {
    // in the slab
  } else if (batch.has_binary) {
    args[3] = arena_to_js(env, std::move(batch.arena), batch.pool);
    if (args[3] == nullptr) return;
  } else if (napi_get_undefined(env, &args[3]) != napi_ok) {
    return;
  }
  napi_value global, result;
  if (napi_get_global(env, &global) != napi_ok) return;
  // The JS layer catches handler errors itself; anything escaping is a bug in
  // it and is reported as an uncaught exception, not swallowed.
  napi_status st = async != nullptr ? napi_make_callback(env, async, global, dispatch, 5, args, &result)
                                     : napi_call_function(env, global, dispatch, 5, args, &result);
  if (st == napi_pending_exception) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
}

}  // namespace

napi_value MetaArray::make(napi_env env, size_t fields, int32_t*& data) {
  napi_value ab, array;
  void* p = nullptr;
  if (napi_create_arraybuffer(env, fields * 4, &p, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, fields, ab, 0, &array) != napi_ok || p == nullptr) {
    return nullptr;
  }
  data = static_cast<int32_t*>(p);
  return array;
}

napi_value MetaArray::acquire(napi_env env, size_t fields, int32_t*& data) {
  // 1,024 events' worth (24 KiB): larger batches are rare and dear anyway.
  constexpr size_t kKeepFields = 1024 * kMetaFields;
  if (busy_ || fields > kKeepFields) return make(env, fields, data);
  napi_value array = nullptr;
  if (ref_ != nullptr && fields <= capacity_ && napi_get_reference_value(env, ref_, &array) == napi_ok && array != nullptr) {
    busy_ = true;
    data = data_;
    return array;
  }
  size_t capacity = 64 * kMetaFields;
  while (capacity < fields) capacity *= 2;
  array = make(env, capacity, data);
  if (array == nullptr) return nullptr;
  reset(env);
  if (napi_create_reference(env, array, 1, &ref_) != napi_ok) {
    ref_ = nullptr;
    return array;  // used once, not kept
  }
  data_ = data;
  capacity_ = capacity;
  busy_ = true;
  return array;
}

void MetaArray::reset(napi_env env) {
  if (ref_ != nullptr) napi_delete_reference(env, ref_);
  ref_ = nullptr;
  data_ = nullptr;
  capacity_ = 0;
}

void dispatch_batch(napi_env env, napi_value dispatch, std::unique_ptr<server::EventBatch> batch, MetaArray& meta,
                    napi_async_context async, PayloadSlab* slab) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  // The kept array is free again once JS returned, also when it threw.
  bool kept = !meta.busy();
  dispatch_in_scope(env, dispatch, *batch, meta, async, slab);
  if (kept) meta.release();
  napi_close_handle_scope(env, scope);
}

}  // namespace corews::addon
