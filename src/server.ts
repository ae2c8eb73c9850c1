// The server: starts the native workers, dispatches their event batches to the
// user's handlers, and runs the upgrade and http hooks.
import { constants } from 'node:buffer';
import dns from 'node:dns/promises';
import * as net from 'node:net';
import os from 'node:os';
import { bodyBytes, checkStatus, headerLines, isBodyStream, readRequest, type RequestParts } from './http';
import { HttpConnections, streamBody } from './http_stream';
import { arenaBuffer } from './arena_buffer';
import { bridgeUpgrade, isTlsSocket } from './bridge';
import { binding } from './loader';
import { EventType, META_FIELDS, MessageFlag, Opcode, ReportControl, type NativeServer } from './native';
import { describe, resolveOptions, type ResolvedOptions, type ServerOptions, type UpgradeResult } from './options';
import { prometheus, summarize, type ServerStats } from './stats';
import { resolveTls, type TlsOptions } from './tls';
import { TopicRegistry } from './topics';
import { checkAdapter, type AdapterHost, type PubSubAdapter } from './adapter';
import { checkSize, compressMode, isPayload, toBytes, WebSocket, type Payload, type SendOptions, type SocketLink } from './websocket';

/**
 * The longest text message that can reach a handler: V8's longest string, in UTF-16 units, and a
 * message's UTF-8 bytes are never fewer than its units.
 */
const MAX_STRING_BYTES = constants.MAX_STRING_LENGTH;

/**
 * What {@link Server.handleUpgrade} reads of a request: Node's `http.IncomingMessage` has it
 * (`method` and `url` are always set on a server's requests; they are checked).
 */
export interface IncomingRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly httpVersion: string;
  /** Names and values, alternating, as received. */
  readonly rawHeaders: string[];
}

/** What {@link Server.attach} needs of a Node `http.Server`. */
export interface HttpServerLike {
  on(event: 'upgrade', listener: (req: IncomingRequest, socket: net.Socket, head: Buffer) => void): unknown;
  removeListener(event: 'upgrade', listener: (req: IncomingRequest, socket: net.Socket, head: Buffer) => void): unknown;
  listenerCount(event: 'upgrade'): number;
}

/** An HTTP refusal of an upgrade Node parsed, and the end of its connection. */
function refuseUpgrade(socket: net.Socket, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Bad Request'}\r\nConnection: close\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** The descriptor of a plain TCP socket of this process (libuv's TCP handle), if it has one. */
function descriptorOf(socket: unknown): number | undefined {
  if (!(socket instanceof net.Socket) || (socket as { encrypted?: boolean }).encrypted) return undefined;
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/** Where a listening server is bound. */
export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** Options of {@link Server.close}. */
export interface CloseOptions {
  /** Close code sent to every open connection; default 1001. */
  code?: number;
  /** Close reason (at most 123 bytes); default "server shutting down". */
  reason?: string;
  /** Milliseconds to wait for closing handshakes and drained queues before dropping the rest; default 10 000. */
  timeout?: number;
}

/**
 * @internal For a layer over the server (corews/ws) that turns reports on and off itself, per
 * socket and per server: what they start as, instead of what the handlers imply.
 */
export interface ServerInternals {
  /** ReportControl bits every socket starts with (then `ws._reportControl`). */
  reportControl?: number;
  /** Refusals reported from the start (then `server._reportRefusals`). */
  reportRefusals?: boolean;
}

/** A connection whose handshake JS is deciding (upgrade hook) or answering (http hook). */
interface Pending<UserData> {
  gen: number;
  data: UserData | undefined;
}

const enum State {
  Idle,
  Listening,
  Closing,
  Closed,
}

/** A WebSocket server; create one with {@link createServer}. */
export class Server<UserData = unknown> {
  readonly #options: ResolvedOptions<UserData>;
  readonly #native: NativeServer;
  readonly #link: SocketLink;
  readonly #topics: TopicRegistry;
  /** The scale-out adapter, once server.adapt() attached one. */
  #adapter: PubSubAdapter | undefined;
  readonly #counters: Float64Array[] = [];
  /** Native workers: `threads`, or the one loop of inline mode (threads: 0). */
  readonly #workers: number;
  #jsDrops = 0;
  #jsCloses = 0;
  #state = State.Idle;
  #address: AddressInfo | null = null;
  /** Open sockets by worker, then slot. */
  #sockets: (WebSocket<UserData> | undefined)[][] = [];
  /** Handshakes waiting on a hook, by worker, then slot. */
  #pending: Map<number, Pending<UserData>>[] = [];
  /** Connections that served an HTTP request (keep-alive, streamed bodies), by worker. */
  #http: HttpConnections[] = [];
  #openCount = 0;
  #stoppedWorkers = 0;
  /** Round-robin over the workers for handed-over connections. */
  #nextAdopter = 0;
  /** Undoes each attach(). */
  #detach: (() => void)[] = [];
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  #flushScheduled = false;
  #dispatching = false;
  /**
   * The extensions answer of the last open, shared by the sockets that agreed to the same: every
   * open brings its own copy of the string, and with permessage-deflate nearly all are equal, so
   * keeping one instead of one per socket saves an idle connection about 40 bytes of JS heap.
   */
  #extensions = '';
  /**
   * The same for the request target and the client's address of the last open: many sockets
   * share them (one path, one proxy or NAT address), and each copy is 24–40 bytes per socket.
   */
  #lastUrl = '';
  #lastRemote = '';
  /** The control frames every connection reports from its open (ReportControl bits). */
  readonly #reportControl: number;

  /** @internal Use {@link createServer}. */
  constructor(options?: ServerOptions<UserData>, internals: ServerInternals = {}) {
    this.#options = resolveOptions(options);
    const o = this.#options;
    this.#reportControl = internals.reportControl ?? ((o.ping ? ReportControl.Pings : 0) | (o.pong ? ReportControl.Pongs : 0));
    this.#workers = Math.max(1, o.threads);
    this.#native = new binding.NativeServer({
      path: o.path,
      origins: o.origins,
      protocols: o.protocols,
      maxPayload: o.maxPayload,
      // A text message must fit in one JS string: longer ones close with 1009 at their header.
      maxTextPayload: Math.min(o.maxPayload, MAX_STRING_BYTES),
      handshakeTimeout: o.handshakeTimeout,
      maxHttpBody: o.maxHttpBody,
      httpKeepAliveTimeout: o.httpKeepAliveTimeout,
      closeTimeout: o.closeTimeout,
      upgradeHook: o.upgrade !== undefined,
      httpHook: o.http !== undefined,
      // Pings, pongs and refusals cross to JS only for a handler that wants them.
      reportControl: this.#reportControl,
      reportRefusals: internals.reportRefusals ?? o.refused !== undefined,
      maxBackpressure: o.maxBackpressure,
      dropOnBackpressure: o.backpressurePolicy === 'drop',
      idleTimeout: o.idleTimeout,
      pingInterval: o.pingInterval,
      maxMessagesPerSecond: o.maxMessagesPerSecond,
      maxConnections: o.maxConnections,
      maxConnectionsPerIp: o.maxConnectionsPerIp,
      acceptorHandoff: acceptorHandoff(),
      ...(o.tls !== undefined ? { tls: o.tls } : {}),
      ...(o.perMessageDeflate !== undefined ? { perMessageDeflate: o.perMessageDeflate } : {}),
    });
    const native = this.#native;
    this.#topics = new TopicRegistry(this.#workers);
    this.#link = {
      native,
      topics: this.#topics,
      counters: this.#counters,
      maxBackpressure: o.maxBackpressure,
      dropOnBackpressure: o.backpressurePolicy === 'drop',
      overLimit: (closed) => (closed ? this.#jsCloses++ : this.#jsDrops++),
      commandQueued: () => this.#commandQueued(),
      deliver: (ws, data, isBinary) => this.#deliver(ws as WebSocket<UserData>, data, isBinary),
      publish: (topic, data, options, sender) => this.#publish(topic, data, options, sender),
    };
  }

  /** Number of worker threads this server runs; 0 in inline mode (its one loop runs on the JS thread). */
  get threads(): number {
    return this.#options.threads;
  }

  /** Number of open connections (those whose `open` handler ran and `close` has not yet). */
  get connections(): number {
    return this.#openCount;
  }

  /**
   * Starts listening. Port 0 picks a free port (see {@link address}). The host defaults to `::`
   * (IPv6 and IPv4) where IPv6 is available, else `0.0.0.0`; a name is resolved first.
   * @throws RangeError for a port outside 0–65535; rejects with the system error (e.g. EADDRINUSE).
   */
  async listen(port = 0, host?: string): Promise<void> {
    if (typeof port !== 'number' || !Number.isInteger(port)) throw new TypeError(`listen: port must be an integer, got ${String(port)}`);
    if (port < 0 || port > 65535) throw new RangeError(`listen: port must be between 0 and 65535, got ${port}`);
    if (host !== undefined && typeof host !== 'string') throw new TypeError(`listen: host must be a string, got ${typeof host}`);
    if (this.#state !== State.Idle) throw new Error(`listen: the server is ${this.#state === State.Listening ? 'already listening' : 'closed'}`);
    this.#state = State.Listening;
    try {
      const address = await resolveHost(host);
      // close() may have been called while the host was resolved.
      if (this.#state !== State.Listening) throw new Error('listen: the server was closed before it started listening');
      const bound = this.#start(address, port, false);
      this.#address = { address, family: net.isIPv6(address) ? 'IPv6' : 'IPv4', port: bound };
    } catch (err) {
      if (this.#state === State.Listening) this.#state = State.Idle;
      else this.#finishClose();
      throw err;
    }
  }

  /** Starts the workers, with listening sockets or (noListener) for handed-over connections only. */
  #start(address: string, port: number, noListener: boolean): number {
    const threads = this.#workers;
    const bound = this.#native.listen(address, port, this.#options.threads, this.#options.backlog, (worker, meta, values, arena, events) =>
      this.#dispatch(worker, meta, values, arena, events), noListener);
    if (this.#options.busyPollMicros !== 0) this.#native.busyPoll(this.#options.busyPollMicros);
    this.#sockets = Array.from({ length: threads }, () => []);
    this.#counters.length = 0;
    for (let i = 0; i < threads; i++) this.#counters.push(this.#native.counters(i));
    this.#pending = Array.from({ length: threads }, () => new Map());
    this.#http = Array.from({ length: threads }, () => new HttpConnections());
    return bound;
  }

  /**
   * Takes over a connection that a Node `http.Server` accepted, from its `'upgrade'` event: the
   * descriptor moves into a worker (Node's socket is destroyed; Node's loop never sees the
   * connection again), with the request Node read and `head`. The handshake is then decided as on
   * this server's own listener (options, the `upgrade` hook, limits). A server that is not
   * listening starts its workers without a listener of its own.
   *
   * A TLS socket (an `https.Server`'s) is bridged instead: its TLS stays in Node, which pipes the
   * decrypted bytes to and from a worker over a socketpair; the worker frames, validates and fans
   * out as for any connection, and sees the TLS socket's remote address.
   * @throws TypeError when `socket` is neither a plain TCP socket of this process nor a TLS
   * socket, or on a wss:// server (it takes TLS on its own listener).
   * @returns false when the server is closing or closed (the socket is then destroyed).
   */
  handleUpgrade(req: IncomingRequest, socket: net.Socket, head: Uint8Array): boolean {
    if (this.#options.tls !== undefined) {
      throw new TypeError('handleUpgrade: a wss:// server (the tls option) takes connections on its own listener only');
    }
    if (req === null || typeof req !== 'object' || typeof req.method !== 'string' || typeof req.url !== 'string' ||
      !Array.isArray(req.rawHeaders) || typeof req.httpVersion !== 'string') {
      throw new TypeError(`handleUpgrade: req must be the http.IncomingMessage of the 'upgrade' event, got ${describe(req)}`);
    }
    if (!(head instanceof Uint8Array)) throw new TypeError(`handleUpgrade: head must be a Buffer, got ${describe(head)}`);
    const fd = descriptorOf(socket);
    const bridged = fd === undefined && isTlsSocket(socket);
    if (fd === undefined && !bridged) {
      throw new TypeError('handleUpgrade: socket must be a plain TCP net.Socket or an https.Server\'s TLS socket');
    }
    if (this.#state === State.Idle) {
      this.#state = State.Listening;
      try {
        this.#start('', 0, true);
      } catch (err) {
        this.#state = State.Idle;
        throw err;
      }
    }
    if (this.#state !== State.Listening) {
      socket.destroy();
      return false;
    }
    // What Node read: the request head as it came (rawHeaders keep names and order), then `head`,
    // then anything Node's stream buffered after the event.
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    const parts: Uint8Array[] = [Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), head];
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) parts.push(chunk);
    const worker = this.#nextAdopter++ % this.#workers;
    if (bridged) return bridgeUpgrade(this.#native, worker, socket, Buffer.concat(parts), this.#options.closeTimeout);
    const handed = this.#native.adopt(worker, fd!, Buffer.concat(parts));
    // The worker holds a descriptor of its own now: destroying Node's socket unregisters it
    // from Node's loop and closes Node's descriptor, not the connection.
    socket.destroy();
    return handed;
  }

  /**
   * Takes the WebSocket upgrades of a Node `http.Server` (an Express or Fastify app's server,
   * say): its `'upgrade'` requests to `options.path` (any path without it) go to
   * {@link handleUpgrade}; others are left to the server's other `'upgrade'` listeners. The HTTP
   * server keeps serving its routes; {@link close} detaches and leaves it running.
   */
  attach(httpServer: HttpServerLike, options: { path?: string } = {}): void {
    if (httpServer === null || typeof httpServer !== 'object' || typeof httpServer.on !== 'function' ||
      typeof httpServer.removeListener !== 'function' || typeof httpServer.listenerCount !== 'function') {
      throw new TypeError(`attach: httpServer must be an http.Server, got ${describe(httpServer)}`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError(`attach: options must be an object, got ${describe(options)}`);
    const path = options.path;
    if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
      throw new TypeError(`attach: options.path must be a string starting with '/', got ${describe(path)}`);
    }
    const listener = (req: IncomingRequest, socket: net.Socket, head: Buffer): void => {
      if (path !== undefined && (req.url ?? '').split('?')[0] !== path) {
        // Another 'upgrade' listener may serve this path. With none, answer as
        // corews's own listener answers a path it does not serve, rather than
        // leave the client waiting (Node closes only unheard upgrades).
        if (httpServer.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'no WebSocket endpoint at this path');
        return;
      }
      this.handleUpgrade(req, socket, head);
    };
    httpServer.on('upgrade', listener);
    this.#detach.push(() => httpServer.removeListener('upgrade', listener));
  }

  /** The bound address, or null when not listening. */
  address(): AddressInfo | null {
    return this.#state === State.Listening ? this.#address : null;
  }

  /**
   * Shuts down gracefully: stops accepting, sends a Close (default 1001 "server shutting down")
   * to every open connection, waits up to `timeout` for closing handshakes and queued output,
   * then drops what is left. Handshakes in progress get 503. Every `close` handler runs.
   * Resolves once every connection and worker thread is gone.
   * @throws TypeError or RangeError for invalid options.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (options === null || typeof options !== 'object') throw new TypeError(`close: options must be an object, got ${describe(options)}`);
    const code = options.code ?? 1001;
    const reason = options.reason ?? 'server shutting down';
    const timeout = options.timeout ?? 10_000;
    if (typeof code !== 'number' || !Number.isInteger(code) || !((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))) {
      throw new TypeError(`close: code must be 1000–1003, 1007–1014 or 3000–4999, got ${describe(code)}`);
    }
    if (typeof reason !== 'string') throw new TypeError(`close: reason must be a string, got ${describe(reason)}`);
    if (Buffer.byteLength(reason) > 123) throw new RangeError(`close: reason must be at most 123 bytes, got ${Buffer.byteLength(reason)}`);
    if (typeof timeout !== 'number' || !Number.isInteger(timeout)) throw new TypeError(`close: timeout must be an integer, got ${describe(timeout)}`);
    if (timeout < 0 || timeout > 2_147_483_647) throw new RangeError(`close: timeout must be between 0 and 2147483647 ms, got ${timeout}`);
    if (this.#closed) return this.#closed;
    for (const detach of this.#detach.splice(0)) detach();
    if (this.#state !== State.Listening) {
      this.#state = State.Closed;
      this.#closed = this.#closeAdapter();
      return this.#closed;
    }
    this.#state = State.Closing;
    const connectionsGone = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    // The adapter goes after the connections: their closes still unsubscribe through it.
    this.#closed = connectionsGone.then(() => this.#closeAdapter());
    for (const sockets of this.#sockets) {
      for (const ws of sockets) if (ws !== undefined && ws._state === 1) ws._state = 2;
    }
    this.#native.shutdown(code, reason, timeout);
    return this.#closed;
  }

  async #closeAdapter(): Promise<void> {
    const adapter = this.#adapter;
    if (adapter === undefined) return;
    this.#topics.listener = undefined;
    await adapter.close();
  }

  /**
   * Attaches a scale-out adapter (such as `redisAdapter()` from `corews/redis`): from then on
   * {@link publish} and {@link WebSocket.publish} deliver locally as before and also forward to
   * the adapter, and messages from other processes reach this process's subscribers. The adapter
   * is told when a topic gets its first local subscriber and loses its last (topics subscribed
   * before this call are told at once). `close()` awaits the adapter's `close()`.
   * @throws TypeError when an adapter is attached already, the server is closed, or `adapter`
   * lacks a method of {@link PubSubAdapter}.
   */
  adapt(adapter: PubSubAdapter): void {
    checkAdapter(adapter);
    if (this.#adapter !== undefined) throw new TypeError('adapt: an adapter is attached already (adapt may be called once)');
    if (this.#closed !== null) throw new TypeError('adapt: the server is closed');
    this.#adapter = adapter;
    const host: AdapterHost = {
      deliver: (topic, data, binary) => this.#deliverRemote(topic, data, binary),
      topics: () => this.#topics.names(),
    };
    adapter.attach(host);
    this.#topics.listener = (topic, live) => {
      try {
        if (live) adapter.subscribe(topic);
        else adapter.unsubscribe(topic);
      } catch (err) {
        this.#report(err);
      }
    };
    for (const topic of this.#topics.names()) adapter.subscribe(topic);
  }

  /** A message from another process: to every local subscriber, never back to the adapter. */
  #deliverRemote(topic: string, data: Uint8Array | string, binary: boolean): void {
    const entry = this.#topics.get(topic);
    if (entry === undefined || this.#state !== State.Listening) return;
    this.#native.publish(entry.perWorker, entry.id, data, binary ? Opcode.Binary : Opcode.Text, -1, 0, 0, compressMode(undefined, 'publish'));
    this.#commandQueued();
  }

  /** Counters and gauges of all workers (see {@link ServerStats}); zeros before `listen`. */
  stats(): ServerStats {
    const native = this.#state === State.Listening || this.#state === State.Closing
      ? this.#native.stats()
      : { workers: [], hopUs: { count: 0, p50: 0, p99: 0, max: 0 } };
    return summarize(native, this.#jsDrops, this.#jsCloses, this.#adapter?.stats());
  }

  /** True when the server speaks TLS (wss://): it was created with the `tls` option. */
  get secure(): boolean {
    return this.#options.tls !== undefined;
  }

  /**
   * SNI: clients asking for `hostname` get this certificate set. `'*.example.com'` matches one
   * label (`a.example.com`, not `example.com` or `a.b.example.com`); names are case-insensitive;
   * when several match, the latest added wins. Takes effect for new handshakes at once.
   * @throws TypeError on a server without `tls`, or a bad set (as for the `tls` option).
   */
  addContext(hostname: string, tls: TlsOptions): void {
    if (typeof hostname !== 'string' || hostname.length === 0 || /[\s/]/.test(hostname)) {
      throw new TypeError(`addContext: hostname must be a non-empty host name, got ${describe(hostname)}`);
    }
    if (this.#options.tls === undefined) throw new TypeError('addContext: the server was created without the tls option');
    const resolved = resolveTls(tls, 'tls');
    if (resolved === undefined) throw new TypeError('addContext: a certificate set is required');
    this.#native.addContext(hostname, resolved);
  }

  /**
   * Replaces the server's default certificate set (certificate rotation): new handshakes use it at
   * once, connections already made keep theirs, and session tickets issued before still resume.
   * @throws TypeError on a server without `tls`, or a bad set (as for the `tls` option).
   */
  setSecureContext(tls: TlsOptions): void {
    if (this.#options.tls === undefined) throw new TypeError('setSecureContext: the server was created without the tls option');
    const resolved = resolveTls(tls, 'tls');
    if (resolved === undefined) throw new TypeError('setSecureContext: a certificate set is required');
    this.#native.setSecureContext(resolved);
  }

  /** {@link stats} in the Prometheus text exposition format, for a `/metrics` endpoint. */
  metrics(): string {
    return prometheus(this.stats());
  }

  /**
   * Publishes a message to every subscriber of `topic` on every worker (text or binary by the
   * rule of {@link WebSocket.send}). It is framed once; the workers share the bytes. With an
   * adapter ({@link adapt}) it is also forwarded to the other processes, subscribers here or not.
   * @returns true when delivered to a local subscriber or forwarded to an adapter; false when
   * there is neither, or the server is not listening.
   * @throws TypeError when `topic` is not a string or `data` not a payload.
   */
  publish(topic: string, data: Payload, options?: SendOptions): boolean {
    if (typeof topic !== 'string') throw new TypeError(`publish: topic must be a string, got ${describe(topic)}`);
    return this.#publish(topic, data, options, undefined);
  }

  /** Number of sockets subscribed to `topic`, across all workers. */
  subscribers(topic: string): number {
    return this.#topics.subscribers(topic);
  }

  #publish(topic: string, data: Payload, options: SendOptions | undefined, sender: WebSocket<unknown> | undefined): boolean {
    if (!isPayload(data)) throw new TypeError(`publish: data must be a string, ArrayBuffer or ArrayBufferView, got ${describe(data)}`);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new TypeError(`publish: options must be an object, got ${describe(options)}`);
    }
    checkSize(data, 'publish');
    const entry = this.#topics.get(topic);
    const adapter = this.#adapter;
    if ((entry === undefined && adapter === undefined) || this.#state !== State.Listening) return false;
    const binary = options?.binary ?? typeof data !== 'string';
    const bytes = typeof data === 'string' ? data : toBytes(data);
    const compress = compressMode(options, 'publish');
    if (entry !== undefined) {
      this.#native.publish(entry.perWorker, entry.id, bytes, binary ? Opcode.Binary : Opcode.Text,
        sender?._worker ?? -1, sender?._slot ?? 0, sender?._gen ?? 0, compress);
      this.#commandQueued();
    }
    adapter?.publish(topic, bytes, binary);
    return true;
  }

  /** @internal Refused handshakes reach the `refused` handler (true) or no longer (corews/ws's wsClientError). */
  _reportRefusals(on: boolean): void {
    this.#native.reportRefusals(on);
    this.#commandQueued();
  }

  /** A message to the `message` handler, with its errors reported. */
  #deliver(ws: WebSocket<UserData>, data: string | Buffer, isBinary: boolean): void {
    const handler = this.#options.message;
    if (!handler) return;
    try {
      handler(ws, data, isBinary);
    } catch (err) {
      this.#report(err, ws);
    }
  }

  #commandQueued(): void {
    // While a batch is dispatched the addon flushes right after it returns.
    if (this.#dispatching || this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#native.flush();
    });
  }

  #report(err: unknown, ws?: WebSocket<UserData>): void {
    const onError = this.#options.error;
    if (onError) {
      try {
        onError(err, ws);
        return;
      } catch (inner) {
        err = inner;
      }
    }
    // Like an EventEmitter without an 'error' listener: surface it, but only
    // after the rest of the batch has been dispatched.
    queueMicrotask(() => {
      throw err;
    });
  }

  /** One batch from one worker; see native/addon/batch_to_js.h for the layout. */
  #dispatch(worker: number, meta: Int32Array, values: string[], arena: ArrayBuffer | undefined, events: number): void {
    const o = this.#options;
    const sockets = this.#sockets[worker];
    let v = 0;
    this.#dispatching = true;
    try {
      // meta is longer than the batch when the addon reuses it (batch_to_js.h).
      const end = events * META_FIELDS;
      for (let i = 0; i < end; i += META_FIELDS) {
        const type = meta[i];
        const slot = meta[i + 1];
        const gen = meta[i + 2];
        const num = meta[i + 3];
        // Every event but a binary message brings its own strings: a text
        // message one, the others as many as meta[i + 5] says. Taking exactly
        // that many keeps the events after it aligned whatever a case reads.
        const first = v;
        if (type === EventType.Message) {
          if ((num & MessageFlag.Binary) === 0) v++;
        } else if (type !== EventType.Ping && type !== EventType.Pong) {
          v += meta[i + 5]; // pings and pongs, like binary messages, are in the arena only
        }
        switch (type) {
          case EventType.Message: {
            const ws = sockets[slot];
            if (ws !== undefined && ws._gen === gen && o.message) {
              const binary = (num & MessageFlag.Binary) !== 0;
              const data = binary ? arenaBuffer(arena as ArrayBuffer, meta[i + 4], meta[i + 5]) : values[first];
              // Read before the worker took the pause: held until resume(), in order.
              if (!ws._hold(data, binary)) this.#deliver(ws, data, binary);
            }
            break;
          }
          case EventType.Ping:
          case EventType.Pong: {
            const ws = sockets[slot];
            const handler = type === EventType.Ping ? o.ping : o.pong;
            if (ws !== undefined && ws._gen === gen && handler) {
              const data = arena ? arenaBuffer(arena, meta[i + 4], meta[i + 5]) : Buffer.alloc(0);
              try {
                handler(ws, data);
              } catch (err) {
                this.#report(err, ws);
              }
            }
            break;
          }
          case EventType.Refused: {
            if (!o.refused) break;
            const parts = readRequest(values, first + 1, meta[i + 5] - 1, undefined, 0, 0);
            try {
              o.refused({ status: num, reason: values[first], method: parts.method, url: parts.url, headers: parts.headers,
                remoteAddress: parts.remoteAddress });
            } catch (err) {
              this.#report(err);
            }
            break;
          }
          case EventType.Open: {
            const openUrl = values[first];
            const url = openUrl === this.#lastUrl ? this.#lastUrl : (this.#lastUrl = openUrl);
            const protocol = values[first + 1];
            const openRemote = values[first + 2];
            const remote = openRemote === this.#lastRemote ? this.#lastRemote : (this.#lastRemote = openRemote);
            const agreed = values[first + 3];
            const extensions = agreed === this.#extensions ? this.#extensions : (this.#extensions = agreed);
            this.#http[worker].forget(slot, gen);  // it served HTTP first: a WebSocket now
            const pending = this.#pending[worker].get(slot);
            let data: UserData | undefined;
            if (pending !== undefined && pending.gen === gen) {
              data = pending.data;
              this.#pending[worker].delete(slot);
            }
            const ws = new WebSocket<UserData>(this.#link, worker, slot, gen, url, protocol, remote, extensions, data as UserData);
            ws._ctl = this.#reportControl;
            sockets[slot] = ws;
            this.#openCount++;
            if (o.open) {
              try {
                o.open(ws);
              } catch (err) {
                this.#report(err, ws);
              }
            }
            break;
          }
          case EventType.PeerClose:
          case EventType.ProtocolError: {
            const reason = values[first] ?? '';
            const ws = sockets[slot];
            if (ws !== undefined && ws._gen === gen && ws._state === 1) ws._state = 2;
            if (ws !== undefined && ws._gen === gen && type === EventType.ProtocolError) ws._failure = { code: num, reason };
            // Echo the peer's code (§5.5.1), or fail with ours; either way after
            // every reply the handlers above queued. A Close without a code is
            // answered without one; a bare FIN (1006, never sent) only flushes.
            const code = type === EventType.PeerClose && num === 1005 ? 0 : num;
            this.#native.close(worker, slot, gen, code, type === EventType.ProtocolError ? reason : '');
            break;
          }
          case EventType.Closed: {
            const reason = values[first] ?? '';
            const ws = sockets[slot];
            if (ws !== undefined && ws._gen === gen) {
              // Messages held by a pause came before the close: they go first.
              const held = ws._takeHeld();
              if (held !== undefined) for (const [data, binary] of held) this.#deliver(ws, data, binary);
              sockets[slot] = undefined;
              ws._state = 3;
              ws._releaseTopics();
              this.#openCount--;
              if (o.close) {
                try {
                  o.close(ws, num, reason);
                } catch (err) {
                  this.#report(err, ws);
                }
              }
            } else {
              const pending = this.#pending[worker].get(slot);
              if (pending !== undefined && pending.gen === gen) this.#pending[worker].delete(slot);
              this.#http[worker].closed(slot, gen);
            }
            break;
          }
          case EventType.Upgrade:
          case EventType.HttpRequest: {
            const req = readRequest(values, first, meta[i + 5], arena, meta[i + 4], type === EventType.HttpRequest ? num : 0);
            this.#pending[worker].set(slot, { gen, data: undefined });
            if (type === EventType.Upgrade) this.#runUpgrade(worker, slot, gen, req);
            else this.#runHttp(worker, slot, gen, req);
            break;
          }
          case EventType.Drain: {
            const ws = sockets[slot];
            if (ws === undefined || ws._gen !== gen) this.#http[worker].drained(slot, gen);
            else if (o.drain) {
              try {
                o.drain(ws);
              } catch (err) {
                this.#report(err, ws);
              }
            }
            break;
          }
          case EventType.Stopped:
            if (++this.#stoppedWorkers === this.#sockets.length) this.#finishClose();
            break;
        }
      }
    } finally {
      this.#dispatching = false;
    }
  }

  #finishClose(): void {
    this.#native.join(); // harmless when no worker was started
    this.#state = State.Closed;
    this.#sockets = [];
    this.#pending = [];
    for (const conns of this.#http) conns.closeAll();
    this.#http = [];
    this.#resolveClosed?.();
  }

  /** Still waiting for this handshake's answer (the client may have gone meanwhile)? */
  #isPending(worker: number, slot: number, gen: number): boolean {
    return this.#pending[worker]?.get(slot)?.gen === gen;
  }

  #respond(worker: number, slot: number, gen: number, status: number, headers: string, body: Uint8Array, stream = false): void {
    this.#pending[worker].delete(slot);
    this.#native.respond(worker, slot, gen, status, headers, body, stream);
    this.#commandQueued();
  }

  #runUpgrade(worker: number, slot: number, gen: number, parts: RequestParts): void {
    const hook = this.#options.upgrade!;
    const req = {
      method: parts.method,
      url: parts.url,
      headers: parts.headers,
      remoteAddress: parts.remoteAddress,
      protocols: parts.offered,
      protocol: parts.protocol,
    };
    const decide = (result: UpgradeResult<UserData>): void => {
      if (!this.#isPending(worker, slot, gen)) return;
      if (result === undefined || result === null) result = { accept: true };
      if (typeof result !== 'object') throw new TypeError('the upgrade hook must return { accept: true, … }, { accept: false, … } or undefined');
      if (result.accept === false) {
        const body = bodyBytes(result.body ?? 'upgrade refused\n');
        const lines = headerLines(result.headers, body.length > 0, typeof (result.body ?? '') === 'string');
        this.#respond(worker, slot, gen, checkStatus(result.status, 403), lines, body);
        return;
      }
      if (result.accept !== true) throw new TypeError("the upgrade hook's result needs accept: true or false");
      const protocol = result.protocol ?? parts.protocol;
      if (typeof protocol !== 'string' || (protocol !== '' && !parts.offered.includes(protocol))) {
        throw new TypeError(`the upgrade hook chose protocol ${JSON.stringify(protocol)}, which the client did not offer`);
      }
      const lines = headerLines(result.headers, false, false);
      this.#pending[worker].get(slot)!.data = result.data;
      this.#native.accept(worker, slot, gen, protocol, lines);
      this.#commandQueued();
    };
    this.#runHook(worker, slot, gen, () => hook(req), decide);
  }

  #runHttp(worker: number, slot: number, gen: number, parts: RequestParts): void {
    const hook = this.#options.http!;
    const req = { method: parts.method, url: parts.url, headers: parts.headers, remoteAddress: parts.remoteAddress, body: parts.body };
    this.#runHook(worker, slot, gen, () => hook(req), (res) => {
      if (!this.#isPending(worker, slot, gen)) return;
      if (res === null || typeof res !== 'object') throw new TypeError('the http hook must return { status?, headers?, body? }');
      const status = checkStatus(res.status, 200);
      const stream = isBodyStream(res.body) ? res.body : undefined;
      const body = stream === undefined ? bodyBytes(res.body) : new Uint8Array(0);
      if ((status === 204 || status === 304) && (stream !== undefined || body.length > 0)) {
        throw new TypeError(`a ${status} response has no body`);
      }
      const lines = headerLines(res.headers, body.length > 0, typeof res.body === 'string');
      this.#respond(worker, slot, gen, status, lines, body, stream !== undefined);
      if (stream === undefined) return;
      if (parts.method === 'HEAD') {
        // Not read: let it release what it holds. A stream's iterator not yet started would
        // not (its return() never reaches the code that destroys it), so a stream is destroyed.
        const destroyable = stream as { destroy?: unknown };
        if (typeof destroyable.destroy === 'function') (destroyable.destroy as () => void)();
        else Promise.resolve(stream[Symbol.asyncIterator]().return?.()).catch((err: unknown) => this.#report(err));
        return;
      }
      const link = { native: this.#native, counters: this.#counters, commandQueued: () => this.#commandQueued() };
      void streamBody(link, this.#http[worker].track(slot, gen), worker, slot, gen, stream, (err) => this.#report(err));
    });
  }

  /** Runs a hook, sync or async; a throw or rejection answers 500 and is reported. */
  #runHook<T>(worker: number, slot: number, gen: number, call: () => T | Promise<T>, decide: (result: T) => void): void {
    const fail = (err: unknown): void => {
      if (this.#isPending(worker, slot, gen)) {
        this.#respond(worker, slot, gen, 500, '', Buffer.from('internal error in a request hook\n'));
      }
      this.#report(err);
    };
    const settle = (result: T): void => {
      try {
        decide(result);
      } catch (err) {
        fail(err);
      }
    };
    let result: T | Promise<T>;
    try {
      result = call();
    } catch (err) {
      fail(err);
      return;
    }
    if (result instanceof Promise) result.then(settle, fail);
    else settle(result);
  }
}

/**
 * Whether one worker accepts and hands connections to the others. Linux's
 * SO_REUSEPORT balances accepts across the workers' own listening sockets;
 * macOS/BSD's does not, and Windows has none. COREWS_ACCEPTOR=handoff forces
 * the hand-off (CI tests it on Linux), =reuseport forbids it.
 */
function acceptorHandoff(): boolean {
  const forced = process.env.COREWS_ACCEPTOR;
  if (forced === 'handoff') return true;
  if (forced === 'reuseport') return false;
  return process.platform !== 'linux';
}

/** The address to bind: numeric hosts as given, names resolved, the default dual-stack when possible. */
async function resolveHost(host: string | undefined): Promise<string> {
  if (host === undefined || host === '') return hasIPv6() ? '::' : '0.0.0.0';
  if (net.isIP(host)) return host;
  const { address } = await dns.lookup(host);
  return address;
}

let ipv6: boolean | undefined;
function hasIPv6(): boolean {
  ipv6 ??= Object.values(os.networkInterfaces())
    .flat()
    .some((i) => i !== undefined && (i.family === 'IPv6' || (i.family as unknown) === 6));
  return ipv6;
}

/**
 * Creates a WebSocket server. It does nothing until {@link Server.listen}.
 * @throws TypeError or RangeError naming the first invalid option.
 */
export function createServer<UserData = unknown>(options?: ServerOptions<UserData>): Server<UserData> {
  return new Server<UserData>(options);
}
