// server.adapt(): the scale-out hook, with no broker: two servers of this process
// joined by a small in-process adapter, and real clients on loopback.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdapterHost, AdapterStats, PubSubAdapter, Server } from '../src/index';
import { closeAllClients, closeAllServers, connect, serve, sleep } from './helpers/clients';

/** A broker between servers of one process: what each adapter was told, and the messages it carried. */
class Bus {
  readonly adapters = new Set<LoopAdapter>();
}

class LoopAdapter implements PubSubAdapter {
  host: AdapterHost | undefined;
  readonly calls: string[] = [];
  readonly topics = new Set<string>();
  published = 0;
  received = 0;
  closed = false;
  constructor(readonly bus: Bus) {
    bus.adapters.add(this);
  }
  attach(host: AdapterHost): void {
    this.host = host;
  }
  subscribe(topic: string): void {
    this.calls.push(`+${topic}`);
    this.topics.add(topic);
  }
  unsubscribe(topic: string): void {
    this.calls.push(`-${topic}`);
    this.topics.delete(topic);
  }
  publish(topic: string, data: Uint8Array | string, binary: boolean): void {
    this.published++;
    // Copied: the caller may reuse its bytes once this returns.
    const copy = typeof data === 'string' ? data : Uint8Array.from(data);
    for (const other of this.bus.adapters) {
      if (other !== this && other.topics.has(topic)) {
        other.received++;
        other.host!.deliver(topic, copy, binary);
      }
    }
  }
  stats(): AdapterStats {
    return { state: this.closed ? 'closed' : 'ready', published: this.published, received: this.received, buffered: 0, dropped: 0, lagMs: 0, reconnects: 0 };
  }
  async close(): Promise<void> {
    await sleep(50);
    this.closed = true;
    this.bus.adapters.delete(this);
  }
}

/** Clients send "pub <topic> <text>" to ws.publish, "sub <topic>" / "unsub <topic>" to (un)subscribe. */
function commandServer(): Promise<{ server: Server; url: string }> {
  return serve({
    message(ws, data) {
      const [cmd, topic, text] = String(data).split(' ');
      if (cmd === 'pub') ws.send(`published ${ws.publish(topic, text)}`);
      if (cmd === 'sub') ws.send(`subscribed ${ws.subscribe(topic)}`);
      if (cmd === 'unsub') ws.send(`unsubscribed ${ws.unsubscribe(topic)}`);
    },
  });
}

afterEach(async () => {
  await closeAllClients();
  await closeAllServers();
});

describe('server.adapt', () => {
  it('tells the adapter a topic\'s first local subscriber and its last, including by close', async () => {
    const { server, url } = await commandServer();
    const adapter = new LoopAdapter(new Bus());
    server.adapt(adapter);
    const c1 = await connect('ws', url);
    const c2 = await connect('ws', url);
    c1.send('sub t');
    expect(String((await c1.next()).data)).toBe('subscribed true');
    c2.send('sub t');
    expect(String((await c2.next()).data)).toBe('subscribed true');
    expect(adapter.calls).toEqual(['+t']);
    expect(adapter.host!.topics()).toEqual(['t']);
    c1.send('unsub t');
    expect(String((await c1.next()).data)).toBe('unsubscribed true');
    expect(adapter.calls).toEqual(['+t']);
    c2.close();
    await c2.closed;
    for (let i = 0; i < 100 && adapter.calls.length < 2; i++) await sleep(10);
    expect(adapter.calls).toEqual(['+t', '-t']);
    expect(adapter.host!.topics()).toEqual([]);
  });

  it('tells the adapter at once of topics subscribed before adapt', async () => {
    const { server, url } = await commandServer();
    const c = await connect('ws', url);
    c.send('sub early');
    await c.next();
    const adapter = new LoopAdapter(new Bus());
    server.adapt(adapter);
    expect(adapter.calls).toEqual(['+early']);
  });

  it('forwards every publish, delivers remote ones to all local subscribers, never back', async () => {
    const bus = new Bus();
    const a = await commandServer();
    const b = await commandServer();
    const aa = new LoopAdapter(bus);
    const ba = new LoopAdapter(bus);
    a.server.adapt(aa);
    b.server.adapt(ba);
    const a1 = await connect('ws', a.url);
    const b1 = await connect('ws', b.url);
    const b2 = await connect('ws', b.url);
    for (const c of [a1, b1, b2]) {
      c.send('sub room');
      await c.next();
    }
    // A server publish: local and remote subscribers, text and binary kept.
    expect(a.server.publish('room', 'hello')).toBe(true);
    expect(a.server.publish('room', new Uint8Array([1, 2, 3]))).toBe(true);
    for (const c of [a1, b1, b2]) {
      expect(await c.next()).toEqual({ data: 'hello', binary: false });
      const bin = await c.next();
      expect(bin.binary).toBe(true);
      expect([...(bin.data as Buffer)]).toEqual([1, 2, 3]);
    }
    // ws.publish from b1: b2 (same process) and a1 get it, b1 does not. A remote delivery is
    // never forwarded again: b's adapter published once more, a's no more than its own two.
    b1.send('pub room from-b1');
    expect(String((await b1.next()).data)).toBe('published true');
    expect(String((await b2.next()).data)).toBe('from-b1');
    expect(String((await a1.next()).data)).toBe('from-b1');
    expect(aa.published).toBe(2);
    expect(ba.published).toBe(1);
    expect(ba.received).toBe(2);
    expect(aa.received).toBe(1);
    await sleep(50);
    expect(b1.queued).toBe(0);
    // A publish with no local subscriber still forwards: true with an adapter.
    b1.send('unsub room');
    b2.send('unsub room');
    await b1.next();
    await b2.next();
    expect(b.server.subscribers('room')).toBe(0);
    expect(b.server.publish('room', 'to-a-only')).toBe(true);
    expect(String((await a1.next()).data)).toBe('to-a-only');
    expect(b.server.stats().adapter).toMatchObject({ state: 'ready', published: 2, received: 2 });
    expect(b.server.metrics()).toContain('corews_adapter_published_total 2');
  });

  it('without an adapter, a publish to no subscriber is false (as before)', async () => {
    const { server } = await commandServer();
    expect(server.publish('none', 'x')).toBe(false);
    expect(server.stats().adapter).toBeUndefined();
    expect(server.metrics()).not.toContain('corews_adapter');
  });

  it('close() awaits the adapter\'s close; adapt rejects bad adapters, a second one, a closed server', async () => {
    const { server } = await commandServer();
    expect(() => server.adapt({ attach() {} } as unknown as PubSubAdapter)).toThrow(/adapter\.subscribe must be a function/);
    const adapter = new LoopAdapter(new Bus());
    server.adapt(adapter);
    expect(() => server.adapt(new LoopAdapter(new Bus()))).toThrow(TypeError);
    await server.close();
    expect(adapter.closed).toBe(true);
    expect(server.publish('t', 'x')).toBe(false);
    const { server: other } = await commandServer();
    await other.close();
    expect(() => other.adapt(new LoopAdapter(new Bus()))).toThrow(/closed/);
  });
});

describe('corews/redis without ioredis installed', () => {
  it('memoryPresence works and redisAdapter says to install ioredis', () => {
    // The built package alone in a folder with no ioredis to find (dist is built by `npm test`).
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-noredis-'));
    try {
      const pkg = path.join(root, 'node_modules', 'corews');
      fs.mkdirSync(pkg, { recursive: true });
      fs.cpSync(path.join(__dirname, '..', 'dist'), path.join(pkg, 'dist'), { recursive: true });
      fs.copyFileSync(path.join(__dirname, '..', 'package.json'), path.join(pkg, 'package.json'));
      const script = `
        const r = require('corews/redis');
        const p = r.memoryPresence();
        p.join('room', 'ann').then(() => p.members('room')).then((m) => {
          let err = '';
          try { r.redisAdapter({}); } catch (e) { err = e.message; }
          try { r.redisPresence({}); err += ' / presence: ' + 'no error'; } catch (e) { err += ' / presence: ' + e.message; }
          console.log(JSON.stringify({ m, err }));
        });`;
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env: { ...process.env, NODE_PATH: '' } }).toString());
      expect(out.m).toEqual(['ann']);
      expect(out.err).toMatch(/^redisAdapter: corews\/redis needs the ioredis package \(npm install ioredis\) \/ presence: redisPresence: corews\/redis needs/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
