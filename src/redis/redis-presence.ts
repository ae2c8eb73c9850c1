// redisPresence(): who is in which room across every process on one Redis. Each
// process holds its members by leases (see presence-scripts.ts); a process that dies
// stops renewing, and the living processes that watch its rooms find the expired
// holds when they sweep and announce the leaves. leaseMs is the promise to users: the
// longest time from a death to its leaves. So a hold lives half of it, renewed every
// quarter, and rooms are swept every quarter: a dead process's last renewal is at most
// a quarter old, its holds expire at most half a lease after that, and the next sweep
// comes at most a quarter later; three quarters in the worst case, and a quarter of
// slack for late timers and round trips to Redis.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { connect, end, isCluster } from './ioredis';
import { describe } from '../options';
import { checkInteger, checkObject, checkString, checkUrl } from './options';
import { checkNames, Holds, type Presence } from './presence';
import { JOIN, LEAVE, SWEEP } from './presence-scripts';

/** Options of {@link redisPresence}. */
export interface RedisPresenceOptions {
  /** The Redis server, `redis://…` or `rediss://…`; default localhost:6379. */
  url?: string;
  /**
   * An ioredis client of yours (instead of `url`): a `Redis`, or a `Cluster` for Redis Cluster.
   * The tracker opens its two connections with `client.duplicate()` and leaves `client` open.
   */
  client?: Redis | Cluster;
  /**
   * The longest time, in ms, from the death of a process until the living announce its members'
   * leaves; default 15 000. A hold lives half of it without renewal and is renewed every quarter, so
   * a process whose event loop stalls for more than a quarter of it may see its members leave and
   * come back.
   */
  leaseMs?: number;
  /**
   * Prefix of every key and channel; default `'corews:presence:'`. It may not hold `{`: each
   * room's keys share the room as their Redis Cluster hash tag, which a `{` before it would end.
   */
  prefix?: string;
}

const CALLER = 'redisPresence';

type Scripted = (Redis | Cluster) & {
  presenceJoin(members: string, holders: string, holder: string, holdMs: number, member: string, channel: string): Promise<number>;
  presenceLeave(members: string, holders: string, holder: string, member: string, channel: string): Promise<number>;
  presenceSweep(members: string, channel: string, list: '0' | '1', holdersPrefix: string): Promise<string[] | number>;
};

/**
 * Cluster-wide presence over Redis: members held by leases that the living processes renew, with
 * join/leave events. Needs the `ioredis` package.
 * @throws TypeError or RangeError naming a wrong option; Error when ioredis is not installed.
 */
export function redisPresence(options?: RedisPresenceOptions): Presence {
  const o = checkObject(options, CALLER);
  const url = checkUrl(o.url, CALLER);
  const client = o.client;
  if (client !== undefined && (client === null || typeof client !== 'object' || typeof (client as Redis).duplicate !== 'function')) {
    throw new TypeError(`${CALLER}: options.client must be an ioredis Redis or Cluster client, got ${describe(client)}`);
  }
  if (client !== undefined && url !== undefined) throw new TypeError(`${CALLER}: options.url and options.client exclude each other`);
  const leaseMs = checkInteger(o.leaseMs, 'leaseMs', CALLER, 15_000, 100, 2 ** 31 - 1);
  const prefix = checkString(o.prefix, 'prefix', CALLER, 'corews:presence:');
  if (prefix.includes('{')) throw new RangeError(`${CALLER}: options.prefix may not contain '{' (the room is each key's hash tag), got ${JSON.stringify(prefix)}`);
  return new RedisPresence(url, client as Redis | Cluster | undefined, leaseMs, prefix);
}

class RedisPresence extends EventEmitter implements Presence {
  /** How long one renewal keeps a hold: half of leaseMs (see the top of this file). */
  readonly #holdMs: number;
  readonly #prefix: string;
  /** This process's id as a holder. */
  readonly #holder = randomBytes(8).toString('hex');
  readonly #cmd: Scripted;
  readonly #sub: Redis | Cluster;
  /** Holds of this process, by holdKey(room, member). */
  readonly #holds = new Holds<string>();
  /** Rooms with events wanted: one count per watch() and one per member held in the room. */
  readonly #rooms = new Holds<string>();
  readonly #explicit = new Set<string>();
  /** Event channel -> room. */
  readonly #channels = new Map<string, string>();
  /** SUBSCRIBEs in flight, by channel. */
  readonly #subscribing = new Map<string, Promise<void>>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(url: string | undefined, client: Redis | Cluster | undefined, leaseMs: number, prefix: string) {
    super();
    this.#holdMs = Math.ceil(leaseMs / 2);
    this.#prefix = prefix;
    // Commands wait for the server while it is down (join/leave resolve once it is back);
    // the subscriber resubscribes its channels by itself.
    this.#cmd = (client === undefined ? connect(CALLER, url, { lazyConnect: false }) : open(client)) as Scripted;
    this.#cmd.defineCommand('presenceJoin', { numberOfKeys: 2, lua: JOIN });
    this.#cmd.defineCommand('presenceLeave', { numberOfKeys: 2, lua: LEAVE });
    this.#cmd.defineCommand('presenceSweep', { numberOfKeys: 1, lua: SWEEP });
    this.#sub = client === undefined ? connect(CALLER, url, { lazyConnect: false }) : open(client);
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#event(channel.toString(), message));
    this.#timer = setInterval(() => this.#tick(), Math.max(25, Math.floor(leaseMs / 4)));
    this.#timer.unref();
  }

  async join(room: string, member: string): Promise<void> {
    checkNames('join', room, member, true);
    if (this.#closed) throw new Error('join: the presence tracker is closed');
    if (!this.#holds.add(holdKey(room, member))) return;
    // Subscribed first, so that this process hears its own join too.
    await this.#want(room);
    await this.#renew(room, member);
  }

  async leave(room: string, member: string): Promise<void> {
    checkNames('leave', room, member, true);
    if (this.#closed || !this.#holds.remove(holdKey(room, member))) return;
    await this.#cmd.presenceLeave(this.#members(room), this.#holdersKey(room, member), this.#holder, member, this.#channel(room));
    this.#unwant(room);
  }

  async members(room: string): Promise<string[]> {
    checkNames('members', room);
    const live = await this.#cmd.presenceSweep(this.#members(room), this.#channel(room), '1', this.#holdersPrefix(room));
    return (live as string[]).sort();
  }

  watch(room: string): void {
    checkNames('watch', room);
    if (this.#closed || this.#explicit.has(room)) return;
    this.#explicit.add(room);
    void this.#want(room);
  }

  unwatch(room: string): void {
    checkNames('unwatch', room);
    if (!this.#explicit.delete(room)) return;
    this.#unwant(room);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const leaves = this.#holds.keys().map((key) => {
      const [room, member] = split(key);
      return this.#cmd.presenceLeave(this.#members(room), this.#holdersKey(room, member), this.#holder, member, this.#channel(room))
        .catch(() => 0); // unreachable: the lease runs out instead
    });
    this.#holds.clear();
    if (this.#cmd.status === 'ready') await Promise.all(leaves);
    await Promise.all([end(this.#cmd), end(this.#sub)]);
  }

  #members(room: string): string {
    return `${this.#prefix}m:${tag(room)}`;
  }

  #holdersPrefix(room: string): string {
    return `${this.#prefix}h:${room.length}:${tag(room)}:`;
  }

  #holdersKey(room: string, member: string): string {
    return this.#holdersPrefix(room) + member;
  }

  #channel(room: string): string {
    return `${this.#prefix}e:${tag(room)}`;
  }

  #renew(room: string, member: string): Promise<number> {
    return this.#cmd.presenceJoin(this.#members(room), this.#holdersKey(room, member), this.#holder, this.#holdMs, member, this.#channel(room));
  }

  /** Counts one more reason to hear the room's events; resolves once subscribed (or it failed). */
  #want(room: string): Promise<void> {
    const channel = this.#channel(room);
    if (!this.#rooms.add(room)) return this.#subscribing.get(channel) ?? Promise.resolve();
    this.#channels.set(channel, room);
    const done = this.#sub.subscribe(channel).then(() => {}, () => {});
    this.#subscribing.set(channel, done);
    void done.then(() => {
      if (this.#subscribing.get(channel) === done) this.#subscribing.delete(channel);
    });
    return done;
  }

  #unwant(room: string): void {
    if (!this.#rooms.remove(room)) return;
    const channel = this.#channel(room);
    this.#channels.delete(channel);
    this.#sub.unsubscribe(channel).catch(() => {});
  }

  #event(channel: string, message: Buffer): void {
    const room = this.#channels.get(channel);
    if (room === undefined || message.length === 0) return;
    const kind = message[0] === 0x6a ? 'join' : message[0] === 0x6c ? 'leave' : undefined;
    if (kind !== undefined) this.emit(kind, room, message.toString('utf8', 1));
  }

  /** Renews this process's leases and sweeps the rooms it watches; failures wait for the next tick. */
  #tick(): void {
    if (this.#cmd.status !== 'ready' || this.#sub.status !== 'ready') return;
    for (const key of this.#holds.keys()) {
      const [room, member] = split(key);
      this.#renew(room, member).catch(() => {});
    }
    for (const room of this.#rooms.keys()) this.#cmd.presenceSweep(this.#members(room), this.#channel(room), '0', this.#holdersPrefix(room)).catch(() => {});
  }
}

/**
 * The room's Redis Cluster hash tag, shared by all of its keys so that each script's keys are in
 * one slot. Never empty (an empty `{}` would hash whole keys apart): the room after an `r`. A `}`
 * in the room ends the tag early, the same way in every key of the room.
 */
function tag(room: string): string {
  return `{r${room}}`;
}

/** A connection of our own like the caller's, connecting now; its errors are states, not throws. */
function open(client: Redis | Cluster): Redis | Cluster {
  const own = isCluster(client) ? client.duplicate([], { lazyConnect: true }) : client.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
  own.on('error', () => {});
  own.connect().catch(() => {});
  return own;
}

/** One string for a room and a member, whatever characters they hold: the room's length first. */
function holdKey(room: string, member: string): string {
  return `${room.length}:${room}${member}`;
}

function split(key: string): [string, string] {
  const colon = key.indexOf(':');
  const end = colon + 1 + Number(key.slice(0, colon));
  return [key.slice(colon + 1, end), key.slice(end)];
}
