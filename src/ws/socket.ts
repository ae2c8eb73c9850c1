// A ws-style socket over a corews WebSocket handle: an EventEmitter with ws's events and
// methods, fed by the server's native events.
import { EventEmitter } from 'node:events';
import { ReportControl } from '../native';
import { SendStatus, type Payload, type WebSocket as CoreSocket } from '../websocket';
import { describe } from '../options';
import {
  addEventListener, getAttribute, removeEventListener, setAttribute,
  type AddEventListenerOptions, type EventListenerLike, type WsEventType,
} from './events';

/** How binary messages are given to `'message'` listeners (as in ws). */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';

/** What `send` takes: ws's types (a number is sent as its decimal string). */
export type WsData = Payload | number;

/** Options of {@link WebSocket.send}, as in ws. */
export interface WsSendOptions {
  /** Binary (true) or text frame; default: binary unless `data` is a string or number. */
  binary?: boolean;
  /** false: never compress. Default true: compress, with permessage-deflate, from its `threshold`. */
  compress?: boolean;
  /**
   * false: a fragment of a message that a later send with `fin: true` (the default) ends. The
   * fragments are joined in JS and leave as one frame: the peer gets the same message.
   */
  fin?: boolean;
  /** Ignored: a server's frames are never masked (RFC 6455 §5.1). */
  mask?: boolean;
}

/** The callback of send, ping and pong: no argument once the data is handed to the worker, else the error. */
export type WsCallback = (err?: Error) => void;

/** A binary message as `'message'` listeners get it, by `binaryType` (text always comes as a Buffer). */
export type WsMessageData = Buffer | ArrayBuffer | Buffer[] | Blob;

/** The events of a {@link WebSocket} and their listeners' arguments. */
export interface WebSocketEventMap {
  /** A whole message: text as a Buffer (isBinary false), binary by `binaryType`. */
  message: [data: WsMessageData, isBinary: boolean];
  /** The connection is gone: the close code and reason (a Buffer). */
  close: [code: number, reason: Buffer];
  /** A ping from the client, with its payload (already answered natively). */
  ping: [data: Buffer];
  /** A pong from the client, with its payload. */
  pong: [data: Buffer];
  /**
   * The client broke the protocol (or a corews limit): the server closes with `err.closeCode`
   * (1002, 1007, 1008, 1009) and `'close'` follows. `err.code` as in ws for 1007 and 1009.
   */
  error: [err: Error];
  /** Never emitted: a server-side socket is open when the program gets it. */
  open: [];
}

/**
 * A listener of `event` on a {@link WebSocket}. Its parameters are checked as a method's are
 * (bivariantly), so that ws programs' `(data: Buffer) => …` for `'message'` compiles (a Buffer is
 * one of the forms `data` takes) while a listener of an unrelated shape does not.
 */
export type WebSocketListener<K extends keyof WebSocketEventMap> =
  { bivarianceHack(this: WebSocket, ...args: WebSocketEventMap[K]): void }['bivarianceHack'];

/** An event name that is none of {@link WebSocketEventMap}'s (listeners of those are typed by it). */
export type OtherEvent<E, Known> = E extends Known ? never : E;

const READY_STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const;

/** ws's `err.code` for the close codes where one name covers every cause. */
const WS_ERROR_CODES: Record<number, string> = { 1007: 'WS_ERR_INVALID_UTF8', 1009: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' };

/** @internal What the constructor takes from the server; a user calling `new WebSocket` has none. */
let creating: CoreSocket<unknown> | undefined;

function toBuffer(data: WsData): Buffer {
  if (typeof data === 'number') return Buffer.from(String(data));
  if (typeof data === 'string') return Buffer.from(data);
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

function checkData(method: string, data: unknown): asserts data is WsData {
  if (typeof data === 'number' || typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return;
  if (typeof Blob !== 'undefined' && data instanceof Blob) {
    throw new TypeError(`${method}: Blob data is not supported by corews/ws; send await blob.arrayBuffer() instead`);
  }
  throw new TypeError(`${method}: data must be a string, number, Buffer, ArrayBuffer or ArrayBufferView, got ${describe(data)}`);
}

/**
 * A server-side connection with ws's interface. Created by {@link WebSocketServer} only: corews/ws
 * has no client, and `new WebSocket(url)` throws.
 */
export class WebSocket extends EventEmitter {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;

  readonly #core: CoreSocket<unknown>;
  #binaryType: BinaryType = 'nodebuffer';
  #fragments: Buffer[] | undefined;
  #fragmentsBinary = false;

  /**
   * @throws Error always when called by a program: corews/ws is server-only (connect with the
   * `ws` package, or any other client).
   */
  constructor(address?: string | URL, protocols?: string | string[], options?: object) {
    super();
    const init = creating;
    creating = undefined;
    if (init === undefined) {
      void address, protocols, options;
      throw new Error('corews/ws is server-only: new WebSocket(url) cannot open a client connection; use the ws package (or another client) for that');
    }
    this.#core = init;
    this.#watchListeners();
  }

  /** @internal */
  static _create(core: CoreSocket<unknown>): WebSocket {
    creating = core;
    return new WebSocket();
  }

  // Pings and pongs reach JS only for a socket with a 'ping' or 'pong' listener: the worker is
  // told as listeners come and go ('newListener' runs before the listener is added).
  // Shared by every socket (EventEmitter calls a listener with its emitter as `this`): no
  // closure per socket, as each costs an idle connection's memory.
  static readonly #onNewListener = function (this: WebSocket, event: string | symbol): void {
    this.#reportControl(event);
  };
  static readonly #onRemoveListener = function (this: WebSocket): void {
    this.#reportControl(undefined);
  };

  #watchListeners(): void {
    const onNew = WebSocket.#onNewListener;
    const onRemove = WebSocket.#onRemoveListener;
    if (!this.listeners('newListener').includes(onNew)) super.on('newListener', onNew);
    if (!this.listeners('removeListener').includes(onRemove)) super.on('removeListener', onRemove);
  }

  #reportControl(adding: string | symbol | undefined): void {
    const pings = adding === 'ping' || this.listenerCount('ping') > 0;
    const pongs = adding === 'pong' || this.listenerCount('pong') > 0;
    this.#core._reportControl((pings ? ReportControl.Pings : 0) | (pongs ? ReportControl.Pongs : 0));
  }

  /** @internal The worker reports the control frames this socket has listeners for (after 'connection'). */
  _syncReports(): void {
    this.#reportControl(undefined);
  }

  /** As EventEmitter's; the socket keeps watching which of its events have listeners. */
  override removeAllListeners(event?: string | symbol): this {
    super.removeAllListeners(event);
    this.#watchListeners();  // its own two, if they went too
    this.#reportControl(undefined);
    return this;
  }

  /** Adds a listener; `ws.on('message', (data, isBinary) => …)` is typed by {@link WebSocketEventMap}. */
  override on<K extends keyof WebSocketEventMap>(event: K, listener: WebSocketListener<K>): this;
  override on<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketEventMap>, listener: (...args: never[]) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  /** As {@link on}, for one call. */
  override once<K extends keyof WebSocketEventMap>(event: K, listener: WebSocketListener<K>): this;
  override once<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketEventMap>, listener: (...args: never[]) => void): this;
  override once(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }

  /** Removes a listener added with {@link on} or {@link once}. */
  override off<K extends keyof WebSocketEventMap>(event: K, listener: WebSocketListener<K>): this;
  override off<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketEventMap>, listener: (...args: never[]) => void): this;
  override off(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  /** The same as {@link on}. */
  override addListener<K extends keyof WebSocketEventMap>(event: K, listener: WebSocketListener<K>): this;
  override addListener<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketEventMap>, listener: (...args: never[]) => void): this;
  override addListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.addListener(event, listener as (...args: unknown[]) => void);
  }

  /** The same as {@link off}. */
  override removeListener<K extends keyof WebSocketEventMap>(event: K, listener: WebSocketListener<K>): this;
  override removeListener<E extends string | symbol>(event: OtherEvent<E, keyof WebSocketEventMap>, listener: (...args: never[]) => void): this;
  override removeListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.removeListener(event, listener as (...args: unknown[]) => void);
  }

  /** 1 (OPEN), 2 (CLOSING) after close() or the peer's Close, 3 (CLOSED) once gone; never 0 on a server. */
  get readyState(): 0 | 1 | 2 | 3 {
    return this.#core.readyState;
  }

  /** Bytes not yet written to the kernel (see the corews `bufferedAmount`). */
  get bufferedAmount(): number {
    return this.#core.bufferedAmount;
  }

  /** The subprotocol chosen, or `""`. */
  get protocol(): string {
    return this.#core.protocol;
  }

  /** The extensions agreed, as the 101 named them, or `""`. */
  get extensions(): string {
    return this.#core.extensions;
  }

  /** The request target of the upgrade (`"/chat?room=1"`); in ws a server-side socket's `url` is undefined. */
  get url(): string {
    return this.#core.url;
  }

  /** The client's IP address (corews; in ws: `req.socket.remoteAddress`). */
  get remoteAddress(): string {
    return this.#core.remoteAddress;
  }

  /** Whether {@link pause} holds the socket. */
  get isPaused(): boolean {
    return this.#core.isPaused;
  }

  /** How binary messages are given to `'message'` listeners: 'nodebuffer' (default), 'arraybuffer', 'fragments', 'blob'. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(type: BinaryType) {
    if (type !== 'nodebuffer' && type !== 'arraybuffer' && type !== 'fragments' && type !== 'blob') return; // ignored, as in ws
    this.#binaryType = type;
  }

  /**
   * Sends a message. The data is copied before send returns; `cb` is called (on the next tick)
   * once the message is handed to the connection's worker, not once written to the kernel as
   * in ws, or with an Error when the socket is not open or its queue is past `maxBackpressure`.
   */
  send(data: WsData, options?: WsSendOptions | WsCallback, cb?: WsCallback): void {
    if (typeof options === 'function') {
      cb = options;
      options = {};
    }
    const o: WsSendOptions = options ?? {};
    checkData('send', data);
    if (this.readyState !== 1) {
      this.#afterClose(cb);
      return;
    }
    const binary = o.binary ?? (typeof data !== 'string' && typeof data !== 'number');
    if (o.fin === false || this.#fragments !== undefined) {
      if (this.#fragments === undefined) {
        this.#fragments = [];
        this.#fragmentsBinary = binary;
      }
      this.#fragments.push(Buffer.from(toBuffer(data))); // a copy: the caller may reuse its buffer
      if (o.fin === false) {
        if (cb) process.nextTick(cb);
        return;
      }
      const whole = Buffer.concat(this.#fragments);
      const wholeBinary = this.#fragmentsBinary;
      this.#fragments = undefined;
      this.#sent(this.#core.send(whole, { binary: wholeBinary, ...(o.compress === false ? { compress: false } : {}) }), cb);
      return;
    }
    const payload = typeof data === 'number' ? String(data) : data;
    this.#sent(this.#core.send(payload, { binary, ...(o.compress === false ? { compress: false } : {}) }), cb);
  }

  #sent(status: SendStatus, cb: WsCallback | undefined): void {
    if (!cb) return;
    if (status === SendStatus.DROPPED) {
      const err = this.readyState === 1
        ? new Error('The message was not sent: the connection\'s send queue is past maxBackpressure')
        : new Error(`WebSocket is not open: readyState ${this.readyState} (${READY_STATES[this.readyState]})`);
      process.nextTick(cb, err);
    } else {
      process.nextTick(cb);
    }
  }

  #afterClose(cb: WsCallback | undefined): void {
    if (!cb) return;
    process.nextTick(cb, new Error(`WebSocket is not open: readyState ${this.readyState} (${READY_STATES[this.readyState]})`));
  }

  /**
   * Sends a ping (at most 125 bytes, else RangeError). The client's pong comes as a `'pong'`
   * event, when the socket has a `'pong'` listener.
   */
  ping(data?: WsData | WsCallback, mask?: boolean | WsCallback, cb?: WsCallback): void {
    if (typeof data === 'function') {
      cb = data;
      data = mask = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
    }
    const bytes = data === undefined ? Buffer.alloc(0) : (checkData('ping', data), Buffer.from(toBuffer(data)));
    if (bytes.byteLength > 125) throw new RangeError('The data size must not be greater than 125 bytes');
    if (this.readyState !== 1) {
      this.#afterClose(cb);
      return;
    }
    this.#core.ping(bytes);
    if (cb) process.nextTick(cb);
  }

  /** Sends an unsolicited pong (at most 125 bytes, else RangeError). Pings are answered natively. */
  pong(data?: WsData | WsCallback, mask?: boolean | WsCallback, cb?: WsCallback): void {
    if (typeof data === 'function') {
      cb = data;
      data = mask = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
    }
    const bytes = data === undefined ? Buffer.alloc(0) : (checkData('pong', data), toBuffer(data));
    if (bytes.byteLength > 125) throw new RangeError('The data size must not be greater than 125 bytes');
    if (this.readyState !== 1) {
      this.#afterClose(cb);
      return;
    }
    this.#core.pong(bytes);
    if (cb) process.nextTick(cb);
  }

  /**
   * Starts the closing handshake. `code`: 1000–1003, 1007–1014 or 3000–4999 (else TypeError);
   * `reason` (string or UTF-8 Buffer) at most 123 bytes (else RangeError). No-op once closing.
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this.readyState !== 1) return;
    this.#core.close(code, reason === undefined ? undefined : String(reason));
  }

  /** Drops the connection at once; `'close'` follows with 1006. */
  terminate(): void {
    this.#core.terminate();
  }

  /**
   * Stops reading from the client: no `'message'` until {@link resume}; the client's further
   * bytes stay in the kernel and TCP pushes back on it. Messages already read are held and come,
   * in order, after resume. A paused socket is not idle for corews's heartbeat. No-op unless open.
   */
  pause(): void {
    this.#core.pause();
  }

  /** Reads again after {@link pause}. */
  resume(): void {
    this.#core.resume();
  }

  /** As in the DOM (and ws): listeners get event objects; `once` is honoured. */
  addEventListener(type: WsEventType, listener: EventListenerLike<never>, options?: AddEventListenerOptions): void {
    addEventListener(this, type, listener, options);
  }

  /** Removes a listener added with addEventListener. */
  removeEventListener(type: WsEventType, listener: EventListenerLike<never>): void {
    removeEventListener(this, type, listener);
  }

  /** Never called: a server-side socket is open when the program gets it. */
  get onopen(): unknown { return getAttribute(this, 'open'); }
  set onopen(handler: unknown) { setAttribute(this, 'open', handler); }
  get onmessage(): unknown { return getAttribute(this, 'message'); }
  set onmessage(handler: unknown) { setAttribute(this, 'message', handler); }
  get onclose(): unknown { return getAttribute(this, 'close'); }
  set onclose(handler: unknown) { setAttribute(this, 'close', handler); }
  /** Protocol errors of the client, before the close (see the `'error'` event). */
  get onerror(): unknown { return getAttribute(this, 'error'); }
  set onerror(handler: unknown) { setAttribute(this, 'error', handler); }

  /** @internal A message from the native layer. */
  _message(data: string | Buffer, isBinary: boolean): void {
    if (!isBinary) {
      this.emit('message', Buffer.from(data as string), false);
      return;
    }
    const buf = data as Buffer;
    switch (this.#binaryType) {
      case 'arraybuffer':
        this.emit('message', buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), true);
        break;
      case 'fragments':
        this.emit('message', [buf], true); // reassembled natively: one fragment
        break;
      case 'blob':
        this.emit('message', new Blob([buf]), true);
        break;
      default:
        this.emit('message', buf, true);
    }
  }

  /** @internal A ping or pong from the client (reported only while listened to). */
  _control(event: 'ping' | 'pong', data: Buffer): void {
    this.emit(event, data);
  }

  /**
   * @internal The peer broke the protocol and the server closed with `code`: `'error'` before
   * `'close'`, as in ws, but only when listened to (an unheard 'error' would crash the process).
   */
  _failed(code: number, reason: string): void {
    if (this.listenerCount('error') === 0) return;
    const err = new Error(reason) as Error & { code?: string; closeCode: number };
    const wsCode = WS_ERROR_CODES[code];
    if (wsCode !== undefined) err.code = wsCode;
    err.closeCode = code;
    this.emit('error', err);
  }

  /** @internal The connection is gone. */
  _closed(code: number, reason: string): void {
    this.emit('close', code, Buffer.from(reason));
  }
}
