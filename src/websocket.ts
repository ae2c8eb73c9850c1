// A server-side WebSocket connection. JS holds a handle (worker, slot,
// generation), never a native pointer: once the connection is gone every
// operation is a harmless no-op that says so in its return value.
import { CompressMode, Opcode, sendMode, type NativeServer } from './native';
import { describe } from './options';
import type { TopicRegistry } from './topics';

/** What `send` did with a message. */
export const SendStatus = {
  /** Queued behind more than 16 KiB the kernel has not taken yet: wait for the `drain` handler. */
  BACKPRESSURE: 0,
  /** Handed to the connection's worker for sending. */
  SENT: 1,
  /**
   * Not sent: the socket is not open, or its queue is past `maxBackpressure` (with the `'close'`
   * policy the socket is then closing with 1008).
   */
  DROPPED: 2,
} as const;

/** Above this many queued bytes `send` reports BACKPRESSURE; `drain` fires back under it. */
export const DRAIN_LOW_MARK = 16 * 1024;
/**
 * The largest message `send` and `publish` take, in bytes (4 GiB − 16): a frame's length travels
 * to the worker in 32 bits. Larger ones throw a RangeError.
 */
export const MAX_MESSAGE_BYTES = 2 ** 32 - 16;
/** One of the {@link SendStatus} values. */
export type SendStatus = (typeof SendStatus)[keyof typeof SendStatus];

/** What a message or ping payload may be. */
export type Payload = string | ArrayBuffer | ArrayBufferView;

/** The connection states of the WHATWG WebSocket, which `ws` shares. */
export type ReadyState = 0 | 1 | 2 | 3;

/** Options of {@link WebSocket.send}. */
export interface SendOptions {
  /** Send as a binary (true) or text (false) frame; default: text for strings, binary otherwise. */
  binary?: boolean;
  /**
   * With permessage-deflate negotiated: `true` compresses whatever the size, `false` never.
   * Default: compress payloads of at least `perMessageDeflate.threshold` bytes. Ignored on
   * connections without the extension.
   */
  compress?: boolean;
}

/** @internal The `compress` send option, checked, as the addon takes it. */
export function compressMode(options: SendOptions | undefined, method: string): CompressMode {
  const compress = options?.compress;
  if (compress === undefined) return CompressMode.ByThreshold;
  if (typeof compress !== 'boolean') throw new TypeError(`${method}: options.compress must be a boolean, got ${describe(compress)}`);
  return compress ? CompressMode.Always : CompressMode.Never;
}

/** @internal What a socket needs of its server. */
export interface SocketLink {
  readonly native: NativeServer;
  readonly topics: TopicRegistry;
  /**
   * Per worker, per slot: bytes of sends the worker has taken minus the bytes in the connection's
   * output queue (written by the worker as one number; see native/server/slot_counters.h).
   */
  readonly counters: Float64Array[];
  readonly maxBackpressure: number;
  readonly dropOnBackpressure: boolean;
  /** A send dropped, or the socket closed, at maxBackpressure (counted in stats). */
  overLimit(closed: boolean): void;
  /** Called whenever a command was queued, so that it is flushed soon. */
  commandQueued(): void;
  /** Runs the `message` handler (messages held by a pause, on resume). */
  deliver(ws: WebSocket<unknown>, data: string | Buffer, isBinary: boolean): void;
  /** Publishes to a topic's subscribers, skipping `sender`; false when it has none. */
  publish(topic: string, data: Payload, options: SendOptions | undefined, sender: WebSocket<unknown> | undefined): boolean;
}

/** Raw bytes of a binary payload, without copying. */
export function toBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * Throws a RangeError for binary data over {@link MAX_MESSAGE_BYTES}. A string cannot be that
 * long: V8's longest string is at most 2^29 UTF-16 units, at most 1.5 GiB of UTF-8.
 */
export function checkSize(data: Payload, method: string): void {
  if (typeof data !== 'string' && data.byteLength > MAX_MESSAGE_BYTES) {
    throw new RangeError(`${method}: a message is at most ${MAX_MESSAGE_BYTES} bytes (4 GiB - 16), got ${data.byteLength}`);
  }
}

export function isPayload(data: unknown): data is Payload {
  return typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data) ||
    (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer);
}

/** `WebSocket._ctl` bit beside the ReportControl bits: pause() holds the connection. */
const PAUSED = 4;
const REPORT_BITS = 3;

/** The state of a socket that only a few sockets ever have. */
interface SocketRare {
  /**
   * Messages the worker had read before it took the pause, held until resume() (and while
   * earlier held ones wait), so that nothing is lost or reordered.
   */
  held?: [string | Buffer, boolean][];
  /** The peer broke the protocol: the code and reason the server closes with. */
  failure?: { code: number; reason: string };
}

/** A connection accepted by a corews {@link Server}. */
export class WebSocket<UserData = unknown> {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  /** The subprotocol chosen in the handshake, or `""`. */
  readonly protocol: string;
  /** The client's IP address. */
  readonly remoteAddress: string;
  /** The request target of the upgrade, e.g. `"/chat?room=1"`. */
  readonly url: string;
  /**
   * The extensions agreed in the handshake, as the 101 response named them (e.g.
   * `"permessage-deflate; client_max_window_bits=10"`), or `""` (as `ws`'s `extensions`, a string).
   */
  readonly extensions: string;
  /** User data: what the `upgrade` hook attached, or anything you store here. */
  data: UserData;

  /** @internal */ _state: ReadyState = 1;
  /**
   * @internal The control frames reported for this socket (ReportControl bits) and PAUSED: one
   * small integer, as every field costs each idle socket.
   */
  _ctl = 0;
  /** @internal What few sockets ever need (held messages, a protocol failure), made on first use. */
  #rare: SocketRare | undefined;
  /** @internal Bytes of frames `send` has queued so far. */ _accepted = 0;
  #topics: Set<string> | undefined; // created on first subscribe: idle sockets stay small
  /** @internal */ readonly _worker: number;
  /** @internal */ readonly _slot: number;
  /** @internal */ readonly _gen: number;
  readonly #link: SocketLink;

  /** @internal Created by the server when a connection opens. */
  constructor(link: SocketLink, worker: number, slot: number, gen: number, url: string, protocol: string,
    remoteAddress: string, extensions: string, data: UserData) {
    this.#link = link;
    this._worker = worker;
    this._slot = slot;
    this._gen = gen;
    this.url = url;
    this.protocol = protocol;
    this.remoteAddress = remoteAddress;
    this.extensions = extensions;
    this.data = data;
  }

  /** 1 (OPEN) until `close()` is called or the peer closes, then 2 (CLOSING), and 3 (CLOSED) once gone. */
  get readyState(): ReadyState {
    return this._state;
  }

  /**
   * Bytes not yet written to the kernel: those of `send`s still on their way to the worker, and
   * everything queued in the connection's output (sends, publishes once the worker has queued
   * them, control frames); 0 once closed. Read without a thread hop: the worker publishes one
   * number per connection.
   */
  get bufferedAmount(): number {
    if (this._state === 3) return 0;
    return Math.max(0, this._accepted - this.#link.counters[this._worker][this._slot]);
  }

  /**
   * Sends a message: a string as a text frame, binary data (Buffer, ArrayBuffer, any view) as a
   * binary frame, unless `options.binary` says otherwise. The data is copied before `send` returns.
   * @returns {@link SendStatus.SENT}; {@link SendStatus.BACKPRESSURE} when it queued behind more
   * than 16 KiB (a `drain` follows); {@link SendStatus.DROPPED} when the socket is not open or its
   * queue is past `maxBackpressure`.
   * @throws TypeError when `data` is not a string, ArrayBuffer or ArrayBufferView.
   * @throws RangeError when `data` is over {@link MAX_MESSAGE_BYTES}.
   */
  send(data: Payload, options?: SendOptions): SendStatus {
    if (!isPayload(data)) throw new TypeError(`send: data must be a string, ArrayBuffer or ArrayBufferView, got ${describe(data)}`);
    checkSize(data, 'send');
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new TypeError(`send: options must be an object, got ${describe(options)}`);
    }
    const compress = compressMode(options, 'send');
    if (this._state !== 1) return SendStatus.DROPPED;
    const link = this.#link;
    // Everything not yet written counts: what the worker queued and what it
    // has not taken from us yet, so a tight send loop sees the limit too.
    const buffered = this.bufferedAmount;
    if (buffered >= link.maxBackpressure) {
      link.overLimit(!link.dropOnBackpressure);
      if (!link.dropOnBackpressure) this.close(1008, 'backpressure limit exceeded');
      return SendStatus.DROPPED;
    }
    const binary = options?.binary ?? typeof data !== 'string';
    const bytes = typeof data === 'string' ? data : toBytes(data);
    // A BACKPRESSURE answer asks the worker for a drain once this send is written.
    const backpressure = buffered > DRAIN_LOW_MARK;
    this._accepted += link.native.send(this._worker, this._slot, this._gen, bytes,
      sendMode(binary ? Opcode.Binary : Opcode.Text, backpressure, compress));
    link.commandQueued();
    return backpressure ? SendStatus.BACKPRESSURE : SendStatus.SENT;
  }

  /**
   * Sends a ping (at most 125 bytes). Pongs from the client need no handling; pings from the
   * client are answered natively.
   * @returns false when the socket is not open.
   * @throws RangeError when the payload is over 125 bytes.
   */
  ping(data: Payload = ''): boolean {
    if (!isPayload(data)) throw new TypeError(`ping: data must be a string, ArrayBuffer or ArrayBufferView, got ${describe(data)}`);
    const bytes = typeof data === 'string' ? Buffer.from(data) : toBytes(data);
    if (bytes.byteLength > 125) throw new RangeError(`ping: payload must be at most 125 bytes, got ${bytes.byteLength}`);
    if (this._state !== 1) return false;
    this.#link.native.send(this._worker, this._slot, this._gen, bytes, sendMode(Opcode.Ping, false, CompressMode.Never));
    this.#link.commandQueued();
    return true;
  }

  /**
   * Sends an unsolicited pong (at most 125 bytes), e.g. as a unidirectional heartbeat
   * (RFC 6455 §5.5.3). Pings from the client are answered natively; this is not needed for them.
   * @returns false when the socket is not open.
   * @throws RangeError when the payload is over 125 bytes.
   */
  pong(data: Payload = ''): boolean {
    if (!isPayload(data)) throw new TypeError(`pong: data must be a string, ArrayBuffer or ArrayBufferView, got ${describe(data)}`);
    const bytes = typeof data === 'string' ? Buffer.from(data) : toBytes(data);
    if (bytes.byteLength > 125) throw new RangeError(`pong: payload must be at most 125 bytes, got ${bytes.byteLength}`);
    if (this._state !== 1) return false;
    this.#link.native.send(this._worker, this._slot, this._gen, bytes, sendMode(Opcode.Pong, false, CompressMode.Never));
    this.#link.commandQueued();
    return true;
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2). The `close` handler runs once the
   * connection is gone.
   * @param code 1000 (default), 1001–1003, 1007–1014 or 3000–4999.
   * @param reason at most 123 bytes of UTF-8.
   * @returns false when the socket was already closing or closed.
   */
  close(code?: number, reason?: string): boolean {
    if (code !== undefined && (typeof code !== 'number' || !isSendableCloseCode(code))) {
      throw new TypeError(`close: code must be 1000–1003, 1007–1014 or 3000–4999, got ${describe(code)}`);
    }
    if (reason !== undefined && typeof reason !== 'string') throw new TypeError(`close: reason must be a string, got ${describe(reason)}`);
    if (reason !== undefined && Buffer.byteLength(reason) > 123) {
      throw new RangeError(`close: reason must be at most 123 bytes, got ${Buffer.byteLength(reason)}`);
    }
    if (this._state !== 1) return false;
    this._state = 2;
    this.#link.native.close(this._worker, this._slot, this._gen, code ?? 1000, reason ?? '');
    this.#link.commandQueued();
    return true;
  }

  /**
   * Subscribes to a topic: every {@link Server.publish} and other sockets' {@link publish} to it
   * reaches this socket, fanned out natively. Subscriptions end when the socket closes.
   * @returns false when already subscribed or not open.
   * @throws TypeError when `topic` is not a string.
   */
  subscribe(topic: string): boolean {
    checkTopic(topic, 'subscribe');
    if (this._state !== 1 || this.#topics?.has(topic)) return false;
    (this.#topics ??= new Set()).add(topic);
    const link = this.#link;
    link.native.subscribe(this._worker, this._slot, this._gen, link.topics.add(topic, this._worker));
    link.commandQueued();
    return true;
  }

  /**
   * Ends a subscription.
   * @returns false when not subscribed.
   */
  unsubscribe(topic: string): boolean {
    checkTopic(topic, 'unsubscribe');
    if (this.#topics === undefined || !this.#topics.delete(topic)) return false;
    const link = this.#link;
    link.native.unsubscribe(this._worker, this._slot, this._gen, link.topics.remove(topic, this._worker));
    link.commandQueued();
    return true;
  }

  /** Whether this socket subscribes to `topic`. */
  isSubscribed(topic: string): boolean {
    return this.#topics?.has(topic) ?? false;
  }

  /** The topics this socket subscribes to (a copy). */
  get topics(): string[] {
    return this.#topics ? [...this.#topics] : [];
  }

  /**
   * Publishes a message to every subscriber of `topic` except this socket (text or binary by
   * the rule of {@link send}). The message is framed once and shared by all recipients. With an
   * adapter (`server.adapt`) it also goes to the topic's subscribers in other processes (all of
   * them: the sender is skipped only here).
   * @returns false when this socket is not open, or the topic has no subscribers and the server
   * no adapter.
   */
  publish(topic: string, data: Payload, options?: SendOptions): boolean {
    checkTopic(topic, 'publish');
    if (!isPayload(data)) throw new TypeError(`publish: data must be a string, ArrayBuffer or ArrayBufferView, got ${describe(data)}`);
    if (this._state !== 1) return false;
    return this.#link.publish(topic, data, options, this);
  }

  /** @internal The connection is gone: its subscriptions end. */
  _releaseTopics(): void {
    if (this.#topics === undefined) return;
    for (const topic of this.#topics) this.#link.topics.remove(topic, this._worker);
    this.#topics = undefined;
  }

  /**
   * Stops reading from this connection: its `message` handler is not called until {@link resume}.
   * The worker leaves the client's bytes in the kernel, so TCP pushes back on the client (its
   * sends stall). Messages the worker had already read when `pause()` was called are held and
   * delivered, in order, on resume. A paused connection is not idle (`idleTimeout`) and is not
   * pinged: its silence is the server's doing. Pings and pongs behind the paused bytes wait too.
   * @returns false when the socket is not open (or already paused).
   */
  pause(): boolean {
    if (this._state !== 1 || (this._ctl & PAUSED) !== 0) return false;
    this._ctl |= PAUSED;
    this.#link.native.pause(this._worker, this._slot, this._gen, true);
    this.#link.commandQueued();
    return true;
  }

  /**
   * Reads again after {@link pause}: held messages are delivered first (in a microtask), then
   * what the client sent meanwhile. Inbound backpressure (JS behind) may still hold the
   * connection; it lifts on its own.
   * @returns false when the socket was not paused.
   */
  resume(): boolean {
    if ((this._ctl & PAUSED) === 0) return false;
    this._ctl &= ~PAUSED;
    if (this._state !== 3) {
      this.#link.native.pause(this._worker, this._slot, this._gen, false);
      this.#link.commandQueued();
    }
    if (this.#rare?.held !== undefined) queueMicrotask(() => this.#deliverHeld());
    return true;
  }

  /** Whether {@link pause} holds the connection. */
  get isPaused(): boolean {
    return (this._ctl & PAUSED) !== 0;
  }

  /** @internal A message to deliver now (false), or to hold behind a pause or earlier held ones (true: held). */
  _hold(data: string | Buffer, binary: boolean): boolean {
    const held = this.#rare?.held;
    if (held === undefined && (this._ctl & PAUSED) === 0) return false;
    if (held !== undefined) held.push([data, binary]);
    else (this.#rare ??= {}).held = [[data, binary]];
    return true;
  }

  /** @internal The held messages, taken (the connection is gone: they go before its close). */
  _takeHeld(): [string | Buffer, boolean][] | undefined {
    const held = this.#rare?.held;
    if (held !== undefined) this.#rare!.held = undefined;
    return held;
  }

  /** @internal The peer broke the protocol: the code and reason the server closes with. */
  get _failure(): { code: number; reason: string } | undefined {
    return this.#rare?.failure;
  }

  set _failure(failure: { code: number; reason: string } | undefined) {
    (this.#rare ??= {}).failure = failure;
  }

  #deliverHeld(): void {
    const rare = this.#rare;
    while (rare?.held !== undefined && (this._ctl & PAUSED) === 0) {
      const next = rare.held.shift();
      if (rare.held.length === 0) rare.held = undefined;
      if (next !== undefined) this.#link.deliver(this, next[0], next[1]);
    }
  }

  /** @internal Which control frames of this socket reach JS (ReportControl bits; corews/ws's listeners). */
  _reportControl(bits: number): void {
    if (bits === (this._ctl & REPORT_BITS) || this._state === 3) return;
    this._ctl = (this._ctl & ~REPORT_BITS) | bits;
    this.#link.native.reportControl(this._worker, this._slot, this._gen, bits);
    this.#link.commandQueued();
  }

  /**
   * Drops the TCP connection at once, without a closing handshake; the `close` handler gets 1006.
   * @returns false when the socket was already closed.
   */
  terminate(): boolean {
    if (this._state === 3) return false;
    this._state = 2;
    this.#link.native.terminate(this._worker, this._slot, this._gen);
    this.#link.commandQueued();
    return true;
  }
}

function checkTopic(topic: unknown, method: string): void {
  if (typeof topic !== 'string') throw new TypeError(`${method}: topic must be a string, got ${describe(topic)}`);
}

function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}
