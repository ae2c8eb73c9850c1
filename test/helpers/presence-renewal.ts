// Waits for a redisPresence renewal of one member, seen from Redis: the member's score in
// its room's sorted set (the latest expiry of its holders) moves forward. A process
// killed right after that dies with the freshest hold it can have, which is the worst
// case for how soon its members' leaves can be announced.
import { Redis } from 'ioredis';

/** Resolves just after the next renewal of `member` in `room` (default key prefix). */
export async function afterRenewal(url: string, room: string, member: string, prefix = 'corews:presence:'): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const key = `${prefix}m:{r${room}}`;
    const first = await redis.zscore(key, member);
    if (first === null) throw new Error(`${member} is not in ${room}`);
    const deadline = Date.now() + 30_000;
    while ((await redis.zscore(key, member)) === first) {
      if (Date.now() > deadline) throw new Error(`no renewal of ${member} in ${room} within 30 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    redis.disconnect();
  }
}
