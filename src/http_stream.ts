// Streamed http hook bodies: pulled from the user's async iterable one piece
// at a time, each handed to the worker as a chunk, and the next pulled only
// once the connection's queue is back under the drain mark (the WebSocket
// drain, reused), so a slow client holds the iterator, not memory.
import type { NativeServer } from './native';
import { describe } from './options';
import { DRAIN_LOW_MARK } from './websocket';

const EMPTY = new Uint8Array(0);

/** A connection that streamed an HTTP body, by worker and slot. */
export class HttpConnection {
  /**
   * Body bytes handed to the worker over the connection's life: with the worker's published
   * counter (bytes it took minus bytes still queued) this gives the bytes not yet written, as
   * a WebSocket's bufferedAmount does.
   */
  accepted = 0;
  closed = false;
  #wake: (() => void) | undefined;

  constructor(readonly gen: number) {}

  /** Resolves at the next drain, or when the connection goes. */
  drain(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** The HTTP connections of one worker that streamed, by slot. */
export class HttpConnections {
  readonly #bySlot = new Map<number, HttpConnection>();

  track(slot: number, gen: number): HttpConnection {
    let conn = this.#bySlot.get(slot);
    if (conn === undefined || conn.gen !== gen) {
      conn = new HttpConnection(gen);
      this.#bySlot.set(slot, conn);
    }
    return conn;
  }

  /** The connection became a WebSocket. */
  forget(slot: number, gen: number): void {
    if (this.#bySlot.get(slot)?.gen === gen) this.#bySlot.delete(slot);
  }

  drained(slot: number, gen: number): void {
    const conn = this.#bySlot.get(slot);
    if (conn?.gen === gen) conn.wake();
  }

  closed(slot: number, gen: number): void {
    const conn = this.#bySlot.get(slot);
    if (conn?.gen !== gen) return;
    this.#bySlot.delete(slot);
    conn.closed = true;
    conn.wake();
  }

  closeAll(): void {
    for (const conn of this.#bySlot.values()) {
      conn.closed = true;
      conn.wake();
    }
    this.#bySlot.clear();
  }
}

/** What a stream needs of its server. */
export interface StreamLink {
  readonly native: NativeServer;
  /** Per worker, per slot: bytes the worker took minus bytes it still has queued. */
  readonly counters: Float64Array[];
  commandQueued(): void;
}

/**
 * Sends `body` as the chunks of a response whose head is already on its way. The end is the
 * last chunk; a failing iterator closes the connection (the head is out, no 500 can follow)
 * and is reported; a connection that goes stops the iterator (its `return()`).
 */
export async function streamBody(link: StreamLink, conn: HttpConnection, worker: number, slot: number, gen: number,
  body: AsyncIterable<string | Uint8Array>, report: (err: unknown) => void): Promise<void> {
  let it: AsyncIterator<string | Uint8Array> | undefined;
  try {
    it = body[Symbol.asyncIterator]();
    for (;;) {
      const step = await it.next();
      if (conn.closed) break;
      if (step.done === true) {
        link.native.httpChunk(worker, slot, gen, EMPTY, false, true);
        link.commandQueued();
        return;
      }
      const value: unknown = step.value;
      const bytes = typeof value === 'string' ? Buffer.from(value) : value instanceof Uint8Array ? value : undefined;
      if (bytes === undefined) throw new TypeError(`a streamed body must yield strings or Uint8Arrays, got ${describe(value)}`);
      if (bytes.length === 0) continue;
      // As for WebSocket sends: queued behind more than the low mark, wait for the drain.
      const wait = conn.accepted - link.counters[worker][slot] > DRAIN_LOW_MARK;
      link.native.httpChunk(worker, slot, gen, bytes, wait, false);
      conn.accepted += bytes.length;
      link.commandQueued();
      if (wait) await conn.drain();
      if (conn.closed) break;
    }
  } catch (err) {
    if (!conn.closed) {
      link.native.terminate(worker, slot, gen);
      link.commandQueued();
    }
    report(err);
    return;
  }
  try {
    await it.return?.();
  } catch (err) {
    report(err);
  }
}
