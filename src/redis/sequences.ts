// The sender's side of gap counting (gaps.ts): the next sequence number of each channel this
// process publishes on. Numbered per channel because a receiver hears only the channels it
// subscribes. Bounded: past `max` channels the one published on least recently is forgotten,
// and numbers it from 0 again when next used: a receiver sees numbers behind the last, which it
// neither counts nor follows until they pass the old one (gaps.ts).

/** Per-channel sequence numbers of the messages this process publishes. */
export class SequenceNumbers {
  readonly #max: number;
  /** Channel → next number, least recently used first. */
  readonly #next = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Channels numbered now. */
  get size(): number {
    return this.#next.size;
  }

  /** The number of the next message on `channel` (0 first), wrapping at 2^32. */
  take(channel: string): number {
    const n = this.#next.get(channel);
    if (n === undefined) {
      if (this.#next.size >= this.#max) this.#next.delete(this.#next.keys().next().value!);
      this.#next.set(channel, 1);
      return 0;
    }
    this.#next.delete(channel);
    this.#next.set(channel, (n + 1) >>> 0);
    return n;
  }
}
