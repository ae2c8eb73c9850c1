// The options of WebSocketServer: ws's names and defaults, checked, and mapped onto corews's
// createServer options. Options that cannot work natively throw a TypeError saying why.
import type { Server as HttpServer } from 'node:http';
import { describe, type ServerOptions } from '../options';
import type { PerMessageDeflateOptions } from '../deflate';
import type { UpgradeIncomingMessage } from './request';

/** What verifyClient gets (as in ws). */
export interface VerifyClientInfo {
  /** The `Origin` header, if any. */
  origin: string | undefined;
  /** True on a wss:// server. */
  secure: boolean;
  req: UpgradeIncomingMessage;
}

/** The callback of the two-argument verifyClient: `verified`, then the refusal's status, body and headers. */
export type VerifyClientCallback = (verified: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

/**
 * verifyClient: declared with one parameter it is synchronous (returns whether to accept; a refusal
 * is 401); with two it answers through the callback. One signature, so that both forms type-check.
 */
export type VerifyClient = (info: VerifyClientInfo, callback: VerifyClientCallback) => boolean | void;

/** handleProtocols: picks one of the offered subprotocols, or false for none. */
export type HandleProtocols = (protocols: Set<string>, req: UpgradeIncomingMessage) => string | false | null | undefined;

/** ws's permessage-deflate options; of `zlibDeflateOptions` only `level` and `memLevel` are taken. */
export interface WsPerMessageDeflateOptions extends Omit<PerMessageDeflateOptions, 'level' | 'memLevel'> {
  zlibDeflateOptions?: { level?: number; memLevel?: number };
  /** Accepted and ignored: inflation runs natively and needs no settings. */
  zlibInflateOptions?: Record<string, unknown>;
  /** Accepted and ignored: compression runs on the worker threads (bound its memory with `maxMemory`). */
  concurrencyLimit?: number;
}

/** corews options that ws has no name for, passed to createServer as they are. */
export type CorewsOptions = Pick<ServerOptions, 'threads' | 'origins' | 'handshakeTimeout' | 'maxBackpressure' |
  'backpressurePolicy' | 'idleTimeout' | 'pingInterval' | 'maxConnections' | 'maxConnectionsPerIp' | 'maxMessagesPerSecond' | 'tls'>;

/** Options of {@link WebSocketServer}: ws's, plus `corews` for the native engine's own. */
export interface WebSocketServerOptions {
  /** Listen on this port (0: any free one), on corews's own native listener. */
  port?: number;
  /** With `port`: the address to bind (default `::`, or `0.0.0.0` without IPv6). */
  host?: string;
  /** With `port`: listen(2) backlog per worker (default 511). */
  backlog?: number;
  /** Share the port of this Node `http.Server`: its `'upgrade'` requests are taken over. */
  server?: HttpServer;
  /** Neither: upgrades come only through {@link WebSocketServer.handleUpgrade}. */
  noServer?: boolean;
  /** Accept only this path (query ignored); others get 400, as in ws. */
  path?: string;
  verifyClient?: VerifyClient;
  handleProtocols?: HandleProtocols;
  /** Keep the open sockets in `clients` (default true). */
  clientTracking?: boolean;
  /** Largest message in bytes (default 100 MiB, as in ws; at most 1 GiB). Larger ones close with 1009. */
  maxPayload?: number;
  /** Default false, as in ws. */
  perMessageDeflate?: boolean | WsPerMessageDeflateOptions;
  /** Milliseconds to wait for the peer's Close after ours (default 5000, ws: 30000). */
  closeTimeout?: number;
  /** Only `false`: messages are always UTF-8 checked natively. */
  skipUTF8Validation?: boolean;
  /** Only `true`: pings are always answered natively. */
  autoPong?: boolean;
  /** Accepted, no effect: events of one native batch are always emitted synchronously. */
  allowSynchronousEvents?: boolean;
  /** Accepted, no effect: reassembly is bounded by `maxPayload` natively. */
  maxFragments?: number;
  /** Accepted, no effect: reassembly is bounded by `maxPayload` natively. */
  maxBufferedChunks?: number;
  /** Accepted, no effect: pongs are bounded natively (one pending per connection). */
  maxPendingAutoPongs?: number;
  /** corews's own options (threads, heartbeat, limits, tls). */
  corews?: CorewsOptions;
}

/** @internal What the server uses. */
export interface ResolvedWsOptions {
  mode: 'port' | 'server' | 'noServer';
  port: number;
  host: string | undefined;
  server: HttpServer | undefined;
  path: string | undefined;
  verifyClient: VerifyClient | undefined;
  handleProtocols: HandleProtocols | undefined;
  clientTracking: boolean;
  core: ServerOptions;
}

const KNOWN = new Set(['port', 'host', 'backlog', 'server', 'noServer', 'path', 'verifyClient', 'handleProtocols',
  'clientTracking', 'maxPayload', 'perMessageDeflate', 'closeTimeout', 'skipUTF8Validation', 'autoPong',
  'allowSynchronousEvents', 'maxFragments', 'maxBufferedChunks', 'maxPendingAutoPongs', 'corews']);
const UNSUPPORTED: Record<string, string> = {
  WebSocket: 'sockets are corews/ws WebSocket objects; a custom class cannot be used',
};
const CORE_KNOWN = new Set(['threads', 'origins', 'handshakeTimeout', 'maxBackpressure', 'backpressurePolicy',
  'idleTimeout', 'pingInterval', 'maxConnections', 'maxConnectionsPerIp', 'maxMessagesPerSecond', 'tls']);

const CLOSE_TIMEOUT = 5000;

function deflate(value: unknown): boolean | PerMessageDeflateOptions | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (value === null || typeof value !== 'object') throw new TypeError(`option 'perMessageDeflate' must be a boolean or an object, got ${describe(value)}`);
  const { zlibDeflateOptions, zlibInflateOptions: _inflate, concurrencyLimit: _limit, ...rest } = value as WsPerMessageDeflateOptions;
  const out: PerMessageDeflateOptions = { ...rest };
  if (zlibDeflateOptions !== undefined) {
    if (zlibDeflateOptions === null || typeof zlibDeflateOptions !== 'object') {
      throw new TypeError(`option 'perMessageDeflate.zlibDeflateOptions' must be an object, got ${describe(zlibDeflateOptions)}`);
    }
    for (const key of Object.keys(zlibDeflateOptions)) {
      if (key !== 'level' && key !== 'memLevel') throw new TypeError(`option 'perMessageDeflate.zlibDeflateOptions.${key}' is not supported (only level and memLevel)`);
    }
    if (zlibDeflateOptions.level !== undefined) out.level = zlibDeflateOptions.level;
    if (zlibDeflateOptions.memLevel !== undefined) out.memLevel = zlibDeflateOptions.memLevel;
  }
  return out;
}

function fn<T>(name: string, value: unknown): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'function') throw new TypeError(`option '${name}' must be a function, got ${describe(value)}`);
  return value as T;
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`option '${name}' must be a boolean, got ${describe(value)}`);
  return value;
}

/**
 * @internal Checks ws options and maps them. The native engine checks the rest (maxPayload,
 * backlog, perMessageDeflate, the corews options) when the server is created.
 */
export function resolveWsOptions(options: WebSocketServerOptions | undefined): ResolvedWsOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`WebSocketServer: options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key in UNSUPPORTED) throw new TypeError(`WebSocketServer: option '${key}' is not supported by corews/ws: ${UNSUPPORTED[key]}`);
    if (!KNOWN.has(key)) throw new TypeError(`WebSocketServer: unknown option '${key}'`);
  }
  const o = options;
  const hasPort = o.port !== undefined && o.port !== null;
  const hasServer = Boolean(o.server);
  const noServer = bool('noServer', o.noServer, false);
  if (Number(hasPort) + Number(hasServer) + Number(noServer) !== 1) {
    throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
  }
  if (hasPort && (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 0 || o.port > 65535)) {
    throw new RangeError(`option 'port' must be an integer between 0 and 65535, got ${describe(o.port)}`);
  }
  if (o.host !== undefined && o.host !== null && typeof o.host !== 'string') throw new TypeError(`option 'host' must be a string, got ${describe(o.host)}`);
  if (hasServer && (typeof o.server?.on !== 'function' || typeof o.server?.removeListener !== 'function')) {
    throw new TypeError(`option 'server' must be an http.Server, got ${describe(o.server)}`);
  }
  const path = o.path ?? undefined;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
    throw new TypeError(`option 'path' must be a string starting with '/', got ${describe(path)}`);
  }
  if (bool('skipUTF8Validation', o.skipUTF8Validation, false)) {
    throw new TypeError("option 'skipUTF8Validation: true' is not supported by corews/ws: UTF-8 is always checked natively");
  }
  if (!bool('autoPong', o.autoPong, true)) {
    throw new TypeError("option 'autoPong: false' is not supported by corews/ws: pings are always answered natively");
  }
  bool('allowSynchronousEvents', o.allowSynchronousEvents, true);
  const corews = o.corews ?? {};
  if (corews === null || typeof corews !== 'object') throw new TypeError(`option 'corews' must be an object, got ${describe(corews)}`);
  for (const key of Object.keys(corews)) {
    if (!CORE_KNOWN.has(key)) throw new TypeError(`option 'corews.${key}' is not taken here (known: ${[...CORE_KNOWN].join(', ')})`);
  }
  // corews's heartbeat (pingInterval, idleTimeout) keeps its defaults: it pings only a peer silent
  // that long, so a ws program's own heartbeat keeps the peer from ever being silent.
  const core: ServerOptions = {
    ...corews,
    closeTimeout: o.closeTimeout ?? CLOSE_TIMEOUT,
    maxPayload: o.maxPayload ?? 100 * 1024 * 1024,
    ...(o.backlog !== undefined ? { backlog: o.backlog } : {}),
    ...(o.perMessageDeflate !== undefined ? { perMessageDeflate: deflate(o.perMessageDeflate) } : {}),
  };
  return {
    mode: hasPort ? 'port' : hasServer ? 'server' : 'noServer',
    port: hasPort ? (o.port as number) : 0,
    host: o.host ?? undefined,
    server: hasServer ? o.server : undefined,
    path,
    verifyClient: fn<VerifyClient>('verifyClient', o.verifyClient),
    handleProtocols: fn<HandleProtocols>('handleProtocols', o.handleProtocols),
    clientTracking: bool('clientTracking', o.clientTracking, true),
    core,
  };
}
