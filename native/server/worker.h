// A worker: one event loop on one thread, its own listening socket, and the
// connections it accepted. Everything a connection does happens here; JS talks
// to it through the inbox and hears from it through event batches. The member
// functions are defined in files named for their job (the private section
// below is grouped by them); every socket call goes through a connection's
// transport (transport.h) or, for listening sockets, listener.h.
#pragma once
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../core/deadline_list.h"
#include "../core/inbox.h"
#include "../core/poller.h"
#include "../core/wakeup.h"
#include "../proto/handshake.h"
#include "commands.h"
#include "connection.h"
#include "deflate_resources.h"
#include "event_batch.h"
#include "shared_limits.h"
#include "slot_counters.h"
#include "topics.h"
#include "worker_stats.h"

namespace corews::server {

class TlsContexts;  // tls_context.h

struct WorkerConfig {
  proto::FrameParserOptions parser;
  proto::HandshakePolicy policy;
  bool upgrade_hook = false;  // ask JS before accepting an upgrade
  bool http_hook = false;     // hand plain HTTP requests to JS instead of answering 426
  int64_t handshake_timeout_ms = 10000;
  // The http hook's requests: the largest body (beyond it: 413), and how long
  // a connection is kept for its next request (0: one request per connection).
  size_t max_http_body = 64 * 1024;
  int64_t http_keep_alive_timeout_ms = 5000;
  int64_t close_timeout_ms = 5000;  // for the peer's Close or FIN after ours
  size_t max_backpressure = 16 * 1024 * 1024;  // queued output bytes per connection
  bool drop_on_backpressure = false;           // else close with 1008
  int64_t idle_timeout_ms = 120000;            // no bytes from the peer this long: close (0: never)
  int64_t ping_interval_ms = 30000;            // ping after this long without bytes (0: never)
  double max_messages_per_second = 0;          // per connection; over it: close 1008 (0: no limit)
  size_t max_unconsumed = 64 * 1024 * 1024;    // bytes handed to JS not yet dispatched: past it, stop reading
  // One listening socket on worker 0, which hands accepted connections to the
  // others round-robin: for platforms where SO_REUSEPORT does not balance.
  bool acceptor_handoff = false;
  // TLS on every connection (wss://) with these contexts; null: plain TCP.
  std::shared_ptr<TlsContexts> tls;
  // permessage-deflate; max_memory is each worker's share of the server's budget.
  DeflateSettings deflate;
  // Reports JS asked for from the start: control frames (kReportPings,
  // kReportPongs) of every connection, and refused handshakes. Commands change
  // them later (kReportControl per connection, kReportRefusals per worker).
  uint8_t report_control = 0;
  bool report_refusals = false;
};

// Where a worker sends its event batches (the addon: a threadsafe function).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void deliver(std::unique_ptr<EventBatch> batch) = 0;
};

class Worker {
 public:
  Worker(uint32_t id, std::shared_ptr<const WorkerConfig> config, int listen_fd, EventSink& sink,
         std::shared_ptr<SharedLimits> limits, SlotCounters* counters);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();  // runs the loop on a new thread until stopped
  void join();
  // From any thread, when JS can no longer take part (env teardown): close
  // everything without waiting for JS.
  void request_stop();

  core::Inbox& inbox() { return inbox_; }
  // With acceptor hand-off: every worker of the server, this one included, set before start().
  void set_siblings(std::vector<Worker*> siblings) { siblings_ = std::move(siblings); }
  const WorkerStats& stats() const { return stats_; }
  const ArenaPool& arena_pool() const { return *arena_pool_; }  // for tests
  // permessage-deflate's streams, budget and counts (stats; tests).
  DeflateResources& deflate() { return deflate_; }
  // Worker thread (or a test driving run_once): bytes queued for a live
  // connection, its transport's included; 0 for a free slot.
  size_t queued_bytes(uint32_t slot) const;
  // Connections whose reading waits for JS to catch up (tests: the list
  // holds live connections only).
  size_t paused_connections() const { return paused_.size(); }
  void wake() { wakeup_.signal(); }
  // JS thread: a batch of `bytes` was dispatched; reading resumes once the
  // backlog is under half the bound.
  void consumed(size_t bytes);

  // One loop iteration: wait up to timeout_ms (-1: until something happens),
  // handle what happened, hand the batch over. False once stopped.
  bool run_once(int timeout_ms);

  // Inline mode (threads: 0, the loop on the JS thread; native/addon/inline_loop.h).
  // The descriptor that is readable when run_once(0) has work: the poller's.
  int poll_fd() const { return poller_.fd(); }
  // Before JS's loop next waits on poll_fd() (see Poller::flush_changes).
  void flush_poll_changes() { poller_.flush_changes(); }
  // Milliseconds until run_once has a deadline to meet (a timer, a paused
  // accept, a shutdown's end): 0 now, -1 none. run_once waits at most this.
  int next_timeout_ms() const;
  // The commands in the inbox, run now, and their batch handed over: what
  // run_once does when the wakeup fires, without a wakeup. False once stopped.
  bool run_commands();

 private:
  // The frame parser's handler for one connection (parser_events.h).
  struct ParserEvents;
  friend struct ParserEvents;

  // worker.cpp: accepting, handing off and adopting connections.
  void accept_connections();
  // A new connection: make it ours (null when it could not be). `bridged_from`:
  // fd is the worker's end of a bridge, and this is the client's address.
  Connection* adopt(int fd, const std::string* bridged_from = nullptr);
  void hand_off(int fd);
  Connection* lookup(uint32_t slot, uint32_t gen) const;
  // worker.cpp: timers, the batch for JS, and the end.
  void expire_timers();
  void flush_batch();
  void end_iteration();  // the end of run_once and run_commands: stops due, the batch, the graveyard
  void shutdown_gracefully(uint16_t code, std::string_view reason, int64_t timeout_ms);
  void close_listener();
  void stop_all();

  // read_path.cpp: readiness, reads, and inbound backpressure.
  void on_io(Connection* c, uint32_t flags);
  void on_readable(Connection* c);
  void pause_reading(Connection* c);
  void unlist_paused(Connection* c);
  void resume_reading();
  void set_user_paused(Connection* c, bool paused);  // kPauseReading
  // Input a transport holds that no poller reports (TLS: decrypted, unread):
  // such connections are read again before the loop next waits.
  void note_held_input(Connection* c);
  void read_held_input();

  // rate_limit.cpp
  bool count_message(Connection* c, size_t len);  // the rate limit; false when it closed the connection
  bool within_rate(Connection* c);                // the rate limit alone, for every frame
  // heartbeat.cpp
  void on_heartbeat(Connection* c);

  // handshake_flow.cpp: the HTTP request, the hooks, 101 or a refusal.
  void on_request_bytes(Connection* c, const uint8_t* data, size_t len);
  void accept_upgrade(Connection* c, std::string_view protocol, std::string_view extra_headers);
  // `req`: the request when it parsed; `report`: false where JS is not to hear
  // of it (plain HTTP answered 426, a shutdown) even with refusals reported.
  void refuse(Connection* c, int status, std::string_view reason, const proto::HttpRequest* req = nullptr,
              bool report = true);
  void emit_refusal(Connection* c, int status, std::string_view reason, const proto::HttpRequest* req);
  void release_place(Connection* c);  // its place under maxConnections / maxConnectionsPerIp
  void await_js(Connection* c, EventType type, const proto::HttpRequest& req, std::string_view protocol,
                std::string_view body = {});
  void emit_request(Connection* c, EventType type, const proto::HttpRequest& req, std::string_view protocol,
                    std::string_view body = {});
  void decide_request(Connection* c);  // the buffered bytes start a request: parse its head and route it

  // http_flow.cpp: the http hook's requests (body, response, keep-alive, the next request).
  void begin_exchange(Connection* c, const proto::HttpRequest& req, size_t head_len);
  void read_http_body(Connection* c);
  void answer_http(Connection* c, int status, std::string_view headers, std::string_view body, bool stream);
  void write_http_chunk(Connection* c, const uint8_t* data, size_t len, uint8_t flags);
  void finish_exchange(Connection* c);
  void end_keep_alive_wait(Connection* c);  // the next request's first bytes came

  // command_runner.cpp: what JS asked, in order.
  void process_commands();
  void run_command(const struct CommandHeader& h, const uint8_t* payload);
  static void release_publishes(const CommandBuffer& commands, size_t from);

  // write_path.cpp: writes, the queue and its bound, what the poller watches.
  void cork(Connection* c, const uint8_t* data, size_t len);
  void uncork();
  void write_bytes(Connection* c, const uint8_t* data, size_t len);
  void write_iov(Connection* c, iovec* iov, int count);
  void answer_ping(Connection* c, const uint8_t* data, size_t len);
  void queue_pending_pong(Connection* c);  // behind what is queued
  // False when the connection's queue is at maxBackpressure: the message is
  // dropped, or the connection closed with 1008, as configured.
  bool admit(Connection* c);
  void note_queue(Connection* c);  // publishes the queue size; drain when it falls under the low mark
  void on_writable(Connection* c);
  void update_interest(Connection* c);

  // deflate_path.cpp: permessage-deflate on the way out.
  bool should_compress(const Connection* c, uint8_t flags, const uint8_t* frame) const;
  // Sends one frame JS built, compressed; false when zlib failed (send it as it is).
  bool send_compressed(Connection* c, const uint8_t* frame, size_t len);
  // A publish's frame compressed for `c` (one per window size and publish,
  // shared by its subscribers); null when zlib failed.
  core::SharedBytes* compressed_publish(Connection* c, core::SharedBytes* frame);
  void end_publish();  // drops the publish's compressed frames

  // fanout.cpp: publishes, owed to subscribers until the command batch ends.
  struct GatheredPublishes;
  // A publish command: gathered with the consecutive ones it can join, or run now.
  void gather_publish(const struct CommandHeader& h, const struct PublishPayload& p);
  void run_gathered_publishes();  // before any other command, and at the batch's end
  void publish_joined(const GatheredPublishes& g);
  void publish(const struct CommandHeader& h, const struct PublishPayload& p);
  uint32_t hold_publish_frame(core::SharedBytes* bytes);
  void owe_publish(Connection* c, uint32_t frame, size_t len);
  size_t owed_publish_bytes(const Connection* c) const;
  void write_owed_publishes(Connection* c);  // before anything else goes to c
  void flush_published();  // one write per connection for a batch's publishes

  // closing.cpp: the closing handshake, the drain, the end of a connection.
  void send_close(Connection* c, uint16_t code, std::string_view reason);
  void begin_drain(Connection* c);
  void destroy(Connection* c);

  const uint32_t id_;
  std::shared_ptr<const WorkerConfig> config_;
  int listen_fd_;
  EventSink& sink_;
  core::Poller poller_;
  core::Wakeup wakeup_;
  core::Inbox inbox_;
  core::DeadlineList handshake_timers_;
  core::DeadlineList closing_timers_;
  core::DeadlineList keep_alive_timers_;  // HTTP connections between requests
  core::DeadlineList heartbeat_timers_;  // every ping interval (or idle timeout) of silence
  std::shared_ptr<SharedLimits> limits_;
  SlotCounters* counters_;
  int64_t now_ms_ = 0;  // this iteration's clock
  size_t live_ = 0;     // connections in slots
  // Graceful shutdown: no new connections, and a deadline for the old ones.
  bool shutting_down_ = false;
  bool report_refusals_ = false;  // kRefused events: WorkerConfig::report_refusals, then kReportRefusals
  int64_t shutdown_deadline_ = 0;
  // Inbound backpressure: bytes handed to JS and not yet dispatched.
  std::atomic<int64_t> unconsumed_{0};
  std::atomic<bool> reading_paused_{false};
  std::vector<Connection*> paused_;  // read-paused connections (each knows its index)
  std::vector<std::pair<uint32_t, uint32_t>> held_input_;  // (slot, gen) to read again
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  bool stopped_ = false;
  int64_t accept_paused_until_ = 0;  // out of fds: retry accepting after this

  std::vector<Worker*> siblings_;
  size_t next_sibling_ = 0;
  std::vector<CommandBuffer> handoffs_;  // per sibling, fds accepted this round

  std::vector<Connection*> slots_;
  std::vector<uint32_t> generations_;
  std::vector<uint32_t> free_slots_;
  std::vector<Connection*> graveyard_;  // closed this iteration, freed at its end
  TopicTable topics_;
  // A command batch's publishes (fanout.cpp): the frames, one reference each;
  // per connection owed some (Connection::published_at), the chain of links
  // to them, oldest first, and their bytes.
  struct PublishLink {
    uint32_t frame;  // index into publish_frames_held_
    uint32_t next;   // the chain's next link, or ~0
  };
  struct PublishTarget {
    Connection* c;  // null once written
    uint32_t head, tail;
    size_t bytes;
  };
  // Consecutive publishes to one topic, from one sender, with the same flags,
  // not yet run (each frame a command's reference).
  struct GatheredPublishes {
    CommandHeader header;
    uint32_t topic = 0;
    uint32_t flags = 0;
    std::vector<core::SharedBytes*> frames;
    size_t bytes = 0;
  };
  GatheredPublishes gathered_;
  std::vector<core::SharedBytes*> publish_frames_held_;
  std::vector<PublishLink> publish_links_;
  std::vector<PublishTarget> published_;
  WorkerStats stats_;
  DeflateResources deflate_;
  std::vector<uint8_t> compressed_;  // scratch: a message being compressed
  std::array<core::SharedBytes*, 16> publish_frames_{};  // the current publish, compressed, by window bits

  std::shared_ptr<ArenaPool> arena_pool_;  // arenas of dispatched batches, back for the next (arena_pool.h)
  std::unique_ptr<EventBatch> batch_;
  std::vector<CommandBuffer> taken_;  // the buffers of commands being run, oldest first
  std::vector<uint8_t> read_buffer_;

  // Sends queued for one connection while running commands, written with one writev.
  Connection* corked_ = nullptr;
  std::vector<iovec> cork_iov_;
  size_t cork_bytes_ = 0;  // their total

  // Tags that tell the listener and the wakeup fd apart from connections.
  char listen_tag_ = 0;
  char wakeup_tag_ = 0;
};

}  // namespace corews::server
