// Counts what the receiving process knows it missed: each publishing process numbers its
// messages per channel (wire.ts, version 2), and a jump in those numbers here is messages
// published elsewhere and never delivered here (dropped at the sender, published while this
// process was not subscribed yet, or lost with a Redis restart).
//
// A stream is one (origin, channel) pair. Numbers are per channel, not per origin, because a
// process receives only the channels it subscribes. The state is bounded: at most `maxStreams`
// streams, and a stream not heard from for `forgetMs` is forgotten. Topics are kept in the
// order last heard (oldest first), so both bounds are enforced at the front in O(1) amortized.

/** 2^32: sequence numbers are unsigned 32-bit and wrap around. */
const SEQ_RANGE = 2 ** 32;
/**
 * A forward step of less than half the range is progress (more than 1: a gap). Anything else is
 * behind the last number: a repeat (ioredis resending a publish whose reply a broken connection
 * lost) or the sender's counter started over (sequences.ts). Neither moves the last number on,
 * so neither counts anything, then or later: after a restarted counter this stream's gaps go
 * uncounted until it passes the old number again.
 */
const HALF_RANGE = 2 ** 31;

interface Stream {
  /** The last sequence number heard. */
  seq: number;
  /** When it was heard (ms, the caller's clock). */
  at: number;
}

interface Topic {
  /** Per origin (its id as a latin1 string), least recently heard first. */
  origins: Map<string, Stream>;
  /** When this topic last had a message (ms, the caller's clock). */
  at: number;
}

/** The receiver's per-stream last sequence numbers, and the count of messages missed. */
export class GapCounter {
  readonly #maxStreams: number;
  readonly #forgetMs: number;
  /** Topics, least recently heard first. */
  readonly #topics = new Map<string, Topic>();
  #streams = 0;
  #lost = 0;

  /**
   * @param maxStreams most (origin, topic) pairs remembered; past it the topic heard from least
   *   recently is forgotten whole.
   * @param forgetMs a topic with no message for this long is forgotten (its next message starts afresh).
   */
  constructor(maxStreams: number, forgetMs: number) {
    this.#maxStreams = maxStreams;
    this.#forgetMs = forgetMs;
  }

  /** Messages known to have been published and not seen here, so far. */
  get lost(): number {
    return this.#lost;
  }

  /** (origin, topic) pairs remembered now. */
  get streams(): number {
    return this.#streams;
  }

  /**
   * Records message `seq` from `origin` on `topic`, heard at `now`; returns how many messages of
   * that stream were skipped (also added to {@link lost}). The first message of a stream, a
   * repeat, and a number behind the last count nothing.
   */
  seen(origin: string, topic: string, seq: number, now: number): number {
    this.#expire(now);
    let t = this.#topics.get(topic);
    if (t === undefined) {
      t = { origins: new Map(), at: now };
    } else {
      this.#topics.delete(topic); // re-inserted below: the most recently heard goes last
      t.at = now;
    }
    this.#topics.set(topic, t);
    let skipped = 0;
    let s = t.origins.get(origin);
    if (s === undefined) {
      s = { seq, at: now };
      this.#streams++;
    } else {
      const step = (seq - s.seq + SEQ_RANGE) % SEQ_RANGE;
      if (step > 0 && step < HALF_RANGE) {
        skipped = step - 1;
        s.seq = seq;
      }
      s.at = now;
      t.origins.delete(origin);
    }
    t.origins.set(origin, s);
    // An origin gone quiet on a busy topic (a process that restarted has a new id): one check
    // per message keeps the front of the topic fresh.
    const [oldest, stale] = t.origins.entries().next().value!;
    if (now - stale.at >= this.#forgetMs) {
      t.origins.delete(oldest);
      this.#streams--;
    }
    this.#lost += skipped;
    while (this.#streams > this.#maxStreams) this.#dropOldest();
    return skipped;
  }

  /**
   * Forgets a topic: called when this process unsubscribes it, since what is published while it
   * is not subscribed is not missed.
   */
  forget(topic: string): void {
    const t = this.#topics.get(topic);
    if (t === undefined) return;
    this.#streams -= t.origins.size;
    this.#topics.delete(topic);
  }

  #expire(now: number): void {
    for (const [topic, t] of this.#topics) {
      if (now - t.at < this.#forgetMs) return;
      this.#streams -= t.origins.size;
      this.#topics.delete(topic);
    }
  }

  /** Makes room: the least recently heard topic's oldest-inserted origin goes first. */
  #dropOldest(): void {
    const first = this.#topics.entries().next();
    if (first.done === true) return;
    const [topic, t] = first.value;
    const origin = t.origins.keys().next();
    if (origin.done !== true) t.origins.delete(origin.value);
    this.#streams--;
    if (t.origins.size === 0) this.#topics.delete(topic);
  }
}
