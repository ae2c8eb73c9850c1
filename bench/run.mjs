// The benchmark suite behind `npm run bench`: corews against ws and Bun.
//
// Each (scenario, server) pair gets a fresh server process pinned to core 0
// (bench/servers/*, fd limit raised to the hard limit) and a `corews bench`
// load generator pinned to core 1. The servers of one scenario run back to
// back (rounds interleaved, the best run kept), so their ratios come from the
// same minute of this noisy machine; only those ratios mean much. The wss://
// rows run the same load over TLS (certificates made at run time, see
// makeBenchPki): corews's `tls` option, ws on https.createServer, Bun's
// `tls` option. Server CPU
// per message is utime+stime from
// /proc/<pid>/stat over the whole load-generator run, divided by what the
// server itself counted over that run (messages, deliveries or handshakes).
// corews runs every row twice: threaded (1 worker thread) and inline
// (corews-inline, threads: 0). The plain echo rows also run the C echo server
// of bench/c (`c`: the floor, as little work per message as a correct server
// can do), so corews/c says how close to it corews comes. The unloaded round
// trip (bench/latency.mjs) puts both beside Bun and the same C server.
//
//   node bench/run.mjs [--rounds N] [--duration S] [--warmup S] [--only id,id]
//                      [--servers corews,corews-inline,ws,bun,c] [--no-micro] [--no-limits]
// Prints one table and the design budgets, writes bench/results/latest.json.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { benchArgv, buildC, CLIENT_CPUS, findBun, machine, makeBenchPki, pinned, PIN, RESULTS, ROOT, SERVER_CPUS, writeResult } from './common.mjs';
import { BRIDGE_SCENARIOS, bridgeLines, runBridgeComparison } from './bridge.mjs';
import { ROUND_TRIP, roundTripLines, runRoundTrip } from './latency.mjs';
import { deflateBudgets, deflateLegend, deflateResults, deflateScenarios, deriveDeflate, serverFor } from './deflate.mjs';

// ---------------------------------------------------------------- settings

const USAGE = `usage: node bench/run.mjs [options]
  --rounds N          runs per scenario and server, interleaved; the best is reported (default 2)
  --duration S        measuring window in seconds (default 2)
  --warmup S          warm-up before the window (default 1)
  --only a,b          scenarios whose id starts with one of these (echo, latency, connect, fanout, idle, wss, deflate, attach, bridge, roundtrip)
  --servers a,b       servers to run (default corews,corews-inline,ws,bun,c; c: bench/c's C floor, plain echo and fan-out rows)
  --busy-poll N       the round trip also runs corews-inline with busyPollMicros: N (corews-inline-busy; default 50, 0: not)
  --no-micro          skip bench/micro.mjs at the end
  --no-limits         skip the fd-limit concurrency run
`;

function parseArgs(argv) {
  const o = { rounds: 2, duration: 2, warmup: 1, only: null, servers: ['corews', 'corews-inline', 'ws', 'bun', 'c'], micro: true, limits: true, busyPoll: 50 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--rounds') o.rounds = Math.max(1, Number.parseInt(value(), 10));
    else if (a === '--duration') o.duration = Number(value());
    else if (a === '--warmup') o.warmup = Number(value());
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--servers') o.servers = value().split(',');
    else if (a === '--busy-poll') o.busyPoll = Number(value());
    else if (a === '--no-micro') o.micro = false;
    else if (a === '--no-limits') o.limits = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.busyPoll) || o.busyPoll < 0 || o.busyPoll > 10_000) throw new Error('--busy-poll must be an integer of 0–10000 (µs)');
  if (!(o.duration > 0) || !(o.warmup >= 0)) throw new Error('--duration must be > 0 and --warmup >= 0');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const HOST = '127.0.0.1';
const SERVER_DIR = path.join(ROOT, 'bench', 'servers');
const started = Date.now();

// corews must load (dist/ and the addon) before anything is measured.
try {
  execFileSync(process.execPath, ['-e', 'require(process.argv[1])', path.join(ROOT, 'dist', 'index.js')], { stdio: ['ignore', 'ignore', 'pipe'] });
} catch (err) {
  const why = String(err.stderr ?? err.message).split('\n').find((l) => l.startsWith('Error')) ?? String(err.message);
  process.stderr.write(`bench/run.mjs: corews does not load (build it: npm run build): ${why}\n`);
  process.exit(1);
}

// The addon both corews and `corews bench` load. Hashed at every run: a
// rebuild in the middle of a run would otherwise go unnoticed.
const require = createRequire(import.meta.url);
function addonBuild() {
  try {
    const file = require('node-gyp-build').resolve(ROOT);
    return { file: path.relative(ROOT, file), sha1: crypto.createHash('sha1').update(fs.readFileSync(file)).digest('hex').slice(0, 12) };
  } catch {
    return null;
  }
}
const addonsSeen = new Map();
const noteAddon = () => {
  const a = addonBuild();
  if (a) addonsSeen.set(a.sha1, a);
  return a?.sha1 ?? null;
};

/** HEAD, and whether src/ or native/ differ from it (null outside a git checkout). */
function gitState() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git('rev-parse', 'HEAD')}${git('status', '--porcelain', '--', 'src', 'native') ? ' (src/ or native/ modified)' : ''}`;
  } catch {
    return null;
  }
}
const commitAtStart = gitState();

// Other work on the machine skews everything; say so in the results.
const loadAverage = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
const loadAtStart = loadAverage();

const bun = findBun();
const SERVERS = [
  { name: 'corews', argv: [process.execPath, '--expose-gc', path.join(SERVER_DIR, 'corews.mjs')], env: { CRWS_THREADS: '1' } },
  // Inline mode: the same server with threads: 0; it runs every scenario corews runs (`of`).
  { name: 'corews-inline', of: 'corews', argv: [process.execPath, '--expose-gc', path.join(SERVER_DIR, 'corews.mjs')], env: { CRWS_THREADS: '0' } },
  { name: 'ws', argv: [process.execPath, '--expose-gc', path.join(SERVER_DIR, 'ws.mjs')], env: {} },
  { name: 'bun', argv: bun.path ? [bun.path, path.join(SERVER_DIR, 'bun.js')] : null, env: {}, missing: bun.why },
  // The C floor (bench/c/echo_server.c, control channel on stdin): plain ws:// echo (no TLS, no deflate) and fan-out.
  { name: 'c', argv: () => [buildC('echo_server', ['-lcrypto']), '0'], env: {}, only: (sc) => sc.mode === 'fanout' || (sc.mode === 'echo' && !sc.tls && !sc.deflate && !sc.run) },
].filter((s) => opts.servers.includes(s.name));
for (const s of SERVERS) if (typeof s.argv === 'function') s.argv = s.argv(); // built only when asked for

// What is measured. `rows` are the table lines of a scenario: [metric, how to
// read it from a result, higher or lower is better].
const rate = (unit) => [`${unit}/s`, (r) => r.msgsPerSec, 'higher'];
const cpu = (unit) => [`CPU µs/${unit}`, (r) => r.server.cpuUsPerUnit, 'lower'];
const SCENARIOS = [
  { id: 'echo-32-d1', label: 'echo 32 B, 100 conns, depth 1', mode: 'echo', args: { connections: 100, depth: 1, size: 32, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-32-d16', label: 'echo 32 B, 100 conns, depth 16', mode: 'echo', args: { connections: 100, depth: 16, size: 32, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-1k-d1', label: 'echo 1 KiB, 100 conns, depth 1', mode: 'echo', args: { connections: 100, depth: 1, size: 1024, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-1k-d16', label: 'echo 1 KiB, 100 conns, depth 16', mode: 'echo', args: { connections: 100, depth: 16, size: 1024, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-1k-text-d16', label: 'echo 1 KiB text, 100 conns, depth 16', mode: 'echo', args: { connections: 100, depth: 16, size: 1024, text: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-16k-d1', label: 'echo 16 KiB, 100 conns, depth 1', mode: 'echo', args: { connections: 100, depth: 1, size: 16384, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-16k-d8', label: 'echo 16 KiB, 100 conns, depth 8', mode: 'echo', args: { connections: 100, depth: 8, size: 16384, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-64k-d1', label: 'echo 64 KiB, 100 conns, depth 1', mode: 'echo', args: { connections: 100, depth: 1, size: 65536, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-64k-d4', label: 'echo 64 KiB, 100 conns, depth 4', mode: 'echo', args: { connections: 100, depth: 4, size: 65536, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-64k-text-d4', label: 'echo 64 KiB text, 100 conns, depth 4', mode: 'echo', args: { connections: 100, depth: 4, size: 65536, text: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'echo-32-c1000', label: 'echo 32 B, 1,000 conns, depth 1', mode: 'echo', args: { connections: 1000, depth: 1, size: 32, binary: true }, rows: [rate('msg'), cpu('msg')] },
  {
    id: 'latency-50', label: 'latency 32 B, 50 conns', mode: 'latency', args: { connections: 50, size: 32, binary: true },
    rows: [['p50 µs', (r) => r.latencyUs.p50, 'lower'], ['p99 µs', (r) => r.latencyUs.p99, 'lower']],
  },
  { id: 'connect', label: 'handshakes, 100 at a time', mode: 'connect', args: { connections: 100 }, rows: [rate('handshake'), cpu('handshake')] },
  // wss://: `tls` is the server certificate's key type. Echo clients check the
  // certificate (--ca); handshake clients do not (--insecure), which spares the
  // load generator a signature check per handshake (see the notes).
  { id: 'wss-echo-32-d1', label: 'wss echo 32 B, 100 conns, depth 1', mode: 'echo', tls: 'ecdsa', args: { connections: 100, depth: 1, size: 32, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'wss-echo-32-d16', label: 'wss echo 32 B, 100 conns, depth 16', mode: 'echo', tls: 'ecdsa', args: { connections: 100, depth: 16, size: 32, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'wss-echo-1k-d1', label: 'wss echo 1 KiB, 100 conns, depth 1', mode: 'echo', tls: 'ecdsa', args: { connections: 100, depth: 1, size: 1024, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'wss-echo-1k-d16', label: 'wss echo 1 KiB, 100 conns, depth 16', mode: 'echo', tls: 'ecdsa', args: { connections: 100, depth: 16, size: 1024, binary: true }, rows: [rate('msg'), cpu('msg')] },
  { id: 'wss-connect-ecdsa', label: 'wss handshakes (P-256), 100 at a time', mode: 'connect', tls: 'ecdsa', args: { connections: 100 }, rows: [rate('handshake'), cpu('handshake')] },
  { id: 'wss-connect-rsa', label: 'wss handshakes (RSA 2048), 100 at a time', mode: 'connect', tls: 'rsa', args: { connections: 100 }, rows: [rate('handshake'), cpu('handshake')] },
  { id: 'fanout-1000-d1', label: 'fan-out 32 B to 1,000, lead 1', mode: 'fanout', args: { connections: 1000, depth: 1, size: 32, binary: true }, rows: [rate('delivery'), cpu('delivery')] },
  { id: 'fanout-1000-d16', label: 'fan-out 32 B to 1,000, lead 16', mode: 'fanout', args: { connections: 1000, depth: 16, size: 32, binary: true }, rows: [rate('delivery'), cpu('delivery')] },
  { id: 'idle-10k', label: 'idle, 10,000 conns', mode: 'idle', args: { connections: 10000 }, rows: [['RSS B/conn', (r) => r.bytesPerConnection, 'lower'], ['anon RSS B/conn', (r) => r.anonBytesPerConnection, 'lower']] },
  ...deflateScenarios({ rate, cpu }), // bench/deflate.mjs
].filter((s) => opts.only === null || opts.only.some((o) => s.id.startsWith(o)));

// The wss:// rows' certificates (made now, removed at exit), and the host
// their URLs name: localhost when it resolves to the servers' address (so
// clients send SNI, as real ones do), else the address itself.
// The bridged mode's rows (bench/bridge.mjs): corews on an https.Server vs its own tls listener and ws.
const BRIDGE = opts.servers.includes('corews')
  ? BRIDGE_SCENARIOS.filter((s) => opts.only === null || opts.only.some((o) => s.id.startsWith(o)))
  : [];
const PKI = SCENARIOS.some((sc) => sc.tls) || BRIDGE.length > 0 ? makeBenchPki() : null;
const TLS_HOST = PKI ? await dns.lookup('localhost').then((a) => (a.address === HOST ? 'localhost' : HOST), () => HOST) : null;

// ---------------------------------------------------------------- processes

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Servers and clients this script started, so that none outlives it (a crash, Ctrl-C).
const children = new Set();
function track(proc) {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}
process.on('exit', () => {
  for (const p of children) p.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));
const log = (s) => process.stderr.write(`${s}\n`);

/** utime+stime of a process, in clock ticks. */
function cpuTicks(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * The private part of the RSS (RssAnon: heaps, stacks, the JS heap), without
 * the file-backed pages: those are the runtime's own code paged in as it is
 * first run (several MB of the node binary while the first 10,000 connections
 * open, none of it per connection, shared with every other process).
 */
function anonRssBytes(pid) {
  const m = /RssAnon:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function fdLimit(pid) {
  const m = /Max open files\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/**
 * A server under test: pinned to the server core, fd limit raised to the hard
 * limit, `listening <port>` awaited; `command()` talks to its control channel
 * (bench/servers/control.mjs).
 */
async function startServer(server, env = {}) {
  const argv = pinned(SERVER_CPUS, ['sh', '-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'sh', ...server.argv]);
  const proc = track(spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...server.env, ...env } }));
  let stderr = '';
  let partial = '';
  const waiters = [];
  let exited = null;
  proc.stderr.on('data', (d) => (stderr += d));
  proc.stdout.on('data', (d) => {
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      const i = waiters.findIndex((w) => line.startsWith(w.prefix));
      if (i < 0) continue;
      const [w] = waiters.splice(i, 1);
      w.resolve(line.slice(w.prefix.length));
    }
  });
  const expect = (prefix, ms) => new Promise((resolve, reject) => {
    if (exited) return reject(exited);
    const w = { prefix, resolve: (rest) => { clearTimeout(t); resolve(rest); }, reject };
    const t = setTimeout(() => {
      waiters.splice(waiters.indexOf(w), 1);
      reject(new Error(`${server.name}: no "${prefix}" within ${ms} ms; stderr: ${stderr}`));
    }, ms);
    waiters.push(w);
  });
  proc.once('exit', (code, signal) => {
    const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    const why = lines.find((l) => /^[A-Za-z]*Error\b/.test(l)) ?? lines.at(-1) ?? 'no output';
    exited = new Error(`${server.name} server exited (${signal ?? `code ${code}`}): ${why}`);
    exited.stderr = stderr;
    for (const w of waiters.splice(0)) w.reject(exited);
  });
  proc.stdin.on('error', () => {});
  const listening = await expect('listening ', 20000);
  const pid = proc.pid;
  return {
    pid,
    port: Number(listening.trim()),
    stderr: () => stderr,
    /** Why it is gone (exit code or signal, and its stderr), or null while it runs. */
    exited: () => exited,
    async stats() {
      proc.stdin.write('stats\n');
      return JSON.parse(await expect('stats ', 10000));
    },
    async gc() {
      proc.stdin.write('gc\n');
      await expect('gc done', 20000);
    },
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** `corews bench`, pinned to the client core: its pid, and its JSON report once it exits. */
function startClient(argv, timeoutMs) {
  const proc = track(spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const report = new Promise((resolve, reject) => {
    proc.once('exit', (code, signal) => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? ''));
      } catch {
        reject(new Error(`corews bench (exit ${code ?? signal}) printed no JSON: ${out} ${err}`));
      }
    });
  });
  report.catch(() => {}); // awaited later, or not at all when set-up failed
  return { proc, report };
}

async function waitFor(what, predicate, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() > deadline) {
      log(`  timed out waiting for ${what}`);
      return false;
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------- scenarios

/** The largest share of one core a process used over any 1 s of these [ms, ticks] samples. */
function busiestSecond(samples) {
  let best = null;
  for (let i = 0, j = 0; i < samples.length; i++) {
    while (j < samples.length && samples[j][0] - samples[i][0] < 1000) j++;
    if (j === samples.length) break;
    const share = (samples[j][1] - samples[i][1]) / CLK_TCK / ((samples[j][0] - samples[i][0]) / 1000);
    if (best === null || share > best) best = share;
  }
  return best;
}

/** One load-generator run against a fresh server; server CPU and RSS alongside. */
async function runLoad(server, sc) {
  const addon = noteAddon();
  const cert = sc.tls ? PKI[sc.tls] : null;
  const srv = await startServer(serverFor(server, sc), cert ? { BENCH_TLS_KEY: cert.key, BENCH_TLS_CERT: cert.cert } : {});
  try {
    const url = cert ? `wss://${TLS_HOST}:${srv.port}/` : `ws://${HOST}:${srv.port}/`;
    const tlsArgs = !cert ? {} : sc.mode === 'connect' ? { insecure: true } : { ca: PKI.ca };
    const s0 = await srv.stats();
    const t0 = cpuTicks(srv.pid);
    let peakRss = rssBytes(srv.pid);
    const cpuSamples = [[Date.now(), t0]];
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, rssBytes(srv.pid));
        cpuSamples.push([Date.now(), cpuTicks(srv.pid)]);
      } catch {}
    }, 100);
    const limit = (opts.warmup + opts.duration) * 1000 + 60000;
    const { report } = startClient(benchArgv(sc.mode, url, { ...sc.args, ...tlsArgs, duration: opts.duration, warmup: opts.warmup }), limit);
    let r;
    try {
      r = await report;
    } finally {
      clearInterval(sampler);
    }
    await sleep(50);
    if (srv.exited()) throw srv.exited(); // it died under load: say how
    const t1 = cpuTicks(srv.pid);
    const s1 = await srv.stats();
    const units = sc.mode === 'connect' ? s1.opened - s0.opened : sc.mode === 'fanout' ? s1.deliveries - s0.deliveries : s1.messages - s0.messages;
    const cpuSeconds = (t1 - t0) / CLK_TCK;
    return {
      ...r,
      addon,
      server: {
        cpuSeconds,
        units,
        cpuUsPerUnit: units > 0 ? (cpuSeconds * 1e6) / units : null,
        peakRssBytes: peakRss,
        // How busy its core was at most (1 = one core all the time): below
        // about 0.9 something else, such as the load generator, set the pace.
        busiestSecondCpu: busiestSecond(cpuSamples),
        fanout: /fanout=(\w+)/.exec(srv.stderr())?.[1],
        // corews only: server.stats() at the end of the run (counters since the server started)
        stats: s1.corews,
      },
    };
  } finally {
    await srv.stop();
  }
}

/**
 * Idle memory: 1,000 connections first (so one-off costs such as code and
 * first-use allocations are paid), then 9,000 more; RSS after a GC at both
 * points. Per connection = growth / 9,000.
 */
async function runIdle(server, sc) {
  const total = sc.args.connections;
  const first = Math.min(1000, Math.floor(total / 10));
  const addon = noteAddon();
  const srv = await startServer(serverFor(server, sc));
  const clients = [];
  try {
    const url = `ws://${HOST}:${srv.port}/`;
    await srv.gc();
    const rss0 = rssBytes(srv.pid);
    const anon0 = anonRssBytes(srv.pid);
    const hold = (n) => startClient(benchArgv('idle', url, { ...sc.clientArgs, connections: n, duration: 300, warmup: 0 }), 400000);
    const until = (n) => waitFor(`${n} open connections on ${server.name}`, async () => (await srv.stats()).open >= n, 60000);
    clients.push(hold(first));
    const okA = await until(first);
    await srv.gc();
    await sleep(200);
    const rss1 = rssBytes(srv.pid);
    const anon1 = anonRssBytes(srv.pid);
    clients.push(hold(total - first));
    const okB = await until(total);
    await sleep(300); // let the last handshakes' buffers settle
    await srv.gc();
    await sleep(200);
    const rss2 = rssBytes(srv.pid);
    const anon2 = anonRssBytes(srv.pid);
    const seen = (await srv.stats()).open;
    for (const c of clients) c.proc.kill('SIGINT');
    const reports = await Promise.all(clients.map((c) => c.report));
    return {
      mode: 'idle',
      addon,
      connections: total,
      open: reports.reduce((a, r) => a + r.open, 0),
      errors: reports.reduce((a, r) => a + r.errors, 0),
      serverOpen: seen,
      complete: okA && okB,
      rssBytes: { fresh: rss0, [`at${first}`]: rss1, [`at${total}`]: rss2 },
      bytesPerConnection: (rss2 - rss1) / (total - first),
      bytesPerConnectionFromFresh: (rss2 - rss0) / total,
      anonRssBytes: { fresh: anon0, [`at${first}`]: anon1, [`at${total}`]: anon2 },
      anonBytesPerConnection: (anon2 - anon1) / (total - first),
    };
  } finally {
    for (const c of clients) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await srv.stop();
  }
}

/**
 * The concurrency budget (corews only): as many idle connections as the
 * server's fd limit allows minus a margin, from two load-generator processes
 * on two source addresses (each process has the same fd limit).
 */
async function runLimits() {
  const server = SERVERS.find((s) => s.name === 'corews');
  const srv = await startServer(server);
  const clients = [];
  try {
    const rss0 = rssBytes(srv.pid);
    const anon0 = anonRssBytes(srv.pid);
    // Every connection is one descriptor; the process already holds a few
    // (stdio, epoll, eventfds, listeners, Node's own), and keeps a margin.
    const limit = fdLimit(srv.pid);
    const inUse = fs.readdirSync(`/proc/${srv.pid}/fd`).length;
    const margin = 64;
    const target = limit - inUse - margin;
    const half = Math.ceil(target / 2);
    const url = `ws://${HOST}:${srv.port}/`;
    const t0 = Date.now();
    clients.push(startClient(benchArgv('idle', url, { connections: half, sources: '127.0.0.2', duration: 300, warmup: 0 }), 400000));
    clients.push(startClient(benchArgv('idle', url, { connections: target - half, sources: '127.0.0.3', duration: 300, warmup: 0 }), 400000));
    let seen = 0;
    const complete = await waitFor(`${target} connections`, async () => (seen = (await srv.stats()).open) >= target, 90000);
    const openSeconds = (Date.now() - t0) / 1000;
    await sleep(1000); // hold them a moment: nothing may drop
    const held = (await srv.stats()).open;
    const rss = rssBytes(srv.pid);
    const anon = anonRssBytes(srv.pid);
    for (const c of clients) c.proc.kill('SIGINT');
    const reports = await Promise.all(clients.map((c) => c.report));
    return {
      fdLimit: limit,
      fdsInUse: inUse,
      margin,
      target,
      complete,
      serverOpen: Math.max(seen, held),
      heldAfter1s: held,
      clientOpen: reports.reduce((a, r) => a + r.open, 0),
      errors: reports.reduce((a, r) => a + r.errors, 0),
      openSeconds,
      rssBytes: rss,
      // Per connection, from the fresh process (so one-off costs are in it).
      bytesPerConnection: (rss - rss0) / Math.max(1, held),
      anonBytesPerConnection: (anon - anon0) / Math.max(1, held),
    };
  } finally {
    for (const c of clients) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await srv.stop();
  }
}

// ---------------------------------------------------------------- the run

const fmtInt = (x) => Math.round(x).toLocaleString('en-US');
function fmtValue(metric, x) {
  if (x === null || x === undefined || Number.isNaN(x)) return 'n/a';
  if (metric.endsWith('/s') || metric.startsWith('RSS') || metric.includes('B/conn')) return fmtInt(x);
  return x >= 100 ? fmtInt(x) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

const primary = (sc) => sc.rows[0][1];
const results = {};
// Memory scenarios (sc.once) run once; sc.servers limits a scenario to some servers.
const runsOf = (sc) => (sc.mode === 'idle' || sc.once ? 1 : opts.rounds);
const serves = (sc, server) => (!sc.servers || sc.servers.includes(server.of ?? server.name)) && (!server.only || server.only(sc));
const total = SCENARIOS.reduce((n, sc) => n + runsOf(sc) * SERVERS.filter((s) => s.argv && serves(sc, s)).length, 0);
// What bench/deflate.mjs's runners use of this script.
const ctx = { HOST, opts, startServer, startClient, benchArgv, rssBytes, waitFor, sleep, noteAddon };
let step = 0;
log(`corews benchmark: ${SERVERS.map((s) => s.name).join(', ')}; ${opts.duration} s windows after ${opts.warmup} s warm-up; ${opts.rounds} round(s)${PIN ? '; server on core 0, load generator on core 1' : '; NOT pinned (one core)'}`);
if (bun.path) log(`bun ${bun.version}: ${path.relative(ROOT, bun.path)}`);
else log(`bun: not available (${bun.why})`);

for (const sc of SCENARIOS) {
  results[sc.id] = {};
  for (const server of SERVERS) results[sc.id][server.name] = { runs: [] };
  const rounds = runsOf(sc); // memory does not need a second opinion
  for (let round = 0; round < rounds; round++) {
    for (const server of SERVERS) {
      const cell = results[sc.id][server.name];
      if (!serves(sc, server)) continue;
      if (!server.argv) {
        cell.skipped = server.missing;
        continue;
      }
      step++;
      try {
        const r = sc.run ? await sc.run(ctx, server, sc) : sc.mode === 'idle' ? await runIdle(server, sc) : await runLoad(server, sc);
        cell.runs.push(r);
        const m = sc.rows[0];
        log(`[${step}/${total}] ${sc.label} · ${server.name}: ${fmtValue(m[0], m[1](r))} ${m[0]}${r.errors ? `, ${r.errors} errors` : ''}`);
      } catch (err) {
        cell.runs.push({ failed: String(err.message ?? err), stderr: err.stderr });
        log(`[${step}/${total}] ${sc.label} · ${server.name}: FAILED ${String(err.message ?? err).split('\n')[0]}`);
      }
    }
  }
  // The best run by the primary metric represents the cell: on a shared VM,
  // noise only ever makes a run worse.
  const better = sc.rows[0][2] === 'higher' ? (a, b) => a > b : (a, b) => a < b;
  for (const server of SERVERS) {
    const cell = results[sc.id][server.name];
    const ok = cell.runs.filter((r) => !r.failed && Number.isFinite(primary(sc)(r)));
    if (ok.length === 0) continue;
    cell.result = ok.reduce((best, r) => (better(primary(sc)(r), primary(sc)(best)) ? r : best));
  }
}

let limits = null;
if (opts.limits && SERVERS.some((s) => s.name === 'corews')) {
  log('concurrency: holding as many connections as corews\'s fd limit allows …');
  try {
    limits = await runLimits();
    log(`  ${fmtInt(limits.serverOpen)} of ${fmtInt(limits.target)} open, ${limits.errors} errors, in ${limits.openSeconds.toFixed(1)} s`);
  } catch (err) {
    limits = { failed: String(err.message ?? err) };
    log(`  FAILED ${err.message}`);
  }
}

// ---------------------------------------------------------------- attach vs own listener

// corews attached to a plain Node http.Server (bench/servers/corews.mjs with
// CRWS_ATTACH=1: each upgrade goes through Node's http parser, then its
// descriptor moves into the worker) against corews on its own listener, echo
// at 1,000 connections. Both variants run here, rounds interleaved, so the
// ratio comes from the same minute; the best run of each is kept.
const ATTACH_SCENARIO = {
  id: 'attach-echo-32-c1000', label: 'echo 32 B, 1,000 conns, depth 1', mode: 'echo',
  args: { connections: 1000, depth: 1, size: 32, binary: true }, rows: [rate('msg'), cpu('msg')],
};
const ATTACH_TOLERANCE = 0.1; // attach within 10% of the own listener's msg/s

async function runAttachComparison() {
  const own = SERVERS.find((s) => s.name === 'corews');
  const variants = [
    { key: 'own', name: 'corews', server: own },
    { key: 'attach', name: 'corews attach', server: { ...own, name: 'corews attach', env: { ...own.env, CRWS_ATTACH: '1' } } },
  ];
  const sc = ATTACH_SCENARIO;
  const out = { label: sc.label, args: sc.args, tolerance: ATTACH_TOLERANCE, own: { runs: [] }, attach: { runs: [] } };
  const n = opts.rounds * variants.length;
  let k = 0;
  for (let round = 0; round < opts.rounds; round++) {
    for (const v of variants) {
      k++;
      try {
        const r = await runLoad(v.server, sc);
        out[v.key].runs.push(r);
        log(`[attach ${k}/${n}] ${sc.label} · ${v.name}: ${fmtValue('msg/s', r.msgsPerSec)} msg/s${r.errors ? `, ${r.errors} errors` : ''}`);
      } catch (err) {
        out[v.key].runs.push({ failed: String(err.message ?? err), stderr: err.stderr });
        log(`[attach ${k}/${n}] ${sc.label} · ${v.name}: FAILED ${String(err.message ?? err).split('\n')[0]}`);
      }
    }
  }
  for (const v of variants) {
    const ok = out[v.key].runs.filter((r) => !r.failed && Number.isFinite(r.msgsPerSec));
    if (ok.length) out[v.key].result = ok.reduce((best, r) => (r.msgsPerSec > best.msgsPerSec ? r : best));
  }
  const a = out.attach.result?.msgsPerSec;
  const o = out.own.result?.msgsPerSec;
  out.ratio = a && o ? a / o : null;
  out.met = out.ratio === null ? null : out.ratio >= 1 - ATTACH_TOLERANCE;
  return out;
}

/** The attach section of the printed results. */
function attachLines(cmp) {
  const rows = [['scenario', 'metric', 'own listener', 'attach', 'attach/own']];
  ATTACH_SCENARIO.rows.forEach(([metric, get, better], i) => {
    const v = (cell) => {
      const x = cell.result ? get(cell.result) : null;
      return typeof x === 'number' && Number.isFinite(x) ? x : null;
    };
    const o = v(cmp.own);
    const a = v(cmp.attach);
    const errs = (cell) => ((cell.result?.errors ?? 0) + cell.runs.filter((r) => r.failed).length ? ' !' : '');
    rows.push([i === 0 ? cmp.label : '', `${metric} ${better === 'higher' ? '↑' : '↓'}`,
      `${fmtValue(metric, o)}${errs(cmp.own)}`, `${fmtValue(metric, a)}${errs(cmp.attach)}`, o && a !== null ? `${(a / o).toFixed(2)}×` : 'n/a']);
  });
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => [...r[c]].length)));
  const line = (r) => r.map((x, c) => (c < 2 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ').trimEnd();
  const out = [`corews attached to a Node http.Server vs corews's own listener (this run, best of ${opts.rounds} interleaved round(s), 1 worker thread):`, '',
    line(rows[0]), w.map((x) => '─'.repeat(x)).join('  '), ...rows.slice(1).map(line)];
  for (const key of ['own', 'attach']) {
    const failed = cmp[key].runs.filter((r) => r.failed);
    if (failed.length) out.push(`note: ${key}: ${failed.length} of ${cmp[key].runs.length} runs failed: ${[...new Set(failed.map((r) => r.failed.split('\n')[0]))].join('; ')}`);
  }
  out.push(`attach echo msg/s within ${ATTACH_TOLERANCE * 100}% of the own listener: ${cmp.met === null ? 'not measured' : `${cmp.met ? 'met' : 'not met'} (${cmp.ratio.toFixed(2)}×)`}`);
  return out;
}

let attach = null;
if (SERVERS.some((s) => s.name === 'corews') && (opts.only === null || opts.only.some((o) => ATTACH_SCENARIO.id.startsWith(o)))) {
  log('attach: corews on a Node http.Server\'s port vs its own listener …');
  attach = await runAttachComparison();
}

let bridge = null;
if (BRIDGE.length > 0) {
  log('bridge: corews on a Node https.Server vs its own tls listener and ws …');
  bridge = await runBridgeComparison(BRIDGE, SERVERS, opts.rounds, { runLoad, log, fmtValue });
}

// ---------------------------------------------------------------- the unloaded round trip

let roundTrip = null;
if (SERVERS.some((s) => s.name === 'corews') && (opts.only === null || opts.only.some((o) => ROUND_TRIP.id.startsWith(o)))) {
  log('round trip: corews threaded and inline, Bun, the C echo server; one connection, one message in flight …');
  roundTrip = await runRoundTrip({ ...ctx, log }, SERVERS, runLoad);
}

// ---------------------------------------------------------------- the table

deriveDeflate(results, SERVERS);

const value = (sc, name, row) => {
  const r = results[sc.id]?.[name]?.result;
  if (!r) return null;
  const v = row[1](r);
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/** corews ÷ peer, marked ✓ where corews is better (the row's direction decides). */
function ratio(a, b, direction) {
  if (a === null || b === null || b === 0) return { text: 'n/a', value: null };
  const q = a / b;
  const better = direction === 'higher' ? q > 1 : q < 1;
  return { text: `${q >= 10 ? q.toFixed(1) : q.toFixed(2)}×${better ? ' ✓' : ''}`, value: q };
}

// Ratios of each corews mode (threaded, inline) to each peer.
const modes = SERVERS.filter((s) => (s.of ?? s.name) === 'corews').map((s) => s.name);
const peers = SERVERS.map((s) => s.name).filter((n) => !modes.includes(n));
const pairs = modes.flatMap((m) => peers.map((p) => [m, p]));
const pairName = ([m, p]) => `${m === 'corews' ? 'corews' : 'inline'}/${p}`;
const header = ['scenario', 'metric', ...SERVERS.map((s) => s.name), ...pairs.map(pairName)];
const table = [];
const tableJson = [];
for (const sc of SCENARIOS) {
  sc.rows.forEach((row, i) => {
    const vals = Object.fromEntries(SERVERS.map((s) => [s.name, value(sc, s.name, row)]));
    // ! marks a cell whose run had connection errors, or whose other rounds failed.
    const errs = SERVERS.map((s) => (results[sc.id][s.name].result?.errors ?? 0) + results[sc.id][s.name].runs.filter((r) => r.failed).length);
    // '·': a server that does not run this row (the C echo server outside plain echo).
    const cells = SERVERS.map((s, j) => (serves(sc, s) ? `${fmtValue(row[0], vals[s.name])}${errs[j] ? ' !' : ''}` : '·'));
    const servedBy = (name) => serves(sc, SERVERS.find((s) => s.name === name));
    const ratios = pairs.map(([m, p]) => (row[3]?.ratio === false ? { text: '', value: null } : !servedBy(p) ? { text: '·', value: null } : ratio(vals[m], vals[p], row[2])));
    table.push([i === 0 ? sc.label : '', `${row[0]} ${row[2] === 'higher' ? '↑' : '↓'}`, ...cells, ...ratios.map((r) => r.text)]);
    tableJson.push({ scenario: sc.id, label: sc.label, metric: row[0], better: row[2], values: vals, ratios: Object.fromEntries(pairs.map((pair, k) => [pairName(pair), ratios[k]?.value ?? null])) });
  });
}

function render(rows) {
  const all = [header, ...rows];
  const w = header.map((_, c) => Math.max(...all.map((r) => [...(r[c] ?? '')].length)));
  const line = (r) => r.map((x, c) => (c < 2 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ').trimEnd();
  return [line(header), w.map((n) => '─'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------- budgets

const KiB = 1024;
const budgets = [];
const budget = (name, status, detail) => budgets.push({ name, status, detail });
{
  const idle = results['idle-10k']?.corews?.result;
  if (idle) {
    const ok = idle.errors === 0 && idle.open === idle.connections;
    budget('idle connection < 1 KiB (native+JS)', ok && idle.bytesPerConnection < KiB ? 'met' : 'not met',
      `${fmtInt(idle.bytesPerConnection)} B per connection (RSS growth from 1,000 to ${fmtInt(idle.connections)} idle connections; ${fmtInt(idle.bytesPerConnectionFromFresh)} B counting from a fresh process); private (anon) RSS ${fmtInt(idle.anonBytesPerConnection)} B${ok ? '' : `; ${idle.open} open, ${idle.errors} errors`}`);
  } else budget('idle connection < 1 KiB (native+JS)', 'not measured', 'the idle scenario did not run');

  if (limits && !limits.failed) {
    const ok = limits.complete && limits.errors === 0 && limits.heldAfter1s === limits.target && limits.clientOpen === limits.target;
    budget('concurrent connections up to the fd limit, no error', ok ? 'met' : 'not met',
      `${fmtInt(limits.heldAfter1s)} of ${fmtInt(limits.target)} held for 1 s (fd limit ${fmtInt(limits.fdLimit)} − ${limits.fdsInUse} descriptors in use − ${limits.margin} margin; two client processes), ${limits.errors} errors, opened in ${limits.openSeconds.toFixed(1)} s, RSS ${(limits.rssBytes / 2 ** 20).toFixed(0)} MiB (${fmtInt(limits.bytesPerConnection)} B per connection from a fresh process, private ${fmtInt(limits.anonBytesPerConnection)} B)`);
  } else budget('concurrent connections up to the fd limit, no error', 'not measured', limits?.failed ?? 'skipped (--no-limits)');

  const echoes = SCENARIOS.filter((s) => s.mode === 'echo' && !s.tls && !s.deflate);
  const vsBun = echoes.map((s) => ({ s, q: ratio(value(s, 'corews', s.rows[0]), value(s, 'bun', s.rows[0]), 'higher').value })).filter((x) => x.q !== null);
  let detail = 'not measured (uWebSockets.js is not on the npm registry)';
  if (vsBun.length) {
    const geo = Math.exp(vsBun.reduce((a, x) => a + Math.log(x.q), 0) / vsBun.length);
    const ahead = vsBun.filter((x) => x.q > 1).length;
    detail += `; against Bun (uWebSockets inside) instead: corews/bun msg/s geometric mean ${geo.toFixed(2)}× over ${vsBun.length} echo scenarios, ahead in ${ahead} (range ${Math.min(...vsBun.map((x) => x.q)).toFixed(2)}–${Math.max(...vsBun.map((x) => x.q)).toFixed(2)}×) — ${ahead === vsBun.length ? 'met' : 'not met'} against Bun`;
  }
  budget('echo through a JS handler ahead of uWebSockets.js', 'not measured', detail);

  // Issue 14: every plain echo row at least 0.8× the C echo server, ahead of Bun, CPU per message below Bun's.
  const vsC = echoes.map((s) => ({ s, q: ratio(value(s, 'corews', s.rows[0]), value(s, 'c', s.rows[0]), 'higher').value })).filter((x) => x.q !== null);
  if (vsC.length) {
    const low = vsC.filter((x) => x.q < 0.8);
    budget('echo at least 0.8× the C echo server', low.length ? 'not met' : 'met',
      `corews/c msg/s ${vsC.map((x) => `${x.q.toFixed(2)}× (${x.s.id.replace(/^echo-/, '')})`).join(', ')}${low.length ? `; under 0.8× in ${low.length} of ${vsC.length}` : ''}`);
    const cpuVsBun = echoes.map((s) => ({ s, q: ratio(value(s, 'corews', s.rows[1]), value(s, 'bun', s.rows[1]), 'lower').value })).filter((x) => x.q !== null);
    if (cpuVsBun.length) {
      const over = cpuVsBun.filter((x) => x.q >= 1);
      budget('echo CPU per message below Bun\'s', over.length ? 'not met' : 'met',
        `corews/bun CPU µs/msg ${cpuVsBun.map((x) => `${x.q.toFixed(2)}× (${x.s.id.replace(/^echo-/, '')})`).join(', ')}`);
    }
  } else budget('echo at least 0.8× the C echo server', 'not measured', 'the C echo server did not run (--servers without c)');

  const fans = SCENARIOS.filter((s) => s.mode === 'fanout');
  // Against the C floor too, where it ran (--servers …,c).
  const fanVsC = (list) => {
    const q = list.map((s) => ({ s, q: ratio(value(s, 'corews', s.rows[0]), value(s, 'c', s.rows[0]), 'higher').value })).filter((x) => x.q !== null);
    return q.length ? `; corews/c ${q.map((x) => `${x.q.toFixed(2)}×`).join(', ')}` : '';
  };
  const fq = fans.map((s) => ({ s, q: ratio(value(s, 'corews', s.rows[0]), value(s, 'bun', s.rows[0]), 'higher').value })).filter((x) => x.q !== null);
  if (fq.length) {
    const how = results[fans[0].id]?.corews?.result?.server?.fanout ?? '?';
    budget('topic fan-out ahead of uWS/Bun', fq.every((x) => x.q > 1) ? 'met' : 'not met',
      `corews/bun deliveries/s ${fq.map((x) => `${x.q.toFixed(2)}× (${x.s.label.replace(/^fan-out 32 B to 1,000, /, '')})`).join(', ')}${fanVsC(fans)}; corews fanout=${how}; uWS itself not measured (not on the npm registry)`);
  } else budget('topic fan-out ahead of uWS/Bun', 'not measured', bun.path ? 'the fan-out scenario did not run' : `Bun not available: ${bun.why}`);

  // server.stats().jsHopLatencyUs: frame complete on a worker → batch dispatched on the JS thread.
  const hop = (id, name = 'corews') => results[id]?.[name]?.result?.server?.stats?.jsHopLatencyUs;
  const hl = hop('latency-50');
  const us = (x) => fmtValue('µs', x);
  if (hl && hl.count > 0) {
    const loaded = SCENARIOS.filter((s) => s.mode === 'echo' && !s.tls && !s.deflate).map((s) => [s, hop(s.id)]).filter(([, h]) => h && h.count > 0);
    const worst = loaded.reduce((w, x) => (w === null || x[1].p99 > w[1].p99 ? x : w), null);
    budget('JS hop latency p99 < 100 µs', hl.p99 < 100 ? 'met' : 'not met',
      `p99 ${us(hl.p99)} µs (p50 ${us(hl.p50)}, max ${us(hl.max)}) in the latency scenario (50 connections, one message in flight each)${worst ? `; under echo load up to p99 ${us(worst[1].p99)} µs (${worst[0].label})` : ''}`);
  } else {
    budget('JS hop latency p99 < 100 µs', 'not measured yet', 'not measured yet (needs server.stats())');
  }
  const il = hop('latency-50', 'corews-inline');
  if (il && il.count > 0) {
    budget('JS hop latency p99 < 100 µs, inline mode', il.p99 < 100 ? 'met' : 'not met',
      `p99 ${us(il.p99)} µs (p50 ${us(il.p50)}, max ${us(il.max)}) in the latency scenario: frame complete → handler on the same thread`);
  }
  const rtInline = roundTrip?.cells['corews-inline']?.result?.latencyUs;
  const rtBun = roundTrip?.cells.bun?.result?.latencyUs;
  const rtBusy = roundTrip?.cells['corews-inline-busy']?.result?.latencyUs;
  if (rtInline && rtBun) {
    const against = (rt) => `p50 ${us(rt.p50)} / p99 ${us(rt.p99)} µs vs Bun ${us(rtBun.p50)} / ${us(rtBun.p99)} µs — ${rt.p50 <= rtBun.p50 && rt.p99 <= rtBun.p99 ? 'met' : 'not met'} against Bun`;
    budget('unloaded round trip, inline mode at or under uWebSockets.js', 'not measured',
      `uWebSockets.js not measured (not on the npm registry); against Bun (uWebSockets inside) instead: inline ${against(rtInline)}${rtBusy ? `; inline with busyPollMicros ${opts.busyPoll} ${against(rtBusy)}` : ''}`);
  }
  deflateBudgets(results, budget, fmtInt); // bench/deflate.mjs: issue 11's goals
}

// ---------------------------------------------------------------- output

const notes = [];
for (const sc of SCENARIOS) {
  for (const s of SERVERS) {
    const cell = results[sc.id][s.name];
    const r = cell.result;
    if (cell.skipped) notes.push(`${s.name} skipped: ${cell.skipped}`);
    const failed = cell.runs.filter((x) => x.failed);
    if (failed.length) {
      const why = [...new Set(failed.map((x) => String(x.failed).split('\n')[0]))].join('; ');
      notes.push(`${sc.label} · ${s.name}: ${failed.length} of ${cell.runs.length} runs failed${r ? ' (the table shows the best of the rest, marked !)' : ''}: ${why}`);
    }
    if (r?.errors) notes.push(`${sc.label} · ${s.name}: ${r.errors} connection errors (marked !)`);
  }
}
// Over TLS the load generator does as much crypto as the server (a full
// handshake costs a client more than a server): say how busy each server was.
for (const sc of SCENARIOS.filter((x) => x.tls)) {
  const busy = SERVERS.map((s) => [s.name, results[sc.id][s.name].result?.server?.busiestSecondCpu]).filter(([, b]) => typeof b === 'number');
  if (busy.length) notes.push(`${sc.label}: server core busy at most ${busy.map(([n, b]) => `${n} ${Math.round(b * 100)}%`).join(', ')} (busiest second)`);
}
const fanoutHow = results['fanout-1000-d16']?.corews?.result?.server?.fanout ?? results['fanout-1000-d1']?.corews?.result?.server?.fanout;

const lines = [];
lines.push('');
lines.push(`corews benchmark — ${new Date().toISOString().slice(0, 10)} — ${machine()}${bun.path ? `, Bun ${bun.version}` : ''}`);
lines.push(`${opts.duration} s windows after ${opts.warmup} s warm-up, best of ${opts.rounds} interleaved round(s), binary frames unless "text"; corews ${SERVERS.find((s) => s.name === 'corews')?.env.CRWS_THREADS ?? '-'} worker thread, corews-inline threads: 0${fanoutHow ? `, fanout=${fanoutHow}` : ''}`);
noteAddon();
if (addonsSeen.size > 1) lines.push(`warning: the corews addon was rebuilt during the run (${addonsSeen.size} builds: ${[...addonsSeen.keys()].join(', ')}); each run's build is in latest.json`);
if (loadAtStart[0] > 0.8) lines.push(`warning: load average ${loadAtStart[0]} when the run started: other work shared the cores, ratios are less reliable`);
lines.push('');
if (SCENARIOS.length > 0) lines.push(render(table)); // empty when --only picked the attach or bridge rows alone
if (attach) lines.push('', ...attachLines(attach));
if (bridge) lines.push('', ...bridgeLines(bridge, { fmtValue }));
if (roundTrip) lines.push('', ...roundTripLines(roundTrip, opts.rounds, (x) => fmtValue('µs', x)));
lines.push('');
lines.push('↑ higher is better, ↓ lower is better; ratios are corews ÷ peer (inline: corews-inline ÷ peer), ✓ where corews is better; ! see the notes.');
lines.push('CPU µs/unit: server utime+stime over the whole client run ÷ messages (deliveries, handshakes) the server counted.');
if (SERVERS.some((s) => s.name === 'c')) lines.push('c: bench/c/echo_server.c, the C floor (plain echo and fan-out rows only, · elsewhere).');
lines.push('RSS B/conn: server RSS growth from 1,000 to 10,000 idle connections ÷ 9,000, after a GC; anon: the private part of it (RssAnon), without the runtime\'s code pages.');
if (PKI) lines.push(`wss: TLS 1.3 on each server's own TLS (corews and ws: Node's OpenSSL ${process.versions.openssl}; Bun: its own), certificates issued at run time by a test CA (P-256 unless the row says RSA); URLs wss://${TLS_HOST}/…${TLS_HOST === 'localhost' ? ' (SNI sent)' : ' (no SNI)'}; echo clients check the certificate (--ca), handshake clients do not (--insecure); every handshake is a full one (no resumption).`);
lines.push(...deflateLegend(results, SCENARIOS, SERVERS));
for (const n of [...new Set(notes)]) lines.push(`note: ${n}`);
lines.push('');
lines.push('DESIGN budgets (measured here, not asserted):');
for (const b of budgets) lines.push(`  ${b.name}: ${b.detail.startsWith(b.status) ? b.detail : `${b.status} — ${b.detail}`}`);
process.stdout.write(`${lines.join('\n')}\n`);

let micro = null;
if (opts.micro) {
  process.stdout.write('\n');
  await new Promise((resolve) => {
    const argv = pinned(CLIENT_CPUS, [process.execPath, path.join(ROOT, 'bench', 'micro.mjs')]);
    const p = track(spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] }));
    p.once('exit', resolve);
  });
  try {
    micro = JSON.parse(fs.readFileSync(path.join(RESULTS, 'micro.json'), 'utf8'));
  } catch {
    micro = { failed: 'bench/micro.mjs wrote no results' };
  }
}


const file = writeResult('latest.json', {
  date: new Date().toISOString(),
  machine: machine(),
  node: process.versions.node,
  bun: bun.path ? bun.version : null,
  bunMissing: bun.path ? undefined : bun.why,
  commit: { atStart: commitAtStart, atEnd: gitState() },
  addons: [...addonsSeen.values()],
  loadAverage: { atStart: loadAtStart, atEnd: loadAverage() },
  settings: { ...opts, pinned: PIN, serverCpus: SERVER_CPUS, clientCpus: CLIENT_CPUS, clockTicks: CLK_TCK, corewsThreads: 1, corewsInlineThreads: 0, tls: PKI ? { host: TLS_HOST, openssl: process.versions.openssl } : null },
  minutes: Number(((Date.now() - started) / 60000).toFixed(2)),
  scenarios: Object.fromEntries(SCENARIOS.map((sc) => [sc.id, { label: sc.label, mode: sc.mode, tls: sc.tls ?? null, args: sc.args, servers: results[sc.id] }])),
  table: tableJson,
  text: lines.join('\n'),
  limits,
  attach,
  bridge: bridge && { rounds: bridge.rounds, scenarios: bridge.scenarios },
  roundTrip,
  budgets,
  micro,
});
const deflateFile = deflateResults(results, SCENARIOS, tableJson, { date: new Date().toISOString(), machine: machine(), bun: bun.path ? bun.version : null, commit: { atStart: commitAtStart, atEnd: gitState() }, loadAverage: { atStart: loadAtStart, atEnd: loadAverage() }, text: lines.join('\n') });
if (deflateFile) writeResult('deflate.json', deflateFile); // bench/deflate.mjs
process.stdout.write(`\nwritten ${path.relative(process.cwd(), file)} (run took ${((Date.now() - started) / 60000).toFixed(1)} min)\n`);
