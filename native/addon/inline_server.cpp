// NativeServer in inline mode (threads: 0): one worker, no thread of its own.
// Its loop (InlineLoop) runs on Node's, so every batch reaches JS without a
// hop between threads, and JS's commands run as soon as JS flushes them.
// The rest of NativeServer is the same for both modes.
#include <system_error>

#include "batch_to_js.h"
#include "native_server.h"

namespace corews::addon {

void NativeServer::start_inline(Napi::Env env, napi_value dispatch) {
  uv_loop_t* loop = nullptr;
  napi_value resource = Napi::Object::New(env);
  napi_value name = Napi::String::New(env, "corews");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, dispatch, 1, &inline_dispatch_) != napi_ok ||
      napi_async_init(env, resource, name, &inline_async_) != napi_ok) {
    stop_inline(env);
    workers_.clear();
    NAPI_THROW_VOID(Napi::Error::New(env, "inline mode: cannot set up the callback into JS"));
  }
  try {
    inline_ = InlineLoop::start(loop, *workers_[0], *this);
  } catch (const std::system_error& e) {
    stop_inline(env);
    workers_.clear();
    NAPI_THROW_VOID(Napi::Error::New(env, std::string("listen: ") + e.what()));
  }
  // Held until join(), as the threadsafe function holds the threaded server:
  // the loop calls into this object.
  Ref();
  // At env teardown the loop's handles must be closed before Node closes its
  // loop, and libuv closes handles asynchronously: an async cleanup hook lets
  // Node wait for that.
  napi_add_async_cleanup_hook(env, &NativeServer::OnInlineEnvCleanup, this, &inline_cleanup_);
}

// busyPoll(micros): the busyPollMicros option, after listen() (a no-op in
// the threaded mode, where JS refuses the option first).
void NativeServer::BusyPoll(const Napi::CallbackInfo& info) {
  uint32_t micros = 0;
  napi_get_value_uint32(info.Env(), info[0], &micros);
  if (inline_) inline_->set_busy_poll(micros);
}

// join(), after the worker stopped (or when listen() failed half-way).
void NativeServer::stop_inline(napi_env env) {
  bool held = inline_ != nullptr;
  if (inline_) {
    inline_->close();  // it frees itself later; the worker may go now
    inline_ = nullptr;
  }
  if (inline_cleanup_) {
    napi_remove_async_cleanup_hook(inline_cleanup_);
    inline_cleanup_ = nullptr;
  }
  if (inline_async_) {
    napi_async_destroy(env, inline_async_);
    inline_async_ = nullptr;
  }
  slab_.reset(env);
  if (inline_dispatch_) {
    napi_delete_reference(env, inline_dispatch_);
    inline_dispatch_ = nullptr;
  }
  if (held) Unref();
}

// The env is going away (process exit, a worker_thread's end) while listening:
// no JS call is made any more; the connections are dropped with the worker.
void NativeServer::OnInlineEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* self = static_cast<NativeServer*>(arg);
  self->inline_cleanup_ = nullptr;
  if (self->inline_) {
    self->inline_->close([](void* h) { napi_remove_async_cleanup_hook(static_cast<napi_async_cleanup_hook_handle>(h)); },
                         handle);
    self->inline_ = nullptr;
  } else {
    napi_remove_async_cleanup_hook(handle);
  }
  self->workers_.clear();  // each sends Close 1001 to its connections and closes them
}

void NativeServer::dispatch_inline(std::unique_ptr<server::EventBatch> batch) {
  size_t bytes = batch->cost();  // as the worker counted it
  record_hop(*batch);
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  napi_value dispatch = nullptr;
  if (napi_get_reference_value(env_, inline_dispatch_, &dispatch) == napi_ok && dispatch != nullptr) {
    dispatch_batch(env_, dispatch, std::move(batch), meta_, inline_async_, &slab_);
  }
  napi_close_handle_scope(env_, scope);
  if (inline_ == nullptr) return;  // JS joined (the worker's last batch): nothing left to run
  workers_[0]->consumed(bytes);
  // The commands the handlers queued go out now, before the loop reads again.
  flush();
}

}  // namespace corews::addon
