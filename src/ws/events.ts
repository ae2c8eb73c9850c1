// The WHATWG-style event interface of a socket, as ws offers it next to EventEmitter:
// addEventListener/removeEventListener and the onopen/onmessage/onclose/onerror properties,
// with listeners that get an event object instead of arguments.
import type { EventEmitter } from 'node:events';

/** A plain event: `type` and the socket as `target`. */
export class WsEvent {
  readonly type: string;
  readonly target: unknown;
  /** @internal */
  constructor(type: string, target: unknown) {
    this.type = type;
    this.target = target;
  }
}

/** The event of `'message'` listeners added with addEventListener (or `onmessage`). */
export class MessageEvent extends WsEvent {
  /** The message: a string for text, else by `binaryType` (Buffer, ArrayBuffer, Buffer[] or Blob). */
  readonly data: unknown;
  /** @internal */
  constructor(target: unknown, data: unknown) {
    super('message', target);
    this.data = data;
  }
}

/** The event of `'close'` listeners added with addEventListener (or `onclose`). */
export class CloseEvent extends WsEvent {
  readonly code: number;
  readonly reason: string;
  /** True when the connection closed with a closing handshake (any code but 1006). */
  readonly wasClean: boolean;
  /** @internal */
  constructor(target: unknown, code: number, reason: string) {
    super('close', target);
    this.code = code;
    this.reason = reason;
    this.wasClean = code !== 1006;
  }
}

/** The event of `'error'` listeners added with addEventListener (or `onerror`). */
export class ErrorEvent extends WsEvent {
  readonly error: unknown;
  readonly message: string;
  /** @internal */
  constructor(target: unknown, error: unknown) {
    super('error', target);
    this.error = error;
    this.message = error instanceof Error ? error.message : String(error);
  }
}

/** A listener for addEventListener: a function or an object with `handleEvent`. */
export type EventListenerLike<E extends WsEvent = WsEvent> = ((event: E) => void) | { handleEvent(event: E): void };

/** Options of addEventListener; only `once` has an effect. */
export interface AddEventListenerOptions {
  once?: boolean;
}

/** The event types addEventListener knows. */
export type WsEventType = 'open' | 'message' | 'close' | 'error';

const kListener = Symbol('corews.ws.listener');
const kAttribute = Symbol('corews.ws.attribute');

type Wrapper = ((...args: unknown[]) => void) & { [kListener]?: unknown; [kAttribute]?: boolean };

/** @internal Wraps a WHATWG listener as an EventEmitter listener of `type`. */
function wrap(target: EventEmitter, type: WsEventType, listener: EventListenerLike<never>): Wrapper {
  const call = (event: WsEvent): void => {
    if (typeof listener === 'function') (listener as (e: WsEvent) => void).call(target, event);
    else (listener as { handleEvent(e: WsEvent): void }).handleEvent(event);
  };
  let wrapper: Wrapper;
  switch (type) {
    case 'message':
      wrapper = (data: unknown, isBinary: unknown) => {
        const value = isBinary ? data : Buffer.isBuffer(data) ? data.toString() : data;
        call(new MessageEvent(target, value));
      };
      break;
    case 'close':
      wrapper = (code: unknown, reason: unknown) => call(new CloseEvent(target, code as number, String(reason)));
      break;
    case 'error':
      wrapper = (err: unknown) => call(new ErrorEvent(target, err));
      break;
    default:
      wrapper = () => call(new WsEvent(type, target));
  }
  wrapper[kListener] = listener;
  return wrapper;
}

/** @internal addEventListener on an EventEmitter, as ws does it. */
export function addEventListener(target: EventEmitter, type: WsEventType, listener: EventListenerLike<never>,
  options: AddEventListenerOptions = {}): void {
  for (const existing of target.listeners(type) as Wrapper[]) {
    if (existing[kListener] === listener && !existing[kAttribute]) return; // added once only, as in the DOM
  }
  const wrapper = wrap(target, type, listener);
  if (options.once) target.once(type, wrapper);
  else target.on(type, wrapper);
}

/** @internal removeEventListener on an EventEmitter. */
export function removeEventListener(target: EventEmitter, type: WsEventType, listener: EventListenerLike<never>): void {
  for (const existing of target.listeners(type) as Wrapper[]) {
    if (existing[kListener] === listener && !existing[kAttribute]) {
      target.removeListener(type, existing);
      return;
    }
  }
}

/** @internal The current `on<type>` handler. */
export function getAttribute(target: EventEmitter, type: WsEventType): unknown {
  for (const existing of target.listeners(type) as Wrapper[]) if (existing[kAttribute]) return existing[kListener];
  return null;
}

/** @internal Sets `on<type>`: replaces the previous handler; null or a non-function removes it. */
export function setAttribute(target: EventEmitter, type: WsEventType, handler: unknown): void {
  for (const existing of target.listeners(type) as Wrapper[]) {
    if (existing[kAttribute]) target.removeListener(type, existing);
  }
  if (typeof handler !== 'function') return;
  const wrapper = wrap(target, type, handler as EventListenerLike<never>);
  wrapper[kAttribute] = true;
  target.on(type, wrapper);
}
