// ioredis is an optional peer dependency: corews itself never loads it; corews/redis
// loads it on first use and says how to get it when it is missing.
import type { Cluster, Redis, RedisOptions } from 'ioredis';

type RedisClass = new (url: string | RedisOptions, options?: RedisOptions) => Redis;

let cached: RedisClass | undefined;

/** The ioredis client class, or an Error that says to install it. */
export function loadIoredis(caller: string): RedisClass {
  if (cached !== undefined) return cached;
  let mod: { default?: RedisClass } & RedisClass;
  try {
    mod = require('ioredis') as { default?: RedisClass } & RedisClass;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new Error(`${caller}: corews/redis needs the ioredis package (npm install ioredis)`, { cause: err });
    }
    throw err;
  }
  cached = mod.default ?? mod;
  return cached;
}

/** A connection of our own: reconnects forever with a capped backoff, never queues commands blindly. */
export function connect(caller: string, url: string | undefined, options: RedisOptions): Redis {
  const RedisCtor = loadIoredis(caller);
  const all: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    ...options,
  };
  const client = url === undefined ? new RedisCtor(all) : new RedisCtor(url, all);
  // An unreachable server is a state the caller reports, not an uncaught 'error' event.
  client.on('error', () => {});
  return client;
}

/** Whether the client is an ioredis Cluster (which marks itself so) rather than one Redis. */
export function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: unknown }).isCluster === true;
}

/**
 * A subscriber connection like the caller's client, not connected yet and never queueing
 * commands while down. On a Cluster, `sharded` asks for ioredis's sharded subscribers: one
 * connection per master, each SSUBSCRIBE sent to the master owning the channel's slot and
 * resubscribed by ioredis when the slots move (without it SSUBSCRIBE goes to one random node).
 */
export function duplicateSubscriber(client: Redis | Cluster, sharded: boolean): Redis | Cluster {
  let sub: Redis | Cluster;
  if (isCluster(client)) {
    sub = client.duplicate([], {
      lazyConnect: true,
      enableOfflineQueue: false,
      shardedSubscribers: sharded,
      // ioredis's sharded subscriber group resubscribes its channels itself when a master comes
      // back or slots move (the Cluster's 'ready', where the adapter resubscribes, does not come
      // again): test/redis-cluster.test.ts restarts a master.
    });
  } else {
    sub = client.duplicate({ enableOfflineQueue: false, autoResendUnfulfilledCommands: false, lazyConnect: true, autoResubscribe: false });
  }
  sub.on('error', () => {});
  return sub;
}

/** Ends a connection: QUIT when it is up (sends what is queued first), else stops reconnecting. */
export async function end(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through
    }
  }
  client.disconnect(false);
}
