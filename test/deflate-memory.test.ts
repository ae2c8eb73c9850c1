// What permessage-deflate costs in memory, measured in the server's own
// process (test/fixtures/deflate-memory-server.cjs) with the native load
// generator (`corews bench`) in another, as the fd limit (20,000) needs:
//  - an idle connection that agreed to deflate costs at most 64 bytes more
//    than one that did not (issue 11's goal);
//  - maxMemory holds under 1,000 connections exchanging compressed messages:
//    the server's RSS grows by at most maxMemory plus an allowance more than
//    under the same traffic without deflate.
// Assertions are about bytes, never speed.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../src/cli/bench';
import type { ServerStats } from '../src/index';
import { spawnLines, type LineChild } from './helpers/child';
import { sleep } from './helpers/clients';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'corews.js');
const FIXTURE = path.join(__dirname, 'fixtures', 'deflate-memory-server.cjs');
const FD_LIMIT = 20_000;
const KiB = 1024;
const MiB = 1024 * KiB;

interface Measure {
  rss: number;
  heapUsed: number;
  external: number;
  malloc: { inUse: number; free: number; mmapped: number } | null;
  open: number;
  stats: ServerStats;
}

interface Peak {
  start: number;
  max: number;
  zlibMemoryMax: number;
  stats: ServerStats;
}

let tmp = '';
let mallinfo = '';
const servers = new Set<LineChild>();
const clients = new Set<ReturnType<typeof spawn>>();

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: npm run build:ts');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-deflate-memory-'));
  // malloc's own count (glibc mallinfo2), preloaded into the server: see the fixture.
  mallinfo = path.join(tmp, 'mallinfo.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-pthread', '-o', mallinfo, path.join(__dirname, 'fixtures', 'mallinfo.c')]);
});

afterEach(() => {
  for (const c of clients) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  clients.clear();
  for (const s of servers) s.kill();
  servers.clear();
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The fixture under `ulimit -n 20000`, malloc statistics preloaded; resolves with it and its port. */
async function startServer(perMessageDeflate: unknown, name: string): Promise<{ server: LineChild; port: number }> {
  const socket = path.join(tmp, `${name}.sock`);
  const server = spawnLines('sh', [
    '-c',
    `ulimit -n ${FD_LIMIT} && MALLINFO_SOCKET="$1" LD_PRELOAD="$2" exec "$3" --expose-gc "$4" "$5"`,
    'sh', socket, mallinfo, process.execPath, FIXTURE, JSON.stringify(perMessageDeflate),
  ], 240_000);
  servers.add(server);
  const port = Number(await server.next('PORT', 20_000));
  return { server, port };
}

async function measure(server: LineChild): Promise<Measure> {
  server.command('measure');
  return JSON.parse(await server.next('MEASURE', 20_000)) as Measure;
}

async function openConnections(server: LineChild, n: number, ms: number): Promise<Measure> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await measure(server);
    if (m.open === n) return m;
    if (Date.now() > deadline) throw new Error(`${m.open} connections open, waiting for ${n}: ${server.stderr()}`);
    await sleep(200);
  }
}

/** `corews bench …` in its own process; `report` resolves with its JSON once it exits. */
function bench(args: string[], ms: number): { proc: ReturnType<typeof spawn>; report: Promise<BenchReport> } {
  const proc = spawn(process.execPath, [CLI, 'bench', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  clients.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  const report = new Promise<BenchReport>((resolve, reject) => {
    proc.once('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as BenchReport);
      } catch {
        reject(new Error(`corews bench exited ${code} without a report: ${out} ${err}`));
      }
    });
  });
  report.catch(() => {});
  return { proc, report };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

describe('permessage-deflate memory', () => {
  it('an idle connection that agreed to deflate costs at most 64 bytes more than one that did not (10,000 connections)', async () => {
    // One server with deflate on. 1,000 connections first (one-off costs:
    // code, tables), and a first batch of 9,000 more that grows the tables
    // and the JS sockets array to 10,000, unmeasured; then batches of 9,000,
    // alternately offering deflate and not, each measured against the
    // moment before it and closed again: both kinds meet the same process
    // in the same state, so what differs between them is deflate's.
    const { server, port } = await startServer(true, 'idle');
    const url = `ws://127.0.0.1:${port}/`;
    const base = bench(['idle', url, '--connections', '1000', '--deflate', '--duration', '600', '--warmup', '0', '--sources', '127.0.0.2'], 600_000);
    await openConnections(server, 1000, 30_000);
    const BATCH = 9000;
    const ROUNDS = 5; // of each kind
    const per: Record<'deflate' | 'plain', { rss: number[]; native: number[]; js: number[] }> = {
      deflate: { rss: [], native: [], js: [] },
      plain: { rss: [], native: [], js: [] },
    };
    for (let round = -1; round < 2 * ROUNDS; round++) {
      const kind = round % 2 === 0 || round < 0 ? 'deflate' : 'plain';
      const before = await measure(server);
      // A source address per batch: the closed batches' ports may still be in TIME_WAIT.
      const batch = bench(['idle', url, '--connections', String(BATCH), ...(kind === 'deflate' ? ['--deflate'] : []),
        '--duration', '600', '--warmup', '0', '--sources', `127.0.0.${4 + round}`], 600_000);
      await openConnections(server, 1000 + BATCH, 60_000);
      await sleep(300); // the handshakes' buffers are gone
      const after = await measure(server);
      batch.proc.kill('SIGINT');
      const r = await batch.report;
      expect(r.open).toBe(BATCH);
      expect(r.errors).toBe(0);
      if (kind === 'deflate') expect(r.deflate?.negotiated).toBe(BATCH);
      await openConnections(server, 1000, 30_000);
      if (round < 0) continue;
      per[kind].rss.push((after.rss - before.rss) / BATCH);
      per[kind].native.push((after.malloc!.inUse - before.malloc!.inUse) / BATCH);
      per[kind].js.push((after.heapUsed - before.heapUsed) / BATCH);
    }
    base.proc.kill('SIGINT');
    expect((await base.report).errors).toBe(0);

    // Each deflate batch against the plain batch right after it (the same
    // process, a moment later), the median of those differences: drift of
    // the heap from one batch to the next cancels within a pair.
    const more = (k: 'rss' | 'native' | 'js'): number => median(per.deflate[k].map((d, i) => d - per.plain[k][i]));
    const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
    const detail = `B per idle connection, deflate [${(['rss', 'native', 'js'] as const).map((k) => `${k}: ${fmt(per.deflate[k])}`).join('; ')}], ` +
      `plain [${(['rss', 'native', 'js'] as const).map((k) => `${k}: ${fmt(per.plain[k])}`).join('; ')}]`;
    console.log(`idle deflate − plain: RSS ${more('rss').toFixed(1)}, malloc ${more('native').toFixed(1)}, JS heap ${more('js').toFixed(1)} B/conn; ${detail}`);
    // The bound holds where it can be measured to the byte: malloc, the
    // native side (a 48-byte DeflateSession per connection), medians of
    // five pairs of batches of 9,000, within a few bytes of each other. On the JS
    // heap (after a GC) a socket that agreed to deflate is the same object
    // as one that did not, and the medians differ by noise only (±20 B per
    // connection seen), so it is held to half the bound: a per-socket
    // string (one copy of the extensions answer each, ~80 B) fails it. RSS
    // moves by more than the bound itself from one batch to the next
    // (50–550 B per connection seen: pages of the JS heap and of malloc's
    // arenas coming and going), so it is held to the bound plus that spread
    // as medians go.
    expect(more('native'), detail).toBeLessThanOrEqual(64);
    expect(more('js'), detail).toBeLessThanOrEqual(32);
    expect(more('rss'), detail).toBeLessThanOrEqual(64 + 192);
  }, 300_000);

  it('maxMemory holds under 1,000 connections exchanging compressed messages: RSS, not the counter', async () => {
    const CONNECTIONS = 1000;
    const CAP = 16 * MiB;
    // What deflate costs beyond zlib's state under this traffic: a compressed
    // message is buffered while it inflates (1 KiB × 1,000 in flight), the
    // sessions, the shared streams and the worker's scratch buffer, and
    // malloc's free chunks between zlib's 64 KiB blocks.
    const ALLOWANCE = 8 * MiB;
    const traffic = ['--connections', String(CONNECTIONS), '--depth', '1', '--size', '1024', '--text', '--payload', 'json', '--duration', '3', '--warmup', '1'];
    const run = async (name: string, perMessageDeflate: unknown): Promise<{ growth: number; peak: Peak; report: BenchReport }> => {
      const { server, port } = await startServer(perMessageDeflate, name);
      await measure(server); // after a GC: the baseline the peak is taken from
      server.command('peak');
      const { report } = bench(['echo', `ws://127.0.0.1:${port}/`, ...traffic, ...(perMessageDeflate === false ? [] : ['--deflate'])], 120_000);
      const r = await report;
      server.command('peak?');
      const peak = JSON.parse(await server.next('PEAK', 20_000)) as Peak;
      server.command('exit');
      expect(r.errors).toBe(0);
      expect(r.open).toBe(CONNECTIONS);
      expect(r.messages).toBeGreaterThan(CONNECTIONS);
      return { growth: peak.max - peak.start, peak, report: r };
    };
    const plain = await run('active-plain', false);
    const capped = await run('active-capped', { maxMemory: CAP });
    const uncapped = await run('active-uncapped', { maxMemory: 1024 * MiB });

    const mib = (x: number): string => `${(x / MiB).toFixed(1)} MiB`;
    const d = (x: typeof capped): ServerStats['perMessageDeflate'] => x.peak.stats.perMessageDeflate;
    const detail = `RSS growth: without deflate ${mib(plain.growth)}, maxMemory ${mib(CAP)} ${mib(capped.growth)} ` +
      `(zlib counter peak ${mib(capped.peak.zlibMemoryMax)}, ${d(capped)!.forcedNoContextTakeover} of ${d(capped)!.negotiated} forced to no context takeover), ` +
      `maxMemory 1 GiB ${mib(uncapped.growth)} (zlib counter peak ${mib(uncapped.peak.zlibMemoryMax)})`;
    console.log(detail);
    // Every connection compressed, both ways.
    for (const x of [capped, uncapped]) {
      expect(x.report.deflate!.negotiated).toBe(CONNECTIONS);
      expect(x.report.deflate!.compressedIn).toBe(x.report.messages);
      expect(d(x)!.messagesCompressed).toBeGreaterThan(CONNECTIONS);
      expect(d(x)!.messagesInflated).toBeGreaterThan(CONNECTIONS);
    }
    // The cap is what held: past it connections went without context takeover …
    expect(d(capped)!.forcedNoContextTakeover).toBeGreaterThan(0);
    expect(d(uncapped)!.forcedNoContextTakeover).toBe(0);
    // … and the same traffic uncapped takes well past it, so the bound below says something.
    expect(uncapped.growth - plain.growth, detail).toBeGreaterThan(2 * CAP);
    // The budget, in RSS.
    expect(capped.growth - plain.growth, detail).toBeLessThanOrEqual(CAP + ALLOWANCE);
  }, 300_000);
});
