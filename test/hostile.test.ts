// Hostile peers: whatever a client sends, the server's memory stays within
// maxBackpressure plus a few MiB and the other clients keep being served; the
// output rule (every byte queued counts, at the bound the peer is read no more)
// holds for control frames as for data. The server runs in a child process so
// its memory is its own.
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAllClients, connect, destroyAllRaw, sleep } from './helpers/clients';
import { spawnLines, type LineChild } from './helpers/child';
import { closePayload, encodeFrame, upgradeRequest } from './helpers/raw-client';

const MiB = 1024 * 1024;
const SERVER = path.join(__dirname, 'fixtures', 'hostile-server.cjs');
const FLOODER = path.join(__dirname, 'fixtures', 'flooder.cjs');
/** What the server may add to its RSS beyond its queue bound: allocator and V8 noise, one read buffer. */
const SLACK = 8 * MiB;

const children: LineChild[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  destroyAllRaw();
  await closeAllClients();
  for (const c of children.splice(0)) c.kill();
});

async function startServer(options: Record<string, unknown>): Promise<{ child: LineChild; port: number }> {
  const child = spawnLines(process.execPath, [SERVER, JSON.stringify(options)]);
  children.push(child);
  const port = Number(await child.next('PORT'));
  return { child, port };
}

async function rss(child: LineChild): Promise<{ now: number; peak: number }> {
  child.command('rss');
  const [now, peak] = (await child.next('RSS')).split(' ').map(Number);
  return { now, peak };
}

interface Stats {
  outputPauses: number;
  messages: { in: number; out: number };
  idleCloses: number;
  connections: { open: number; total: number };
}

async function stats(child: LineChild): Promise<Stats> {
  child.command('stats');
  return JSON.parse(await child.next('STATS')) as Stats;
}

/** A raw client that completes the handshake and then never reads again. */
async function nonReader(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  sockets.push(s);
  s.on('error', () => undefined); // the server may drop it: that is allowed
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  s.write(upgradeRequest('/'));
  const head = await new Promise<Buffer>((resolve) => s.once('data', resolve));
  expect(head.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
  s.pause(); // from here on the kernel's buffers fill, and then the server's queue
  return s;
}

/** Writes `chunk` again and again for `ms`, as fast as the connection takes it. */
async function flood(s: net.Socket, chunk: Buffer, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let written = 0;
  while (Date.now() < deadline && !s.destroyed) {
    written += chunk.length;
    if (!s.write(chunk)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        s.once('drain', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  return written;
}

/** `frame` repeated to about 64 KiB. */
function repeated(frame: Buffer): Buffer {
  return Buffer.concat(Array.from({ length: Math.ceil(65_536 / frame.length) }, () => frame));
}

const ping125 = encodeFrame({ opcode: 0x9, payload: Buffer.alloc(125, 0x61) });
const FLOODS: { name: string; prefix?: Buffer; chunk: Buffer }[] = [
  { name: 'pings (125 bytes each)', chunk: repeated(ping125) },
  { name: 'unsolicited pongs', chunk: repeated(encodeFrame({ opcode: 0xa, payload: Buffer.alloc(125, 0x62) })) },
  {
    name: 'pings inside a fragmented message',
    prefix: encodeFrame({ opcode: 0x1, fin: false, payload: 'the start of a message that never ends' }),
    chunk: repeated(ping125),
  },
  { name: 'Close frames', chunk: repeated(encodeFrame({ opcode: 0x8, payload: closePayload(1000, 'x'.repeat(100)) })) },
];

describe('a client that floods and never reads', () => {
  const maxBackpressure = 2 * MiB;

  it.each(FLOODS)('$name: the server stays within maxBackpressure + 8 MiB and serves others', async ({ prefix, chunk }) => {
    const { child, port } = await startServer({ maxBackpressure });
    // Another client, echoing all along: it must keep being served.
    const other = await connect('ws', `ws://127.0.0.1:${port}`);
    other.send('warm up');
    await other.next();
    child.command('reset');
    await child.next('RESET');
    const before = await rss(child);

    const flooder = spawnLines(process.execPath, [FLOODER, String(port), chunk.toString('base64'), prefix?.toString('base64') ?? '', '2500']);
    children.push(flooder);
    await flooder.next('OPEN');
    let echoes = 0;
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      other.send(`echo ${echoes}`);
      expect((await other.next(5000)).data).toBe(`echo ${echoes}`);
      echoes++;
      await sleep(20);
    }
    const written = Number(await flooder.next('WRITTEN'));
    const after = await rss(child);
    const growth = after.peak - before.now;
    expect(echoes).toBeGreaterThan(10);
    // What the flood sent (tens of MB at least) would be far over the bound if it were queued.
    expect(written).toBeGreaterThan(maxBackpressure + SLACK);
    expect(growth, `RSS grew by ${(growth / MiB).toFixed(1)} MiB while the client wrote ${(written / MiB).toFixed(0)} MiB`).toBeLessThan(
      maxBackpressure + SLACK,
    );
    flooder.kill();
    other.send('still there');
    expect((await other.next(5000)).data).toBe('still there');
  });

  it('a ping flood from a peer that reads nothing is closed as idle: no bytes taken for idleTimeout', async () => {
    const { child, port } = await startServer({ idleTimeout: 1, pingInterval: 0, closeTimeout: 300 });
    const flooder = spawnLines(process.execPath, [FLOODER, String(port), FLOODS[0].chunk.toString('base64'), '', '4000']);
    children.push(flooder);
    await flooder.next('OPEN');
    const opened = Date.now();
    let s = await stats(child);
    while (s.connections.open > 0 && Date.now() - opened < 3500) {
      await sleep(100);
      s = await stats(child);
    }
    // Pings keep arriving all along; what makes it idle is that it reads nothing.
    expect(s.connections).toEqual({ open: 0, total: 1 });
    expect(s.idleCloses).toBe(1);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(900);
  });

  it('at the bound the server reads that peer no more (outputPauses), and reads it again once the queue drains', async () => {
    const { child, port } = await startServer({ maxBackpressure: 256 * 1024, backpressurePolicy: 'drop' });
    const s = await nonReader(port);
    // Echoed messages fill the queue; at the bound the server must stop reading.
    await flood(s, repeated(encodeFrame({ opcode: 0x2, payload: Buffer.alloc(4000, 0x64) })), 1500);
    const paused = await stats(child);
    expect(paused.outputPauses).toBeGreaterThanOrEqual(1);
    expect(paused.connections.open).toBe(1);
    // The client reads again: the queue drains and the server reads on (the
    // kernel still holds megabytes of the flood for it).
    let received = 0;
    s.on('data', (d: Buffer) => (received += d.length));
    s.resume();
    const deadline = Date.now() + 10_000;
    let now = paused;
    while (now.messages.in < paused.messages.in + 500 && Date.now() < deadline) {
      await sleep(50);
      now = await stats(child);
    }
    expect(now.messages.in).toBeGreaterThanOrEqual(paused.messages.in + 500);
    expect(received).toBeGreaterThan(0);
    s.destroy();
  });
});
