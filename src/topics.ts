// Which topics exist and who subscribes where. Every subscribe and unsubscribe
// passes through JS, so the counts here are exact without asking the workers;
// workers only keep "which of my connections get this topic's publishes".
// Topics are interned to numeric ids for the native side; an id is forgotten
// once its topic has no subscriber left and is then reused, so ids stay below
// the number of topics ever live at once: no wrap-around, and no live id is
// ever handed out twice. Reuse is safe because each worker runs its commands
// in order: the unsubscribe that freed an id runs before any subscribe that
// reuses it.

/** A topic in use: its id and subscriber counts per worker. */
export interface TopicEntry {
  readonly id: number;
  /** Subscribers per worker; the native publish reads it to pick workers. */
  readonly perWorker: Int32Array;
  total: number;
}

/** Told when a topic gains its first subscriber (true) or loses its last (false), on any worker. */
export type TopicListener = (topic: string, live: boolean) => void;

export class TopicRegistry {
  readonly #threads: number;
  /** The scale-out adapter's hook (server.adapt); at most one. */
  listener: TopicListener | undefined;
  readonly #topics = new Map<string, TopicEntry>();
  #nextId = 1;
  readonly #freeIds: number[] = [];

  constructor(threads: number) {
    this.#threads = threads;
  }

  /** The entry of a topic with subscribers, or undefined. */
  get(topic: string): TopicEntry | undefined {
    return this.#topics.get(topic);
  }

  /** Counts one more subscriber on `worker`; returns the topic's id. */
  add(topic: string, worker: number): number {
    let e = this.#topics.get(topic);
    if (e === undefined) {
      e = { id: this.#freeIds.pop() ?? this.#nextId++, perWorker: new Int32Array(this.#threads), total: 0 };
      this.#topics.set(topic, e);
      this.listener?.(topic, true);
    }
    e.perWorker[worker]++;
    e.total++;
    return e.id;
  }

  /** Counts one subscriber fewer on `worker`; returns the topic's id. */
  remove(topic: string, worker: number): number {
    const e = this.#topics.get(topic)!;
    e.perWorker[worker]--;
    if (--e.total === 0) {
      this.#topics.delete(topic);
      this.#freeIds.push(e.id);
      this.listener?.(topic, false);
    }
    return e.id;
  }

  subscribers(topic: string): number {
    return this.#topics.get(topic)?.total ?? 0;
  }

  /** The topics with at least one subscriber now. */
  names(): string[] {
    return [...this.#topics.keys()];
  }

  /** The highest id handed out so far (for tests: ids are reused, never wrapped). */
  get highestId(): number {
    return this.#nextId - 1;
  }

  /** Topics with subscribers (for tests of churn). */
  get size(): number {
    return this.#topics.size;
  }
}
