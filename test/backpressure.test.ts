// Backpressure both ways, with real sockets: a peer that stops reading must not
// make the server's memory grow (maxBackpressure with the 'drop' and 'close'
// policies), send() statuses, bufferedAmount and drain tell the sender what is
// happening, and a JS thread that falls behind makes the workers stop reading
// instead of buffering without bound. Assertions are about behaviour and
// memory, never speed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SendStatus, WebSocket, type ServerStats } from '../src/index';
import { closeAllClients, closeAllServers, connect, destroyAllRaw, openRaw, serve, sleep, type TestClient } from './helpers/clients';
import { closePayload, RawClient } from './helpers/raw-client';
import { waitFor } from './helpers/server';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** The memory a test may add to the server process on top of its baseline. */
const RSS_SLACK = 200 * 1000 * 1000;

afterEach(async () => {
  destroyAllRaw();
  await closeAllClients();
  await closeAllServers();
});

// ---------------------------------------------------------------- memory

/** Resets the kernel's peak-RSS mark (VmHWM) of this process; false where that is not possible. */
function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** This process's peak RSS (VmHWM) in bytes, or 0 when unknown. */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The highest RSS seen: sampled by the caller and the kernel's peak mark since `resetPeakRss`. */
class RssWatch {
  readonly baseline: number;
  #max: number;
  readonly #kernelPeak: boolean;

  constructor() {
    this.baseline = process.memoryUsage().rss;
    this.#max = this.baseline;
    this.#kernelPeak = resetPeakRss();
  }

  sample(): void {
    this.#max = Math.max(this.#max, process.memoryUsage().rss);
  }

  get max(): number {
    this.sample();
    return this.#kernelPeak ? Math.max(this.#max, peakRss()) : this.#max;
  }

  describe(): string {
    return `baseline ${(this.baseline / 1e6).toFixed(0)} MB, peak ${(this.max / 1e6).toFixed(0)} MB`;
  }
}

// ---------------------------------------------------------------- sending

interface PumpResult {
  /** send() calls made. */
  attempts: number;
  /** How many returned each SendStatus (indexed by its value). */
  statuses: [number, number, number];
}

const nextTick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Sends `total` binary messages of `size` bytes (u32 BE sequence number first)
 * to `ws`: per event-loop turn until send() reports anything but SENT (at most
 * 16 at a time), then yields. Stops early once the socket is no longer open.
 */
async function pump(ws: WebSocket<unknown>, total: number, size: number, rss?: RssWatch): Promise<PumpResult> {
  const chunk = Buffer.alloc(size, 0x5a);
  const r: PumpResult = { attempts: 0, statuses: [0, 0, 0] };
  while (r.attempts < total && ws.readyState === WebSocket.OPEN) {
    for (let k = 0; k < 16 && r.attempts < total; k++) {
      chunk.writeUInt32BE(r.attempts, 0);
      const status = ws.send(chunk);
      r.attempts++;
      r.statuses[status]++;
      if (status !== SendStatus.SENT) break;
    }
    if (rss && r.attempts % 256 < 16) rss.sample();
    await nextTick();
  }
  return r;
}

/** Echo round trips with `c` until `stop()` says so; resolves with how many succeeded. */
async function echoWhile(c: TestClient, stop: () => boolean): Promise<number> {
  let n = 0;
  while (!stop()) {
    const text = `round trip ${n}`;
    c.send(text);
    const got = await c.next(5000);
    expect(got.data).toBe(text);
    n++;
  }
  c.close();
  return n;
}

/** Reads binary frames until a text frame `marker`; returns their sequence numbers. */
async function readUntilMarker(raw: RawClient, marker: string, ms = 20_000): Promise<number[]> {
  const seqs: number[] = [];
  for (;;) {
    const f = await raw.readFrame(ms);
    if (f.opcode === 0x1 && f.payload.toString() === marker) return seqs;
    expect(f.opcode).toBe(0x2);
    seqs.push(f.payload.readUInt32BE(0));
  }
}

function expectIncreasing(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] <= seqs[i - 1]) throw new Error(`messages out of order at ${i}: ${seqs[i - 1]} then ${seqs[i]}`);
  }
}

// ---------------------------------------------------------------- outbound

describe('outbound backpressure: a peer that stops reading', () => {
  it("policy 'drop': 1 GiB sent to it in 64 KiB messages keeps RSS bounded, every drop is counted, other clients' echo continues", async () => {
    let slow: WebSocket<unknown> | undefined;
    const { server, url, port } = await serve({
      threads: 2,
      maxBackpressure: 8 * MiB,
      backpressurePolicy: 'drop',
      open(ws) {
        if (ws.url === '/slow') slow = ws;
      },
      message(ws, data, isBinary) {
        ws.send(data, { binary: isBinary });
      },
    });
    const raw = await openRaw(port, '/slow');
    raw.socket.pause(); // leave everything in the kernel: TCP pushes back
    await waitFor(() => slow !== undefined, 5000, 'the slow connection to open');
    const ws = slow!;
    const rss = new RssWatch();

    const other = await connect('ws', url);
    let pumping = true;
    const echo = echoWhile(other, () => !pumping);
    const total = GiB / (64 * KiB);
    const result = await pump(ws, total, 64 * KiB, rss).finally(() => {
      pumping = false;
    });
    const roundTrips = await echo;

    expect(result.attempts).toBe(total);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(rss.max, rss.describe()).toBeLessThan(rss.baseline + RSS_SLACK);
    expect(roundTrips).toBeGreaterThan(0);
    const drops = server.stats().backpressure.drops;
    expect(drops).toBeGreaterThan(0);
    // Drops that send() reported are among the counted ones.
    expect(drops).toBeGreaterThanOrEqual(result.statuses[SendStatus.DROPPED]);

    // Once the peer reads, every message that was not dropped arrives, in order.
    raw.socket.resume();
    await waitFor(() => ws.bufferedAmount === 0, 20_000, 'the queue to drain');
    ws.send('end');
    const seqs = await readUntilMarker(raw, 'end');
    expectIncreasing(seqs);
    expect(seqs.length + server.stats().backpressure.drops).toBe(total);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  }, 120_000);

  it("policy 'close': the slow connection is closed with 1008 'backpressure limit exceeded', RSS stays bounded", async () => {
    let slow: WebSocket<unknown> | undefined;
    const closes: { code: number; reason: string }[] = [];
    const { server, url, port } = await serve({
      threads: 2,
      maxBackpressure: 8 * MiB,
      backpressurePolicy: 'close',
      closeTimeout: 30_000, // the peer reads the Close only after the test lets it
      open(ws) {
        if (ws.url === '/slow') slow = ws;
      },
      message(ws, data, isBinary) {
        ws.send(data, { binary: isBinary });
      },
      close(ws, code, reason) {
        if (ws.url === '/slow') closes.push({ code, reason });
      },
    });
    const raw = await openRaw(port, '/slow');
    raw.socket.pause();
    await waitFor(() => slow !== undefined, 5000, 'the slow connection to open');
    const ws = slow!;
    const rss = new RssWatch();

    const other = await connect('ws', url);
    let pumping = true;
    const echo = echoWhile(other, () => !pumping);
    await pump(ws, GiB / (64 * KiB), 64 * KiB, rss).finally(() => {
      pumping = false;
    });
    expect(await echo).toBeGreaterThan(0);
    expect(rss.max, rss.describe()).toBeLessThan(rss.baseline + RSS_SLACK);
    expect(server.stats().backpressure.closes, JSON.stringify(server.stats().backpressure)).toBeGreaterThanOrEqual(1);

    // The peer reads again: what was queued, then the Close.
    raw.socket.resume();
    const close = await raw.readClose(20_000);
    expect(close.code).toBe(1008);
    expect(close.reason).toBe('backpressure limit exceeded');
    expect(close.before.length).toBeGreaterThan(0);
    for (const f of close.before) expect(f.opcode).toBe(0x2);
    expectIncreasing(close.before.map((f) => f.payload.readUInt32BE(0)));
    raw.send({ opcode: 0x8, payload: closePayload(1008) });
    await raw.waitEnd(10_000);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(closes[0].code).toBe(1008);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  }, 120_000);

  it("policy 'close': a connection closed for backpressure is counted in backpressure.closes, and send() then returns DROPPED", async () => {
    let slow: WebSocket<unknown> | undefined;
    const closes: { code: number; reason: string }[] = [];
    const { server, port } = await serve({
      threads: 1,
      maxBackpressure: 1 * MiB,
      backpressurePolicy: 'close',
      closeTimeout: 30_000,
      open(ws) {
        slow = ws;
      },
      close: (_ws, code, reason) => void closes.push({ code, reason }),
    });
    const raw = await openRaw(port);
    raw.socket.pause();
    await waitFor(() => slow !== undefined, 5000, 'the connection to open');
    const ws = slow!;
    // Fill the queue, a message every few milliseconds (the worker has taken
    // each before the next), until the server gives up on the peer.
    const chunk = Buffer.alloc(256 * KiB);
    let last: number = SendStatus.SENT;
    for (let i = 0; i < 1024 && last !== SendStatus.DROPPED && ws.readyState === WebSocket.OPEN && server.stats().backpressure.closes === 0; i++) {
      last = ws.send(chunk);
      await sleep(10);
    }
    await sleep(50);
    // One connection was closed for backpressure: that is what the counter counts.
    expect(server.stats().backpressure.closes, JSON.stringify(server.stats().backpressure)).toBe(1);
    // It is closing (our Close is queued behind the data): not open, so send()
    // must not claim to have queued anything.
    expect(ws.send(chunk)).toBe(SendStatus.DROPPED);
    expect(ws.readyState).not.toBe(WebSocket.OPEN);
    raw.socket.resume();
    const close = await raw.readClose(10_000);
    expect(close).toMatchObject({ code: 1008, reason: 'backpressure limit exceeded' });
    raw.send({ opcode: 0x8, payload: closePayload(1008) });
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(closes[0].code).toBe(1008);
  });

  it('bufferedAmount grows while the peer does not read and returns to 0 after; BACKPRESSURE is reported and a drain follows', async () => {
    let sock: WebSocket<unknown> | undefined;
    let drains = 0;
    const { server, port } = await serve({
      threads: 1,
      open(ws) {
        sock = ws;
      },
      drain() {
        drains++;
      },
    });
    const raw = await openRaw(port);
    raw.socket.pause();
    await waitFor(() => sock !== undefined, 5000, 'the connection to open');
    const ws = sock!;
    expect(ws.bufferedAmount).toBe(0);

    // Send until well past what the kernel takes and until send() has said
    // BACKPRESSURE, one message per turn of the event loop, pausing once a
    // few MiB are buffered so that the worker keeps up (no drain can come
    // while the peer does not read). At most 200 messages: 12.5 MiB, under
    // the default maxBackpressure (16 MiB).
    const chunk = Buffer.alloc(64 * KiB, 1);
    const statuses: [number, number, number] = [0, 0, 0];
    const samples: number[] = [];
    let sent = 0;
    while ((ws.bufferedAmount < 4 * MiB || statuses[SendStatus.BACKPRESSURE] === 0) && sent < 200) {
      chunk.writeUInt32BE(sent, 0);
      const st = ws.send(chunk);
      statuses[st]++;
      if (st !== SendStatus.DROPPED) sent++;
      samples.push(ws.bufferedAmount);
      if (ws.bufferedAmount > 2 * MiB) await sleep(5);
      else await nextTick();
    }
    expect(statuses[SendStatus.DROPPED]).toBe(0);
    expect(statuses[SendStatus.BACKPRESSURE]).toBeGreaterThan(0);
    expect(ws.bufferedAmount).toBeGreaterThanOrEqual(4 * MiB);
    // Grows: the last samples are far above the first.
    expect(samples[samples.length - 1]).toBeGreaterThan(samples[0]);
    await sleep(100);
    // Still not reading: the queue stays, and it is above the drain mark.
    expect(ws.bufferedAmount).toBeGreaterThan(16 * KiB);
    const drainsBefore = drains;
    expect(server.stats().backpressure.events).toBeGreaterThanOrEqual(1);

    raw.socket.resume();
    await waitFor(() => drains > drainsBefore, 10_000, 'a drain call after the peer reads');
    await waitFor(() => ws.bufferedAmount === 0, 10_000, 'bufferedAmount back to 0');
    ws.send('end');
    const seqs = await readUntilMarker(raw, 'end');
    expect(seqs).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(ws.bufferedAmount).toBe(0);
  });

  it('send() reports BACKPRESSURE once it queues behind more than 16 KiB, also for sends in one turn of the event loop', async () => {
    let result: { statuses: number[]; buffered: number[] } | undefined;
    const { port } = await serve({
      threads: 1,
      open(ws) {
        const statuses: number[] = [];
        const buffered: number[] = [];
        const chunk = Buffer.alloc(64 * KiB);
        for (let i = 0; i < 8; i++) {
          buffered.push(ws.bufferedAmount);
          statuses.push(ws.send(chunk));
        }
        result = { statuses, buffered };
      },
    });
    const raw = await openRaw(port);
    raw.socket.pause();
    await waitFor(() => result !== undefined, 5000, 'the open handler');
    const { statuses, buffered } = result!;
    // Before the second send, 64 KiB were accepted and not written: it queues behind them.
    expect(buffered[1]).toBeGreaterThan(16 * KiB);
    expect(statuses[0]).toBe(SendStatus.SENT);
    expect(statuses.slice(1)).toEqual(Array(7).fill(SendStatus.BACKPRESSURE));
  });

  it("send() returns DROPPED once bufferedAmount reaches maxBackpressure, also for sends in one turn (policy 'drop')", async () => {
    let result: { statuses: number[]; buffered: number } | undefined;
    const { server, port } = await serve({
      threads: 1,
      maxBackpressure: 1 * MiB,
      backpressurePolicy: 'drop',
      open(ws) {
        const statuses: number[] = [];
        const chunk = Buffer.alloc(64 * KiB);
        // 32 MiB: the worker takes sends over every 512 KiB and writes what
        // the kernel's socket buffers hold (several MiB on loopback) while
        // this loop still runs; the rest must queue, past the limit.
        for (let i = 0; i < 512; i++) statuses.push(ws.send(chunk));
        result = { statuses, buffered: ws.bufferedAmount };
      },
    });
    const raw = await openRaw(port);
    raw.socket.pause();
    await waitFor(() => result !== undefined, 5000, 'the open handler');
    const { statuses, buffered } = result!;
    // At most maxBackpressure (plus the message that crossed it) may be accepted.
    expect(buffered).toBeLessThanOrEqual(1 * MiB + 64 * KiB + 14);
    expect(statuses.filter((s) => s === SendStatus.DROPPED).length).toBeGreaterThan(0);
    await sleep(100);
    expect(server.stats().backpressure.drops).toBeGreaterThanOrEqual(statuses.filter((s) => s === SendStatus.DROPPED).length);
  });

  it('a message larger than maxBackpressure still goes to a peer that reads (the queue is empty, not past the limit)', async () => {
    const closes: number[] = [];
    let status: number | undefined;
    const { server, url } = await serve({
      threads: 1,
      maxBackpressure: 1 * MiB,
      backpressurePolicy: 'close',
      message(ws) {
        status = ws.send(Buffer.alloc(2 * MiB, 7));
      },
      close(_ws, code) {
        closes.push(code);
      },
    });
    const c = await connect('ws', url);
    c.send('give me the big one');
    const got = await c.next(10_000);
    expect(status).not.toBe(SendStatus.DROPPED);
    expect(got.binary).toBe(true);
    expect((got.data as Buffer).length).toBe(2 * MiB);
    expect(c.isClosed).toBe(false);
    expect(closes).toEqual([]);
    expect(server.stats().backpressure).toMatchObject({ drops: 0, closes: 0 });
  });
});

// ---------------------------------------------------------------- inbound

const FLOOD = path.join(__dirname, 'fixtures', 'flood-clients.cjs');

interface FloodResult {
  opened: number;
  timedOut: boolean;
  clients: { sent: number; received: number; outOfOrder: number; badSize: number; closeCode: number; error: string }[];
}

/** Runs the flood clients in a child process (replies: each message's first `reply` bytes); resolves with their report. */
function runFlood(url: string, clients: number, messages: number, size: number, reply: number, onOpen: () => void): Promise<{ code: number | null; result: FloodResult | undefined; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [FLOOD, url, String(clients), String(messages), String(size), String(reply)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('OPEN ')) onOpen();
    });
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 90_000);
    proc.once('close', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      resolve({ code, result: line ? (JSON.parse(line.slice(7)) as FloodResult) : undefined, stderr });
    });
  });
}

describe('inbound backpressure: the JS thread falls behind', () => {
  it('a handler blocking the JS thread while 20 clients flood 400 MiB: the workers stop reading at the bound, RSS bounded, no message lost or reordered', async () => {
    const CLIENTS = 20;
    const MESSAGES = 320;
    const SIZE = 64 * KiB;
    const TOTAL = CLIENTS * MESSAGES;
    // 20 × 320 × 64 KiB = 400 MiB, more than twice RSS_SLACK: a worker that
    // kept reading while JS is blocked would hold all of it in this process.
    expect(TOTAL * SIZE).toBeGreaterThan(2 * RSS_SLACK);
    // The documented bound on what the workers hand JS ahead of dispatch:
    // max(64 MiB, 2 × maxPayload), with the default maxPayload of 16 MiB.
    const BOUND = 64 * MiB;
    let blocked = false;
    let blockedMs = 0;
    let readWhileBlocked = -1;
    const perConnection = new Map<WebSocket<unknown>, number>();
    const problems: string[] = [];
    let received = 0;
    let rss: RssWatch | undefined;
    const { server, url } = await serve({
      threads: 1,
      message(ws, data, isBinary) {
        if (!blocked) {
          blocked = true;
          // Busy: the JS thread does nothing else for at least 2 s, and then
          // until the workers have stopped reading past the bound (no new
          // message for 500 ms) or have read the whole flood, which they
          // would without the read pause. The workers' counters are read
          // directly.
          const t0 = Date.now();
          let read = -1;
          let changedAt = t0;
          let sampledAt = t0;
          for (;;) {
            const now = Date.now();
            const n = server.stats().messages.in;
            if (n !== read) {
              read = n;
              changedAt = now;
            }
            if (now - sampledAt >= 20) {
              rss?.sample(); // for where the kernel's peak mark is unavailable
              sampledAt = now;
            }
            if (now - t0 >= 2000 && ((now - changedAt >= 500 && n * SIZE >= BOUND) || n === TOTAL)) break;
            if (now - t0 >= 30_000) break;
          }
          readWhileBlocked = read;
          blockedMs = Date.now() - t0;
        }
        const buf = data as Buffer;
        const expected = perConnection.get(ws) ?? 0;
        if (!isBinary || buf.length !== SIZE) problems.push(`bad message of ${buf.length} bytes`);
        else if (buf.readUInt32BE(4) !== expected) problems.push(`got ${buf.readUInt32BE(4)}, expected ${expected}`);
        else if (buf[SIZE - 1] !== (expected & 0xff)) problems.push(`message ${expected} has a wrong last byte`);
        perConnection.set(ws, expected + 1);
        received++;
        // The reply is the message's first 8 bytes (client and sequence
        // number): enough for the client to check order, and too little to
        // back up the outbound queues, so that RSS measures the inbound side.
        ws.send(buf.subarray(0, 8), { binary: true });
      },
    });
    const run = await runFlood(url, CLIENTS, MESSAGES, SIZE, 8, () => {
      rss ??= new RssWatch();
    });
    expect(run.stderr).toBe('');
    expect(run.result, 'the flood clients reported').toBeDefined();
    const result = run.result!;
    expect(result.timedOut).toBe(false);
    expect(result.opened).toBe(CLIENTS);
    for (const c of result.clients) {
      expect(c).toEqual({ sent: MESSAGES, received: MESSAGES, outOfOrder: 0, badSize: 0, closeCode: 1000, error: '' });
    }
    expect(run.code).toBe(0);
    expect(blockedMs).toBeGreaterThanOrEqual(2000);
    // While JS was blocked the worker read up to the bound (and at most a
    // read buffer and a batch past it), then left the rest in the kernel.
    expect(readWhileBlocked * SIZE, `the worker read ${readWhileBlocked} of ${TOTAL} messages while JS was blocked`).toBeGreaterThanOrEqual(BOUND);
    expect(readWhileBlocked * SIZE, `the worker read ${readWhileBlocked} of ${TOTAL} messages while JS was blocked`).toBeLessThanOrEqual(BOUND + 4 * MiB);
    expect(problems).toEqual([]);
    expect(received).toBe(TOTAL);
    expect([...perConnection.values()]).toEqual(Array(CLIENTS).fill(MESSAGES));
    expect(rss, 'the RSS baseline').toBeDefined();
    expect(rss!.max, rss!.describe()).toBeLessThan(rss!.baseline + RSS_SLACK);
    const stats: ServerStats = server.stats();
    expect(stats.readPauses).toBeGreaterThanOrEqual(1);
    expect(stats.messages.in).toBe(TOTAL);
    expect(stats.messages.out).toBe(TOTAL);
  }, 120_000);
});
