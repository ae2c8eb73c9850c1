// Starting and stopping: no leaked descriptors or threads over many cycles,
// closing with clients connected, processes and worker_threads that end with
// servers still running.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, WebSocket } from '../src/index';
import { closeAllClients, closeAllServers, connect, serve, sleep, track, type TestClient } from './helpers/clients';
import { RawClient } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';

const FIXTURES = path.join(__dirname, 'fixtures');
const DIST = path.join(__dirname, '..', 'dist', 'index.js');

const fdCount = (): number => fs.readdirSync('/proc/self/fd').length;
const threadCount = (): number => fs.readdirSync('/proc/self/task').length;
/** corews's own threads (named corews-w<n>): the total also moves when V8 starts helpers lazily. */
const corewsThreads = (): number =>
  fs.readdirSync('/proc/self/task').filter((t) => {
    try {
      return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('corews-');
    } catch {
      return false; // the thread ended while we looked
    }
  }).length;

afterEach(async () => {
  await closeAllClients();
  await closeAllServers();
});

/** Connection attempts to `port` are refused (nothing listens there any more). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed by us after `ms`. */
  timedOut: boolean;
  lines: string[];
  stderr: string;
}

/** Runs a fixture script in a child node process until it ends (SIGKILL after `ms`). */
function runFixture(script: string, args: string[], ms: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [path.join(FIXTURES, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let timedOut = false;
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, ms);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, signal, timedOut, lines: out.split('\n').filter((l) => l !== ''), stderr }));
    });
  });
}

describe('listen/close cycles', () => {
  it('50 listen/close cycles leak no file descriptors or threads', async () => {
    // A thread started from a worker inherits its name (the sanitizer
    // runtime's helper does, under ASan), so the baseline is taken after the
    // warm-up; with it, each cycle must add exactly two threads and leave none.
    let base = 0;
    const cycle = async (): Promise<void> => {
      const server = track(createServer({ threads: 2, ...echoOptions() }));
      await server.listen(0, '127.0.0.1');
      expect(corewsThreads()).toBe(base + 2);
      await server.close();
    };
    base = corewsThreads();
    await cycle(); // warm-up
    base = corewsThreads();
    const fds = fdCount();
    for (let i = 0; i < 50; i++) {
      await cycle();
      // Threads are joined before close() resolves, but the kernel lists a
      // joined thread under /proc/self/task until it has finished exiting,
      // a moment after join() returns (seen under the sanitizers with the
      // machine loaded). A leaked thread would stay.
      await waitFor(() => corewsThreads() === base, 1000, 'the joined threads gone from /proc').catch(() => undefined);
      expect(corewsThreads()).toBe(base);
    }
    await waitFor(() => fdCount() === fds, 2000, `fd count back to ${fds}`).catch(() => undefined);
    expect(fdCount()).toBe(fds);
  });

  it("closing with connected clients: clients and close handlers see 1001 'server shutting down', nothing leaks", async () => {
    // Why 1001 and never 1006: server.close() is the graceful path
    // (Worker::shutdown_gracefully), which sends Close 1001 to every open
    // connection (send_close records 1001 as its close code) and then waits
    // for each peer's answering Close and FIN before destroying it (up to
    // closeTimeout, 5 s, per connection, and close()'s own 10 s overall); the
    // worker stops (stop_all) only once none is left. No connection is
    // dropped without a Close, so there is no abnormal closure (1006): the
    // clients read our 1001, and the close handlers hear the code they echo,
    // 1001 too (a peer that only sent FIN would leave our 1001). The traffic
    // in flight changes nothing: the server keeps reading until the peer's
    // FIN, so no unread bytes turn the close into a reset.
    const cycle = async (i: number): Promise<void> => {
      const closes: { code: number; state: number }[] = [];
      let opens = 0;
      const { server, url } = await serve({
        threads: 2,
        ...echoOptions(),
        open() {
          opens++;
        },
        close(ws, code) {
          closes.push({ code, state: ws.readyState });
        },
      });
      const clients: TestClient[] = await Promise.all(
        Array.from({ length: 6 }, (_, j) => connect((i + j) % 2 ? 'ws' : 'undici', url)),
      );
      await waitFor(() => opens === 6, 5000, 'six opens');
      // Some traffic in flight while closing.
      clients.forEach((c) => c.send('x'.repeat(1000)));
      await server.close();
      expect(closes.length).toBe(6);
      for (const cl of closes) {
        expect(cl.code).toBe(1001);
        expect(cl.state).toBe(WebSocket.CLOSED);
      }
      expect(server.connections).toBe(0);
      const infos = await Promise.all(clients.map((c) => c.closed));
      for (const info of infos) expect(info).toEqual({ code: 1001, reason: 'server shutting down' });
    };
    await cycle(0); // warm-up
    await sleep(50);
    const fds = fdCount();
    const base = corewsThreads();
    for (let i = 1; i <= 20; i++) await cycle(i);
    expect(corewsThreads()).toBe(base);
    await waitFor(() => fdCount() === fds, 2000, `fd count back to ${fds}`).catch(() => undefined);
    expect(fdCount()).toBe(fds);
  });

  it('close({ timeout }) waits for peers that never answer the Close only up to its timeout', async () => {
    const closes: number[] = [];
    const { server, port } = await serve({ threads: 2, closeTimeout: 10_000, close: (_ws, code) => void closes.push(code) });
    const raws = await Promise.all(Array.from({ length: 4 }, () => RawClient.open(port)));
    try {
      await waitFor(() => server.connections === 4, 5000, 'four connections');
      const t0 = Date.now();
      await server.close({ timeout: 300 });
      const elapsed = Date.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(3000);
      expect(closes).toEqual([1001, 1001, 1001, 1001]);
      for (const r of raws) {
        const close = await r.readClose();
        expect(close).toMatchObject({ code: 1001, reason: 'server shutting down' });
      }
    } finally {
      for (const r of raws) r.destroy();
    }
  });

  it("a clean close gives clients 1001 'server shutting down'", async () => {
    const { server, url } = await serve({ threads: 1, ...echoOptions() });
    const c = await connect('ws', url);
    c.send('hi');
    await c.next();
    await server.close();
    expect(await c.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await refused(Number(new URL(url).port))).toBe(true);
  });
});

describe('processes', () => {
  beforeAll(() => {
    if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: build it with 'npx tsc -p tsconfig.build.json'`);
  });

  interface Child {
    proc: ChildProcessWithoutNullStreams;
    port: number;
    lines: string[];
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  }

  // The children's close timeout (how long a worker waits for a peer's
  // Close) is a minute: an exit or close that waited for it would take that
  // long, one that does not a fraction of it, however slow the machine (ASan,
  // load). No tighter bound on time: the tests check what happens, not speed.
  const CLOSE_TIMEOUT = 60_000;

  async function startChild(mode: 'exit' | 'close', closeTimeoutMs?: number): Promise<Child> {
    const args = closeTimeoutMs === undefined ? [] : ['2', String(closeTimeoutMs)];
    const proc = spawn(process.execPath, [path.join(FIXTURES, 'child-server.cjs'), mode, ...args], { stdio: 'pipe' });
    const lines: string[] = [];
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    void exited.then(() => clearTimeout(timer));
    await waitFor(() => lines.some((l) => l.startsWith('PORT ')) || proc.exitCode !== null, 10_000, 'the child to listen').catch(
      () => undefined,
    );
    const portLine = lines.find((l) => l.startsWith('PORT '));
    if (!portLine) {
      proc.kill('SIGKILL');
      throw new Error(`the child did not start: ${stderr}`);
    }
    return { proc, port: Number(portLine.slice(5)), lines, exited };
  }

  it.each([1, 2])('close() while listen() is pending (threads %i): close resolves, nothing listens, the process exits', async (threads) => {
    const r = await runFixture('close-during-listen.cjs', [String(threads)], 8000);
    expect(r.stderr).toBe('');
    // listen may resolve or reject, but close() must complete and stop everything.
    expect(r.lines.slice(1)).toEqual(['CLOSED', 'AFTER-CLOSE refused']);
    expect(r).toMatchObject({ code: 0, signal: null, timedOut: false });
  });

  it('a child that calls process.exit(0) with open connections exits with code 0, not waiting for their closing handshakes', async () => {
    const child = await startChild('exit', CLOSE_TIMEOUT);
    try {
      const url = `ws://127.0.0.1:${child.port}`;
      const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => connect(i % 2 ? 'ws' : 'undici', url)));
      await waitFor(() => child.lines.includes('OPEN 10'), 5000, 'ten opens in the child');
      clients[0].send('ping');
      expect((await clients[0].next()).data).toBe('ping');
      // Keep messages flowing both ways while the child exits.
      let pumping = true;
      const payload = Buffer.alloc(8000, 7);
      for (const c of clients) {
        const pump = (): void => {
          if (!pumping || c.isClosed) return;
          c.send(payload);
          setImmediate(pump);
        };
        pump();
      }
      await sleep(30);
      const t0 = Date.now();
      child.proc.stdin.write('go\n');
      const end = await child.exited;
      pumping = false;
      expect(end).toMatchObject({ code: 0, signal: null });
      expect(end.at - t0).toBeLessThan(CLOSE_TIMEOUT / 2);
      const infos = await Promise.all(clients.map((c) => c.closed));
      for (const info of infos) expect([1001, 1006]).toContain(info.code);
    } finally {
      child.proc.kill('SIGKILL');
    }
  });

  it('a child that calls server.close() with open connections then exits by itself with code 0', async () => {
    const child = await startChild('close', CLOSE_TIMEOUT);
    try {
      const url = `ws://127.0.0.1:${child.port}`;
      const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => connect(i % 2 ? 'ws' : 'undici', url)));
      await waitFor(() => child.lines.includes('OPEN 10'), 5000, 'ten opens in the child');
      const t0 = Date.now();
      child.proc.stdin.write('go\n');
      const end = await child.exited;
      expect(end).toMatchObject({ code: 0, signal: null });
      expect(end.at - t0).toBeLessThan(CLOSE_TIMEOUT / 2);
      expect(child.lines).toContain('CLOSED 10');
      const infos = await Promise.all(clients.map((c) => c.closed));
      for (const info of infos) expect(info.code).toBe(1001);
    } finally {
      child.proc.kill('SIGKILL');
    }
  });
});

describe('worker_threads', () => {
  beforeAll(() => {
    if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: build it with 'npx tsc -p tsconfig.build.json'`);
  });

  type FromWorker =
    | { type: 'listening'; port: number }
    | { type: 'open'; count: number }
    | { type: 'closed'; count: number }
    | { type: 'error'; message: string };

  interface Running {
    worker: Worker;
    port: number;
    opens: () => number;
    messages: FromWorker[];
    exited: Promise<number>;
  }

  const workers = new Set<Worker>();
  afterEach(async () => {
    await Promise.all([...workers].map((w) => w.terminate()));
    workers.clear();
  });

  async function startWorker(port: number): Promise<Running> {
    const worker = new Worker(path.join(FIXTURES, 'reuseport-worker.cjs'), { workerData: { port } });
    workers.add(worker);
    const messages: FromWorker[] = [];
    let opens = 0;
    worker.on('message', (m: FromWorker) => {
      messages.push(m);
      if (m.type === 'open') opens = m.count;
    });
    const errors: unknown[] = [];
    worker.on('error', (e) => errors.push(e));
    const exited = new Promise<number>((r) => worker.once('exit', r));
    await waitFor(() => messages.some((m) => m.type === 'listening' || m.type === 'error') || errors.length > 0, 10_000, 'the worker to listen');
    const first = messages.find((m) => m.type === 'listening' || m.type === 'error');
    if (first?.type !== 'listening') throw new Error(`worker failed: ${JSON.stringify(first)} ${String(errors[0])}`);
    return { worker, port: first.port, opens: () => opens, messages, exited };
  }

  it('two workers share one port (SO_REUSEPORT); terminating them with open connections does not crash', async () => {
    const fds = fdCount();
    const a = await startWorker(0);
    const b = await startWorker(a.port);
    expect(b.port).toBe(a.port);
    const url = `ws://127.0.0.1:${a.port}`;
    const clients = await Promise.all(Array.from({ length: 40 }, (_, i) => connect(i % 2 ? 'ws' : 'undici', url)));
    await waitFor(() => a.opens() + b.opens() === 40, 5000, '40 opens across both workers');
    expect(a.opens()).toBeGreaterThan(0);
    expect(b.opens()).toBeGreaterThan(0);
    await Promise.all(
      clients.map(async (c, i) => {
        c.send(`m${i}`);
        expect((await c.next()).data).toBe(`m${i}`);
      }),
    );
    // Terminate both with everything still open.
    await Promise.all([a.worker.terminate(), b.worker.terminate()]);
    await Promise.all([a.exited, b.exited]);
    const infos = await Promise.all(clients.map((c) => c.closed));
    for (const info of infos) expect([1001, 1006]).toContain(info.code);
    expect(await refused(a.port)).toBe(true);
    // The main thread carries on.
    const { url: mainUrl } = await serve({ threads: 2, ...echoOptions() });
    const c = await connect('ws', mainUrl);
    c.send('main still fine');
    expect((await c.next()).data).toBe('main still fine');
    c.close();
    await c.closed;
    await closeAllServers();
    await waitFor(() => fdCount() <= fds, 2000, 'fds released').catch(() => undefined);
    expect(fdCount()).toBeLessThanOrEqual(fds);
  });

  it('a worker that calls process.exit() with its server listening and connections open', async () => {
    const w = await startWorker(0);
    const url = `ws://127.0.0.1:${w.port}`;
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect('ws', url)));
    await waitFor(() => w.opens() === 5, 5000, 'five opens');
    w.worker.postMessage('exit');
    expect(await w.exited).toBe(0);
    const infos = await Promise.all(clients.map((c) => c.closed));
    for (const info of infos) expect([1001, 1006]).toContain(info.code);
    expect(await refused(w.port)).toBe(true);
    // Another worker can take the port afterwards, and the main thread still serves.
    const again = await startWorker(w.port);
    expect(again.port).toBe(w.port);
    const c = await connect('undici', url);
    c.send('again');
    expect((await c.next()).data).toBe('again');
  });

  it('a worker that closes its server cleanly, then is terminated', async () => {
    const w = await startWorker(0);
    const url = `ws://127.0.0.1:${w.port}`;
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect('undici', url)));
    await waitFor(() => w.opens() === 5, 5000, 'five opens');
    w.worker.postMessage('close');
    await waitFor(() => w.messages.some((m) => m.type === 'closed'), 5000, 'the worker server to close');
    const infos = await Promise.all(clients.map((c) => c.closed));
    for (const info of infos) expect(info.code).toBe(1001);
    await w.worker.terminate();
    expect(await refused(w.port)).toBe(true);
  });

  // Run in a child process: a crash there is reported as a signal instead of
  // killing the test runner.
  it.each(['terminate', 'exit'])(
    'ending workers (%s) while clients keep sending does not crash the process',
    async (mode) => {
      const r = await runFixture('worker-under-load.cjs', [mode, '10'], 20_000);
      expect(r.stderr).toBe('');
      expect(r.signal).toBeNull();
      expect(r.code).toBe(0);
      expect(r.lines).toContain('DONE');
    },
    30_000,
  );

  it('terminating a worker right after it started listening (no connections) is fine, repeatedly', async () => {
    const threads = threadCount();
    const base = corewsThreads();
    for (let i = 0; i < 10; i++) {
      const w = await startWorker(0);
      await w.worker.terminate();
      expect(await refused(w.port)).toBe(true);
    }
    await waitFor(() => threadCount() === threads, 2000, 'threads back').catch(() => undefined);
    expect(threadCount()).toBe(threads);
    expect(corewsThreads()).toBe(base);
  });
});
