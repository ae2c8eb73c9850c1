// What a presence tracker is, for both kinds: redisPresence() (cluster-wide) and
// memoryPresence() (one process).

/** Who is in which room: members held by leases, with join/leave events. */
export interface Presence {
  /**
   * This process holds `member` in `room`. A member may be held by several connections and
   * processes at once: it joins with its first holder and leaves with its last.
   */
  join(room: string, member: string): Promise<void>;
  /** Ends one hold of this process on `member` in `room` (a no-op for one it does not hold). */
  leave(room: string, member: string): Promise<void>;
  /** The room's members, cluster-wide: sorted (by UTF-16 code units), unique, live leases only. */
  members(room: string): Promise<string[]>;
  /**
   * Get events for `room` without joining it (rooms this process holds members in have them
   * anyway), from once the subscription is in place.
   */
  watch(room: string): void;
  /** Undoes {@link watch}. */
  unwatch(room: string): void;
  /** A member joined or left a room this process watches or holds members in; once per change. */
  on(event: 'join' | 'leave', listener: (room: string, member: string) => void): this;
  /** Removes a listener added with {@link on}. */
  off(event: 'join' | 'leave', listener: (room: string, member: string) => void): this;
  /** Leaves everything this process holds and ends the tracker. */
  close(): Promise<void>;
}

/** Throws a TypeError unless `room` and `member` are strings. */
export function checkNames(caller: string, room: unknown, member?: unknown, needMember = false): void {
  if (typeof room !== 'string') throw new TypeError(`${caller}: room must be a string, got ${typeof room}`);
  if (needMember && typeof member !== 'string') throw new TypeError(`${caller}: member must be a string, got ${typeof member}`);
}

/** Counts holds by key; tells whether a change took the count to or from zero. */
export class Holds<K> {
  readonly #counts = new Map<K, number>();

  /** True when this was the first hold. */
  add(key: K): boolean {
    const n = this.#counts.get(key) ?? 0;
    this.#counts.set(key, n + 1);
    return n === 0;
  }

  /** True when this was the last hold; false also for a key not held. */
  remove(key: K): boolean {
    const n = this.#counts.get(key);
    if (n === undefined) return false;
    if (n > 1) {
      this.#counts.set(key, n - 1);
      return false;
    }
    this.#counts.delete(key);
    return true;
  }

  has(key: K): boolean {
    return this.#counts.has(key);
  }

  keys(): K[] {
    return [...this.#counts.keys()];
  }

  clear(): void {
    this.#counts.clear();
  }
}
