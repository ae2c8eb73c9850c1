// corews/redis's adapter with a real redis-server and several corews server processes
// (test/fixtures/redis-node.cjs) on it, with real WebSocket clients on each; then two servers
// in this process on one Redis. Each suite runs twice: the adapter on its own connection from
// `url` (ioredis, the devDependency, 6), and on a client of ioredis 5 passed in as `client`.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createServer, type AdapterStats } from '../src/index';
import { redisAdapter } from '../src/redis/index';
import { closeAllClients, connect, sleep, type TestClient } from './helpers/clients';
import { HAVE_REDIS, requireRedisServer, until, useRedisNodes, type RedisNode, type RedisNodes } from './helpers/redis-nodes';
import { redisMajor, startRedis, type RedisServer } from './helpers/redis-server';

/** The ways the suites connect: `module` undefined is options.url, else a client of that module. */
const CLIENTS: { name: string; module: 'ioredis' | 'ioredis5' | undefined }[] = [
  { name: `url (ioredis ${require('ioredis/package.json').version})`, module: undefined },
  { name: `client: ioredis ${require('ioredis5/package.json').version}`, module: 'ioredis5' },
];
let clientModule: 'ioredis' | 'ioredis5' | undefined;

/** A client of the suite's module (ioredis 6 for the url suite), typed as the adapter takes it. */
async function newClient(url: string): Promise<Redis> {
  const mod = (await import(clientModule ?? 'ioredis')) as { Redis: new (url: string) => Redis };
  const c = new mod.Redis(url);
  c.on('error', () => {}); // down while Redis restarts: the adapter reports it
  return c;
}

interface Node extends RedisNode {
  client(id: string, topics: string[]): Promise<TestClient>;
  stats(): Promise<AdapterStats>;
}

/** The running suite's fixture and Redis (set by its beforeAll). */
let cluster: RedisNodes;
let redis: RedisServer;

async function node(name: string, extra: Record<string, unknown> = {}): Promise<Node> {
  const n = await cluster.start({ name, clientModule, ...extra });
  return Object.assign(n, {
    async client(id: string, topics: string[]) {
      const c = await connect('ws', `ws://127.0.0.1:${n.port}/?id=${id}&sub=${topics.join(',')}`);
      expect(await n.child.next('OPEN')).toBe(id);
      return c;
    },
    async stats() {
      return JSON.parse(await n.ask('stats')) as AdapterStats;
    },
  });
}

/** Subscribers Redis counts on a channel (PUBSUB NUMSUB, or SHARDNUMSUB). */
function numsub(channel: string, sharded = false, server = redis): number {
  const out = server.cli('PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', channel);
  return Number(out[1] ?? 0);
}

async function texts(c: TestClient, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const m = await c.next(10_000);
    out.push(String(m.data));
  }
  return out;
}

requireRedisServer();

describe.skipIf(!HAVE_REDIS).each(CLIENTS)('redisAdapter across processes, $name', ({ module }) => {
  const mine = useRedisNodes(closeAllClients);
  beforeAll(() => {
    clientModule = module;
    cluster = mine;
    redis = mine.redis;
  });

  it('a publish from each process reaches the subscribers on all, text and binary kept', async () => {
    const [a, b, c] = await Promise.all([node('A'), node('B'), node('C')]);
    const clients = await Promise.all([a.client('a1', ['room']), b.client('b1', ['room']), c.client('c1', ['room'])]);
    await until('three subscribed processes', () => numsub('corews:room') === 3);
    expect(await a.ask('pub room 0 2 text')).toBe('2');
    expect(await b.ask('pub room 0 1 binary')).toBe('1');
    for (const cl of clients) {
      const got = [await cl.next(), await cl.next(), await cl.next()];
      const fromA = got.filter((m) => String(m.data).startsWith('A:'));
      const fromB = got.filter((m) => String(m.data).startsWith('B:'));
      expect(fromA.map((m) => [String(m.data), m.binary])).toEqual([['A:0', false], ['A:1', false]]);
      expect(fromB.map((m) => [String(m.data), m.binary])).toEqual([['B:0', true]]);
      expect(Buffer.isBuffer(fromB[0].data)).toBe(true);
    }
    const sa = await a.stats();
    expect(sa).toMatchObject({ state: 'ready', published: 2, received: 1, buffered: 0, dropped: 0 });
    expect(sa.lagMs).toBeGreaterThanOrEqual(0);
    expect(sa.lagMs).toBeLessThan(10_000);
    expect((await c.stats()).received).toBe(3);
    await sleep(100);
    for (const cl of clients) expect(cl.queued).toBe(0); // nobody got a message twice
  });

  it('keeps each publisher\'s order over thousands of messages from three processes at once', async () => {
    const ns = await Promise.all([node('A'), node('B'), node('C')]);
    const clients = await Promise.all(ns.map((n, i) => n.client(`o${i}`, ['order'])));
    await until('three subscribed processes', () => numsub('corews:order') === 3);
    const N = 2000;
    await Promise.all(ns.map((n) => n.ask(`pub order 0 ${N} text`)));
    for (const cl of clients) {
      const next: Record<string, number> = { A: 0, B: 0, C: 0 };
      for (const t of await texts(cl, 3 * N)) {
        const [origin, seq] = t.split(':');
        expect(Number(seq)).toBe(next[origin]);
        next[origin]++;
      }
      expect(next).toEqual({ A: N, B: N, C: N });
      expect(cl.queued).toBe(0);
    }
  });

  it('subscribes a process only while it has local subscribers (unsubscribe and close)', async () => {
    const [a, b, c] = await Promise.all([node('A'), node('B'), node('C')]);
    const a1 = await a.client('a1', ['only']);
    const b1 = await b.client('b1', ['only']);
    const c1 = await c.client('c1', ['other']);
    await until('two subscribed processes', () => numsub('corews:only') === 2);
    expect(redis.cli('PUBSUB', 'CHANNELS', 'corews:*').sort()).toEqual(['corews:only', 'corews:other']);
    expect(await a.ask('pub only 0 50 text')).toBe('50');
    expect((await texts(b1, 50)).at(-1)).toBe('A:49');
    expect((await texts(a1, 50)).at(-1)).toBe('A:49');
    // C has no subscriber of 'only': Redis sent it nothing.
    expect((await c.stats()).received).toBe(0);
    expect(c1.queued).toBe(0);

    expect(await b.ask('unsub b1 only')).toBe('true');
    await until('B unsubscribed', () => numsub('corews:only') === 1);
    await a.ask('drop a1');
    await until('A unsubscribed by the close', () => numsub('corews:only') === 0);
    expect(redis.cli('PUBSUB', 'CHANNELS', 'corews:*')).toEqual(['corews:other']);
    // No local subscriber left, yet an adapter: the publish is forwarded (true), reaching nobody.
    expect(await a.ask('pub only 50 1 text')).toBe('1');
    expect((await b.stats()).received).toBe(50);
  });

  it('ws.publish skips only its sender, and only on the sender\'s process', async () => {
    const [a, b] = await Promise.all([node('A'), node('B')]);
    const a1 = await a.client('a1', ['skip']);
    const a2 = await a.client('a2', ['skip']);
    const b1 = await b.client('b1', ['skip']);
    await until('two subscribed processes', () => numsub('corews:skip') === 2);
    expect(await a.ask('wspub a1 skip hello')).toBe('true');
    expect(String((await a2.next()).data)).toBe('hello');
    expect(String((await b1.next()).data)).toBe('hello');
    // The next message a1 gets is the server's publish that follows: it never got its own.
    await a.ask('pub skip 0 1 text');
    expect(String((await a1.next()).data)).toBe('A:0');
    // A sender alone on its process still reaches the others (true: forwarded).
    const b2 = await b.client('b2', ['solo']);
    const a3 = await a.client('a3', ['solo']);
    await until('two subscribed processes', () => numsub('corews:solo') === 2);
    expect(await b.ask('wspub b2 solo hi')).toBe('true');
    expect(String((await a3.next()).data)).toBe('hi');
    await sleep(100);
    expect(b2.queued).toBe(0);
  });

  it('without Redis: local delivery goes on, publishes buffer up to maxBuffered, then drop; back: resubscribes and resumes', async () => {
    const [a, b] = await Promise.all([node('A', { adapter: { maxBuffered: 30 } }), node('B')]);
    const a1 = await a.client('a1', ['f']);
    const b1 = await b.client('b1', ['f']);
    await until('two subscribed processes', () => numsub('corews:f') === 2);

    await redis.stop();
    await until('A sees Redis gone', async () => (await a.stats()).state === 'reconnecting');
    expect(await a.ask('pub f 0 50 text')).toBe('50');
    expect(await texts(a1, 50)).toEqual(Array.from({ length: 50 }, (_, i) => `A:${i}`));
    expect(await a.stats()).toMatchObject({ state: 'reconnecting', buffered: 30, dropped: 20, reconnects: 0 });
    expect(await a.ask('metrics')).toContain('corews_adapter_dropped_total 20');

    await redis.restart();
    await until('A back', async () => (await a.stats()).state === 'ready');
    await until('B back', async () => (await b.stats()).state === 'ready');
    await until('both resubscribed', () => numsub('corews:f') === 2);
    const sa = await a.stats();
    expect(sa).toMatchObject({ buffered: 0, dropped: 20, reconnects: 1, published: 30 });
    await a.ask('pub f 100 5 text');
    // B may have missed buffered ones sent before it resubscribed (pub/sub keeps nothing), but
    // what it got is in order and ends with the new publishes.
    const seen: number[] = [];
    while (seen.at(-1) !== 104) seen.push(Number(String((await b1.next()).data).split(':')[1]));
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
    expect(seen.slice(-5)).toEqual([100, 101, 102, 103, 104]);
    expect(seen.every((s) => (s >= 0 && s < 30) || s >= 100)).toBe(true);
  });

  it.skipIf(redisMajor() < 7)('sharded mode uses SSUBSCRIBE/SPUBLISH', async () => {
    const [a, b] = await Promise.all([node('A', { adapter: { sharded: true } }), node('B', { adapter: { sharded: true } })]);
    const a1 = await a.client('a1', ['s']);
    const b1 = await b.client('b1', ['s']);
    await until('two shard subscribers', () => numsub('corews:s', true) === 2);
    expect(numsub('corews:s')).toBe(0);
    expect(redis.cli('PUBSUB', 'SHARDCHANNELS', 'corews:*')).toEqual(['corews:s']);
    await a.ask('pub s 0 3 binary');
    await b.ask('pub s 0 1 text');
    const gotB = [await b1.next(), await b1.next(), await b1.next(), await b1.next()];
    expect(gotB.filter((m) => m.binary).map((m) => String(m.data))).toEqual(['A:0', 'A:1', 'A:2']);
    expect(gotB.filter((m) => !m.binary).map((m) => String(m.data))).toEqual(['B:0']);
    expect(String((await a1.next()).data)).toMatch(/^[AB]:0$/);
    await b.ask('drop b1');
    await until('B shard-unsubscribed', () => numsub('corews:s', true) === 1);
  });

  it('channelPrefix names the channels; stats and metrics show the adapter', async () => {
    const a = await node('A', { adapter: { channelPrefix: 'app1/' } });
    await a.client('a1', ['x']);
    await until('subscribed', () => numsub('app1/x') === 1);
    expect(await a.stats()).toMatchObject({ state: 'ready', published: 0, received: 0, buffered: 0, dropped: 0, reconnects: 0 });
    expect(await a.ask('metrics')).toContain('corews_adapter_state{state="ready"} 1');
    expect(await a.ask('close')).toBe('');
    await until('closed adapter unsubscribed', () => numsub('app1/x') === 0);
  });
});

describe.skipIf(!HAVE_REDIS).each(CLIENTS)('redisAdapter in this process, $name', ({ module }) => {
  beforeAll(() => {
    clientModule = module;
  });

  it('publishes on a client of yours (options.client) and leaves it open at close', async () => {
    const r = await startRedis();
    const mine = await newClient(r.url);
    const one = createServer({ threads: 1, open: (ws) => void ws.subscribe('t') });
    const two = createServer({ threads: 1, open: (ws) => void ws.subscribe('t') });
    try {
      one.adapt(redisAdapter({ client: mine }));
      two.adapt(redisAdapter({ url: r.url }));
      await Promise.all([one.listen(0, '127.0.0.1'), two.listen(0, '127.0.0.1')]);
      const c = await connect('ws', `ws://127.0.0.1:${two.address()!.port}/`);
      await until('two subscribed', () => numsub('corews:t', false, r) === 1);
      await until('one ready', () => one.stats().adapter?.state === 'ready');
      expect(one.publish('t', 'via your client')).toBe(true);
      expect(await c.next()).toEqual({ data: 'via your client', binary: false });
      // Other writers on the channel: not this format, or "text" that is not UTF-8, are ignored.
      const header = (flags: number): Buffer => Buffer.concat([Buffer.from([1, flags]), Buffer.alloc(8, 7), Buffer.alloc(8)]);
      await mine.publish('corews:t', 'plain words');
      await mine.publish('corews:t', Buffer.concat([header(0), Buffer.from([0xc3, 0x28])]));
      await mine.publish('corews:t', Buffer.concat([header(4), Buffer.from('bad flags')]));
      await mine.publish('corews:t', Buffer.concat([header(0), Buffer.from('héllo, valid')]));
      expect(await c.next()).toEqual({ data: 'héllo, valid', binary: false });
      expect(two.stats().adapter?.received).toBe(2);
      await one.close();
      expect(mine.status).toBe('ready');
      expect(await mine.ping()).toBe('PONG');
    } finally {
      await closeAllClients();
      await Promise.all([one.close(), two.close()]);
      mine.disconnect();
      await r.stop();
    }
  });
  it('counts as lost neither what is published while unsubscribed nor a restarted sender', async () => {
    const r = await startRedis();
    const ca = await newClient(r.url);
    const b = createServer({ threads: 1, message: (ws, data) => void (String(data) === 'on' ? ws.subscribe('u') : ws.unsubscribe('u')) });
    const servers = [b];
    try {
      b.adapt(redisAdapter({ url: r.url }));
      await b.listen(0, '127.0.0.1');
      const sender = async (): Promise<ReturnType<typeof createServer>> => {
        const a = createServer({ threads: 1 });
        servers.push(a);
        a.adapt(redisAdapter({ client: ca }));
        await a.listen(0, '127.0.0.1'); // a server publishes only while listening
        await until('A ready', () => a.stats().adapter?.state === 'ready');
        return a;
      };
      const a = await sender();
      const c = await connect('ws', `ws://127.0.0.1:${b.address()!.port}/`);
      const bs = (): AdapterStats => b.stats().adapter!;
      c.send('on');
      await until('B subscribed', () => numsub('corews:u', false, r) === 1);
      for (let i = 0; i < 5; i++) a.publish('u', `x${i}`);
      await until('5 at B', () => bs().received === 5);
      c.send('off');
      await until('B unsubscribed', () => numsub('corews:u', false, r) === 0);
      for (let i = 5; i < 55; i++) a.publish('u', `x${i}`); // nobody here to miss them
      c.send('on');
      await until('B subscribed again', () => numsub('corews:u', false, r) === 1);
      for (let i = 55; i < 60; i++) a.publish('u', `x${i}`);
      await until('10 at B', () => bs().received === 10);
      expect(bs().lost).toBe(0);
      // A sender that starts over (a new process: a new origin id) numbers from 0: no gap either.
      await a.close();
      const a2 = await sender();
      a2.publish('u', 'y0');
      a2.publish('u', 'y1');
      await until('12 at B', () => bs().received === 12);
      expect(bs().lost).toBe(0);
      const got: string[] = [];
      for (let i = 0; i < 12; i++) got.push(String((await c.next()).data));
      expect(got).toEqual(['x0', 'x1', 'x2', 'x3', 'x4', 'x55', 'x56', 'x57', 'x58', 'x59', 'y0', 'y1']);
    } finally {
      await closeAllClients();
      await Promise.all(servers.map((s) => s.close()));
      ca.disconnect();
      await r.stop();
    }
  });

  it('Redis restarted under a steady publisher: delivery resumes, and sent = received + lost at the receiver exactly', async () => {
    const r = await startRedis();
    const [ca, cb] = await Promise.all([newClient(r.url), newClient(r.url)]);
    const a = createServer({ threads: 1 });
    const b = createServer({ threads: 1, open: (ws) => void ws.subscribe('steady') });
    let timer: NodeJS.Timeout | undefined;
    try {
      a.adapt(redisAdapter({ client: ca, maxBuffered: 20 }));
      b.adapt(redisAdapter({ client: cb }));
      await Promise.all([a.listen(0, '127.0.0.1'), b.listen(0, '127.0.0.1')]);
      const c = await connect('ws', `ws://127.0.0.1:${b.address()!.port}/`);
      await until('B subscribed', () => numsub('corews:steady', false, r) === 1);
      await until('A ready', () => a.stats().adapter?.state === 'ready');
      const bs = (): AdapterStats => b.stats().adapter!;
      let sent = 0;
      const publish = (): void => void a.publish('steady', `m${sent++}`);
      timer = setInterval(publish, 2); // about 300 a second while the machine keeps up
      await until('50 delivered before the restart', () => bs().received >= 50);

      const pid = r.pid;
      await r.stop(); // SIGTERM by PID: every connection breaks, Redis keeps nothing
      await sleep(400); // A buffers 20, then drops
      await r.restart();
      expect(r.pid).not.toBe(pid);
      const atRestart = bs().received;
      await until('both ready', () => a.stats().adapter?.state === 'ready' && bs().state === 'ready');
      await until('B resubscribed', () => numsub('corews:steady', false, r) === 1);
      await until('delivery resumed', () => bs().received >= atRestart + 50);
      clearInterval(timer);
      timer = undefined;
      publish(); // the last one, after which no gap is left uncounted
      await until('the last message at B', () => bs().received + bs().lost! === sent, 10_000).catch(() => {});

      const sa = a.stats().adapter!;
      const sb = bs();
      console.log(`redis restart, ${clientModule ?? 'ioredis'}: sent ${sent}, A dropped ${sa.dropped} (buffered ${sa.buffered}), `
        + `B received ${sb.received}, lost ${sb.lost}, reconnects A ${sa.reconnects} B ${sb.reconnects}`);
      expect(sb.received + sb.lost!).toBe(sent);
      expect(sa.dropped).toBeGreaterThan(0);
      expect(sb.lost).toBeGreaterThanOrEqual(sa.dropped); // A's drops, and what Redis lost on top
      expect(sa.reconnects).toBe(1);
      expect(sb.reconnects).toBe(1);
      expect(b.metrics()).toContain(`corews_adapter_lost_total ${sb.lost}`);
      // The client got every message B received, in the order published, ending with the last.
      const got: number[] = [];
      for (let i = 0; i < sb.received; i++) got.push(Number(String((await c.next()).data).slice(1)));
      expect(got.at(-1)).toBe(sent - 1);
      expect(got.every((n, i) => i === 0 || n > got[i - 1])).toBe(true);
      expect(got.length + sb.lost!).toBe(sent);
      await sleep(50);
      expect(c.queued).toBe(0);
    } finally {
      if (timer !== undefined) clearInterval(timer);
      await closeAllClients();
      await Promise.all([a.close(), b.close()]);
      ca.disconnect();
      cb.disconnect();
      await r.stop();
    }
  });
});

describe('redisAdapter and server.adapt options', () => {
  it('throw TypeError or RangeError naming the option', () => {
    expect(() => redisAdapter({ url: 'http://x' })).toThrow(/options\.url/);
    expect(() => redisAdapter({ url: 5 as unknown as string })).toThrow(TypeError);
    expect(() => redisAdapter({ maxBuffered: -1 })).toThrow(RangeError);
    expect(() => redisAdapter({ maxBuffered: 1.5 })).toThrow(/options\.maxBuffered/);
    expect(() => redisAdapter({ maxBuffered: '9' as unknown as number })).toThrow(TypeError);
    expect(() => redisAdapter({ sharded: 'yes' as unknown as boolean })).toThrow(/options\.sharded/);
    expect(() => redisAdapter({ channelPrefix: 3 as unknown as string })).toThrow(/options\.channelPrefix/);
    expect(() => redisAdapter({ client: {} as never })).toThrow(/options\.client/);
    expect(() => redisAdapter(null as never)).toThrow(/options must be an object/);
  });

  it('adapt takes one adapter with every method, once', async () => {
    const server = createServer({ threads: 1 });
    expect(() => server.adapt({} as never)).toThrow(/adapter\.attach must be a function/);
    expect(() => server.adapt(null as never)).toThrow(TypeError);
    const adapter = redisAdapter({ url: 'redis://127.0.0.1:1' });
    server.adapt(adapter);
    expect(() => server.adapt(redisAdapter())).toThrow(/once/);
    expect(server.stats().adapter?.state).toBe('connecting');
    await server.close();
    expect(server.stats().adapter?.state).toBe('closed');
  });
});
