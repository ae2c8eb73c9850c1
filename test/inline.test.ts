// Inline mode (threads: 0): the one event loop runs on the JS thread, driven by
// Node's loop. What differs from the threaded mode is tested here with real
// sockets and real clients: no worker thread exists, messages arrive while JS
// is idle, sends made outside a dispatch (timers) go out, the worker's timers
// fire, close() from inside a handler, a long synchronous handler holds up I/O
// but loses nothing, microtasks and async context in handlers, process exit
// and worker_thread teardown. The rest of the behaviour is the same code as the
// threaded mode and runs through the shared suites (npm run test:variants, the
// inline variant).
import { executionAsyncId } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, type ServerOptions } from '../src/index';
import { closeAllClients, closeAllServers, connect, destroyAllRaw, openRaw, sleep, track, trackRaw } from './helpers/clients';
import { RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, notBefore, waitFor } from './helpers/server';

const FIXTURES = path.join(__dirname, 'fixtures');

afterEach(async () => {
  destroyAllRaw();
  await closeAllClients();
  await closeAllServers();
});

async function inlineServer<UserData = unknown>(options: ServerOptions<UserData> = {}) {
  const server = track(createServer<UserData>({ ...options, threads: 0 }));
  await server.listen(0, '127.0.0.1');
  const port = server.address()!.port;
  return { server, port, url: `ws://127.0.0.1:${port}` };
}

/** Threads of this process named as corews names its workers (Linux). */
function workerThreads(): number {
  return fs.readdirSync('/proc/self/task').filter((t) => {
    try {
      return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('corews-w');
    } catch {
      return false; // the thread ended meanwhile
    }
  }).length;
}

function runFixture(script: string, args: string[], ms: number) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: string[]; stderr: string }>((resolve) => {
    const proc = spawn(process.execPath, [path.join(FIXTURES, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      setImmediate(() => resolve({ code, signal, lines: out.split('\n').filter((l) => l !== ''), stderr }));
    });
  });
}

describe('the threads option', () => {
  it('threads: 0 is inline mode; a negative count is a RangeError and a fraction a TypeError, both naming threads', () => {
    expect(createServer({ threads: 0 }).threads).toBe(0);
    expect(() => createServer({ threads: -1 })).toThrow(RangeError);
    expect(() => createServer({ threads: -1 })).toThrow(/option 'threads' must be between 0 and 256, got -1/);
    expect(() => createServer({ threads: 0.5 })).toThrow(TypeError);
    expect(() => createServer({ threads: 0.5 })).toThrow(/option 'threads' must be an integer/);
  });
});

describe('inline mode', () => {
  it.runIf(process.platform === 'linux')('serves without any worker thread (threads: 1, the control, has one)', async () => {
    const before = workerThreads();
    const threaded = track(createServer({ threads: 1, ...echoOptions() }));
    await threaded.listen(0, '127.0.0.1');
    expect(workerThreads()).toBe(before + 1);
    await threaded.close();
    await waitFor(() => workerThreads() === before, 2000, 'the worker thread to end');

    const { url } = await inlineServer(echoOptions());
    const c = await connect('ws', url);
    c.send('through the JS thread only');
    expect((await c.next()).data).toBe('through the JS thread only');
    expect(workerThreads()).toBe(before);
  });

  it('messages arrive while the JS thread is idle, in order, from ws and undici clients', async () => {
    const { url, server } = await inlineServer(echoOptions());
    for (const kind of ['ws', 'undici'] as const) {
      const c = await connect(kind, url);
      for (let i = 0; i < 100; i++) c.send(`${kind} ${i}`);
      c.send(new Uint8Array([1, 2, 3]));
      for (let i = 0; i < 100; i++) expect((await c.next()).data).toBe(`${kind} ${i}`);
      expect(Buffer.from((await c.next()).data as Uint8Array)).toEqual(Buffer.from([1, 2, 3]));
    }
    expect(server.connections).toBe(2);
    expect(server.stats().messages.in).toBe(202);
  });

  it('a reply sent from the handler is written in the loop turn that read the message: one worker iteration per round trip', async () => {
    const { url, server } = await inlineServer(echoOptions());
    const c = await connect('ws', url);
    c.send('warm');
    await c.next();
    const before = server.stats().workers[0].loopIterations;
    const ROUND_TRIPS = 200;
    for (let i = 0; i < ROUND_TRIPS; i++) {
      c.send(`m ${i}`);
      expect((await c.next()).data).toBe(`m ${i}`);
    }
    const turns = server.stats().workers[0].loopIterations - before;
    // A reply left for a later turn (an idle or check callback, the next
    // poll) would make it two or more per round trip; a few spare for the
    // odd readiness that finds nothing.
    expect(turns).toBeGreaterThanOrEqual(ROUND_TRIPS);
    expect(turns).toBeLessThan(ROUND_TRIPS * 1.2);
  });

  it('sends made outside a dispatch (a timer, an interval) go out without waiting for more input', async () => {
    const { url } = await inlineServer({
      open(ws) {
        setTimeout(() => ws.send('from a timer'), 20);
        let n = 0;
        const t = setInterval(() => {
          ws.send(`tick ${n}`);
          if (++n === 3) clearInterval(t);
        }, 10);
      },
    });
    const c = await connect('ws', url);
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await c.next(2000)).data);
    expect(got.sort()).toEqual(['from a timer', 'tick 0', 'tick 1', 'tick 2']);
  });

  it('the worker\'s timers fire: the handshake timeout answers 408, the close timeout drops a peer that never answers', async () => {
    const { port, server } = await inlineServer({ handshakeTimeout: 150, closeTimeout: 150 });
    const t0 = Date.now();
    const silent = trackRaw(await RawClient.connect(port));
    const answer = await silent.readHttp(3000);
    expect(answer.status).toBe(408);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(notBefore(150));

    const closes: number[] = [];
    const { port: p2 } = await inlineServer({
      closeTimeout: 150,
      open: (ws) => ws.close(4000, 'bye'),
      close: (_ws, code) => void closes.push(code),
    });
    const deaf = await openRaw(p2);
    expect((await deaf.readFrame()).opcode).toBe(0x8); // our Close; never answered
    const t1 = Date.now();
    await waitFor(() => closes.length === 1, 3000, 'the close timeout');
    expect(Date.now() - t1).toBeGreaterThanOrEqual(notBefore(150) - 50);
    expect(server.connections).toBe(0);
  });

  it('the heartbeat pings a quiet client and the idle timeout closes a silent one', async () => {
    const { port } = await inlineServer({ pingInterval: 0.1, idleTimeout: 0.3 });
    const raw = await openRaw(port);
    const ping = await raw.readFrame(2000);
    expect(ping.opcode).toBe(0x9);
    let close = await raw.readFrame(2000); // pings are never answered: the idle timeout comes
    while (close.opcode === 0x9) close = await raw.readFrame(2000);
    expect(close.opcode).toBe(0x8);
    expect(close.payload.readUInt16BE(0)).toBe(1001);
  });

  it('close() from inside a message handler: the client gets 1001 and close() resolves', async () => {
    const { url, server } = await inlineServer({
      message(ws) {
        ws.send('last words');
        void server.close({ code: 1001 });
      },
    });
    const c = await connect('ws', url);
    c.send('close the server');
    expect((await c.next()).data).toBe('last words');
    expect((await c.closed).code).toBe(1001);
    await server.close();
    expect(server.address()).toBeNull();
  });

  it('a long synchronous handler holds up I/O meanwhile but loses nothing: every message is echoed, in order', async () => {
    let blocked = false;
    const { url } = await inlineServer({
      message(ws, data, isBinary) {
        if (!blocked) {
          blocked = true;
          const until = Date.now() + 300;
          while (Date.now() < until) {
            // the JS thread, and so the inline loop, is busy
          }
        }
        ws.send(data, { binary: isBinary });
      },
    });
    const c = await connect('ws', url);
    const payload = 'x'.repeat(1000);
    for (let i = 0; i < 2000; i++) c.send(`${i} ${payload}`);
    for (let i = 0; i < 2000; i++) expect((await c.next(10_000)).data).toBe(`${i} ${payload}`);
  });

  it('handlers run as event-loop callbacks: an async context, and microtasks run before the next batch', async () => {
    const order: string[] = [];
    const ids: number[] = [];
    const { url } = await inlineServer({
      message(ws, data) {
        ids.push(executionAsyncId());
        order.push(`handler ${String(data)}`);
        void Promise.resolve().then(() => {
          order.push(`microtask ${String(data)}`);
          ws.send(data);
        });
      },
    });
    const c = await connect('ws', url);
    c.send('a');
    expect((await c.next()).data).toBe('a');
    c.send('b');
    expect((await c.next()).data).toBe('b');
    expect(order).toEqual(['handler a', 'microtask a', 'handler b', 'microtask b']);
    expect(ids.every((id) => id > 1)).toBe(true);
  });

  it('upgrade hook answered later (a promise), publish and subscribe, stats', async () => {
    const { url, server } = await inlineServer({
      upgrade: async () => {
        await sleep(10);
        return { accept: true, data: 'late' };
      },
      open(ws) {
        ws.subscribe('room');
      },
      message(_ws, data) {
        server.publish('room', data);
      },
    });
    const a = await connect('ws', url);
    const b = await connect('ws', url);
    await waitFor(() => server.subscribers('room') === 2, 2000, 'two subscribers');
    a.send('to everyone');
    expect((await a.next()).data).toBe('to everyone');
    expect((await b.next()).data).toBe('to everyone');
    const s = server.stats();
    expect(s.connections.open).toBe(2);
    expect(s.jsHopLatencyUs.count).toBeGreaterThan(0);
  });

  it('a client that never reads is held to maxBackpressure (the server stops queueing)', async () => {
    let drops = 0;
    const { port, server } = await inlineServer({
      maxBackpressure: 256 * 1024,
      backpressurePolicy: 'drop',
      open(ws) {
        const chunk = Buffer.alloc(64 * 1024, 1);
        for (let i = 0; i < 200; i++) if (ws.send(chunk) !== 0) drops++;
      },
    });
    const raw = await openRaw(port); // reads nothing from here on
    raw.socket.pause();
    await waitFor(() => drops > 0, 3000, 'sends refused');
    // 12.5 MiB offered; what the connection holds stays near its bound.
    expect(server.stats().backpressure.drops).toBeGreaterThan(0);
    expect(drops).toBeGreaterThan(150);
  });

  it.each(['terminate', 'exit'])('a worker_thread with an inline server under traffic ends (%s) without a crash', async (mode) => {
    const r = await runFixture('worker-under-load.cjs', [mode, '6', '0'], 30_000);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.lines).toContain('DONE');
  }, 40_000);

  it('process.exit() with open connections: the process exits with 0 and the client sees the connection end', async () => {
    const child = spawn(process.execPath, [path.join(FIXTURES, 'child-server.cjs'), 'exit', '0'], { stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (code, signal) => r([code, signal])));
    await waitFor(() => /PORT \d+/.test(out), 10_000, 'the child to listen');
    const port = Number(/PORT (\d+)/.exec(out)![1]);
    const c = new WS(`ws://127.0.0.1:${port}`);
    const closed = new Promise<number>((r) => c.once('close', (code) => r(code)));
    await new Promise((r) => c.once('open', r));
    await waitFor(() => out.includes('OPEN 1'), 5000, 'the open');
    child.stdin.write('go\n');
    expect(await exited).toEqual([0, null]);
    expect([1001, 1006]).toContain(await closed);
  });

  it('a raw upgrade split over several writes with pauses is read as the loop sees each part', async () => {
    const { port } = await inlineServer(echoOptions());
    const raw = trackRaw(await RawClient.connect(port));
    const req = upgradeRequest('/');
    for (let i = 0; i < req.length; i += 16) {
      raw.write(req.slice(i, i + 16));
      await sleep(2);
    }
    expect((await raw.readHttp()).status).toBe(101);
  });
});
