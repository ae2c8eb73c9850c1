// Server options: their types, defaults and validation. A wrong option throws
// a TypeError (wrong type) or RangeError (out of range) that names it.
import os from 'node:os';
import { resolveDeflate, type NativeDeflate, type PerMessageDeflateOptions } from './deflate';
import { resolveTls, type NativeTls, type TlsOptions } from './tls';
import type { WebSocket } from './websocket';

/** Header fields, with lower-case names. Repeated fields are joined with ", ". */
export type Headers = Record<string, string>;

/** A WebSocket upgrade request, as the `upgrade` hook sees it. */
export interface UpgradeRequest {
  /** Always `"GET"`: other methods are refused natively with 405. */
  readonly method: string;
  /** The request target, e.g. `"/chat?room=1"`. */
  readonly url: string;
  readonly headers: Headers;
  /** The client's IP address (IPv4-mapped IPv6 addresses are shown as IPv4). */
  readonly remoteAddress: string;
  /** Subprotocols the client offered, in its order. */
  readonly protocols: readonly string[];
  /** The subprotocol the `protocols` option picks for this client, or `""`. */
  readonly protocol: string;
}

/** Accepts an upgrade, optionally choosing the subprotocol and attaching user data. */
export interface UpgradeAccept<UserData> {
  readonly accept: true;
  /** Becomes `ws.data`. */
  readonly data?: UserData;
  /** Must be one the client offered; defaults to `UpgradeRequest.protocol`. */
  readonly protocol?: string;
  /** Extra response headers for the 101 answer. */
  readonly headers?: Headers;
}

/** Refuses an upgrade with an HTTP response. */
export interface UpgradeReject {
  readonly accept: false;
  /** 200–599; default 403. */
  readonly status?: number;
  readonly headers?: Headers;
  readonly body?: string | Uint8Array;
}

/** What the `upgrade` hook returns; `undefined` accepts with defaults. */
export type UpgradeResult<UserData> = UpgradeAccept<UserData> | UpgradeReject | undefined | void;

/** A plain (non-upgrade) HTTP request, as the `http` hook sees it. */
export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly remoteAddress: string;
  /**
   * The request body (Content-Length or chunked, decoded), complete before the hook runs; empty
   * when there is none. At most `maxHttpBody` bytes: larger requests get 413 without the hook.
   */
  readonly body: Buffer;
}

/**
 * A streamed response body: any async iterable of strings (UTF-8) and byte chunks, such as a Node
 * `Readable` (`fs.createReadStream`, `Readable.from(...)`), an async generator or a web
 * `ReadableStream`. It is sent with `Transfer-Encoding: chunked`, one chunk per piece; the next
 * piece is pulled only once the connection's queue is under 16 KiB, so a slow client holds the
 * stream, not memory.
 */
export type HttpBodyStream = AsyncIterable<string | Uint8Array>;

/**
 * The `http` hook's answer. The connection is kept for the client's next request unless the
 * client asked otherwise (`Connection: close`, HTTP/1.0 without keep-alive), the server is
 * closing, or `httpKeepAliveTimeout` is 0.
 */
export interface HttpResponse {
  /** 200–599; default 200. 204 and 304 responses carry no body. */
  readonly status?: number;
  /** The server sets Connection, Content-Length and Transfer-Encoding itself. */
  readonly headers?: Headers;
  /**
   * A string or bytes (sent with Content-Length), or a {@link HttpBodyStream} (sent chunked). A
   * string body gets `content-type: text/plain; charset=utf-8` unless a content-type is given.
   * HEAD requests get the headers only (a stream is then not read, and its iterator is ended).
   */
  readonly body?: string | Uint8Array | HttpBodyStream;
}

/** Options of {@link createServer}. Every field is optional. */
export interface ServerOptions<UserData = unknown> {
  /**
   * Worker threads, each with its own event loop and SO_REUSEPORT socket. Default:
   * `os.availableParallelism()` (`os.cpus().length` on Node before 18.14). 0 is inline mode: one
   * event loop on the JS thread itself, driven by Node's loop, with no hop between threads (the
   * lowest latency, for one core; a handler that runs long holds up all I/O meanwhile).
   */
  threads?: number;
  /**
   * Inline mode only (`threads: 0`): after an event-loop turn that brought a handler something,
   * keep polling the server's sockets for up to this many microseconds before handing the thread
   * back to Node's loop, and handle what arrives meanwhile. Shortens the round trip of a
   * request/response peer (no sleep and wakeup between its messages) at the cost of a core spinning
   * for that long after each burst; timers and other I/O wait at most this long (plus the handlers
   * run inside the window). Integer, 0–10000; default 0 (off). A RangeError with `threads` other than 0.
   */
  busyPollMicros?: number;
  /** Only upgrades to this path (without query) are accepted; others get 404. Default: any path. */
  path?: string;
  /** Allowed `Origin` values (exact, case-insensitive); others, and requests without Origin, get 403. Default: any. */
  origins?: readonly string[];
  /** Subprotocols the server speaks, in preference order; the first one the client offers is chosen. */
  protocols?: readonly string[];
  /** Largest message in bytes, after reassembly; larger ones close with 1009. Default 16 MiB, at most 1 GiB. */
  maxPayload?: number;
  /** Milliseconds a client has to complete its handshake (or an HTTP request, body included), else 408. Default 10 000. */
  handshakeTimeout?: number;
  /** Largest request body the `http` hook is given, in bytes; larger ones get 413. Default 64 KiB, at most 1 GiB. */
  maxHttpBody?: number;
  /**
   * Milliseconds an HTTP connection (the `http` hook's) is kept open for the client's next
   * request; then it is closed. 0: close after every response. Default 5 000 (as Node's http).
   */
  httpKeepAliveTimeout?: number;
  /** Milliseconds to wait for the peer's Close (or FIN) after ours before dropping the connection. Default 5 000. */
  closeTimeout?: number;
  /** listen(2) backlog per worker. Default 511. */
  backlog?: number;
  /**
   * Bytes a connection may have queued for sending (beyond what the kernel took). Past it the
   * `backpressurePolicy` applies. Default 16 MiB.
   */
  maxBackpressure?: number;
  /** `'close'` (default): close the connection with 1008. `'drop'`: drop the message (counted in stats). */
  backpressurePolicy?: 'close' | 'drop';
  /**
   * Seconds without any bytes from the peer (or, while output is queued for it, without it taking
   * any) before the server closes with 1001. 0: never. Default 120.
   */
  idleTimeout?: number;
  /** Seconds of silence after which the server pings; a pong (any bytes) resets the clock. 0: never. Default 30. */
  pingInterval?: number;
  /** Open connections across all workers; more handshakes get 503. Default: no limit. */
  maxConnections?: number;
  /** Open connections per client IP address; more get 429. Default: no limit. */
  maxConnectionsPerIp?: number;
  /** Messages per second per connection (bursts of one second's worth); past it: close with 1008. Default: no limit. */
  maxMessagesPerSecond?: number;
  /** wss://: the server speaks TLS on every connection with this certificate set (see README, TLS). */
  tls?: TlsOptions;
  /**
   * permessage-deflate (RFC 7692): `true` for the defaults, or settings. Default `false` (as in
   * `ws`): offers are declined. See README, permessage-deflate, for memory per mode.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Decides upgrades in JS (auth, user data). Without it no handshake touches JS. */
  upgrade?: (req: UpgradeRequest) => UpgradeResult<UserData> | Promise<UpgradeResult<UserData>>;
  /** Answers plain HTTP requests (health checks, a demo page). Without it they get 426. */
  http?: (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;
  /** A connection is open. */
  open?: (ws: WebSocket<UserData>) => void;
  /**
   * A connection's send queue fell back under 16 KiB after being above it: always after `send`
   * returned `SendStatus.BACKPRESSURE`, and also when publishes had filled it.
   */
  drain?: (ws: WebSocket<UserData>) => void;
  /** A complete message: text as a string, binary as a Buffer (both stay valid after the call). */
  message?: (ws: WebSocket<UserData>, data: string | Buffer, isBinary: boolean) => void;
  /**
   * A connection is gone. `code` is the peer's close code if it sent a Close (1005 when it had
   * none), else the code the server closed with (e.g. 1002, 1007, 1009, 1001), else 1006.
   */
  close?: (ws: WebSocket<UserData>, code: number, reason: string) => void;
  /**
   * A ping from the client, already answered natively (with a pong of the same payload). Only with
   * this handler do pings reach JS: without it they cost nothing on the JS thread.
   */
  ping?: (ws: WebSocket<UserData>, data: Buffer) => void;
  /** A pong from the client (the answer to `ws.ping()` or to the heartbeat's ping). Only with this handler do pongs reach JS. */
  pong?: (ws: WebSocket<UserData>, data: Buffer) => void;
  /**
   * A WebSocket handshake the server refused natively (bad version 426, bad key 400, a wrong
   * `path` 404, `origins` 403, limits 503/429, a malformed or oversized request 400/431, a
   * handshake timeout 408), after the refusal was sent. Plain HTTP requests answered 426 are not
   * refusals. Only with this handler do refusals reach JS.
   */
  refused?: (refusal: HandshakeRefusal) => void;
  /** Errors thrown by handlers and hooks. Without it they are rethrown as uncaught exceptions. */
  error?: (err: unknown, ws?: WebSocket<UserData>) => void;
}

/** A handshake the server refused: what the `refused` handler gets. */
export interface HandshakeRefusal {
  /** The HTTP status sent (400, 403, 404, 405, 408, 426, 429, 431, 503). */
  status: number;
  /** Why, as the one-line body of the response said it. */
  reason: string;
  /** `""` when the request did not parse (a malformed or oversized head, a timeout). */
  method: string;
  /** The request target; `""` when the request did not parse. */
  url: string;
  /** Lower-case names; repeated fields joined with ", "; empty when the request did not parse. */
  headers: Headers;
  remoteAddress: string;
}

/** Options after defaults, as the server uses them. */
export interface ResolvedOptions<UserData> {
  threads: number;
  /** Microseconds; 0: off (inline mode only). */
  busyPollMicros: number;
  path: string;
  origins: string[];
  protocols: string[];
  maxPayload: number;
  handshakeTimeout: number;
  maxHttpBody: number;
  /** Milliseconds; 0: no keep-alive. */
  httpKeepAliveTimeout: number;
  closeTimeout: number;
  backlog: number;
  maxBackpressure: number;
  backpressurePolicy: 'close' | 'drop';
  /** Milliseconds. */
  idleTimeout: number;
  /** Milliseconds. */
  pingInterval: number;
  /** 0: no limit. */
  maxConnections: number;
  /** 0: no limit. */
  maxConnectionsPerIp: number;
  /** 0: no limit. */
  maxMessagesPerSecond: number;
  tls: NativeTls | undefined;
  perMessageDeflate: NativeDeflate | undefined;
  drain: ServerOptions<UserData>['drain'];
  upgrade: ServerOptions<UserData>['upgrade'];
  http: ServerOptions<UserData>['http'];
  open: ServerOptions<UserData>['open'];
  message: ServerOptions<UserData>['message'];
  close: ServerOptions<UserData>['close'];
  ping: ServerOptions<UserData>['ping'];
  pong: ServerOptions<UserData>['pong'];
  refused: ServerOptions<UserData>['refused'];
  error: ServerOptions<UserData>['error'];
}

const KNOWN = new Set([
  'threads', 'busyPollMicros', 'path', 'origins', 'protocols', 'maxPayload', 'handshakeTimeout', 'maxHttpBody', 'httpKeepAliveTimeout',
  'closeTimeout', 'backlog',
  'maxBackpressure', 'backpressurePolicy', 'idleTimeout', 'pingInterval', 'maxConnections', 'maxConnectionsPerIp',
  'maxMessagesPerSecond', 'tls', 'perMessageDeflate', 'upgrade', 'http', 'open', 'drain', 'message', 'close', 'error',
  'ping', 'pong', 'refused',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`option '${name}' must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) throw new RangeError(`option '${name}' must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** A non-negative number of seconds (fractions allowed), as milliseconds. */
function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback * 1000;
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`option '${name}' must be a number of seconds, got ${describe(value)}`);
  if (value < 0 || value > 2_000_000) throw new RangeError(`option '${name}' must be between 0 and 2000000 seconds, got ${value}`);
  return Math.round(value * 1000);
}

function strings(name: string, value: unknown, check?: (s: string) => boolean, what?: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TypeError(`option '${name}' must be an array of strings, got ${describe(value)}`);
  return value.map((s: unknown, i) => {
    if (typeof s !== 'string') throw new TypeError(`option '${name}[${i}]' must be a string, got ${describe(s)}`);
    if (check && !check(s)) throw new TypeError(`option '${name}[${i}]' must be ${what}, got ${JSON.stringify(s)}`);
    return s;
  });
}

function fn<T>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`option '${name}' must be a function, got ${describe(value)}`);
  return value as T;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object' || typeof value === 'function') return `a ${typeof value}`;
  return String(value);
}

function policy(value: unknown): 'close' | 'drop' {
  if (value === undefined) return 'close';
  if (value !== 'close' && value !== 'drop') throw new TypeError(`option 'backpressurePolicy' must be 'close' or 'drop', got ${describe(value)}`);
  return value;
}

/** A positive finite number, or 0 for "not set". */
function positive(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`option '${name}' must be a number, got ${describe(value)}`);
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`option '${name}' must be a positive number, got ${value}`);
  return value;
}

export const MAX_PAYLOAD_LIMIT = 1024 * 1024 * 1024;

/** One worker per core the process may use; os.availableParallelism came in Node 18.14. */
export function defaultThreads(): number {
  const available = (os as { availableParallelism?: () => number }).availableParallelism;
  return typeof available === 'function' ? available() : Math.max(1, os.cpus().length);
}

/** Validates `options` and fills in defaults. */
export function resolveOptions<UserData>(options: ServerOptions<UserData> | undefined): ResolvedOptions<UserData> {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new TypeError(`unknown option '${key}'`);
  }
  const o = options as Record<string, unknown>;
  const path = o.path;
  if (path !== undefined && typeof path !== 'string') throw new TypeError(`option 'path' must be a string, got ${describe(path)}`);
  if (typeof path === 'string' && !/^\/[\x21-\x7e]*$/.test(path)) {
    throw new TypeError(`option 'path' must start with '/' and contain no spaces or control characters, got ${JSON.stringify(path)}`);
  }
  if (typeof path === 'string' && path.includes('?')) throw new TypeError(`option 'path' must not contain a query, got ${JSON.stringify(path)}`);
  const threads = integer('threads', o.threads, defaultThreads(), 0, 256);
  const busyPollMicros = integer('busyPollMicros', o.busyPollMicros, 0, 0, 10_000);
  if (busyPollMicros !== 0 && threads !== 0) {
    throw new RangeError(`option 'busyPollMicros' applies to inline mode only (threads: 0), got threads: ${threads}`);
  }
  return {
    threads,
    busyPollMicros,
    path: path ?? '',
    origins: strings('origins', o.origins, (s) => s.length > 0 && !/[\r\n]/.test(s), 'a non-empty origin'),
    protocols: strings('protocols', o.protocols, (s) => TOKEN.test(s), 'an HTTP token'),
    maxPayload: integer('maxPayload', o.maxPayload, 16 * 1024 * 1024, 1, MAX_PAYLOAD_LIMIT),
    handshakeTimeout: integer('handshakeTimeout', o.handshakeTimeout, 10_000, 1, 2_147_483_647),
    maxHttpBody: integer('maxHttpBody', o.maxHttpBody, 64 * 1024, 0, 2 ** 30),
    httpKeepAliveTimeout: integer('httpKeepAliveTimeout', o.httpKeepAliveTimeout, 5_000, 0, 2_147_483_647),
    closeTimeout: integer('closeTimeout', o.closeTimeout, 5_000, 1, 2_147_483_647),
    backlog: integer('backlog', o.backlog, 511, 1, 65_535),
    maxBackpressure: integer('maxBackpressure', o.maxBackpressure, 16 * 1024 * 1024, 1, Number.MAX_SAFE_INTEGER),
    backpressurePolicy: policy(o.backpressurePolicy),
    idleTimeout: seconds('idleTimeout', o.idleTimeout, 120),
    pingInterval: seconds('pingInterval', o.pingInterval, 30),
    maxConnections: integer('maxConnections', o.maxConnections, 0, 1, 100_000_000),
    maxConnectionsPerIp: integer('maxConnectionsPerIp', o.maxConnectionsPerIp, 0, 1, 100_000_000),
    maxMessagesPerSecond: positive('maxMessagesPerSecond', o.maxMessagesPerSecond),
    tls: resolveTls(o.tls),
    perMessageDeflate: resolveDeflate(o.perMessageDeflate),
    drain: fn('drain', o.drain),
    upgrade: fn('upgrade', o.upgrade),
    http: fn('http', o.http),
    open: fn('open', o.open),
    message: fn('message', o.message),
    close: fn('close', o.close),
    ping: fn('ping', o.ping),
    pong: fn('pong', o.pong),
    refused: fn('refused', o.refused),
    error: fn('error', o.error),
  };
}
