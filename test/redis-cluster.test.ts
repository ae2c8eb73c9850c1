// corews/redis on a real Redis Cluster (three masters on loopback, test/helpers/redis-cluster.ts):
// the sharded adapter with corews server processes (test/fixtures/redis-node.cjs) on ioredis
// Cluster clients, and redisPresence on the cluster. Topics and rooms are picked so that their
// slots are served by different masters, and the tests check which master holds what.
import path from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisAdapter, redisPresence } from '../src/redis/index';
import { spawnLines, type LineChild } from './helpers/child';
import { closeAllClients, closeAllServers, connect, serve, sleep, type TestClient } from './helpers/clients';
import { haveRedisCluster, startRedisCluster, type ClusterNode, type RedisCluster } from './helpers/redis-cluster';
import { redisMajor } from './helpers/redis-server';

const FIXTURE = path.join(__dirname, 'fixtures', 'redis-node.cjs');
const HAVE = haveRedisCluster() && redisMajor() >= 7; // sharded pub/sub is Redis 7
const LEASE_MS = 600;

interface Node {
  child: LineChild;
  port: number;
  ask(line: string): Promise<string>;
  client(id: string, topics: string[]): Promise<TestClient>;
  events(): string[];
}

let cluster: RedisCluster;
const nodes: Node[] = [];
const clusters: Cluster[] = [];

async function node(name: string, extra: Record<string, unknown>): Promise<Node> {
  const cfg = { cluster: cluster.startup, name, ...extra };
  const child = spawnLines(process.execPath, [FIXTURE, JSON.stringify(cfg)], 120_000);
  const port = Number(await child.next('PORT'));
  const n: Node = {
    child,
    port,
    ask(line) {
      child.command(line);
      return child.next(line.split(' ')[0].toUpperCase());
    },
    async client(id, topics) {
      const c = await connect('ws', `ws://127.0.0.1:${port}/?id=${id}&sub=${topics.join(',')}`);
      expect(await child.next('OPEN')).toBe(id);
      return c;
    },
    events: () => child.lines.filter((l) => l.startsWith('PEVENT ')).map((l) => l.slice(7)),
  };
  nodes.push(n);
  return n;
}

/** An ioredis Cluster client on the test cluster, disconnected after each test. */
function clusterClient(): Cluster {
  const c = new Cluster(cluster.startup);
  c.on('error', () => {});
  clusters.push(c);
  return c;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Names `base0`, `base1`, … until one is found per master: `key(name)` is what is hashed. */
function spread(base: string, key: (name: string) => string): { name: string; owner: ClusterNode }[] {
  const found = new Map<string, { name: string; owner: ClusterNode }>();
  for (let i = 0; found.size < cluster.nodes.length; i++) {
    if (i > 200) throw new Error('could not find a name per master');
    const name = `${base}${i}`;
    const owner = cluster.owner(key(name));
    if (!found.has(owner.id)) found.set(owner.id, { name, owner });
  }
  return [...found.values()];
}

/** Sharded subscribers of the channel on the master that owns it. */
const shardSubs = (n: ClusterNode, channel: string): number => Number(n.cli('PUBSUB', 'SHARDNUMSUB', channel)[1]);

/** Plain subscribers of the channel in the whole cluster (PUBSUB NUMSUB counts a node's own). */
const eventSubs = (channel: string): number => cluster.nodes.reduce((sum, n) => sum + Number(n.cli('PUBSUB', 'NUMSUB', channel)[1]), 0);

// Without redis-server 7 the file fails and says so (.ci/run installs it).
it.runIf(!HAVE)('needs redis-server 7 and redis-cli (Debian: redis-server, redis-tools)', () => {
  throw new Error('redis-server 7 / redis-cli is not installed');
});

describe.skipIf(!HAVE)('corews/redis on a Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterEach(async () => {
    await closeAllClients();
    await closeAllServers();
    for (const c of clusters.splice(0)) c.disconnect();
    for (const n of nodes.splice(0)) {
      n.child.kill();
      await n.child.exited;
    }
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('sharded adapter: SSUBSCRIBE on the owning master, messages cross in order, last unsubscribe leaves', async () => {
    const topics = spread('t', (t) => `corews:${t}`);
    expect(new Set(topics.map((t) => t.owner.id)).size).toBe(3);
    const [a, b] = await Promise.all([node('A', { adapter: { sharded: true } }), node('B', { adapter: { sharded: true } })]);
    const onA = new Map<string, TestClient>();
    const onB = new Map<string, TestClient>();
    for (const { name } of topics) {
      onA.set(name, await a.client(`a-${name}`, [name]));
      onB.set(name, await b.client(`b-${name}`, [name]));
    }
    for (const { name, owner } of topics) {
      await until(`two shard subscribers of ${name} on its master`, () => shardSubs(owner, `corews:${name}`) === 2);
      for (const n of cluster.nodes) expect(Number(n.cli('PUBSUB', 'NUMSUB', `corews:${name}`)[1])).toBe(0);
    }

    const COUNT = 30;
    for (const { name } of topics) {
      await a.ask(`pub ${name} 0 ${COUNT} text`);
      await b.ask(`pub ${name} 0 ${COUNT} binary`);
    }
    // Every client gets both publishers' messages (its own server's locally, the other's over
    // its master), each publisher's in the order sent.
    for (const c of [...onA.values(), ...onB.values()]) {
      const got: { from: string; seq: number; binary: boolean }[] = [];
      while (got.length < 2 * COUNT) {
        const m = await c.next();
        const [from, seq] = String(m.data).split(':');
        got.push({ from, seq: Number(seq), binary: m.binary });
      }
      const seqs = (from: string): number[] => got.filter((m) => m.from === from).map((m) => m.seq);
      expect(seqs('A')).toEqual([...Array(COUNT).keys()]);
      expect(seqs('B')).toEqual([...Array(COUNT).keys()]);
      expect(got.every((m) => m.binary === (m.from === 'B'))).toBe(true);
    }
    await sleep(100);
    for (const c of [...onA.values(), ...onB.values()]) expect(c.queued).toBe(0);

    const [first, second] = topics;
    await b.ask(`drop b-${first.name}`);
    await until('one shard subscriber left', () => shardSubs(first.owner, `corews:${first.name}`) === 1);
    await a.ask(`drop a-${first.name}`);
    await until('none left', () => shardSubs(first.owner, `corews:${first.name}`) === 0);
    expect(shardSubs(second.owner, `corews:${second.name}`)).toBe(2);
    expect(JSON.parse(await a.ask('stats'))).toMatchObject({ state: 'ready', dropped: 0 });
  });

  it('a master restarted (same slots): its topics are SSUBSCRIBEd again and messages flow', async () => {
    const [{ name, owner }] = spread('back', (t) => `corews:${t}`);
    const [a, b] = await Promise.all([node('A', { adapter: { sharded: true } }), node('B', { adapter: { sharded: true } })]);
    await a.client('a1', [name]);
    const b1 = await b.client('b1', [name]);
    await until('both subscribed', () => shardSubs(owner, `corews:${name}`) === 2);
    const pid = owner.pid;
    await cluster.restart(owner);
    expect(owner.pid).not.toBe(pid);
    await until('both subscribed again', () => shardSubs(owner, `corews:${name}`) === 2, 20_000);
    // Publishes go out once the publisher's cluster connection has found the node again.
    let seq = 0;
    for (;;) {
      await a.ask(`pub ${name} ${seq} 1 text`);
      const got = await b1.next(1000).catch(() => undefined);
      if (got !== undefined) {
        // A late one of an earlier try may come first: any of them, in order, proves the path.
        expect(String(got.data)).toMatch(/^A:\d+$/);
        expect(Number(String(got.data).slice(2))).toBeLessThanOrEqual(seq);
        break;
      }
      if (++seq > 20) throw new Error('no message crossed within 20 tries after the restart');
    }
  });

  it('topics subscribed before adapt() are SSUBSCRIBEd on their own masters (one command per slot)', async () => {
    const topics = spread('early', (t) => `corews:${t}`);
    const { server, url } = await serve({
      open(ws) {
        for (const { name } of topics) ws.subscribe(name);
      },
    });
    const c = await connect('ws', url);
    await until('the local subscriptions', () => topics.every(({ name }) => server.subscribers(name) === 1));
    server.adapt(redisAdapter({ client: clusterClient(), sharded: true }));
    for (const { name, owner } of topics) await until(`${name} on its master`, () => shardSubs(owner, `corews:${name}`) === 1);
    // And a publish from outside reaches the client.
    const pub = clusterClient();
    const other = redisAdapter({ client: pub, sharded: true });
    other.attach({ deliver: () => {}, topics: () => [] });
    await until('the other adapter ready', () => other.stats().state === 'ready');
    other.publish(topics[2].name, 'hello', false);
    expect(await c.next()).toMatchObject({ data: 'hello', binary: false });
    await other.close();
  });

  it('presence: keys of a room on one master, join/leave events and members across processes', async () => {
    const rooms = spread('room', (r) => `corews:presence:m:{r${r}}`);
    const [a, b] = await Promise.all([
      node('A', { noAdapter: true, presence: { leaseMs: LEASE_MS } }),
      node('B', { noAdapter: true, presence: { leaseMs: LEASE_MS } }),
    ]);
    for (const { name } of rooms) await a.ask(`pwatch ${name}`);
    await until("A's SUBSCRIBEs", () => rooms.every(({ name }) => eventSubs(`corews:presence:e:{r${name}}`) === 1));
    for (const { name, owner } of rooms) {
      await b.ask(`pjoin ${name} alice`);
      await b.ask(`pjoin ${name} bob`);
      // Both of the room's keys live on the master of its tag.
      expect(owner.cli('EXISTS', `corews:presence:m:{r${name}}`, `corews:presence:h:${name.length}:{r${name}}:alice`)).toEqual(['2']);
      expect(JSON.parse(await a.ask(`pmembers ${name}`))).toEqual(['alice', 'bob']);
    }
    await until('A sees the joins', () => a.events().length === 2 * rooms.length);
    await b.ask(`pleave ${rooms[1].name} alice`);
    await until('A sees the leave', () => a.events().includes(`leave ${rooms[1].name} alice`));
    expect(JSON.parse(await a.ask(`pmembers ${rooms[1].name}`))).toEqual(['bob']);
    expect(a.events().sort()).toEqual([...rooms.flatMap(({ name }) => [`join ${name} alice`, `join ${name} bob`]), `leave ${rooms[1].name} alice`].sort());
  });

  it('presence: a SIGKILLed process\'s members leave by lease expiry, announced once', async () => {
    const rooms = spread('lease', (r) => `corews:presence:m:{r${r}}`);
    const [a, b] = await Promise.all([
      node('A', { noAdapter: true, presence: { leaseMs: LEASE_MS } }),
      node('B', { noAdapter: true, presence: { leaseMs: LEASE_MS } }),
    ]);
    for (const { name } of rooms) await a.ask(`pwatch ${name}`);
    await until("A's SUBSCRIBEs", () => rooms.every(({ name }) => eventSubs(`corews:presence:e:{r${name}}`) === 1));
    for (const { name } of rooms) await b.ask(`pjoin ${name} carol`);
    await until('joins seen', () => a.events().length === rooms.length);
    b.child.proc.kill('SIGKILL');
    await b.child.exited;
    await until('the leaves', () => a.events().length === 2 * rooms.length, 10_000);
    await sleep(LEASE_MS * 2);
    expect(a.events().sort()).toEqual(rooms.flatMap(({ name }) => [`join ${name} carol`, `leave ${name} carol`]).sort());
    for (const { name } of rooms) expect(JSON.parse(await a.ask(`pmembers ${name}`))).toEqual([]);
  });

  it('presence on a Cluster client: rooms of any name, the empty one and braces included', async () => {
    const p = redisPresence({ client: clusterClient(), leaseMs: LEASE_MS });
    try {
      for (const room of ['', 'a}b', '{x}', 'plain']) {
        await p.join(room, 'm1');
        await p.join(room, 'm2');
        await p.leave(room, 'm1');
        expect(await p.members(room)).toEqual(['m2']);
      }
    } finally {
      await p.close();
    }
  });

  it('wrong options say which', () => {
    expect(() => redisAdapter({ client: {} as unknown as Cluster })).toThrow(TypeError);
    expect(() => redisAdapter({ client: {} as unknown as Cluster })).toThrow(/options\.client/);
    // Plain PUBLISH on a Cluster goes to a random node per command: one publisher's messages
    // took different paths and arrived out of order (seen: B:0 B:1 B:2 B:4 B:3), so it is refused.
    expect(() => redisAdapter({ client: clusterClient() })).toThrow(/options\.sharded/);
    expect(() => redisAdapter({ client: clusterClient(), sharded: false })).toThrow(TypeError);
    expect(() => redisPresence({ client: 5 as unknown as Cluster })).toThrow(/options\.client/);
    expect(() => redisPresence({ client: clusterClient(), url: 'redis://127.0.0.1:1' })).toThrow(/options\.url and options\.client/);
    expect(() => redisPresence({ prefix: 'app{' })).toThrow(RangeError);
    expect(() => redisPresence({ prefix: 'app{1}:' })).toThrow(/options\.prefix/);
  });
});
