// The fixture shared by the Redis suites: one redis-server per describe, corews server processes
// on it (test/fixtures/redis-node.cjs, driven by lines on stdin), each killed, and Redis
// flushed, after every test.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, it } from 'vitest';
import { spawnLines, type LineChild } from './child';
import { sleep } from './clients';
import { haveRedis, startRedis, type RedisServer } from './redis-server';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'redis-node.cjs');

/** Whether redis-server is installed. */
export const HAVE_REDIS = haveRedis();

/** One server process of the fixture. */
export interface RedisNode {
  child: LineChild;
  /** Its WebSocket port on 127.0.0.1. */
  port: number;
  /** Sends one command line; its answer (the line's first word, upper-cased, is the reply's tag). */
  ask(line: string): Promise<string>;
}

/** What {@link useRedisNodes} gives a describe. */
export interface RedisNodes {
  /** The suite's redis-server (set once its beforeAll ran). */
  readonly redis: RedisServer;
  /** Starts a server process on it; `cfg` is the fixture's JSON (url is added). */
  start(cfg: Record<string, unknown>): Promise<RedisNode>;
}

/** Without redis-server a file fails and says so (.ci/run installs it): call at the top level. */
export function requireRedisServer(): void {
  it.runIf(!HAVE_REDIS)('needs redis-server (Debian: redis-server, redis-tools)', () => {
    throw new Error('redis-server is not installed');
  });
}

/**
 * Registers the hooks of the calling describe: a redis-server before all, every node started
 * by `start` killed (and Redis flushed) after each test, after `beforeKill` ran, and the server
 * stopped after all.
 */
export function useRedisNodes(beforeKill?: () => Promise<void>): RedisNodes {
  let redis: RedisServer | undefined;
  const nodes: RedisNode[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await beforeKill?.();
    for (const n of nodes.splice(0)) {
      n.child.kill();
      await n.child.exited;
    }
    redis?.cli('FLUSHALL');
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return {
    get redis() {
      if (redis === undefined) throw new Error('useRedisNodes: redis-server is not started yet (use it in a test or hook)');
      return redis;
    },
    async start(cfg) {
      const child = spawnLines(process.execPath, [FIXTURE, JSON.stringify({ url: this.redis.url, ...cfg })], 120_000);
      const port = Number(await child.next('PORT'));
      const n: RedisNode = {
        child,
        port,
        ask(line) {
          child.command(line);
          return child.next(line.split(' ')[0].toUpperCase());
        },
      };
      nodes.push(n);
      return n;
    },
  };
}

/** Waits until `ok()` holds, polling every 20 ms; throws naming `what` after `ms`. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
