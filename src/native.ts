// The shape of the addon (native/addon/), as the TypeScript layer uses it.
// Internal: nothing here is exported from the package.
import type { NativeDeflate } from './deflate';
import type { NativeTls } from './tls';

/** Event kinds of a batch; the numbers match native/server/event_batch.h. */
export const enum EventType {
  Open = 1,
  Message = 2,
  PeerClose = 3,
  ProtocolError = 4,
  Closed = 5,
  Upgrade = 6,
  HttpRequest = 7,
  Stopped = 8,
  Drain = 9,
  /** Only where asked for (reportControl): a ping the peer sent (already answered), its payload in the arena. */
  Ping = 10,
  /** Only where asked for (reportControl): a pong the peer sent. */
  Pong = 11,
  /** Only where asked for (reportRefusals): num: status; strings: reason, then as Upgrade (protocol empty). */
  Refused = 12,
}

/** reportControl bits; match kReportPings, kReportPongs in native/server/commands.h. */
export const enum ReportControl {
  Pings = 1,
  Pongs = 2,
}

/** Message flags; match MessageFlags in native/server/event_batch.h. */
export const enum MessageFlag {
  Binary = 1,
}

/** Int32 fields per event in a batch's meta array. */
export const META_FIELDS = 6;

export const enum Opcode {
  Text = 1,
  Binary = 2,
  Ping = 9,
  Pong = 10,
}

/** Per message, with permessage-deflate: 0 by the threshold, 1 always, 2 never (commands.h kSendCompress…). */
export const enum CompressMode {
  ByThreshold = 0,
  Always = 1,
  Never = 2,
}

/**
 * `send`'s last argument: the opcode (bits 0-3), wantsDrain (bit 4) and the compress mode (bits
 * 5-6) in one number, which the addon reads with one N-API call where three arguments took three
 * (about 100 instructions of a 32-byte echo's 1,600 on the JS thread, docs/where-the-time-goes.md).
 */
export function sendMode(opcode: Opcode, wantsDrain: boolean, compress: CompressMode): number {
  return opcode | (wantsDrain ? 16 : 0) | (compress << 5);
}

export interface NativeOptions {
  path: string;
  origins: string[];
  protocols: string[];
  maxPayload: number;
  /** Longest text message in bytes (at most maxPayload). */
  maxTextPayload: number;
  handshakeTimeout: number;
  maxHttpBody: number;
  /** Milliseconds; 0: no keep-alive. */
  httpKeepAliveTimeout: number;
  closeTimeout: number;
  upgradeHook: boolean;
  httpHook: boolean;
  /** {@link ReportControl} bits every connection starts with. */
  reportControl: number;
  /** Report refused handshakes from the start (reportRefusals() changes it). */
  reportRefusals: boolean;
  maxBackpressure: number;
  dropOnBackpressure: boolean;
  /** Milliseconds; 0: off. */
  idleTimeout: number;
  /** Milliseconds; 0: off. */
  pingInterval: number;
  /** 0: no limit. */
  maxMessagesPerSecond: number;
  /** 0: no limit. */
  maxConnections: number;
  /** 0: no limit. */
  maxConnectionsPerIp: number;
  /** One acceptor hands connections to the workers (where SO_REUSEPORT does not balance). */
  acceptorHandoff: boolean;
  /** wss://; absent: plain TCP. */
  tls?: NativeTls;
  /** permessage-deflate; absent: offers are declined. */
  perMessageDeflate?: NativeDeflate;
}

/** One worker's counters, as the addon reports them. */
export interface NativeWorkerStats {
  connectionsOpen: number;
  connectionsTotal: number;
  handshakesAccepted: number;
  /** By status, in the order of REJECT_STATUSES, then any other. */
  handshakesRejected: number[];
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  /** Codes 1000–1015, then any other. */
  closeReceived: number[];
  closeSent: number[];
  backpressureEvents: number;
  backpressureDrops: number;
  backpressureCloses: number;
  readPauses: number;
  outputPauses: number;
  rateLimitCloses: number;
  idleCloses: number;
  pingsSent: number;
  loopIterations: number;
}

/** Matches kRejectStatuses in native/server/worker_stats.h. */
export const REJECT_STATUSES = [400, 403, 404, 405, 408, 426, 429, 431, 500, 503] as const;

export interface NativeStats {
  workers: NativeWorkerStats[];
  hopUs: { count: number; p50: number; p99: number; max: number };
  /** Only on a TLS server. */
  tls?: NativeTlsStats;
  /** Only with permessage-deflate. */
  perMessageDeflate?: DeflateStats;
}

/** permessage-deflate's counters, summed over the workers (gauges: zlibMemory, zlibReserved). */
export interface DeflateStats {
  /** Connections that agreed to permessage-deflate. */
  negotiated: number;
  /** Of those, offered no context takeover because maxMemory had no room for their window. */
  forcedNoContextTakeover: number;
  messagesCompressed: number;
  bytesBeforeCompression: number;
  bytesAfterCompression: number;
  messagesInflated: number;
  bytesBeforeInflation: number;
  bytesAfterInflation: number;
  /** Messages of connections with context takeover compressed by the shared stream (no room for their own). */
  sharedCompressions: number;
  /** zlib failed; the message went uncompressed. */
  compressionFailures: number;
  /** Bytes of zlib state held now. */
  zlibMemory: number;
  /** Bytes of inflate windows promised to connections with client context takeover. */
  zlibReserved: number;
}

export interface NativeTlsStats {
  handshakes: number;
  resumed: number;
  tls12: number;
  tls13: number;
  handshakeFailures: number;
  renegotiationsRefused: number;
}

/** `meta`: META_FIELDS int32 for each of the batch's first `events` events; it may be longer, and is reused by the next batch. */
export type DispatchFn = (worker: number, meta: Int32Array, values: string[], arena: ArrayBuffer | undefined, events: number) => void;

export interface NativeServer {
  /**
   * noListener: workers only for adopt(); returns 0. threads 0: inline mode, one worker run on the
   * JS thread (native/addon/inline_loop.h).
   */
  listen(host: string, port: number, threads: number, backlog: number, dispatch: DispatchFn, noListener: boolean): number;
  /** Duplicates `fd` and hands it, with the bytes Node read, to worker `worker`; false when it could not. */
  adopt(worker: number, fd: number, request: Uint8Array): boolean;
  /**
   * Makes a bridge (a socketpair) and hands one end, with the bytes Node read and the client's
   * address, to worker `worker`: returns the other end's fd for Node, or -errno.
   */
  bridge(worker: number, request: Uint8Array, remoteAddress: string): number;
  /**
   * Returns the frame's size in bytes (0 when nothing was queued). `mode`: {@link sendMode}'s
   * opcode, drain request and {@link CompressMode} in one number.
   */
  send(worker: number, slot: number, gen: number, data: string | Uint8Array, mode: number): number;
  close(worker: number, slot: number, gen: number, code: number, reason: string): void;
  terminate(worker: number, slot: number, gen: number): void;
  /** The user's pause: reading stops (true) or resumes (false), apart from the backpressure pause. */
  pause(worker: number, slot: number, gen: number, paused: boolean): void;
  /** The control frames of this connection that reach JS ({@link ReportControl} bits). */
  reportControl(worker: number, slot: number, gen: number, bits: number): void;
  /** Refused handshakes reach JS (Refused events) on every worker, or no longer. */
  reportRefusals(on: boolean): void;
  accept(worker: number, slot: number, gen: number, protocol: string, headerLines: string): void;
  /** `stream`: the head only (chunked); the body follows in {@link httpChunk} calls. */
  respond(worker: number, slot: number, gen: number, status: number, headerLines: string, body: Uint8Array, stream: boolean): void;
  /** A piece of a streamed response body; `end` with the last one (which may be empty). */
  httpChunk(worker: number, slot: number, gen: number, data: Uint8Array, wantsDrain: boolean, end: boolean): void;
  subscribe(worker: number, slot: number, gen: number, topicId: number): void;
  unsubscribe(worker: number, slot: number, gen: number, topicId: number): void;
  publish(perWorker: Int32Array, topicId: number, data: string | Uint8Array, opcode: Opcode,
    senderWorker: number, senderSlot: number, senderGen: number, compress: CompressMode): void;
  flush(): void;
  /** Inline mode only: the busyPollMicros option (after listen). */
  busyPoll(micros: number): void;
  shutdown(code: number, reason: string, timeoutMs: number): void;
  join(): void;
  /** Per slot: [queued bytes, consumed send bytes]. */
  counters(worker: number): Float64Array;
  stats(): NativeStats;
  addContext(hostname: string, tls: NativeTls): void;
  setSecureContext(tls: NativeTls): void;
}

/** The protocol core's hot paths, for the microbenchmarks in bench/. */
export interface HotPaths {
  unmask(data: Uint8Array, key: Uint8Array): void;
  mask(source: Uint8Array, key: Uint8Array, output: Uint8Array): void;
  isUtf8(data: Uint8Array): boolean;
  acceptKey(key: string): string;
  parseFrames(data: Uint8Array): number;
  /** The vector bodies unmask and isUtf8 run on this CPU (e.g. avx2), for the benchmark's header. */
  simdBodies(): { utf8: string; mask: string };
}

export interface NativeBinding {
  NativeServer: new (options: NativeOptions) => NativeServer;
  LoadGenerator: new (config: LoadGeneratorConfig) => LoadGenerator;
  hotPaths: HotPaths;
}

export type BenchMode = 'echo' | 'latency' | 'connect' | 'idle' | 'fanout';

export interface LoadGeneratorConfig {
  mode: BenchMode;
  address: string;
  port: number;
  host: string;
  path: string;
  connections: number;
  depth: number;
  size: number;
  binary: boolean;
  duration: number;
  warmup: number;
  threads: number;
  sources: string[];
  /** What messages carry: the fixed pattern (default) or JSON-like text. */
  payload?: BenchPayload;
  /** Offer permessage-deflate; where agreed, send compressed and inflate the server's messages. */
  deflate?: boolean;
  /** Idle mode: messages each connection exchanges (one in flight) before it holds still. */
  messages?: number;
  /** wss://: the URL's host (SNI, certificate name), whether to check the certificate, the trusted issuers (PEM). */
  tls?: { host: string; verify: boolean; ca: string };
}

export type BenchPayload = 'pattern' | 'json';

/** With `deflate`: what was agreed and what crossed the wire (echo/latency/fanout: in the window; idle: all). */
export interface LoadDeflateResult {
  /** Connections that agreed to permessage-deflate. */
  negotiated: number;
  /** The server's Sec-WebSocket-Extensions answer, as one connection got it ('' if none agreed). */
  agreed: string;
  /** Messages received compressed (RSV1). */
  compressedIn: number;
  /** Socket bytes read (frames, headers included) and written. */
  wireIn: number;
  wireOut: number;
  /** Payload bytes of the messages sent (before compression). */
  payloadOut: number;
}

export interface LoadProgress {
  messages: number;
  open: number;
  errors: number;
  measuring: boolean;
  done: boolean;
}

export interface LoadResult {
  messages: number;
  bytes: number;
  handshakes: number;
  errors: number;
  open: number;
  seconds: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; count: number };
  deflate?: LoadDeflateResult;
  /** wss://: TLS handshakes completed (connect: in the window), and what the first negotiated ('' otherwise). */
  tlsHandshakes: number;
  tlsProtocol: string;
  tlsCipher: string;
  tlsAlpn: string;
  /** Why the first failed connection failed ('' if none did). */
  firstError: string;
  /** The run was stopped early: no connection can succeed (a rejected certificate); firstError says why. */
  aborted: boolean;
}

export interface LoadGenerator {
  start(): void;
  progress(): LoadProgress;
  stop(): void;
  finish(): LoadResult;
}
