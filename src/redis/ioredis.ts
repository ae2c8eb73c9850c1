// ioredis is an optional peer dependency: corews itself never loads it; corews/redis
// loads it on first use and says how to get it when it is missing.
import type { Redis, RedisOptions } from 'ioredis';

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

/** Ends a connection: QUIT when it is up (sends what is queued first), else stops reconnecting. */
export async function end(client: Redis): Promise<void> {
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
