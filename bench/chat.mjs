// The chat system under load (a bench, not a test): N chat clients in R rooms,
// each sending one message a second, on two chat processes sharing Redis and
// PostgreSQL, against the same load on one process without Redis (in-process
// pub/sub; the same PostgreSQL for history).
//
//   node bench/chat.mjs [--clients 10000] [--rooms 100] [--rate 1] [--duration 15]
//                       [--warmup 5] [--client-procs 4] [--only cluster|single]
//
// Clients connect to the chat processes directly (half of each room on each),
// not through nginx: nginx would add its own hop and process to measure, and
// the balancing is tested elsewhere (test/chat-cluster.test.ts). They run in
// --client-procs child processes (bench/chat-clients.mjs), as one process may
// hold at most 20,000 file descriptors here. Reported per scenario, over the
// --duration window after --warmup seconds of sending:
//
// - delivered messages per second (every client gets every message of its
//   room, its own included) against what the load offers (clients × rate ×
//   clients per room);
// - delivery latency, send → receipt, p50/p99: across processes (sender and
//   receiver on different chat processes) and within one;
// - CPU per delivery: utime+stime (/proc/<pid>/stat) of the chat processes,
//   redis-server and every PostgreSQL process, over the window, divided by
//   the deliveries;
// - Redis traffic: INFO stats deltas over the window (commands, bytes in and
//   out) per second.
// Writes bench/results/chat.json.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChat } from '../examples/chat/deploy/chat-process.mjs';
import { startPostgres } from '../examples/chat/deploy/postgres.mjs';
import { freePort } from '../examples/chat/deploy/proc.mjs';
import { startRedis } from '../examples/chat/deploy/redis.mjs';
import { machine, writeResult } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const USAGE = 'usage: node bench/chat.mjs [--clients N] [--rooms R] [--rate M] [--duration S] [--warmup S] [--client-procs P] [--only cluster|single]';

function parseArgs(argv) {
  const o = { clients: 10_000, rooms: 100, rate: 1, duration: 15, warmup: 5, clientProcs: 4, only: null };
  const names = { '--clients': 'clients', '--rooms': 'rooms', '--rate': 'rate', '--duration': 'duration', '--warmup': 'warmup', '--client-procs': 'clientProcs' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') {
      o.only = argv[++i];
      if (o.only !== 'cluster' && o.only !== 'single') throw new TypeError(`--only takes cluster or single\n${USAGE}`);
    } else if (names[a]) {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new RangeError(`${a} takes a positive number (got ${argv[i]})\n${USAGE}`);
      o[names[a]] = v;
    } else throw new TypeError(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

/** utime+stime of a process in seconds (0 if it is gone). */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** The PIDs of `pid` and all its descendants (PostgreSQL's backends are its children). */
function withChildren(pid) {
  const out = [pid];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** `INFO stats` of redis at port, as numbers. */
function redisInfo(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    s.once('connect', () => s.write('INFO stats\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (m && Buffer.byteLength(buf) >= m[0].length + Number(m[1])) {
        s.destroy();
        const out = {};
        for (const line of buf.slice(m[0].length).split('\r\n')) {
          const [k, v] = line.split(':');
          if (v !== undefined && v !== '' && !Number.isNaN(Number(v))) out[k] = Number(v);
        }
        resolve(out);
      }
    });
    s.once('error', reject);
  });
}

const percentile = (hist, p) => {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let b = 0; b < hist.length; b++) {
    seen += hist[b];
    if (seen >= p * total) return Math.round(2 ** ((b + 0.5) / 8)); // the bucket's middle, µs
  }
  return null;
};
const sumHist = (hs) => hs.reduce((acc, h) => acc.map((x, i) => x + h[i]));

function clientProcess() {
  const child = fork(path.join(here, 'chat-clients.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map();
  child.on('message', (m) => {
    const w = waiting.get(m.ev);
    if (w) {
      waiting.delete(m.ev);
      w(m);
    }
  });
  return {
    child,
    ask(msg, ev) {
      return new Promise((resolve) => {
        if (ev) waiting.set(ev, resolve);
        child.send(msg);
        if (!ev) resolve(undefined);
      });
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One scenario: `processes` chat processes (with Redis when > 1), the load, the window's counts. */
async function runScenario(name, processes, o) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `chat-bench-${name}-`));
  const started = [];
  try {
    const redis = processes > 1 ? await startRedis({ dir, port: await freePort() }) : null;
    if (redis) started.push(redis);
    const postgres = await startPostgres({ dir, port: await freePort() });
    started.push(postgres);
    const rooms = Array.from({ length: o.rooms }, (_, i) => `r${i}`).join(',');
    const chats = [];
    for (let i = 0; i < processes; i++) {
      const chat = await startChat({
        dir,
        port: await freePort(),
        name: `chat-${i + 1}`,
        redisUrl: redis?.url ?? '',
        databaseUrl: postgres.url,
        env: { ROOMS: rooms },
      });
      started.push(chat);
      chats.push(chat);
    }
    const urls = chats.map((c) => c.url);
    const procs = Array.from({ length: o.clientProcs }, clientProcess);
    const per = Math.ceil(o.clients / o.clientProcs);
    const t0 = Date.now();
    const joined = await Promise.all(
      procs.map((p, k) => p.ask({ cmd: 'start', urls, first: k * per, count: Math.min(per, o.clients - k * per), rooms: o.rooms, ramp: 200 }, 'joined')),
    );
    const open = joined.reduce((a, j) => a + j.open, 0);
    console.log(`${name}: ${open} of ${o.clients} clients open and joined in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Every join is answered; let the presence lists they set off settle before sending.
    await sleep(5000);
    for (const p of procs) await p.ask({ cmd: 'send', rate: o.rate });
    await sleep(o.warmup * 1000);

    const pids = () => [...chats.map((c) => c.pid), ...(redis ? [redis.pid] : []), ...withChildren(postgres.pid)];
    const cpuOf = (list) => Object.fromEntries(list.map((pid) => [pid, cpuSeconds(pid)]));
    const pgPids = withChildren(postgres.pid);
    const before = { cpu: cpuOf(pids()), redis: redis ? await redisInfo(redis.port) : null, at: process.hrtime.bigint() };
    for (const p of procs) await p.ask({ cmd: 'window', on: true });
    await sleep(o.duration * 1000);
    const windows = await Promise.all(procs.map((p) => p.ask({ cmd: 'window', on: false }, 'window')));
    const seconds = Number(process.hrtime.bigint() - before.at) / 1e9;
    const after = { cpu: cpuOf(pids()), redis: redis ? await redisInfo(redis.port) : null };
    for (const p of procs) await p.ask({ cmd: 'stop' });

    const cpuDelta = (list) => list.reduce((a, pid) => a + (after.cpu[pid] ?? 0) - (before.cpu[pid] ?? 0), 0);
    const delivered = windows.reduce((a, w) => a + w.delivered, 0);
    const sent = windows.reduce((a, w) => a + w.sent, 0);
    const cross = sumHist(windows.map((w) => w.cross));
    const local = sumHist(windows.map((w) => w.local));
    const perRoom = o.clients / o.rooms;
    const cpu = {
      chat: cpuDelta(chats.map((c) => c.pid)),
      redis: redis ? cpuDelta([redis.pid]) : 0,
      postgres: cpuDelta(pgPids),
    };
    const total = cpu.chat + cpu.redis + cpu.postgres;
    const rd = (k) => (redis ? (after.redis[k] - before.redis[k]) / seconds : null);
    return {
      scenario: name,
      processes,
      clients: o.clients,
      open,
      rooms: o.rooms,
      rate: o.rate,
      seconds: Number(seconds.toFixed(2)),
      sentPerSec: Math.round(sent / seconds),
      offeredDeliveriesPerSec: Math.round(o.clients * o.rate * perRoom),
      deliveredPerSec: Math.round(delivered / seconds),
      latencyUs: {
        cross: { p50: percentile(cross, 0.5), p99: percentile(cross, 0.99), n: cross.reduce((a, b) => a + b, 0) },
        local: { p50: percentile(local, 0.5), p99: percentile(local, 0.99), n: local.reduce((a, b) => a + b, 0) },
      },
      cpuSeconds: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Number(v.toFixed(2))])),
      cpuUsPerDelivery: delivered > 0 ? Number(((total / delivered) * 1e6).toFixed(2)) : null,
      redisPerSec: redis
        ? {
            commands: Math.round(rd('total_commands_processed')),
            inputKB: Number((rd('total_net_input_bytes') / 1024).toFixed(1)),
            outputKB: Number((rd('total_net_output_bytes') / 1024).toFixed(1)),
          }
        : null,
      clientErrors: windows.reduce((a, w) => a + w.errors, 0),
      closed: windows.reduce((a, w) => a + w.closed, 0),
    };
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n) => (n === null || n === undefined ? '—' : typeof n === 'number' ? n.toLocaleString('en-US') : String(n));

const o = parseArgs(process.argv.slice(2));
const results = [];
if (o.only !== 'single') results.push(await runScenario('cluster', 2, o));
if (o.only !== 'cluster') results.push(await runScenario('single', 1, o));

const rows = [
  ['scenario', (r) => `${r.scenario} (${r.processes} process${r.processes > 1 ? 'es, Redis' : ', no Redis'})`],
  ['clients open / rooms', (r) => `${fmt(r.open)} / ${r.rooms}`],
  ['messages sent/s', (r) => fmt(r.sentPerSec)],
  ['deliveries/s (offered)', (r) => `${fmt(r.deliveredPerSec)} (${fmt(r.offeredDeliveriesPerSec)})`],
  ['latency across p50 / p99 (ms)', (r) => `${fmt(r.latencyUs.cross.p50 && r.latencyUs.cross.p50 / 1000)} / ${fmt(r.latencyUs.cross.p99 && r.latencyUs.cross.p99 / 1000)}`],
  ['latency within p50 / p99 (ms)', (r) => `${fmt(r.latencyUs.local.p50 && r.latencyUs.local.p50 / 1000)} / ${fmt(r.latencyUs.local.p99 && r.latencyUs.local.p99 / 1000)}`],
  ['CPU s: chat / redis / postgres', (r) => `${r.cpuSeconds.chat} / ${r.cpuSeconds.redis} / ${r.cpuSeconds.postgres}`],
  ['CPU µs per delivery', (r) => fmt(r.cpuUsPerDelivery)],
  ['Redis commands/s, KB/s in / out', (r) => (r.redisPerSec ? `${fmt(r.redisPerSec.commands)}, ${fmt(r.redisPerSec.inputKB)} / ${fmt(r.redisPerSec.outputKB)}` : '—')],
  ['client errors / closed', (r) => `${r.clientErrors} / ${r.closed}`],
];
console.log(`\nchat bench: ${machine()}; ${o.duration} s window after ${o.warmup} s warm-up\n`);
for (const [label, f] of rows) console.log(`${label.padEnd(34)} ${results.map((r) => f(r).padEnd(36)).join('')}`);
if (results.length === 2 && results[1].deliveredPerSec > 0) {
  const [c, s] = results;
  console.log(`\ncluster ÷ single: deliveries/s ${(c.deliveredPerSec / s.deliveredPerSec).toFixed(2)}, CPU per delivery ${c.cpuUsPerDelivery && s.cpuUsPerDelivery ? (c.cpuUsPerDelivery / s.cpuUsPerDelivery).toFixed(2) : '—'}`);
}
const file = writeResult('chat.json', { date: new Date().toISOString(), machine: machine(), options: o, results });
console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
