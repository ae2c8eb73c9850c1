// WebSocketServer: ws's server API over a corews Server. Every handshake goes through the
// corews `upgrade` hook, where ws's path check, verifyClient, handleProtocols and 'headers'
// run; the connection itself stays native.
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Server as NetServer, Socket as NetSocket } from 'node:net';
import { ReportControl } from '../native';
import { Server as CoreServer, type AddressInfo } from '../server';
import type { HandshakeRefusal, UpgradeRequest, UpgradeResult } from '../options';
import { resolveWsOptions, type ResolvedWsOptions, type WebSocketServerOptions } from './options';
import { RefusedSocket } from './refused-socket';
import { emulateRequest, type UpgradeIncomingMessage } from './request';
import { WebSocket, type OtherEvent } from './socket';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Carries a handleUpgrade() call's identity through the native handshake to the upgrade hook. */
const ID_HEADER = 'x-corews-ws-id';
/** How long a handed-over request waits for its hook (the native side may refuse it first). */
const PENDING_TTL_MS = 60_000;

/** One connection, from the upgrade hook to its close. */
interface Conn {
  req: UpgradeIncomingMessage;
  cb: (ws: WebSocket, req: UpgradeIncomingMessage) => void;
  ws: WebSocket | undefined;
}

interface Handed {
  req: IncomingMessage;
  cb: (ws: WebSocket, req: UpgradeIncomingMessage) => void;
  timer: NodeJS.Timeout;
}

const enum State {
  Running,
  Closing,
  Closed,
}

/** Writes a refusal on a socket Node still owns, as ws does. */
function abortHandshake(socket: Duplex, code: number, message?: string, headers?: Record<string, string>): void {
  const body = message ?? STATUS_CODES[code] ?? '';
  const fields = { Connection: 'close', 'Content-Type': 'text/html', 'Content-Length': String(Buffer.byteLength(body)), ...headers };
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\n${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
}

/** A name not yet in `headers`, differing from `name` in letter case only (header names are case-insensitive). */
function freeName(headers: Record<string, string>, name: string): string | undefined {
  const letters = [...name].map((c, i) => (/[a-z]/i.test(c) ? i : -1)).filter((i) => i >= 0);
  for (let mask = 0; mask < 2 ** Math.min(letters.length, 12); mask++) {
    const chars = [...name.toLowerCase()];
    letters.forEach((at, bit) => {
      if (mask & (1 << bit)) chars[at] = chars[at].toUpperCase();
    });
    const candidate = chars.join('');
    if (!(candidate in headers)) return candidate;
  }
  return undefined;
}

/** The events of a {@link WebSocketServer} and their listeners' arguments. */
export interface WebSocketServerEventMap {
  /** A connection is open (`req`: Node's request, or the emulated one on corews's own listener). */
  connection: [socket: WebSocket, req: UpgradeIncomingMessage];
  /** The 101's lines, before it is sent: lines appended are sent too (see README). */
  headers: [headers: string[], req: UpgradeIncomingMessage];
  listening: [];
  close: [];
  error: [err: Error];
  /**
   * A refused handshake: ws's request checks in handleUpgrade (`socket` is Node's, still to be
   * answered), or a native refusal (`socket` a {@link RefusedSocket}: already answered and closed).
   */
  wsClientError: [err: Error, socket: Duplex, req: UpgradeIncomingMessage];
}

/** A listener of `event` on a {@link WebSocketServer}; checked as {@link WebSocketListener} is. */
export type WebSocketServerListener<K extends keyof WebSocketServerEventMap> =
  { bivarianceHack(this: WebSocketServer, ...args: WebSocketServerEventMap[K]): void }['bivarianceHack'];

/**
 * ws's `WebSocketServer` on the corews native engine. See the README section "ws-compatible API"
 * for what is emulated and what differs.
 */
export class WebSocketServer extends EventEmitter {
  /**
   * The open sockets, when `clientTracking` is on (the default); undefined otherwise (typed as a
   * Set, as in ws's own typings).
   */
  readonly clients: Set<WebSocket>;
  readonly #o: ResolvedWsOptions;
  readonly #core: CoreServer<Conn>;
  readonly #handed = new Map<string, Handed>();
  #open = 0;
  #state = State.Running;
  #removeListeners: (() => void) | undefined;

  /**
   * @param options one of `port`, `server` or `noServer`, and ws's other options.
   * @param callback a `'listening'` listener.
   * @throws TypeError or RangeError for invalid or unsupported options, naming them.
   */
  constructor(options: WebSocketServerOptions, callback?: () => void) {
    super();
    const o = resolveWsOptions(options);
    this.#o = o;
    this.clients = (o.clientTracking ? new Set<WebSocket>() : undefined) as Set<WebSocket>;
    // Pings, pongs and refusals are reported on demand: for a socket with a 'ping' or 'pong'
    // listener, and while this server has a 'wsClientError' listener. A socket starts with both:
    // the client may ping right after the 101, before a listener added on 'connection' could
    // tell the worker; once 'connection' has run, a socket without such listeners stops them.
    this.#core = new CoreServer<Conn>({
      ...o.core,
      upgrade: (req) => this.#upgrade(req),
      open: (core) => this.#opened(core.data, core as Parameters<typeof WebSocket._create>[0]),
      message: (core, data, isBinary) => core.data.ws?._message(data, isBinary),
      close: (core, code, reason) => this.#closed(core.data, code, reason, core._failure),
      ping: (core, data) => core.data.ws?._control('ping', data),
      pong: (core, data) => core.data.ws?._control('pong', data),
      refused: (refusal) => this.#refused(refusal),
    }, { reportControl: ReportControl.Pings | ReportControl.Pongs, reportRefusals: false });
    this.#watchListeners();
    if (o.mode === 'port') {
      if (callback) this.once('listening', callback);
      this.#core.listen(o.port, o.host).then(
        () => this.emit('listening'),
        (err: unknown) => this.emit('error', err),
      );
    } else if (o.mode === 'server') {
      const server = o.server!;
      const listening = (): void => void this.emit('listening');
      const error = (err: Error): void => void this.emit('error', err);
      const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
        this.handleUpgrade(req, socket, head, (ws, r) => this.emit('connection', ws, r));
      };
      server.on('listening', listening);
      server.on('error', error);
      server.on('upgrade', upgrade);
      this.#removeListeners = () => {
        server.removeListener('listening', listening);
        server.removeListener('error', error);
        server.removeListener('upgrade', upgrade);
      };
    }
  }

  // 'newListener' runs before the listener is added, 'removeListener' after it is gone.
  readonly #onNewListener = (event: string | symbol): void => {
    if (event === 'wsClientError' && this.listenerCount('wsClientError') === 0) this.#core._reportRefusals(true);
  };
  readonly #onRemoveListener = (event: string | symbol): void => {
    if (event === 'wsClientError' && this.listenerCount('wsClientError') === 0) this.#core._reportRefusals(false);
  };

  #watchListeners(): void {
    if (!this.listeners('newListener').includes(this.#onNewListener)) super.on('newListener', this.#onNewListener);
    if (!this.listeners('removeListener').includes(this.#onRemoveListener)) super.on('removeListener', this.#onRemoveListener);
  }

  /** As EventEmitter's; the server keeps watching whether `'wsClientError'` has listeners. */
  override removeAllListeners(event?: string | symbol): this {
    super.removeAllListeners(event);
    this.#watchListeners();  // its own two, if they went too
    if (this.listenerCount('wsClientError') === 0) this.#core._reportRefusals(false);
    return this;
  }

  /** Adds a listener; `wss.on('connection', (ws, req) => …)` is typed by {@link WebSocketServerEventMap}. */
  override on<K extends keyof WebSocketServerEventMap>(event: K, listener: WebSocketServerListener<K>): this;
  override on<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketServerEventMap>, listener: (...args: never[]) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  /** As {@link on}, for one call. */
  override once<K extends keyof WebSocketServerEventMap>(event: K, listener: WebSocketServerListener<K>): this;
  override once<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketServerEventMap>, listener: (...args: never[]) => void): this;
  override once(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }

  /** Removes a listener added with {@link on} or {@link once}. */
  override off<K extends keyof WebSocketServerEventMap>(event: K, listener: WebSocketServerListener<K>): this;
  override off<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketServerEventMap>, listener: (...args: never[]) => void): this;
  override off(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  /** The same as {@link on}. */
  override addListener<K extends keyof WebSocketServerEventMap>(event: K, listener: WebSocketServerListener<K>): this;
  override addListener<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketServerEventMap>, listener: (...args: never[]) => void): this;
  override addListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.addListener(event, listener as (...args: unknown[]) => void);
  }

  /** The same as {@link off}. */
  override removeListener<K extends keyof WebSocketServerEventMap>(event: K, listener: WebSocketServerListener<K>): this;
  override removeListener<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketServerEventMap>, listener: (...args: never[]) => void): this;
  override removeListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.removeListener(event, listener as (...args: unknown[]) => void);
  }

  /**
   * Where the server listens: corews's listener (`port`) or the http.Server's (`server`); null
   * before listening.
   * @throws Error in `noServer` mode, as in ws.
   */
  address(): AddressInfo | ReturnType<NetServer['address']> {
    if (this.#o.mode === 'noServer') throw new Error('The server is operating in "noServer" mode');
    if (this.#o.mode === 'server') return this.#o.server!.address();
    return this.#core.address();
  }

  /** Whether ws would take this request: its path matches the `path` option (query ignored). */
  shouldHandle(req: UpgradeIncomingMessage): boolean {
    if (this.#o.path === undefined) return true;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    return (q === -1 ? url : url.slice(0, q)) === this.#o.path;
  }

  /**
   * Takes an upgrade request of a Node http.Server: ws's checks (method, Upgrade, key, version:
   * `'wsClientError'` when listened to) and {@link shouldHandle} (400) run here; then the
   * connection moves into a native worker, and verifyClient, handleProtocols and `'headers'` run
   * from the native handshake. `cb(ws, req)` is called once the socket is open.
   * An https.Server's TLS socket is bridged (see the corews `handleUpgrade`).
   * @throws TypeError for a socket that is neither a plain TCP nor a TLS socket.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, cb: (ws: WebSocket, req: IncomingMessage) => void): void {
    const key = req.headers['sec-websocket-key'];
    const upgrade = req.headers.upgrade;
    const version = Number(req.headers['sec-websocket-version']);
    let problem: [number, string, Record<string, string>?] | undefined;
    if (req.method !== 'GET') problem = [405, 'Invalid HTTP method'];
    else if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') problem = [400, 'Invalid Upgrade header'];
    else if (key === undefined || !/^[+/0-9A-Za-z]{22}==$/.test(key)) problem = [400, 'Missing or invalid Sec-WebSocket-Key header'];
    else if (version !== 13) problem = [400, 'Missing or invalid Sec-WebSocket-Version header', { 'Sec-WebSocket-Version': '13' }];
    if (problem !== undefined) {
      if (this.listenerCount('wsClientError') > 0) {
        this.emit('wsClientError', new Error(problem[1]), socket, req);
      } else {
        abortHandshake(socket, problem[0], problem[1], problem[2]);
      }
      return;
    }
    if (!this.shouldHandle(req)) {
      abortHandshake(socket, 400);
      return;
    }
    if (this.#state !== State.Running) {
      abortHandshake(socket, 503);
      return;
    }
    // Node's socket is destroyed once handed over: read its peer address now, so that
    // req.socket.remoteAddress (cached by net.Socket) stays readable in the hooks and handlers.
    void (socket as NetSocket).remoteAddress;
    const id = randomBytes(16).toString('hex');
    const timer = setTimeout(() => this.#handed.delete(id), PENDING_TTL_MS);
    timer.unref();
    this.#handed.set(id, { req, cb: cb as Handed['cb'], timer });
    const rawHeaders: string[] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i].toLowerCase() !== ID_HEADER) rawHeaders.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    rawHeaders.push(ID_HEADER, id);
    const handed = this.#core.handleUpgrade({ method: req.method, url: req.url, httpVersion: req.httpVersion, rawHeaders },
      socket as NetSocket, head);
    if (!handed) {
      clearTimeout(timer);
      this.#handed.delete(id);
    }
  }

  /**
   * Stops taking connections and emits `'close'` (then calls `cb`) once every open connection
   * has closed; it does not close them (as in ws 8). Until then corews's own listener (`port`)
   * stays bound and answers new upgrades 503.
   */
  close(cb?: (err?: Error) => void): void {
    if (this.#state === State.Closed) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(() => this.emit('close'));
      return;
    }
    if (cb) this.once('close', cb);
    if (this.#state === State.Closing) return;
    this.#state = State.Closing;
    this.#removeListeners?.();
    this.#removeListeners = undefined;
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#state !== State.Closing || this.#open > 0) return;
    this.#state = State.Closed;
    for (const h of this.#handed.values()) clearTimeout(h.timer);
    this.#handed.clear();
    this.#core.close({ timeout: 0 }).then(() => this.emit('close'), (err: unknown) => this.emit('error', err));
  }

  #upgrade(r: UpgradeRequest): UpgradeResult<Conn> | Promise<UpgradeResult<Conn>> {
    const { [ID_HEADER]: id, ...headers } = r.headers;
    const handed = id !== undefined ? this.#handed.get(id) : undefined;
    if (handed !== undefined) {
      clearTimeout(handed.timer);
      this.#handed.delete(id!);
    }
    const req: UpgradeIncomingMessage = handed?.req ?? emulateRequest(r, headers, this.#core.secure);
    const cb = handed?.cb ?? ((ws: WebSocket, request: UpgradeIncomingMessage) => void this.emit('connection', ws, request));
    if (this.#state !== State.Running) return { accept: false, status: 503, body: STATUS_CODES[503] };
    if (handed === undefined && !this.shouldHandle(req)) return { accept: false, status: 400, body: STATUS_CODES[400] };
    const complete = (): UpgradeResult<Conn> => this.#complete(r, req, cb);
    const verify = this.#o.verifyClient;
    if (verify === undefined) return complete();
    // As ws: a TLS socket (an https.Server's, bridged) is secure too.
    const secure = this.#core.secure || (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
    const info = { origin: headers.origin, secure, req };
    if (verify.length >= 2) {
      return new Promise((resolve, reject) => {
        (verify as (i: typeof info, done: (ok: boolean, code?: number, message?: string, h?: Record<string, string>) => void) => void)(
          info, (verified, code, message, h) => {
            try {
              if (verified) resolve(complete());
              else resolve({ accept: false, status: code || 401, body: message ?? STATUS_CODES[code || 401], ...(h ? { headers: h } : {}) });
            } catch (err) {
              reject(err);
            }
          });
      });
    }
    if (!(verify as (i: typeof info) => boolean)(info)) return { accept: false, status: 401, body: STATUS_CODES[401] };
    return complete();
  }

  #complete(r: UpgradeRequest, req: UpgradeIncomingMessage, cb: Conn['cb']): UpgradeResult<Conn> {
    if (this.#state !== State.Running) return { accept: false, status: 503, body: STATUS_CODES[503] };
    let protocol = '';
    if (r.protocols.length > 0) {
      const chosen = this.#o.handleProtocols ? this.#o.handleProtocols(new Set(r.protocols), req) : r.protocols[0];
      if (chosen) protocol = chosen;
    }
    const extra: Record<string, string> = {};
    if (this.listenerCount('headers') > 0) {
      const key = r.headers['sec-websocket-key'] ?? '';
      const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}`];
      if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
      const fixed = lines.length;
      this.emit('headers', lines, req);
      for (const line of lines.slice(fixed)) {
        const colon = line.indexOf(':');
        if (colon <= 0) throw new TypeError(`a 'headers' listener added ${JSON.stringify(line)}, not a 'Name: value' line`);
        const name = freeName(extra, line.slice(0, colon).trim());
        if (name !== undefined) extra[name] = line.slice(colon + 1).trim();
      }
    }
    return { accept: true, protocol, headers: extra, data: { req, cb, ws: undefined } };
  }

  /**
   * A handshake the worker refused (and answered): `'wsClientError'` with a stand-in socket, and
   * Node's request when it came through handleUpgrade.
   */
  #refused(r: HandshakeRefusal): void {
    const { [ID_HEADER]: id, ...headers } = r.headers;
    const handed = id !== undefined ? this.#handed.get(id) : undefined;
    if (handed !== undefined) {
      clearTimeout(handed.timer);
      this.#handed.delete(id!);
    }
    if (this.listenerCount('wsClientError') === 0) return;
    const request: UpgradeRequest = { method: r.method, url: r.url, headers, remoteAddress: r.remoteAddress, protocols: [], protocol: '' };
    const req = handed?.req ?? emulateRequest(request, headers, this.#core.secure);
    this.emit('wsClientError', new Error(r.reason), new RefusedSocket(r.remoteAddress, r.status), req);
  }

  #opened(conn: Conn, core: Parameters<typeof WebSocket._create>[0]): void {
    const ws = WebSocket._create(core);
    conn.ws = ws;
    this.#open++;
    this.clients?.add(ws);
    try {
      conn.cb(ws, conn.req);
    } finally {
      ws._syncReports();
    }
  }

  #closed(conn: Conn, code: number, reason: string, failure: { code: number; reason: string } | undefined): void {
    const ws = conn.ws;
    if (ws === undefined) return;
    this.#open--;
    this.clients?.delete(ws);
    if (failure !== undefined) ws._failed(failure.code, failure.reason);
    ws._closed(code, reason);
    this.#maybeFinish();
  }
}
