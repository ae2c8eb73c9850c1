// WebSocket clients for integration tests: the `ws` package and undici's
// WHATWG WebSocket behind one small interface, plus bookkeeping so that every
// client and server a test starts is gone after it.
import http from 'node:http';
import { WebSocket as UndiciWebSocket } from 'undici';
import WS from 'ws';
import type { Server, ServerOptions } from '../../src/index';
import { RawClient } from './raw-client';
import { startServer, type Started } from './server';

export type ClientKind = 'ws' | 'undici';
export const CLIENT_KINDS: readonly ClientKind[] = ['ws', 'undici'];

export interface Received {
  data: string | Buffer;
  binary: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

/** A connected client of either kind. */
export interface TestClient {
  readonly kind: ClientKind;
  /** The subprotocol the server picked ("" if none). */
  readonly protocol: string;
  /** A string goes as text, bytes as binary. */
  send(data: string | Uint8Array): void;
  /** The next message from the server, in order. */
  next(ms?: number): Promise<Received>;
  /** Messages received and not yet taken by next(). */
  readonly queued: number;
  close(code?: number, reason?: string): void;
  /** Drops the TCP connection without a closing handshake. */
  terminate(): void;
  /** Resolves with the close code/reason the client reports. */
  readonly closed: Promise<CloseInfo>;
  readonly isClosed: boolean;
  /** The `ws` client itself (only for kind 'ws'). */
  readonly raw: WS | UndiciWebSocket;
}

/** A FIFO of received messages with async waiting. */
class Inbox {
  #items: Received[] = [];
  #waiters: ((r: Received) => void)[] = [];
  #failed: Error | null = null;
  #failers: ((e: Error) => void)[] = [];

  push(r: Received): void {
    const w = this.#waiters.shift();
    this.#failers.shift();
    if (w) w(r);
    else this.#items.push(r);
  }

  fail(e: Error): void {
    this.#failed = e;
    const f = this.#failers;
    this.#failers = [];
    this.#waiters = [];
    for (const x of f) x(e);
  }

  get size(): number {
    return this.#items.length;
  }

  next(ms: number): Promise<Received> {
    const item = this.#items.shift();
    if (item) return Promise.resolve(item);
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise<Received>((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.#waiters.indexOf(done);
        if (i >= 0) {
          this.#waiters.splice(i, 1);
          this.#failers.splice(i, 1);
        }
        reject(new Error(`timed out after ${ms} ms waiting for a message`));
      }, ms);
      const done = (r: Received): void => {
        clearTimeout(t);
        resolve(r);
      };
      this.#waiters.push(done);
      this.#failers.push((e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }
}

const live = new Set<TestClient>();

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function wsClient(url: string, protocols: string[] | undefined, options: WS.ClientOptions): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const sock = new WS(url, protocols ?? [], { perMessageDeflate: false, ...options });
    const inbox = new Inbox();
    const closed = deferred<CloseInfo>();
    let isClosed = false;
    let opened = false;
    sock.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      inbox.push({ data: isBinary ? buf : buf.toString('utf8'), binary: isBinary });
    });
    sock.on('error', (err) => {
      if (!opened) reject(err);
    });
    sock.on('unexpected-response', (_req, res) => {
      reject(new Error(`unexpected response ${res.statusCode}`));
      sock.terminate();
    });
    sock.on('close', (code, reason) => {
      isClosed = true;
      live.delete(client);
      inbox.fail(new Error(`connection closed (${code})`));
      closed.resolve({ code, reason: reason.toString() });
    });
    const client: TestClient = {
      kind: 'ws',
      get protocol() {
        return sock.protocol;
      },
      send(data) {
        sock.send(data, { binary: typeof data !== 'string' });
      },
      next: (ms = 5000) => inbox.next(ms),
      get queued() {
        return inbox.size;
      },
      close(code, reason) {
        sock.close(code, reason);
      },
      terminate() {
        sock.terminate();
      },
      closed: closed.promise,
      get isClosed() {
        return isClosed;
      },
      raw: sock,
    };
    live.add(client);
    sock.on('open', () => {
      opened = true;
      resolve(client);
    });
  });
}

function undiciClient(url: string, protocols: string[] | undefined): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const sock = new UndiciWebSocket(url, protocols ?? []);
    sock.binaryType = 'arraybuffer';
    const inbox = new Inbox();
    const closed = deferred<CloseInfo>();
    let isClosed = false;
    let opened = false;
    sock.addEventListener('message', (ev) => {
      const d: unknown = ev.data;
      if (typeof d === 'string') inbox.push({ data: d, binary: false });
      else if (d instanceof ArrayBuffer) inbox.push({ data: Buffer.from(d), binary: true });
      else inbox.fail(new Error('unexpected message data type'));
    });
    sock.addEventListener('error', () => {
      if (!opened) reject(new Error('undici WebSocket failed to connect'));
    });
    sock.addEventListener('close', (ev) => {
      isClosed = true;
      live.delete(client);
      inbox.fail(new Error(`connection closed (${ev.code})`));
      closed.resolve({ code: ev.code, reason: ev.reason });
      if (!opened) reject(new Error(`undici WebSocket closed before opening (${ev.code})`));
    });
    const client: TestClient = {
      kind: 'undici',
      get protocol() {
        return sock.protocol;
      },
      send(data) {
        sock.send(data);
      },
      next: (ms = 5000) => inbox.next(ms),
      get queued() {
        return inbox.size;
      },
      close(code, reason) {
        sock.close(code, reason);
      },
      terminate() {
        // undici has no terminate(); closing without waiting is the nearest.
        sock.close();
      },
      closed: closed.promise,
      get isClosed() {
        return isClosed;
      },
      raw: sock,
    };
    live.add(client);
    sock.addEventListener('open', () => {
      opened = true;
      resolve(client);
    });
  });
}

/** Connects a client of `kind` and resolves once it is open. */
export function connect(kind: ClientKind, url: string, protocols?: string[], wsOptions: WS.ClientOptions = {}): Promise<TestClient> {
  return kind === 'ws' ? wsClient(url, protocols, wsOptions) : undiciClient(url, protocols);
}

/** Terminates every client still open and waits (briefly) until they report closed. */
export async function closeAllClients(): Promise<void> {
  const all = [...live];
  for (const c of all) {
    if (c.kind === 'ws') (c.raw as WS).terminate();
    else c.close();
  }
  await Promise.race([Promise.all(all.map((c) => c.closed)), new Promise((r) => setTimeout(r, 2000))]);
  live.clear();
}

const servers = new Set<Server<unknown>>();

/** startServer() whose server closeAllServers() will close. */
export async function serve<UserData = unknown>(options: ServerOptions<UserData> = {}, host = '127.0.0.1'): Promise<Started<UserData>> {
  const s = await startServer<UserData>(options, host);
  servers.add(s.server as Server<unknown>);
  return s;
}

/** Registers a server created elsewhere for closeAllServers(). */
export function track<UserData>(server: Server<UserData>): Server<UserData> {
  servers.add(server as Server<unknown>);
  return server;
}

export async function closeAllServers(): Promise<void> {
  const all = [...servers];
  servers.clear();
  await Promise.all(all.map((s) => s.close()));
}

const raws = new Set<RawClient>();

/** RawClient.open() (handshake done) whose client destroyAllRaw() will destroy. */
export async function openRaw(port: number, path = '/'): Promise<RawClient> {
  return trackRaw(await RawClient.open(port, path));
}

/** Registers a raw client opened elsewhere for destroyAllRaw(). */
export function trackRaw(client: RawClient): RawClient {
  raws.add(client);
  return client;
}

/** Destroys every raw client openRaw() opened or trackRaw() registered. */
export function destroyAllRaw(): void {
  for (const r of raws) r.destroy();
  raws.clear();
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Attempts a WebSocket handshake with the `ws` client and resolves with the HTTP response that refused it. */
export function expectRefused(url: string, protocols: string[] = [], options: WS.ClientOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const sock = new WS(url, protocols, { perMessageDeflate: false, ...options });
    sock.on('open', () => {
      sock.terminate();
      reject(new Error('the handshake was accepted'));
    });
    sock.on('error', () => {
      // 'unexpected-response' below, or a real failure reported by the timeout.
    });
    sock.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
        sock.terminate();
      });
      res.on('error', reject);
    });
    setTimeout(() => {
      sock.terminate();
      reject(new Error('no response to the handshake'));
    }, 5000).unref();
  });
}

/** A plain HTTP GET on loopback. */
export function httpGet(port: number, path: string, headers: http.OutgoingHttpHeaders = {}, host = '127.0.0.1'): Promise<HttpResult & { raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString(), raw });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('HTTP request timed out')));
  });
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
