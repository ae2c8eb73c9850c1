// The JS face of a set of workers: starts them, turns their event batches into
// one JS call each, and queues JS's commands for them. The only place where
// N-API meets the engine.
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "../core/histogram.h"
#include "../server/worker.h"
#include "batch_to_js.h"
#include "inline_loop.h"

namespace corews::addon {

class NativeServer : public Napi::ObjectWrap<NativeServer>, public server::EventSink, public InlineHost {
 public:
  static Napi::Function Define(Napi::Env env);

  // new NativeServer(options)
  explicit NativeServer(const Napi::CallbackInfo& info);
  ~NativeServer() override;

  // Worker threads: hands a batch to the JS thread.
  void deliver(std::unique_ptr<server::EventBatch> batch) override;
  // Inline mode (inline_server.cpp): one batch to JS on the JS thread.
  void dispatch_inline(std::unique_ptr<server::EventBatch> batch) override;

 private:
  Napi::Value Listen(const Napi::CallbackInfo& info);
  static napi_value SendCallback(napi_env env, napi_callback_info cbinfo);  // send(): see native_server.cpp
  napi_value send(napi_env env, napi_value* argv);
  void Close(const Napi::CallbackInfo& info);
  void Terminate(const Napi::CallbackInfo& info);
  void Pause(const Napi::CallbackInfo& info);
  void ReportControl(const Napi::CallbackInfo& info);
  void ReportRefusals(const Napi::CallbackInfo& info);
  void Accept(const Napi::CallbackInfo& info);
  void Respond(const Napi::CallbackInfo& info);
  void HttpChunk(const Napi::CallbackInfo& info);
  void Subscribe(const Napi::CallbackInfo& info);
  void Unsubscribe(const Napi::CallbackInfo& info);
  void Publish(const Napi::CallbackInfo& info);
  void Flush(const Napi::CallbackInfo& info);
  void BusyPoll(const Napi::CallbackInfo& info);  // inline_server.cpp
  Napi::Value Adopt(const Napi::CallbackInfo& info);
  Napi::Value Bridge(const Napi::CallbackInfo& info);  // bridge_binding.cpp
  void Shutdown(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Object deflate_stats_object(Napi::Env env) const;
  void Join(const Napi::CallbackInfo& info);
  // tls_binding.cpp: SNI contexts and certificate rotation.
  void AddContext(const Napi::CallbackInfo& info);
  void SetSecureContext(const Napi::CallbackInfo& info);

  // The outbox of worker `info[0]`, or null for an unknown index.
  server::CommandBuffer* outbox(const Napi::CallbackInfo& info);
  void flush();
  void hand_over_if_large(server::CommandBuffer& box);
  static constexpr size_t kHandOverBytes = 512 << 10;
  void shutdown_workers();  // stop without JS and join

  // inline_server.cpp: threads: 0, the worker driven by Node's loop (InlineLoop).
  void start_inline(Napi::Env env, napi_value dispatch);
  void stop_inline(napi_env env);  // from join(): the worker has stopped
  static void OnInlineEnvCleanup(napi_async_cleanup_hook_handle handle, void* self);

  void record_hop(const server::EventBatch& batch);
  static void CallJs(napi_env env, napi_value dispatch, void* context, void* data);
  static void OnEnvCleanup(void* self);
  static void OnTsfnFinalized(napi_env env, void* self, void* hint);

  std::shared_ptr<server::WorkerConfig> config_;
  std::shared_ptr<server::SharedLimits> limits_;
  std::vector<server::SlotCounters*> counters_;  // one per worker, shared with JS
  MetaArray meta_;  // the meta Int32Array every batch reuses (batch_to_js.h)
  PayloadSlab slab_;  // inline mode: small payloads' shared ArrayBuffer (payload_slab.h)
  core::Histogram hop_ns_;  // frame complete → batch dispatched on the JS thread
  double deflate_max_memory_ = 0;  // perMessageDeflate.maxMemory, bytes for all workers together
  std::vector<std::unique_ptr<server::Worker>> workers_;
  std::vector<server::CommandBuffer> outboxes_;  // commands not yet handed to each worker
  napi_env env_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;
  bool cleanup_hook_ = false;
  // Inline mode: the loop, the dispatch function and the async context its
  // callbacks run in, and the hook that closes the loop's handles at env teardown.
  InlineLoop* inline_ = nullptr;
  napi_ref inline_dispatch_ = nullptr;
  napi_async_context inline_async_ = nullptr;
  napi_async_cleanup_hook_handle inline_cleanup_ = nullptr;
};

}  // namespace corews::addon
