// Native topics (publish/subscribe): delivery exactly once, in publish order and
// with the right frame type; ordering against direct sends; subscriber counts
// against a model through seeded churn; fan-out to 5,000 subscribers; a
// subscriber that never reads; bad arguments; publish outside listen…close.
// Every suite runs on a one-thread and a two-thread server.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, WebSocket, type Payload, type SendOptions, type Server, type ServerOptions } from '../src/index';
import { closeAllClients, closeAllServers, connect, serve, sleep, track, type Received, type TestClient } from './helpers/clients';
import { RawClient } from './helpers/raw-client';
import { waitFor } from './helpers/server';

type Sock = WebSocket<unknown>;

// ------------------------------------------------------------------ cleanup

/** Lean `ws` clients (the 5,000-subscriber and slow-subscriber tests), terminated after each test. */
const bulkClients = new Set<WS>();
/** Child servers (the slow-subscriber test), ended after each test. */
const children = new Set<ChildProcessWithoutNullStreams>();

afterEach(async () => {
  for (const c of bulkClients) c.terminate();
  bulkClients.clear();
  await Promise.all([...children].map((p) => endChild(p)));
  children.clear();
  await closeAllClients();
  await closeAllServers();
});

// ------------------------------------------------------------------ helpers

/** Deterministic PRNG (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface TopicServer {
  server: Server<unknown>;
  url: string;
  port: number;
  /** Server-side sockets by the `id` of their URL, as they opened. */
  byId: Map<string, Sock>;
  /** What the handlers threw (reported through the `error` option). */
  errors: unknown[];
}

function query(ws: Sock): URLSearchParams {
  return new URL(ws.url, 'http://localhost').searchParams;
}

/**
 * A server whose connections to `/?id=<id>&sub=<topic,topic>` subscribe to those
 * topics in their `open` handler and are recorded by id.
 */
async function topicServer(threads: number, extra: ServerOptions<unknown> = {}): Promise<TopicServer> {
  const byId = new Map<string, Sock>();
  const errors: unknown[] = [];
  const started = await serve<unknown>({
    error: (err) => void errors.push(err),
    ...extra,
    threads,
    open(ws) {
      const q = query(ws);
      for (const topic of (q.get('sub') ?? '').split(',')) if (topic !== '') ws.subscribe(topic);
      const id = q.get('id');
      if (id !== null) byId.set(id, ws);
      extra.open?.(ws);
    },
  });
  return { ...started, byId, errors };
}

function clientUrl(base: string, id: string, topics: readonly string[]): string {
  return `${base}/?id=${encodeURIComponent(id)}&sub=${encodeURIComponent(topics.join(','))}`;
}

interface Peer {
  id: string;
  /** The client end. */
  c: TestClient;
  /** The server end. */
  ws: Sock;
}

/** A `ws` client subscribed (by the server's open handler) to `topics`; resolves once the server has opened it. */
async function open(t: TopicServer, id: string, topics: readonly string[] = []): Promise<Peer> {
  const c = await connect('ws', clientUrl(t.url, id, topics));
  await waitFor(() => t.byId.has(id), 5000, `the server to open ${id}`);
  return { id, c, ws: t.byId.get(id)! };
}

/**
 * Opens subscribers of `topics` (ids prefix0, prefix1, …) until there are at least
 * `min` and every worker has at least `perWorker` of them.
 */
async function openSpread(t: TopicServer, prefix: string, topics: readonly string[], perWorker: number, min: number): Promise<Peer[]> {
  const peers: Peer[] = [];
  const perWorkerCounts = (): number[] => {
    const n = new Array<number>(t.server.threads).fill(0);
    for (const p of peers) n[p.ws._worker]++;
    return n;
  };
  while (peers.length < min || perWorkerCounts().some((n) => n < perWorker)) {
    if (peers.length >= 64) throw new Error(`64 connections, spread over the workers as ${perWorkerCounts().join('/')}`);
    const base = peers.length;
    peers.push(...(await Promise.all(Array.from({ length: 4 }, (_, k) => open(t, `${prefix}${base + k}`, topics)))));
  }
  return peers;
}

/** "T:<text>" or "B:<bytes as UTF-8>". */
function label(r: Received): string {
  return r.binary ? `B:${(r.data as Buffer).toString()}` : `T:${r.data as string}`;
}

/** Everything `c` receives before the text message `marker`, as labels. */
async function collectUntil(c: TestClient, marker: string, ms = 10_000): Promise<string[]> {
  const out: string[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    let r: Received;
    try {
      r = await c.next(Math.max(1, deadline - Date.now()));
    } catch (err) {
      throw new Error(`no "${marker}" after ${out.length} messages (last: ${out.slice(-3).join(', ')}): ${String(err)}`);
    }
    if (!r.binary && r.data === marker) return out;
    out.push(label(r));
  }
}

/** Sends `marker` to every socket the server has opened and not closed. */
function sendToAll(t: TopicServer, marker: string): void {
  for (const ws of t.byId.values()) ws.send(marker);
}

/** The soft RLIMIT_NOFILE of this process, from /proc/self/limits (NaN when unknown). */
function softFdLimit(): number {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return NaN;
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  if (line === undefined) return NaN;
  const soft = line.split(/\s{2,}/)[1];
  return soft === 'unlimited' ? Infinity : Number(soft);
}

/** A lean `ws` client; `onMessage` sees every message. Terminated after the test. */
function openBulk(url: string, onMessage: (data: Buffer, isBinary: boolean) => void): Promise<WS> {
  return new Promise((resolve, reject) => {
    const c = new WS(url, { perMessageDeflate: false });
    bulkClients.add(c);
    c.on('message', (data, isBinary) => {
      onMessage(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data), isBinary);
    });
    c.once('open', () => resolve(c));
    c.on('error', reject);
    c.on('close', () => bulkClients.delete(c));
  });
}

/** One published message's payload: `data` with `options`, and how a client must see it. */
interface Variant {
  data: Payload;
  options: SendOptions | undefined;
  expect: string;
}

/**
 * The i-th message of a typed stream: text, Buffer, string as binary, a
 * Uint8Array and a DataView into the middle of a bigger buffer, an ArrayBuffer,
 * and a Buffer sent as text.
 */
function variant(prefix: string, i: number): Variant {
  const s = i % 3 === 0 ? `${prefix}${i}-ü€😀` : `${prefix}${i}`;
  const inMiddle = (): Buffer => {
    const whole = Buffer.from(`<<<${s}>>>`);
    return whole.subarray(3, 3 + Buffer.byteLength(s));
  };
  switch (i % 7) {
    case 0:
      return { data: s, options: undefined, expect: `T:${s}` };
    case 1:
      return { data: Buffer.from(s), options: undefined, expect: `B:${s}` };
    case 2:
      return { data: s, options: { binary: true }, expect: `B:${s}` };
    case 3: {
      const b = inMiddle();
      return { data: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), options: undefined, expect: `B:${s}` };
    }
    case 4:
      return { data: Uint8Array.from(Buffer.from(s)).buffer, options: undefined, expect: `B:${s}` };
    case 5:
      return { data: Buffer.from(s), options: { binary: false }, expect: `T:${s}` };
    default: {
      const b = inMiddle();
      return { data: new DataView(b.buffer, b.byteOffset, b.byteLength), options: undefined, expect: `B:${s}` };
    }
  }
}

// ------------------------------------------------------------------ child server (slow subscriber)

const FIXTURE = path.join(__dirname, 'fixtures', 'topic-server.cjs');
const DIST = path.join(__dirname, '..', 'dist', 'index.js');

interface ChildServer {
  proc: ChildProcessWithoutNullStreams;
  port: number;
  lines: string[];
  stderr: () => string;
  /** Writes a command and resolves with the next line starting with `answer`. */
  request(command: string, answer: string, ms?: number): Promise<string>;
}

async function startChild(threads: number): Promise<ChildServer> {
  if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: build it with 'npx tsc -p tsconfig.build.json'`);
  const proc = spawn(process.execPath, [FIXTURE, String(threads)], { stdio: 'pipe' });
  children.add(proc);
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
  let seen = 0;
  const request = async (command: string, answer: string, ms = 10_000): Promise<string> => {
    proc.stdin.write(`${command}\n`);
    let found: string | undefined;
    await waitFor(
      () => {
        for (; seen < lines.length && found === undefined; seen++) if (lines[seen].startsWith(answer)) found = lines[seen];
        return found !== undefined || proc.exitCode !== null || proc.signalCode !== null;
      },
      ms,
      `"${answer}" from the child server`,
    );
    if (found === undefined) throw new Error(`the child server ended (${proc.exitCode ?? proc.signalCode}): ${stderr}`);
    return found;
  };
  await waitFor(() => lines.some((l) => l.startsWith('PORT ')) || proc.exitCode !== null, 10_000, 'the child server to listen');
  const portLine = lines.find((l) => l.startsWith('PORT '));
  if (portLine === undefined) throw new Error(`the child server did not start: ${stderr}`);
  return { proc, port: Number(portLine.slice(5)), lines, stderr: () => stderr, request };
}

/** Closes the child's stdin (it then closes its server and exits); SIGKILL after 5 s. */
async function endChild(proc: ChildProcessWithoutNullStreams): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.stdin.end();
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** A subscriber of the child server's numbered messages (see topic-server.cjs) that checks each one. */
interface Flooded {
  id: string;
  /** Messages received. */
  count: number;
  /** Sequence number of the last one (-1: none yet). */
  last: number;
}

/**
 * Opens a `ws` client to the child server subscribed to `topic`. Every message must be binary,
 * `size` bytes, numbered above the previous one, and filled with its number's low byte
 * (the child reuses one buffer: a shared frame that was not copied would show).
 */
async function openFlooded(base: string, id: string, topic: string, size: number, bad: string[]): Promise<Flooded> {
  const f: Flooded = { id, count: 0, last: -1 };
  await openBulk(`${base}/?id=${id}&sub=${topic}`, (data, isBinary) => {
    f.count++;
    const seq = data.length >= 4 ? data.readUInt32BE(0) : -1;
    const fill = seq & 0xff;
    const ok = isBinary && data.length === size && seq > f.last && data[4] === fill && data[size >> 1] === fill && data[size - 1] === fill;
    if (!ok && bad.length < 10) bad.push(`${id}: message #${f.count} is ${isBinary ? 'binary' : 'text'}, ${data.length} bytes, seq ${seq} after ${f.last}`);
    f.last = seq;
  });
  return f;
}

// ------------------------------------------------------------------ tests

describe.each([1, 2])('topics on a server with %i thread(s)', (threads) => {
  it('ws.publish reaches every other subscriber once, in order; never the sender (subscribed or not) nor non-subscribers', async () => {
    let dones = 0;
    const returned: boolean[] = [];
    const t: TopicServer = await topicServer(threads, {
      message(ws, data, isBinary) {
        const text = isBinary ? (data as Buffer).toString() : (data as string);
        if (text === 'done') {
          if (++dones === 2) sendToAll(t, 'end');
          return;
        }
        returned.push(ws.publish('t', data, { binary: isBinary }));
      },
    });
    const subs = await openSpread(t, 's', ['t'], 2, 6);
    const p = await open(t, 'P', ['t']); // publisher, subscribed itself
    const q = await open(t, 'Q'); // publisher, not subscribed
    const other = await open(t, 'O', ['other']);
    const none = await open(t, 'N');
    expect(t.server.subscribers('t')).toBe(subs.length + 1);
    expect(t.server.subscribers('other')).toBe(1);

    // P publishes 500 numbered messages, Q 250, interleaved; odd ones binary.
    const pExpect: string[] = [];
    const qExpect: string[] = [];
    for (let i = 0; i < 500; i++) {
      const binary = i % 2 === 1;
      p.c.send(binary ? Buffer.from(`P${i}`) : `P${i}`);
      pExpect.push(`${binary ? 'B' : 'T'}:P${i}`);
      if (i < 250) {
        q.c.send(binary ? Buffer.from(`Q${i}`) : `Q${i}`);
        qExpect.push(`${binary ? 'B' : 'T'}:Q${i}`);
      }
    }
    p.c.send('done');
    q.c.send('done');

    const only = (got: string[], who: 'P' | 'Q'): string[] => got.filter((l) => l.slice(2, 3) === who);
    for (const s of subs) {
      const got = await collectUntil(s.c, 'end');
      expect(got.length, `subscriber ${s.id} (worker ${s.ws._worker})`).toBe(750);
      expect(only(got, 'P'), `subscriber ${s.id}: P's messages`).toEqual(pExpect);
      expect(only(got, 'Q'), `subscriber ${s.id}: Q's messages`).toEqual(qExpect);
    }
    expect(await collectUntil(p.c, 'end'), 'the subscribed publisher gets the other publisher only').toEqual(qExpect);
    expect(await collectUntil(q.c, 'end'), 'the unsubscribed publisher').toEqual([]);
    expect(await collectUntil(other.c, 'end'), 'a subscriber of another topic').toEqual([]);
    expect(await collectUntil(none.c, 'end'), 'a socket without subscriptions').toEqual([]);
    expect(returned.length).toBe(750);
    expect(returned.every((r) => r)).toBe(true);

    // A sender that is the topic's only subscriber: nobody gets it, the sender neither.
    other.ws.publish('other', 'to myself?');
    expect(p.ws.publish('nobody', 'x'), 'ws.publish to a topic without subscribers').toBe(false);
    sendToAll(t, 'end2');
    for (const peer of [...subs, p, q, other, none]) expect(await collectUntil(peer.c, 'end2'), peer.id).toEqual([]);
    await sleep(20);
    for (const peer of [...subs, p, q, other, none]) expect(peer.c.queued, `${peer.id}: nothing after the marker`).toBe(0);
    expect(t.errors).toEqual([]);
  });

  it('server.publish from a timer reaches every subscriber once, in order, as text or binary by the rule of send', async () => {
    const t = await topicServer(threads);
    const subs = await openSpread(t, 's', ['t', 'x'], 2, 6);
    const other = await open(t, 'O', ['other']);
    const none = await open(t, 'N');
    expect(t.server.subscribers('t')).toBe(subs.length);

    const expected: string[] = [];
    const returned: boolean[] = [];
    const big = 'x'.repeat(70_000); // 64-bit length
    const mid = Buffer.alloc(300, 0x41); // 16-bit length
    await new Promise<void>((resolve) => {
      let i = 0;
      const timer = setInterval(() => {
        for (let k = 0; k < 50 && i < 500; k++, i++) {
          const v = variant('S', i);
          returned.push(t.server.publish('t', v.data, v.options));
          expected.push(v.expect);
        }
        if (i < 500) return;
        clearInterval(timer);
        returned.push(t.server.publish('t', ''), t.server.publish('t', new Uint8Array(0)), t.server.publish('t', big), t.server.publish('t', mid));
        expected.push('T:', 'B:', `T:${big}`, `B:${mid.toString()}`);
        sendToAll(t, 'end');
        resolve();
      }, 1);
    });
    expect(returned.length).toBe(504);
    expect(returned.every((r) => r)).toBe(true);
    expect(t.server.publish('nobody', 'x'), 'server.publish to a topic without subscribers').toBe(false);

    for (const s of subs) expect(await collectUntil(s.c, 'end'), `subscriber ${s.id} (worker ${s.ws._worker})`).toEqual(expected);
    expect(await collectUntil(other.c, 'end'), 'a subscriber of another topic').toEqual([]);
    expect(await collectUntil(none.c, 'end'), 'a socket without subscriptions').toEqual([]);
    await sleep(20);
    for (const peer of [...subs, other, none]) expect(peer.c.queued, `${peer.id}: nothing after the marker`).toBe(0);
    expect(t.errors).toEqual([]);
  });

  it("a handler's sends and publishes reach each socket in the order they were issued", async () => {
    const t: TopicServer = await topicServer(threads, {
      message(ws, data) {
        if (data === 'go1') {
          // The socket is a subscriber itself: a0 b0 c0 a1 b1 c1 …
          for (let i = 0; i < 100; i++) {
            ws.send(`a${i}`);
            t.server.publish('t', `b${i}`);
            ws.send(`c${i}`);
          }
          sendToAll(t, 'end1');
        } else if (data === 'go2') {
          // Sends to every subscriber (on any worker) around this socket's publishes.
          const everyone = [...t.byId.values()].filter((s) => s.isSubscribed('t'));
          for (let i = 0; i < 100; i++) {
            for (const s of everyone) s.send(`d${i}`);
            ws.publish('t', Buffer.from(`e${i}`));
            for (const s of everyone) s.send(`f${i}`);
          }
          sendToAll(t, 'end2');
        }
      },
    });
    const x = await open(t, 'X', ['t']);
    const subs = await openSpread(t, 's', ['t'], 2, 4);
    const none = await open(t, 'N');
    // With two workers, X has peers on its own worker and on the other.
    if (threads === 2) expect(new Set(subs.map((s) => s.ws._worker)).size).toBe(2);

    x.c.send('go1');
    const xs1: string[] = [];
    const bs: string[] = [];
    for (let i = 0; i < 100; i++) {
      xs1.push(`T:a${i}`, `T:b${i}`, `T:c${i}`);
      bs.push(`T:b${i}`);
    }
    expect(await collectUntil(x.c, 'end1'), 'the publishing subscriber').toEqual(xs1);
    for (const s of subs) expect(await collectUntil(s.c, 'end1'), `subscriber ${s.id} (worker ${s.ws._worker})`).toEqual(bs);
    expect(await collectUntil(none.c, 'end1')).toEqual([]);

    x.c.send('go2');
    const xs2: string[] = [];
    const ys2: string[] = [];
    for (let i = 0; i < 100; i++) {
      xs2.push(`T:d${i}`, `T:f${i}`);
      ys2.push(`T:d${i}`, `B:e${i}`, `T:f${i}`);
    }
    expect(await collectUntil(x.c, 'end2'), 'the publisher (skipped by its own publish)').toEqual(xs2);
    for (const s of subs) expect(await collectUntil(s.c, 'end2'), `subscriber ${s.id} (worker ${s.ws._worker})`).toEqual(ys2);
    expect(await collectUntil(none.c, 'end2')).toEqual([]);
    expect(t.errors).toEqual([]);
  });

  it('subscribe and unsubscribe take effect for the very next publish, on every worker, inside and outside handlers', async () => {
    const returned: boolean[][] = [];
    /** Subscribes every peer, publishes, unsubscribes all, publishes, resubscribes (a new topic id), unsubscribes half, publishes. */
    const script = (peers: Sock[], tag: string): void => {
      const r: boolean[] = [];
      for (const p of peers) r.push(p.subscribe('late'));
      r.push(t.server.publish('late', `${tag}1`));
      for (const p of peers) r.push(p.unsubscribe('late'));
      r.push(t.server.publish('late', `${tag}2`));
      for (const p of peers) r.push(p.subscribe('late'));
      r.push(t.server.publish('late', `${tag}3`));
      peers.forEach((p, i) => i % 2 === 1 && r.push(p.unsubscribe('late')));
      r.push(t.server.publish('late', `${tag}4`));
      for (const p of peers) p.unsubscribe('late');
      for (const p of peers) p.send('end');
      returned.push(r);
    };
    const t: TopicServer = await topicServer(threads, {
      message(_ws, data) {
        if (data === 'go') script(peers.map((p) => p.ws), 'H');
      },
    });
    const peers = await openSpread(t, 'p', [], 2, 4);
    const n = peers.length;
    const want = (tag: string, i: number): string[] => (i % 2 === 1 ? [`T:${tag}1`, `T:${tag}3`] : [`T:${tag}1`, `T:${tag}3`, `T:${tag}4`]);
    const wantReturned = [
      ...Array<boolean>(n).fill(true), true,
      ...Array<boolean>(n).fill(true), false,
      ...Array<boolean>(n).fill(true), true,
      ...Array<boolean>(n >> 1).fill(true), true,
    ];

    // Inside a handler (the commands leave after the batch) …
    peers[0].c.send('go');
    for (const [i, p] of peers.entries()) expect(await collectUntil(p.c, 'end'), `${p.id} (worker ${p.ws._worker})`).toEqual(want('H', i));
    // … and outside one (from a timer: the commands leave on a microtask).
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        script(peers.map((p) => p.ws), 'O');
        resolve();
      }, 1),
    );
    for (const [i, p] of peers.entries()) expect(await collectUntil(p.c, 'end'), `${p.id} (worker ${p.ws._worker})`).toEqual(want('O', i));
    expect(returned).toEqual([wantReturned, wantReturned]);
    expect(t.server.subscribers('late')).toBe(0);
    expect(t.errors).toEqual([]);
  });

  it('a publish before a close reaches the subscriber ahead of the Close; one after it does not', async () => {
    const t: TopicServer = await topicServer(threads, {
      message(_ws, data) {
        if (data !== 'go') return;
        const early = t.byId.get('early')!;
        const late = t.byId.get('late')!;
        late.close(4002, 'closed first');
        t.server.publish('t', 'last words');
        early.close(4001, 'closed after');
        t.server.publish('t', 'too late');
      },
    });
    const early = await open(t, 'early', ['t']);
    const late = await open(t, 'late', ['t']);
    const stays = await openSpread(t, 's', ['t'], 1, 2);
    stays[0].c.send('go');
    expect(await early.c.next()).toEqual({ data: 'last words', binary: false });
    expect(await early.c.closed).toEqual({ code: 4001, reason: 'closed after' });
    expect(early.c.queued).toBe(0);
    expect(await late.c.closed).toEqual({ code: 4002, reason: 'closed first' });
    expect(late.c.queued).toBe(0);
    for (const s of stays) {
      s.ws.send('end');
      expect(await collectUntil(s.c, 'end')).toEqual(['T:last words', 'T:too late']);
    }
    expect(t.errors).toEqual([]);
  });

  it('subscriptions end when the socket closes: in its close handler and after, nothing is subscribed and nothing can be published', async () => {
    interface Seen {
      topics: string[];
      isSubscribed: boolean[];
      counts: number[];
      subscribe: boolean;
      unsubscribe: boolean;
      publish: boolean;
      readyState: number;
    }
    const seen: Seen[] = [];
    const t: TopicServer = await topicServer(threads, {
      close(ws) {
        if (query(ws).get('id') !== 'A') return;
        seen.push({
          topics: ws.topics,
          isSubscribed: ['a', 'b', 'c'].map((x) => ws.isSubscribed(x)),
          counts: ['a', 'b', 'c'].map((x) => t.server.subscribers(x)),
          subscribe: ws.subscribe('d'),
          unsubscribe: ws.unsubscribe('a'),
          publish: ws.publish('a', 'from a closed socket'),
          readyState: ws.readyState,
        });
      },
    });
    const a = await open(t, 'A', ['a', 'b', 'c']);
    const b = await open(t, 'B', ['a']);
    expect(a.ws.topics.sort()).toEqual(['a', 'b', 'c']);
    expect(a.ws.topics).not.toBe(a.ws.topics); // a copy each time
    const copy = a.ws.topics;
    copy.push('mutated');
    expect(a.ws.isSubscribed('mutated')).toBe(false);
    expect(['a', 'b', 'c', 'd'].map((x) => t.server.subscribers(x))).toEqual([2, 1, 1, 0]);

    a.c.close(1000);
    await waitFor(() => seen.length === 1, 5000, "A's close handler");
    expect(seen[0]).toEqual({
      topics: [],
      isSubscribed: [false, false, false],
      counts: [1, 0, 0],
      subscribe: false,
      unsubscribe: false,
      publish: false,
      readyState: WebSocket.CLOSED,
    });
    // And after the handler.
    expect(a.ws.topics).toEqual([]);
    expect(a.ws.subscribe('a')).toBe(false);
    expect(a.ws.unsubscribe('b')).toBe(false);
    expect(a.ws.publish('a', 'x')).toBe(false);
    expect(['a', 'b', 'c', 'd'].map((x) => t.server.subscribers(x))).toEqual([1, 0, 0, 0]);
    sendToAll(t, 'end');
    expect(await collectUntil(b.c, 'end'), 'publishes of a closed socket reach nobody').toEqual([]);

    // A socket the server is closing: no new subscriptions, no publishes.
    const c = await open(t, 'C', ['a']);
    expect(t.server.subscribers('a')).toBe(2);
    c.ws.close(4000, 'bye');
    expect(c.ws.subscribe('z')).toBe(false);
    expect(c.ws.publish('a', 'from a closing socket')).toBe(false);
    expect(await c.c.closed).toEqual({ code: 4000, reason: 'bye' });
    await waitFor(() => t.server.subscribers('a') === 1, 5000, 'C to be counted out');
    expect(t.server.subscribers('z')).toBe(0);
    b.ws.send('end');
    expect(await collectUntil(b.c, 'end')).toEqual([]);
    expect(t.errors).toEqual([]);
  });

  it('counts, topics, isSubscribed and delivery follow a model through 10,000 seeded operations (subscribe, unsubscribe, publish, close) on ~200 sockets', async () => {
    const TOPICS = Array.from({ length: 20 }, (_, i) => `topic-${i}`);
    const SOCKETS = 200;
    const OPS = 10_000;
    interface Entry {
      id: number;
      c: TestClient;
      ws: Sock;
      subs: Set<string>;
      /** Labels of the publishes during the churn that must reach it, in order. */
      inbox: string[];
      /** The test closed it (client or server side); it is no longer operated on. */
      closing: boolean;
      /** Its close handler ran. */
      closed: boolean;
    }
    const model = new Map<string, number>(TOPICS.map((x) => [x, 0]));
    const bump = (topic: string, d: number): void => void model.set(topic, model.get(topic)! + d);
    const entries = new Map<Sock, Entry>();
    const pool: Entry[] = []; // open and not being closed
    const problems: string[] = [];
    const problem = (s: string): void => void (problems.length < 50 && problems.push(s));

    const t: TopicServer = await topicServer(threads, {
      close(ws) {
        const e = entries.get(ws);
        if (e === undefined) return problem(`the close handler ran for an unknown socket ${ws.url}`);
        if (!e.closing) {
          problem(`#${e.id} closed without the test closing it`);
          if (pool.includes(e)) pool.splice(pool.indexOf(e), 1);
        }
        if (ws.topics.length !== 0) problem(`#${e.id}: ws.topics in its close handler is ${JSON.stringify(ws.topics)}`);
        for (const topic of e.subs) {
          if (ws.isSubscribed(topic)) problem(`#${e.id}: isSubscribed(${topic}) in its close handler`);
          bump(topic, -1);
        }
        e.subs.clear();
        e.closed = true;
        for (const topic of TOPICS) {
          const got = t.server.subscribers(topic);
          if (got !== model.get(topic)) problem(`close handler of #${e.id}: subscribers(${topic}) = ${got}, model ${model.get(topic)}`);
        }
        if (ws.subscribe(TOPICS[0])) problem(`#${e.id}: subscribe() in its close handler returned true`);
        const busy = TOPICS.find((x) => model.get(x)! > 0);
        if (busy !== undefined && ws.publish(busy, 'from a closed socket')) problem(`#${e.id}: publish() in its close handler returned true`);
      },
    });
    const server = t.server;

    // Sockets join the pool in id order at fixed points, so that the seeded sequence of
    // operations does not depend on how fast connections open or close.
    let nextId = 0;
    let pending: Promise<void>[] = [];
    const opened: Entry[] = [];
    const add = async (): Promise<void> => {
      const p = await open(t, String(nextId++));
      const e: Entry = { id: Number(p.id), c: p.c, ws: p.ws, subs: new Set(), inbox: [], closing: false, closed: false };
      entries.set(p.ws, e);
      opened.push(e);
    };
    const join = async (): Promise<void> => {
      await Promise.all(pending);
      pending = [];
      pool.push(...opened.splice(0).sort((a, b) => a.id - b.id));
    };
    for (let i = 0; i < SOCKETS; i += 50) {
      pending.push(...Array.from({ length: 50 }, () => add()));
      await join();
    }

    const rand = mulberry32(0x5eed + threads);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const sorted = (xs: Iterable<string>): string => JSON.stringify([...xs].sort());
    const checkAll = (where: string): void => {
      for (const topic of TOPICS) {
        const got = server.subscribers(topic);
        if (got !== model.get(topic)) problem(`${where}: subscribers(${topic}) = ${got}, model ${model.get(topic)}`);
      }
      for (const e of pool) {
        if (sorted(e.ws.topics) !== sorted(e.subs)) problem(`${where}: #${e.id}.topics = ${sorted(e.ws.topics)}, model ${sorted(e.subs)}`);
        for (const topic of TOPICS) {
          if (e.ws.isSubscribed(topic) !== e.subs.has(topic)) problem(`${where}: #${e.id}.isSubscribed(${topic}) is ${!e.subs.has(topic)}`);
        }
      }
    };

    const closes = { clientTerminate: 0, clientClose: 0, serverClose: 0, serverTerminate: 0 };
    let publishes = 0;
    /** How often subscribe / unsubscribe were expected to return false (already / not subscribed). */
    const refusals = { subscribe: 0, unsubscribe: 0 };
    for (let n = 0; n < OPS && problems.length === 0; n++) {
      if (n % 100 === 0) {
        // Let close and open events in between the operations; replacements join.
        await new Promise((r) => setImmediate(r));
        if (n % 1000 === 500) await sleep(2);
        await join();
        checkAll(`before op ${n}`);
      }
      if (pool.length === 0) await join();
      const e = pick(pool);
      const r = rand();
      let touched: string | undefined;
      if (r < 0.42) {
        const topic = pick(TOPICS);
        const want = !e.subs.has(topic);
        const got = e.ws.subscribe(topic);
        if (got !== want) problem(`op ${n}: #${e.id}.subscribe(${topic}) = ${got}, model ${want}`);
        if (!want) refusals.subscribe++;
        if (want) {
          e.subs.add(topic);
          bump(topic, 1);
        }
        touched = topic;
      } else if (r < 0.8) {
        const topic = e.subs.size > 0 && rand() < 0.6 ? pick([...e.subs]) : pick(TOPICS);
        const want = e.subs.has(topic);
        const got = e.ws.unsubscribe(topic);
        if (got !== want) problem(`op ${n}: #${e.id}.unsubscribe(${topic}) = ${got}, model ${want}`);
        if (!want) refusals.unsubscribe++;
        if (want) {
          e.subs.delete(topic);
          bump(topic, -1);
        }
        touched = topic;
      } else if (r < 0.85) {
        // Publish amid the churn: exactly the sockets subscribed at this moment get it (sockets
        // being closed are not checked). From the server, or from this socket (which it skips).
        const topic = pick(TOPICS);
        const fromSocket = rand() < 0.5;
        const text = `${fromSocket ? 'w' : 's'}${n}:${topic}`;
        const got = fromSocket ? e.ws.publish(topic, Buffer.from(text)) : server.publish(topic, text);
        if (got !== model.get(topic)! > 0) problem(`op ${n}: ${fromSocket ? `#${e.id}.publish` : 'server.publish'}(${topic}) = ${got}, model ${model.get(topic)} subscribers`);
        for (const x of pool) if (x.subs.has(topic) && !(fromSocket && x === e)) x.inbox.push(`${fromSocket ? 'B' : 'T'}:${text}`);
        publishes++;
      } else if (r < 0.985) {
        const topic = pick(TOPICS);
        if (e.ws.isSubscribed(topic) !== e.subs.has(topic)) problem(`op ${n}: #${e.id}.isSubscribed(${topic}) is ${!e.subs.has(topic)}`);
        if (sorted(e.ws.topics) !== sorted(e.subs)) problem(`op ${n}: #${e.id}.topics = ${sorted(e.ws.topics)}, model ${sorted(e.subs)}`);
      } else {
        // Close it (four ways) and connect a replacement.
        pool.splice(pool.indexOf(e), 1);
        e.closing = true;
        const how = pick(['clientTerminate', 'clientClose', 'serverClose', 'serverTerminate'] as const);
        closes[how]++;
        if (how === 'clientTerminate') e.c.terminate();
        else if (how === 'clientClose') e.c.close(1000);
        else {
          if (how === 'serverClose') expect(e.ws.close(4000, 'churn')).toBe(true);
          else expect(e.ws.terminate()).toBe(true);
          // Closing: no new subscriptions, no publishes; the old ones count until it is closed.
          const topic = pick(TOPICS);
          if (e.ws.subscribe(topic)) problem(`op ${n}: subscribe(${topic}) on closing #${e.id} returned true`);
          const busy = TOPICS.find((x) => model.get(x)! > 0);
          if (busy !== undefined && e.ws.publish(busy, 'from a closing socket')) problem(`op ${n}: publish on closing #${e.id} returned true`);
          if (e.subs.size > 0 && rand() < 0.5) {
            const sub = pick([...e.subs]);
            if (!e.ws.unsubscribe(sub)) problem(`op ${n}: unsubscribe(${sub}) on closing #${e.id} returned false`);
            e.subs.delete(sub);
            bump(sub, -1);
            touched = sub;
          }
        }
        pending.push(add());
      }
      if (touched !== undefined && server.subscribers(touched) !== model.get(touched)) {
        problem(`after op ${n} on #${e.id}: subscribers(${touched}) = ${server.subscribers(touched)}, model ${model.get(touched)}`);
      }
    }
    await join();
    const all = [...entries.values()];
    await waitFor(() => all.every((e) => !e.closing || e.closed), 10_000, 'every closed socket to reach its close handler');
    checkAll('after the churn');
    expect(problems).toEqual([]);
    expect(pool.length).toBe(SOCKETS);
    expect(server.connections).toBe(SOCKETS);
    expect(Object.values(closes).reduce((x, y) => x + y)).toBeGreaterThan(100);
    expect(Object.values(closes).every((k) => k > 0)).toBe(true);
    expect(publishes).toBeGreaterThan(300);
    expect(refusals.subscribe).toBeGreaterThan(100);
    expect(refusals.unsubscribe).toBeGreaterThan(100);
    // The churn left a real mix: some topics busy, some sockets subscribed to several.
    expect([...model.values()].some((k) => k > 10)).toBe(true);
    expect(pool.some((e) => e.subs.size >= 3)).toBe(true);

    // Delivery: what the churn published, then one publish per topic from the server and one from a socket, then a marker.
    const sender = pool[0];
    const expected = new Map<Entry, string[]>(pool.map((e) => [e, [...e.inbox]]));
    for (const topic of TOPICS) {
      expect(server.publish(topic, `pub:${topic}`), `server.publish(${topic})`).toBe(model.get(topic)! > 0);
      for (const e of pool) if (e.subs.has(topic)) expected.get(e)!.push(`T:pub:${topic}`);
    }
    for (const topic of TOPICS) {
      expect(sender.ws.publish(topic, Buffer.from(`wsp:${topic}`)), `ws.publish(${topic})`).toBe(model.get(topic)! > 0);
      for (const e of pool) if (e !== sender && e.subs.has(topic)) expected.get(e)!.push(`B:wsp:${topic}`);
    }
    for (const e of pool) e.ws.send('end');
    const got = await Promise.all(pool.map((e) => collectUntil(e.c, 'end')));
    const wrong = pool
      .map((e, i) => {
        const want = expected.get(e)!;
        const at = got[i].findIndex((x, k) => x !== want[k]);
        const first = at >= 0 ? at : got[i].length !== want.length ? Math.min(got[i].length, want.length) : -1;
        return { id: e.id, count: [got[i].length, want.length], first, got: got[i][first], want: want[first] };
      })
      .filter((x) => x.first >= 0);
    expect(wrong.slice(0, 5), `${wrong.length} of ${pool.length} sockets got other messages than the model says`).toEqual([]);

    // Everything closed: every count is 0, every handle says so.
    for (const e of pool) {
      e.closing = true;
      e.c.terminate();
    }
    await waitFor(() => server.connections === 0, 10_000, 'every socket to close');
    for (const topic of TOPICS) expect(server.subscribers(topic), topic).toBe(0);
    expect([...model.values()].every((k) => k === 0)).toBe(true);
    for (const e of entries.values()) {
      expect(e.ws.readyState).toBe(WebSocket.CLOSED);
      expect(e.ws.topics).toEqual([]);
      expect(TOPICS.some((x) => e.ws.isSubscribed(x))).toBe(false);
    }
    const last = pool[0].ws;
    expect(last.subscribe(TOPICS[0])).toBe(false);
    expect(last.unsubscribe(TOPICS[0])).toBe(false);
    expect(last.publish(TOPICS[0], 'x')).toBe(false);
    expect(server.subscribers(TOPICS[0])).toBe(0);
    expect(problems).toEqual([]);
    expect(t.errors).toEqual([]);
  }, 60_000);

  it('5,000 subscribers of one topic each get a burst of 100 publishes, all of them, in order', async (ctx) => {
    const soft = softFdLimit();
    if (!(soft >= 12_000)) {
      ctx.skip(`needs a soft open-files limit (ulimit -n) of at least 12,000 for 5,000 clients and their 5,000 server ends; it is ${soft}`);
    }
    const N = 5000;
    const M = 100;
    const t = await topicServer(threads, { backlog: 4096 });
    const payloadOf = (i: number): string => `m${i}:`.padEnd(100, '.');
    let received = 0;
    const bad: string[] = [];
    const next: number[] = [];
    const started = Date.now();
    for (let base = 0; base < N; base += 250) {
      await Promise.all(
        Array.from({ length: 250 }, (_, k) => {
          const id = base + k;
          next[id] = 0;
          return openBulk(clientUrl(t.url, `b${id}`, ['big']), (data, isBinary) => {
            const i = next[id]++;
            received++;
            if (data.toString() !== payloadOf(i) || isBinary !== (i % 2 === 1)) {
              if (bad.length < 10) bad.push(`client ${id}, message ${i}: ${isBinary ? 'binary' : 'text'} ${data.toString().slice(0, 20)}`);
            }
          });
        }),
      );
    }
    await waitFor(() => t.server.subscribers('big') === N, 10_000, `${N} subscriptions`);
    const opened = Date.now();

    for (let i = 0; i < M; i++) {
      const text = payloadOf(i);
      expect(t.server.publish('big', i % 2 === 1 ? Buffer.from(text) : text)).toBe(true);
    }
    await waitFor(() => received >= N * M || bad.length > 0, 30_000, `${N * M} deliveries (have ${received})`).catch((err: unknown) => {
      const behind = next.filter((k) => k < M).length;
      throw new Error(`${String(err)}: ${received} of ${N * M} delivered, ${behind} clients behind`);
    });
    await sleep(20);
    expect(bad).toEqual([]);
    expect(received).toBe(N * M);
    expect(next.every((k) => k === M)).toBe(true);
    const delivered = Date.now();

    for (const c of bulkClients) c.terminate();
    await waitFor(() => t.server.connections === 0, 20_000, 'every subscriber to close');
    expect(t.server.subscribers('big')).toBe(0);
    expect(t.errors).toEqual([]);
    await ctx.annotate(`open ${opened - started} ms, deliver ${delivered - opened} ms, close ${Date.now() - delivered} ms`);
  }, 60_000);

  it('a subscriber that never reads does not hold up the others while ~50 MB are published; the server stays bounded in memory', async (ctx) => {
    const child = await startChild(threads);
    const base = `ws://127.0.0.1:${child.port}`;
    const workerOf = (id: string): number | undefined => {
      const line = child.lines.find((l) => l.startsWith(`OPEN ${id} `));
      return line === undefined ? undefined : Number(line.split(' ')[2]);
    };
    const slow = await RawClient.open(child.port, `/?id=slow&sub=bulk`);
    slow.socket.pause(); // never read again: the kernel buffers fill, then the server's queue
    await waitFor(() => workerOf('slow') !== undefined, 5000, 'the slow subscriber to open');

    const SIZE = 64 * 1024;
    const TOTAL = 800; // 800 × 64 KiB = 50 MiB
    const BATCH = 32;
    const fast: Flooded[] = [];
    const bad: string[] = [];
    // At least three fast subscribers, one of them on the slow one's worker.
    while (fast.length < 3 || !fast.some((f) => workerOf(f.id) === workerOf('slow'))) {
      if (fast.length >= 32) throw new Error("no fast subscriber landed on the slow subscriber's worker");
      const f = await openFlooded(base, `f${fast.length}`, 'bulk', SIZE, bad);
      fast.push(f);
      await waitFor(() => workerOf(f.id) !== undefined, 5000, `${f.id} to open`);
    }
    expect(await child.request('subs bulk', 'SUBS')).toBe(`SUBS ${fast.length + 1}`);

    const started = Date.now();
    for (let from = 0; from < TOTAL; from += BATCH) {
      const answer = (await child.request(`pub bulk ${from} ${BATCH} ${SIZE}`, 'PUB')).split(' ');
      expect(Number(answer[2]), `publishes ${from}… returned true`).toBe(BATCH);
      await waitFor(() => fast.every((f) => f.count >= from + BATCH) || bad.length > 0, 10_000, `the fast subscribers to get messages up to ${from + BATCH}`).catch(
        (err: unknown) => {
          throw new Error(`${String(err)}: they are at ${fast.map((f) => f.count).join(', ')}`);
        },
      );
    }
    const elapsed = Date.now() - started;
    expect(bad).toEqual([]);
    expect(fast.map((f) => [f.count, f.last])).toEqual(fast.map(() => [TOTAL, TOTAL - 1]));

    // Still serving: a new connection is answered at once.
    const probe = await connect('ws', `${base}/?id=probe`);
    probe.send('still there?');
    expect((await probe.next()).data).toBe('still there?');

    const [, peak, now] = (await child.request('rss', 'RSS')).split(' ').map(Number);
    await ctx.annotate(`50 MiB to ${fast.length} fast subscribers in ${elapsed} ms; server RSS peak ${(peak / 2 ** 20).toFixed(0)} MB, now ${(now / 2 ** 20).toFixed(0)} MB`);
    expect(peak, 'peak RSS of the server process').toBeLessThan(600 * 2 ** 20);
    // It really never read: the server could not hand it more than the kernel buffers hold.
    expect(slow.socket.bytesRead).toBeLessThan(16 * 2 ** 20);
    slow.destroy();
    expect(child.stderr()).toBe('');
  }, 60_000);

  it('published frames are freed once written: 200 MB through the server (server.publish and ws.publish) leave its RSS flat', async (ctx) => {
    const child = await startChild(threads);
    const base = `ws://127.0.0.1:${child.port}`;
    const SIZE = 256 * 1024;
    const BATCH = 32; // 8 MiB
    const bad: string[] = [];
    const subs = await Promise.all([0, 1, 2].map((i) => openFlooded(base, `f${i}`, 'flood', SIZE, bad)));
    await waitFor(() => child.lines.filter((l) => l.startsWith('OPEN f')).length === 3, 5000, 'three subscribers');
    expect(await child.request('subs flood', 'SUBS')).toBe('SUBS 3');
    const [sender, ...others] = subs;
    let expectSender = 0;
    let expectOthers = 0;
    const round = async (from: number, viaSocket: boolean): Promise<void> => {
      const answer = (await child.request(`${viaSocket ? `wspub ${sender.id}` : 'pub'} flood ${from} ${BATCH} ${SIZE}`, 'PUB')).split(' ');
      expect(Number(answer[2]), `publishes ${from}… returned true`).toBe(BATCH);
      expectOthers += BATCH;
      if (!viaSocket) expectSender += BATCH;
      await waitFor(() => (sender.count === expectSender && others.every((f) => f.count === expectOthers)) || bad.length > 0, 10_000,
        `messages up to ${from + BATCH}`);
    };
    // Warm up (allocator, socket buffers), then measure.
    let seq = 0;
    for (; seq < 8 * BATCH; seq += BATCH) await round(seq, seq % (2 * BATCH) !== 0);
    const [, , before] = (await child.request('rss', 'RSS')).split(' ').map(Number);
    for (; seq < 8 * BATCH + 800; seq += BATCH) await round(seq, seq % (2 * BATCH) !== 0); // 800 × 256 KiB = 200 MiB
    const [, , after] = (await child.request('rss', 'RSS')).split(' ').map(Number);
    expect(bad).toEqual([]);
    expect(sender.count).toBe(expectSender);
    for (const f of others) expect(f.count).toBe(expectOthers);
    await ctx.annotate(`server RSS ${(before / 2 ** 20).toFixed(0)} MB before 200 MiB of publishes, ${(after / 2 ** 20).toFixed(0)} MB after`);
    expect(after - before, 'RSS growth of the server process over 200 MiB of publishes').toBeLessThan(64 * 2 ** 20);
    expect(child.stderr()).toBe('');
  }, 60_000);

  it('subscribers that never read share one copy of each published frame (64 × 12 MiB queued, not 768 MiB)', async (ctx) => {
    const child = await startChild(threads);
    const N = 64;
    const raws = await Promise.all(Array.from({ length: N }, (_, i) => RawClient.open(child.port, `/?id=r${i}&sub=share`)));
    for (const r of raws) r.socket.pause();
    try {
      await waitFor(() => child.lines.filter((l) => l.startsWith('OPEN r')).length === N, 5000, `${N} subscribers`);
      expect(await child.request('subs share', 'SUBS')).toBe(`SUBS ${N}`);
      const [, , before] = (await child.request('rss', 'RSS')).split(' ').map(Number);
      // 3 × 4 MiB each: under the default maxBackpressure, so every subscriber keeps them queued.
      const answer = (await child.request(`pub share 0 3 ${4 * 2 ** 20}`, 'PUB')).split(' ');
      expect(Number(answer[2])).toBe(3);
      await sleep(300); // let the workers write what the kernel takes and queue the rest
      const [, , after] = (await child.request('rss', 'RSS')).split(' ').map(Number);
      expect(await child.request('subs share', 'SUBS'), 'nobody was closed').toBe(`SUBS ${N}`);
      await ctx.annotate(`server RSS ${(before / 2 ** 20).toFixed(0)} MB before, ${(after / 2 ** 20).toFixed(0)} MB with 12 MiB queued for each of ${N} subscribers`);
      expect(after - before, 'RSS growth with 12 MiB published to 64 subscribers that do not read').toBeLessThan(128 * 2 ** 20);
    } finally {
      for (const r of raws) r.destroy();
    }
    expect(child.stderr()).toBe('');
  }, 60_000);

  it("sends and publishes keep their order while a subscriber's queue is backed up", async () => {
    const PAD = 'p'.repeat(24 * 1024);
    const t: TopicServer = await topicServer(threads, {
      message(_ws, data) {
        if (data !== 'go') return;
        const slow = t.byId.get('slow')!;
        // 200 × 48 KiB ≈ 9.6 MB: more than the kernel buffers hold, less than maxBackpressure.
        for (let i = 0; i < 200; i++) {
          slow.send(`a${i}:${PAD}`);
          t.server.publish('t', Buffer.from(`b${i}:${PAD}`));
          slow.send(`c${i}`);
        }
        sendToAll(t, 'end');
      },
    });
    const slow = await open(t, 'slow', ['t']);
    const peers = await openSpread(t, 's', ['t'], 1, 2);
    (slow.c.raw as WS).pause();
    peers[0].c.send('go');
    await sleep(200);
    (slow.c.raw as WS).resume();
    const want: string[] = [];
    for (let i = 0; i < 200; i++) want.push(`T:a${i}:${PAD}`, `B:b${i}:${PAD}`, `T:c${i}`);
    const got = await collectUntil(slow.c, 'end');
    expect(got.length).toBe(want.length);
    const firstWrong = got.findIndex((x, i) => x !== want[i]);
    expect(firstWrong, `first out of order: ${got[firstWrong]?.slice(0, 12)} where ${want[firstWrong]?.slice(0, 12)} was due`).toBe(-1);
    for (const p of peers) {
      const theirs = await collectUntil(p.c, 'end');
      expect(theirs.map((x) => x.slice(0, x.indexOf(':', 2)))).toEqual(Array.from({ length: 200 }, (_, i) => `B:b${i}`));
    }
    expect(t.errors).toEqual([]);
  });

  it('a publish larger than the default maxBackpressure (16 MiB) still reaches subscribers whose queues are empty', async () => {
    // README: send is DROPPED when the queue "is at maxBackpressure", and publishes are skipped "at
    // the limit"; an empty queue is not at the limit, whatever the size of the next message.
    const closes: number[] = [];
    const t = await topicServer(threads, { close: (_ws, code) => void closes.push(code) });
    const subs = await openSpread(t, 's', ['big'], 1, 3);
    const big = Buffer.alloc(17 * 2 ** 20, 0x5a);
    big.writeUInt32BE(0xc0ffee, 0);
    big.writeUInt32BE(0xc0ffee, big.length - 4);
    expect(t.server.publish('big', big)).toBe(true);
    sendToAll(t, 'end');
    for (const s of subs) {
      let got: Received;
      try {
        got = await s.c.next(10_000);
      } catch (err) {
        await sleep(50);
        throw new Error(`${s.id} (worker ${s.ws._worker}) got no message: ${String(err)}; close codes on the server: ${closes.join(', ')}`);
      }
      expect(got.binary).toBe(true);
      expect((got.data as Buffer).length).toBe(big.length);
      expect((got.data as Buffer).equals(big)).toBe(true);
      expect(await collectUntil(s.c, 'end')).toEqual([]);
    }
    expect(closes).toEqual([]);
    expect(t.server.subscribers('big')).toBe(subs.length);
  });

  it('publishes issued before server.close() all arrive, in order, ahead of its Close', async () => {
    const t = await topicServer(threads);
    const subs = await openSpread(t, 's', ['t'], 1, 3);
    const chunk = 'z'.repeat(16 * 1024);
    for (let i = 0; i < 100; i++) expect(t.server.publish('t', `${i}:${chunk}`)).toBe(true);
    await t.server.close();
    for (const s of subs) {
      const info = await s.c.closed;
      const got: string[] = [];
      while (s.c.queued > 0) got.push(String((await s.c.next()).data).split(':')[0]);
      expect(got, `subscriber ${s.id}`).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
      expect(info).toEqual({ code: 1001, reason: 'server shutting down' });
    }
    expect(t.server.subscribers('t')).toBe(0);
  });

  it('a topic is any string, matched exactly', async () => {
    const t = await topicServer(threads);
    const names = ['', 'ü/😀', 'x'.repeat(10_000), 'T', 't', 't ', '__proto__', 'constructor', 'topic-\u0000'];
    const peers = await Promise.all(names.map((_, i) => open(t, `n${i}`)));
    peers.forEach((p, i) => expect(p.ws.subscribe(names[i])).toBe(true));
    for (const name of names) expect(t.server.subscribers(name)).toBe(1);
    expect(t.server.subscribers('x'.repeat(9_999))).toBe(0);
    expect(t.server.subscribers('toString')).toBe(0);
    expect(t.server.publish('x'.repeat(9_999), 'nobody')).toBe(false);
    expect(t.server.publish('toString', 'nobody')).toBe(false);
    names.forEach((name, i) => expect(t.server.publish(name, `to n${i}`)).toBe(true));
    sendToAll(t, 'end');
    for (const [i, p] of peers.entries()) expect(await collectUntil(p.c, 'end'), JSON.stringify(names[i].slice(0, 20))).toEqual([`T:to n${i}`]);
    expect(peers[2].ws.topics).toEqual([names[2]]);
  });

  it('bad arguments throw a TypeError naming the problem and change nothing', async () => {
    const t = await topicServer(threads);
    const a = await open(t, 'A', ['t']);
    const b = await open(t, 'B', ['t']);
    const bad = <T>(v: unknown): T => v as T;

    expect(() => a.ws.subscribe(bad(5))).toThrow(TypeError);
    expect(() => a.ws.subscribe(bad(5))).toThrow(/subscribe: topic must be a string, got 5/);
    expect(() => a.ws.subscribe(bad(undefined))).toThrow(/subscribe: topic must be a string, got undefined/);
    expect(() => a.ws.unsubscribe(bad(5))).toThrow(/unsubscribe: topic must be a string, got 5/);
    expect(() => a.ws.publish(bad(5), 'x')).toThrow(TypeError);
    expect(() => a.ws.publish(bad(5), 'x')).toThrow(/publish: topic must be a string, got 5/);
    expect(() => t.server.publish(bad(null), 'x')).toThrow(TypeError);
    expect(() => t.server.publish(bad(null), 'x')).toThrow(/publish: topic must be a string, got null/);
    expect(() => t.server.publish(bad({}), 'x')).toThrow(/publish: topic must be a string, got an? object/);
    expect(() => a.ws.publish('t', bad(42))).toThrow(TypeError);
    expect(() => a.ws.publish('t', bad(42))).toThrow(/publish: data must be a string, ArrayBuffer or ArrayBufferView, got 42/);
    expect(() => t.server.publish('t', bad(42))).toThrow(/publish: data must be a string, ArrayBuffer or ArrayBufferView, got 42/);
    expect(() => t.server.publish('t', bad(null))).toThrow(TypeError);
    expect(() => t.server.publish('nobody', bad(42)), 'also for a topic without subscribers').toThrow(TypeError);
    expect(() => a.ws.publish('nobody', bad(42)), 'also for a topic without subscribers').toThrow(TypeError);

    // Nothing changed and nothing was sent.
    expect(a.ws.topics).toEqual(['t']);
    expect(t.server.subscribers('t')).toBe(2);
    expect(t.server.publish('t', 'fine')).toBe(true);
    sendToAll(t, 'end');
    expect(await collectUntil(a.c, 'end')).toEqual(['T:fine']);
    expect(await collectUntil(b.c, 'end')).toEqual(['T:fine']);
    expect(t.errors).toEqual([]);
  });

  it('a closed socket validates its arguments like an open one (as send does)', async () => {
    const t = await topicServer(threads);
    const a = await open(t, 'A', ['t']);
    await open(t, 'B', ['t']);
    a.c.close();
    await waitFor(() => a.ws.readyState === WebSocket.CLOSED, 5000, 'A to close');
    const bad = <T>(v: unknown): T => v as T;
    expect(() => a.ws.send(bad(42)), 'send, for comparison').toThrow(TypeError);
    expect(() => a.ws.subscribe(bad(5))).toThrow(/subscribe: topic must be a string/);
    expect(() => a.ws.unsubscribe(bad(5))).toThrow(/unsubscribe: topic must be a string/);
    expect(() => a.ws.publish(bad(5), 'x')).toThrow(/publish: topic must be a string/);
    expect(() => a.ws.publish('t', bad(42))).toThrow(/publish: data must be a string, ArrayBuffer or ArrayBufferView, got 42/);
  });

  it('publish before listen, while closing and after close returns false and throws nothing', async () => {
    const server = track(createServer({ threads }));
    expect(server.publish('t', 'x')).toBe(false);
    expect(server.publish('t', Buffer.from('x'))).toBe(false);
    expect(server.subscribers('t')).toBe(0);
    await server.close();
    expect(server.publish('t', 'x')).toBe(false);

    // A listening server with subscribers, then closed.
    const t = await topicServer(threads);
    const a = await open(t, 'A', ['t']);
    const b = await open(t, 'B', ['t']);
    expect(t.server.publish('t', 'before close')).toBe(true);
    expect(await a.c.next()).toEqual({ data: 'before close', binary: false });
    const closing = t.server.close();
    expect(t.server.publish('t', 'while closing')).toBe(false);
    expect(b.ws.publish('t', 'while closing')).toBe(false);
    await closing;
    expect(t.server.publish('t', 'after close')).toBe(false);
    expect(a.ws.publish('t', 'after close')).toBe(false);
    expect(a.ws.subscribe('u')).toBe(false);
    expect(t.server.subscribers('t')).toBe(0);
    expect(a.ws.topics).toEqual([]);
    // The clients got the server's Close, and no publish after "before close".
    expect(await a.c.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await b.c.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(t.errors).toEqual([]);
  });
});
