// Inline mode (threads: 0): the one worker's loop runs on the JS thread,
// driven by Node's own libuv loop instead of a thread of its own. A uv_poll on
// the worker's poller descriptor says when run_once(0) has something to do, a
// uv_timer wakes it for the worker's next deadline (handshake, close and
// heartbeat timers, a paused accept, a shutdown's end), and a uv_idle hands JS
// the batches made outside a poll callback (commands JS ran, see below).
//
// Nothing crosses a thread: no threadsafe function, no eventfd wakeup for
// commands. JS is never entered from inside the worker: the worker's batches
// wait here (deliver) until run_once or run_commands has returned, and are
// then dispatched one by one, each as a callback from the event loop
// (napi_make_callback, so microtasks and async hooks behave as for any I/O
// callback).
#pragma once
#include <node_api.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>

#include "../server/event_batch.h"
#include "../server/worker.h"

namespace corews::addon {

// What the loop asks of its owner (NativeServer).
class InlineHost {
 public:
  virtual ~InlineHost() = default;
  // Hands one batch to JS, and once JS returned, runs what it asked.
  virtual void dispatch_inline(std::unique_ptr<server::EventBatch> batch) = 0;
};

class InlineLoop {
 public:
  // Starts watching `worker` on `loop`; throws std::system_error when libuv
  // cannot (the descriptor cannot be polled).
  static InlineLoop* start(uv_loop_t* loop, server::Worker& worker, InlineHost& host);

  // The worker's sink (NativeServer::deliver): kept until it may go to JS.
  void deliver(std::unique_ptr<server::EventBatch> batch) { pending_.push_back(std::move(batch)); }
  // After the worker ran commands outside a poll callback (JS called flush):
  // their batches go to JS from the next loop iteration, and the timer
  // follows the worker's new deadlines.
  void commands_ran();
  // Stops watching; the worker may be destroyed right after. The loop frees
  // itself once libuv has closed its handles (never during this call, so it
  // may be called from inside a dispatch); on_closed then runs, if given.
  void close(void (*on_closed)(void* arg) = nullptr, void* arg = nullptr);
  // busyPollMicros: after an iteration that brought JS something, keep
  // polling the worker's descriptor (timeout 0) for up to `micros` µs before
  // returning to libuv, handling whatever arrives meanwhile; 0 (the default)
  // returns at once. See busy_poll() for the bound.
  void set_busy_poll(uint32_t micros) { busy_poll_ns_ = uint64_t(micros) * 1000; }

  InlineLoop(const InlineLoop&) = delete;
  InlineLoop& operator=(const InlineLoop&) = delete;

 private:
  InlineLoop(server::Worker& worker, InlineHost& host) : worker_(&worker), host_(host) {}
  ~InlineLoop() = default;

  void step();   // run_once(0), then its batches to JS
  bool iterate();  // one run_once(0) and its batches to JS; true when JS got any
  void busy_poll();
  void drain();  // pending batches to JS, each followed by the commands it queued
  void arm();    // the timer to the worker's next deadline; the poller's changes to the kernel
  static void on_idle(uv_idle_t* h);
  static void on_handle_closed(uv_handle_t* h);

  server::Worker* worker_;  // null once closed
  InlineHost& host_;
  uv_poll_t poll_{};
  uv_timer_t timer_{};
  uv_idle_t idle_{};
  int open_handles_ = 0;
  bool draining_ = false;
  uint64_t busy_poll_ns_ = 0;
  std::deque<std::unique_ptr<server::EventBatch>> pending_;
  void (*on_closed_)(void*) = nullptr;
  void* on_closed_arg_ = nullptr;
};

}  // namespace corews::addon
