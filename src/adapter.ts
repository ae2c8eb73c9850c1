// The scale-out hook: what a broker between server processes (corews/redis, ...)
// implements, and what the server hands it. corews itself depends on no broker;
// an adapter is attached with server.adapt(adapter).
import { describe } from './options';

/** What a scale-out adapter gets from the server it is attached to. */
export interface AdapterHost {
  /**
   * Delivers a message that came from another process to this process's local subscribers of
   * `topic` (framed once here, fanned out natively; never forwarded to the adapter again).
   * A `Uint8Array` with `binary` false is sent as a text frame: it must hold UTF-8.
   */
  deliver(topic: string, data: Uint8Array | string, binary: boolean): void;
  /** Topics with at least one local subscriber now (to resubscribe after a reconnect). */
  topics(): string[];
}

/** What {@link PubSubAdapter.stats} reports; also shown in `server.stats().adapter`. */
export interface AdapterStats {
  /** `connecting` until first ready; `reconnecting` while the broker is lost after that. */
  state: 'connecting' | 'ready' | 'reconnecting' | 'closed';
  /** Local publishes sent to the broker. */
  published: number;
  /** Messages from other processes delivered here. */
  received: number;
  /** Local publishes waiting for the broker now (while it is unreachable). */
  buffered: number;
  /** Local publishes given up: past the buffer's bound, failed on the wire, or left at close. */
  dropped: number;
  /**
   * Messages known to have been published by another process and not received here: each
   * process numbers its messages per topic, and a jump in those numbers on a topic this process
   * stayed subscribed to is counted (the sender's drops, and what a Redis restart or a
   * resubscription still under way lost). Counted when the next message of that sender on that
   * topic arrives. Optional for other adapters; `corews/redis` reports it.
   */
  lost?: number;
  /** Publish → delivery here of the last message received, in ms (across hosts it includes clock skew). */
  lagMs: number;
  /** Times the broker was reached again after it was lost. */
  reconnects: number;
}

/** A broker between server processes (Redis pub/sub, ...). */
export interface PubSubAdapter {
  /** Called once, by `server.adapt()`. */
  attach(host: AdapterHost): void;
  /** The first local subscriber of `topic` appeared. */
  subscribe(topic: string): void;
  /** The last local subscriber of `topic` left (by unsubscribe or by its connection closing). */
  unsubscribe(topic: string): void;
  /** A local publish, to forward to the other processes. */
  publish(topic: string, data: Uint8Array | string, binary: boolean): void;
  /** The adapter's state and counters. */
  stats(): AdapterStats;
  /** Ends the adapter; `server.close()` awaits it. */
  close(): Promise<void>;
}

const METHODS = ['attach', 'subscribe', 'unsubscribe', 'publish', 'stats', 'close'] as const;

/** Throws a TypeError unless `adapter` has every method of {@link PubSubAdapter}. */
export function checkAdapter(adapter: unknown): asserts adapter is PubSubAdapter {
  if (adapter === null || typeof adapter !== 'object') {
    throw new TypeError(`adapt: adapter must be an object, got ${describe(adapter)}`);
  }
  for (const m of METHODS) {
    if (typeof (adapter as Record<string, unknown>)[m] !== 'function') {
      throw new TypeError(`adapt: adapter.${m} must be a function, got ${describe((adapter as Record<string, unknown>)[m])}`);
    }
  }
}
