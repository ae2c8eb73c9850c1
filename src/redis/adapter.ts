// redisAdapter(): server.publish across processes over Redis pub/sub.
// Two connections: one publishes (in call order), one subscribes (receives in the
// server's order), so one publisher's messages arrive everywhere in the order sent.
// A process subscribes a topic's channel only while it has a local subscriber.
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { AdapterHost, AdapterStats, PubSubAdapter } from '../adapter';
import { describe } from '../options';
import { connect, duplicateSubscriber, end, isCluster, loadIoredis } from './ioredis';
import { GapCounter } from './gaps';
import { checkBoolean, checkInteger, checkObject, checkString, checkUrl } from './options';
import { SequenceNumbers } from './sequences';
import { decode, encode } from './wire';

/** Options of {@link redisAdapter}. */
export interface RedisAdapterOptions {
  /** The Redis server, `redis://[user:pass@]host:port[/db]` or `rediss://…`; default localhost:6379. */
  url?: string;
  /**
   * An ioredis client of yours to publish on (instead of `url`): a `Redis`, or a `Cluster` for
   * Redis Cluster (with `sharded: true`, which a Cluster needs). The adapter subscribes on
   * `client.duplicate()` (on a Cluster, one with `shardedSubscribers: true`, so each SSUBSCRIBE
   * goes to the master that owns the channel's slot) and leaves `client` open at close.
   */
  client?: Redis | Cluster;
  /**
   * SSUBSCRIBE/SPUBLISH (Redis 7 sharded pub/sub) instead of SUBSCRIBE/PUBLISH; default false.
   * On Redis Cluster each topic's messages then stay on the shard that owns its slot instead of
   * being broadcast to every node.
   */
  sharded?: boolean;
  /** Local publishes held while Redis is unreachable, then dropped and counted; default 10 000. */
  maxBuffered?: number;
  /** Prefix of every channel name (the topic follows it); default `'corews:'`. */
  channelPrefix?: string;
}

const CALLER = 'redisAdapter';
/** (origin, topic) pairs whose sequence numbers a receiver remembers, at most (about 100 B each). */
const MAX_STREAMS = 10_000;
/** A topic or origin not heard from for this long is forgotten by the receiver (10 min). */
const FORGET_MS = 600_000;
/** Channels a sender numbers, at most; the least recently used starts over past it. */
const MAX_NUMBERED_CHANNELS = 100_000;

/**
 * A scale-out adapter over Redis pub/sub, for `server.adapt(redisAdapter({ url }))`: publishes
 * reach the topic's subscribers in every process on the same Redis. Needs the `ioredis` package.
 * @throws TypeError or RangeError naming a wrong option; Error when ioredis is not installed.
 */
export function redisAdapter(options?: RedisAdapterOptions): PubSubAdapter {
  const o = checkObject(options, CALLER);
  const url = checkUrl(o.url, CALLER);
  const client = o.client;
  if (client !== undefined && (client === null || typeof client !== 'object'
    || typeof (client as Redis).publish !== 'function' || typeof (client as Redis).duplicate !== 'function')) {
    throw new TypeError(`${CALLER}: options.client must be an ioredis Redis or Cluster client, got ${describe(client)}`);
  }
  if (client !== undefined && url !== undefined) throw new TypeError(`${CALLER}: options.url and options.client exclude each other`);
  const sharded = checkBoolean(o.sharded, 'sharded', CALLER, false);
  if (client !== undefined && isCluster(client as Redis | Cluster)) {
    // A Cluster sends each PUBLISH (it has no key) to a random node: one publisher's messages
    // take different paths through the cluster bus and arrive out of order. SPUBLISH has one.
    if (!sharded) throw new TypeError(`${CALLER}: an ioredis Cluster as options.client needs options.sharded: true (PUBLISH on a Cluster loses the order of publishes)`);
    // ioredis before 5.6 sends every SSUBSCRIBE of a Cluster to one node: the other slots' fail.
    if (!('shardedSubscribers' in (client as Cluster).options)) {
      throw new TypeError(`${CALLER}: options.sharded with an ioredis Cluster as options.client needs ioredis 5.6 or later (its shardedSubscribers)`);
    }
  }
  const resolved: Resolved = {
    url,
    client: client as Redis | Cluster | undefined,
    sharded,
    maxBuffered: checkInteger(o.maxBuffered, 'maxBuffered', CALLER, 10_000, 0, 2 ** 31 - 1),
    channelPrefix: checkString(o.channelPrefix, 'channelPrefix', CALLER, 'corews:'),
  };
  loadIoredis(CALLER); // a missing ioredis is said here, not at the first connect
  return new RedisAdapter(resolved);
}

interface Resolved {
  url: string | undefined;
  client: Redis | Cluster | undefined;
  sharded: boolean;
  maxBuffered: number;
  channelPrefix: string;
}

class RedisAdapter implements PubSubAdapter {
  readonly #o: Resolved;
  readonly #origin = randomBytes(8);
  readonly #prefix: Buffer;
  #pub: Redis | Cluster | undefined;
  #sub: Redis | Cluster | undefined;
  #host: AdapterHost | undefined;
  /** Channel and message of each publish made while Redis was unreachable, in order. */
  #buffer: [string, Buffer][] = [];
  readonly #seqs = new SequenceNumbers(MAX_NUMBERED_CHANNELS);
  readonly #gaps = new GapCounter(MAX_STREAMS, FORGET_MS);
  #everReady = false;
  #closed = false;
  #lastState: AdapterStats['state'] = 'connecting';
  #published = 0;
  #received = 0;
  #dropped = 0;
  #lagMs = 0;
  #reconnects = 0;

  constructor(o: Resolved) {
    this.#o = o;
    this.#prefix = Buffer.from(o.channelPrefix);
  }

  attach(host: AdapterHost): void {
    if (this.#host !== undefined) throw new TypeError(`${CALLER}: this adapter is attached to a server already`);
    this.#host = host;
    const o = this.#o;
    const own = { enableOfflineQueue: false, autoResendUnfulfilledCommands: false };
    const pub = o.client ?? connect(CALLER, o.url, own);
    const sub = o.client !== undefined ? duplicateSubscriber(o.client, o.sharded) : connect(CALLER, o.url, { ...own, autoResubscribe: false });
    this.#pub = pub;
    this.#sub = sub;
    pub.on('ready', () => this.#pubReady());
    sub.on('ready', () => this.#subReady());
    for (const c of [pub, sub]) c.on('close', () => this.#track());
    sub.on(o.sharded ? 'smessageBuffer' : 'messageBuffer', (channel: Buffer, message: Buffer) => this.#message(channel, message));
    if (o.client === undefined) pub.connect().catch(() => {});
    else if (pub.status === 'ready') queueMicrotask(() => this.#pubReady());
    sub.connect().catch(() => {});
  }

  subscribe(topic: string): void {
    const sub = this.#sub;
    if (this.#closed || sub === undefined || sub.status !== 'ready') return; // the next ready subscribes it
    const channel = this.#o.channelPrefix + topic;
    (this.#o.sharded ? sub.ssubscribe(channel) : sub.subscribe(channel)).catch(() => {});
  }

  unsubscribe(topic: string): void {
    const sub = this.#sub;
    if (this.#closed || sub === undefined) return;
    // What is published while this process is not subscribed is not missed: forget the topic's
    // numbers, now and again at the reply (a message in flight before it may have set them anew).
    const forget = (): void => this.#gaps.forget(topic);
    forget();
    if (sub.status !== 'ready') return; // a new connection has none
    const channel = this.#o.channelPrefix + topic;
    (this.#o.sharded ? sub.sunsubscribe(channel) : sub.unsubscribe(channel)).then(forget, forget);
  }

  publish(topic: string, data: Uint8Array | string, binary: boolean): void {
    if (this.#closed) return;
    // Framed here, into a buffer of our own: the caller may reuse `data` once we return.
    // Numbered before it may be dropped here: a receiver counts a drop anywhere on the way as lost.
    const channel = this.#o.channelPrefix + topic;
    const message = encode(this.#origin, this.#seqs.take(channel), binary, data);
    if (this.#buffer.length === 0 && this.#state() === 'ready') this.#send(channel, message);
    else if (this.#buffer.length < this.#o.maxBuffered) this.#buffer.push([channel, message]);
    else this.#dropped++;
  }

  stats(): AdapterStats {
    return {
      state: this.#state(),
      published: this.#published,
      received: this.#received,
      buffered: this.#buffer.length,
      dropped: this.#dropped,
      lost: this.#gaps.lost,
      lagMs: this.#lagMs,
      reconnects: this.#reconnects,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropped += this.#buffer.length;
    this.#buffer = [];
    const waits: Promise<void>[] = [];
    if (this.#sub !== undefined) waits.push(end(this.#sub));
    if (this.#pub !== undefined && this.#o.client === undefined) waits.push(end(this.#pub));
    await Promise.all(waits);
  }

  #send(channel: string, message: Buffer): void {
    const pub = this.#pub!;
    this.#published++;
    (this.#o.sharded ? pub.spublish(channel, message) : pub.publish(channel, message)).catch(() => {
      this.#dropped++;
    });
  }

  /**
   * Sends what was buffered, in order and before any later publish (those queue behind the
   * buffer until it is empty). Only once both connections are up, so that publishing starts
   * when the adapter reads 'ready'. Other processes resubscribe on their own schedule: one that
   * is not back yet misses what is sent before it is (pub/sub keeps nothing).
   */
  #flush(): void {
    if (this.#state() !== 'ready') return;
    const buffered = this.#buffer;
    this.#buffer = [];
    for (const [channel, message] of buffered) this.#send(channel, message);
  }

  #pubReady(): void {
    this.#flush();
    this.#track();
  }

  #subReady(): void {
    const topics = this.#host?.topics() ?? [];
    const channels = topics.map((t) => this.#o.channelPrefix + t);
    // One SSUBSCRIBE per channel: on a cluster the channels of one command must share a slot.
    if (this.#o.sharded) for (const channel of channels) this.#sub!.ssubscribe(channel).catch(() => {});
    else if (channels.length > 0) this.#sub!.subscribe(...channels).catch(() => {});
    this.#flush();
    this.#track();
  }

  #message(channel: Buffer, message: Buffer): void {
    if (this.#closed) return;
    const m = decode(message);
    if (m === undefined || m.origin.equals(this.#origin)) return; // not ours, or ours: delivered here already
    // Text goes out as a text frame: never let another writer on the channel make it invalid UTF-8.
    if (!m.binary && !isUtf8(m.payload)) return;
    if (channel.length < this.#prefix.length || !channel.subarray(0, this.#prefix.length).equals(this.#prefix)) return;
    const topic = channel.toString('utf8', this.#prefix.length);
    this.#received++;
    if (m.seq !== undefined) this.#gaps.seen(m.origin.toString('latin1'), topic, m.seq, Date.now());
    this.#lagMs = Math.max(0, Date.now() - m.sentAt);
    this.#host!.deliver(topic, m.payload, m.binary);
  }

  #state(): AdapterStats['state'] {
    if (this.#closed) return 'closed';
    if (this.#pub?.status === 'ready' && this.#sub?.status === 'ready') return 'ready';
    return this.#everReady ? 'reconnecting' : 'connecting';
  }

  /** Counts a reconnect each time both connections are up again after one was lost. */
  #track(): void {
    const state = this.#state();
    if (state === 'ready') {
      if (this.#lastState === 'reconnecting') this.#reconnects++;
      this.#everReady = true;
    }
    this.#lastState = state;
  }
}
