// The chat system under load (a bench, not a test): N chat clients in R rooms,
// each sending one message a second, on two chat processes sharing Redis and
// PostgreSQL, against the same load on one process without Redis (in-process
// pub/sub; the same PostgreSQL for history).
//
//   node bench/chat.mjs [--clients 10000] [--rooms 100] [--rate 1] [--seconds 20]
//                       [--warmup 5] [--client-procs 4] [--sample-every 10] [--only cluster|single]
//
// Clients connect to the chat processes directly (each room's clients spread over
// them), not through nginx: nginx would add its own hop and process to measure, and
// the balancing is tested elsewhere (test/chat-cluster.test.ts). They run in
// --client-procs child processes (bench/chat-clients.mjs, raw frames, latency read
// on one client in --sample-every). Reported per scenario, over the --seconds window
// after --warmup seconds of sending:
//
// - messages sent, stored (the rooms' counters in PostgreSQL) and delivered per
//   second (every client gets every message of its room, its own included) against
//   what the load offers;
// - delivery latency, send → receipt, p50/p99: across processes (sender and
//   receiver on different chat processes) and within one;
// - CPU per delivery: utime+stime (/proc/<pid>/stat) of the chat processes,
//   redis-server and every PostgreSQL process over the window, divided by the
//   deliveries; the client processes' CPU and the whole machine's apart;
// - Redis traffic: INFO stats deltas over the window (commands, bytes in and out);
// - which side saturated (saturation() below says how that is decided).
// Writes bench/results/chat.json.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startCluster } from '../examples/chat/deploy/cluster.mjs';
import { machine, writeResult } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const USAGE =
  'usage: node bench/chat.mjs [--clients N] [--rooms R] [--rate M] [--seconds S] [--warmup S] [--client-procs P] [--sample-every K] [--only cluster|single]';

function parseArgs(argv) {
  const o = { clients: 10_000, rooms: 100, rate: 1, seconds: 20, warmup: 5, clientProcs: 4, sampleEvery: 10, only: null };
  const names = {
    '--clients': 'clients',
    '--rooms': 'rooms',
    '--rate': 'rate',
    '--seconds': 'seconds',
    '--duration': 'seconds', // the earlier name
    '--warmup': 'warmup',
    '--client-procs': 'clientProcs',
    '--sample-every': 'sampleEvery',
  };
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
  for (const k of ['clients', 'rooms', 'clientProcs', 'sampleEvery']) {
    if (!Number.isInteger(o[k])) throw new RangeError(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} takes an integer (got ${o[k]})\n${USAGE}`);
  }
  return o;
}

/** Busy and total jiffies of the whole machine (/proc/stat), every process of it. */
function machineJiffies() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
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

/**
 * `INFO stats` and `INFO commandstats` of redis at port: the stats as numbers, and
 * `cmd:<name>` the calls of each command (what the traffic is made of).
 */
function redisInfo(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const replies = [];
    s.once('connect', () => s.write('INFO stats\r\nINFO commandstats\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      for (;;) {
        const m = /^\$(\d+)\r\n/.exec(buf);
        if (!m || Buffer.byteLength(buf) < m[0].length + Number(m[1]) + 2) break;
        const body = Buffer.from(buf).subarray(m[0].length, m[0].length + Number(m[1])).toString();
        replies.push(body);
        buf = Buffer.from(buf).subarray(m[0].length + Number(m[1]) + 2).toString();
      }
      if (replies.length < 2) return;
      s.destroy();
      const out = {};
      for (const line of replies[0].split('\r\n')) {
        const [k, v] = line.split(':');
        if (v !== undefined && v !== '' && !Number.isNaN(Number(v))) out[k] = Number(v);
      }
      for (const line of replies[1].split('\r\n')) {
        const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
        if (m) out[`cmd:${m[1]}`] = Number(m[2]);
      }
      resolve(out);
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

/** The sum of the rooms' last ids: messages stored so far. */
async function storedCount(db) {
  const { rows } = await db.query('SELECT coalesce(sum(last_id), 0)::bigint AS n FROM chat_rooms');
  return Number(rows[0].n);
}

/**
 * Which side limited the run, from the window's counts. The stage that fell behind:
 * sending (the clients did not send what the load asks for), storing (sent but not
 * stored), delivering (stored but not delivered to every member of the room), or none.
 * Then what held it: a process at its share of the CPU, CPU-bound (a chat process's JS
 * and a client process are single-threaded, so a whole core is their ceiling on a quiet
 * machine; on a loaded one a runnable process gets about cores / load average of a
 * core, so one at 80 % of that is waiting for the CPU, not for I/O), else the machine
 * when every core was busy (`machineBusy`: all processes, this bench's and others'),
 * else waiting on something that used no CPU to speak of.
 */
function saturation(r, cores, load) {
  const share = Math.min(1, cores / Math.max(load, 1));
  // Each stage's output over its input; the stage furthest below 95 % fell behind.
  const stages = [
    ['clients sending', r.sentPerSec / r.offeredSendsPerSec],
    ['server storing', r.storedPerSec / Math.max(r.sentPerSec, 1)],
    ['server delivering (or clients receiving)', r.deliveredPerSec / Math.max(r.storedPerSec * r.perRoom, 1)],
  ].filter(([, kept]) => kept < 0.95);
  stages.sort((a, b) => a[1] - b[1]);
  const stage = stages.length > 0 ? `${stages[0][0]} (${Math.round(stages[0][1] * 100)} % of its input)` : null;
  const c = r.cpuCores;
  const ours = c.chatEach.reduce((a, b) => a + b, 0) + c.clientsEach.reduce((a, b) => a + b, 0) + c.postgres + c.redis;
  const machineLine = `machine ${Math.round(r.machineBusy * 100)} % busy of ${cores} cores, this bench ${ours.toFixed(2)} cores of it`;
  if (!stage) return `none: the server kept up with the load; ${machineLine}`;
  const atCore = [
    ...c.chatEach.map((x, i) => [`chat process ${i + 1}`, x]),
    ...c.clientsEach.map((x, i) => [`client process ${i + 1}`, x]),
    ['PostgreSQL (all its processes)', c.postgres],
    ['redis-server', c.redis],
  ].filter(([, x]) => x >= 0.8 * share);
  atCore.sort((a, b) => b[1] - a[1]);
  const shareLine = share === 1 ? 'a whole core' : `its share of the CPU (${share.toFixed(2)} cores at load ${load.toFixed(1)})`;
  const held = atCore.length > 0
    ? `CPU-bound at ${shareLine}: ${atCore.map(([n, x]) => `${n} ${x.toFixed(2)}`).join(', ')}`
    : r.machineBusy > 0.9
      ? `the machine: every core busy, no process of this bench at ${shareLine}`
      : `waiting: no process at ${shareLine}, cores to spare`;
  return `${stage} fell behind; held by ${held}; ${machineLine}`;
}

/** One scenario: `processes` chat processes (with Redis when > 1), the load, the window's counts. */
async function runScenario(name, processes, o) {
  const rooms = Array.from({ length: o.rooms }, (_, i) => `r${i}`).join(',');
  // RATE/BURST stay the chat's defaults (10 a second): the load sends o.rate per client.
  const cluster = await startCluster({ processes, redis: processes > 1, nginx: false, env: { ROOMS: rooms } });
  const { chats, redis, postgres } = cluster;
  const db = new pg.Client({ connectionString: postgres.url });
  let procs = [];
  try {
    await db.connect();
    const urls = chats.map((c) => c.url);
    procs = Array.from({ length: o.clientProcs }, clientProcess);
    const per = Math.ceil(o.clients / o.clientProcs);
    const t0 = Date.now();
    const joined = await Promise.all(
      procs.map((p, k) =>
        p.ask({ cmd: 'start', urls, first: k * per, count: Math.max(0, Math.min(per, o.clients - k * per)), rooms: o.rooms, ramp: 200, sampleEvery: o.sampleEvery }, 'joined'),
      ),
    );
    const open = joined.reduce((a, j) => a + j.open, 0);
    console.log(`${name}: ${open} of ${o.clients} clients open and joined in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Every join is answered; let the presence lists they set off settle before sending.
    await sleep(5000);
    for (const p of procs) await p.ask({ cmd: 'send', rate: o.rate });
    await sleep(o.warmup * 1000);

    const serverPids = () => [...chats.map((c) => c.pid), ...(redis ? [redis.pid] : []), ...withChildren(postgres.pid)];
    const clientPids = procs.map((p) => p.child.pid);
    const cpuOf = (list) => Object.fromEntries(list.map((pid) => [pid, cpuSeconds(pid)]));
    const pgPids = withChildren(postgres.pid);
    const before = {
      cpu: cpuOf([...serverPids(), ...clientPids]),
      redis: redis ? await redisInfo(redis.port) : null,
      stored: await storedCount(db),
      machine: machineJiffies(),
      at: process.hrtime.bigint(),
    };
    for (const p of procs) await p.ask({ cmd: 'window', on: true });
    await sleep(o.seconds * 1000);
    const windows = await Promise.all(procs.map((p) => p.ask({ cmd: 'window', on: false }, 'window')));
    const seconds = Number(process.hrtime.bigint() - before.at) / 1e9;
    const after = {
      cpu: cpuOf([...serverPids(), ...clientPids]),
      redis: redis ? await redisInfo(redis.port) : null,
      stored: await storedCount(db),
      machine: machineJiffies(),
    };

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
      clients: cpuDelta(clientPids),
    };
    const server = cpu.chat + cpu.redis + cpu.postgres;
    const rd = (k) => (redis ? (after.redis[k] - (before.redis[k] ?? 0)) / seconds : null);
    const r = {
      scenario: name,
      processes,
      clients: o.clients,
      open,
      rooms: o.rooms,
      perRoom,
      rate: o.rate,
      seconds: Number(seconds.toFixed(2)),
      offeredSendsPerSec: Math.round(open * o.rate),
      sentPerSec: Math.round(sent / seconds),
      storedPerSec: Math.round((after.stored - before.stored) / seconds),
      offeredDeliveriesPerSec: Math.round(o.clients * o.rate * perRoom),
      deliveredPerSec: Math.round(delivered / seconds),
      latencyUs: {
        cross: { p50: percentile(cross, 0.5), p99: percentile(cross, 0.99), n: cross.reduce((a, b) => a + b, 0) },
        local: { p50: percentile(local, 0.5), p99: percentile(local, 0.99), n: local.reduce((a, b) => a + b, 0) },
      },
      cpuSeconds: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Number(v.toFixed(2))])),
      /** Cores used over the window (CPU seconds per second), per group and per process. */
      cpuCores: {
        chatEach: chats.map((c) => Number((cpuDelta([c.pid]) / seconds).toFixed(2))),
        clientsEach: clientPids.map((pid) => Number((cpuDelta([pid]) / seconds).toFixed(2))),
        postgres: Number((cpu.postgres / seconds).toFixed(2)),
        redis: Number((cpu.redis / seconds).toFixed(2)),
      },
      machineBusy: Number(((after.machine.busy - before.machine.busy) / (after.machine.total - before.machine.total)).toFixed(3)),
      cpuUsPerDelivery: delivered > 0 ? Number(((server / delivered) * 1e6).toFixed(2)) : null,
      clientCpuUsPerDelivery: delivered > 0 ? Number(((cpu.clients / delivered) * 1e6).toFixed(2)) : null,
      redisPerSec: redis
        ? {
            commands: Math.round(rd('total_commands_processed')),
            inputKB: Number((rd('total_net_input_bytes') / 1024).toFixed(1)),
            outputKB: Number((rd('total_net_output_bytes') / 1024).toFixed(1)),
            /** The commands with the most calls a second in the window. */
            top: Object.keys(after.redis)
              .filter((k) => k.startsWith('cmd:'))
              .map((k) => [k.slice(4), Math.round(rd(k) ?? 0)])
              .filter(([, n]) => n > 0)
              .sort((a, b) => b[1] - a[1])
              .slice(0, 3),
          }
        : null,
      clientErrors: windows.reduce((a, w) => a + w.errors, 0),
      closed: windows.reduce((a, w) => a + w.closed, 0),
    };
    r.loadavg = Number(os.loadavg()[0].toFixed(2));
    r.saturated = saturation(r, os.cpus().length, r.loadavg);
    return r;
  } finally {
    for (const p of procs) await p.ask({ cmd: 'stop' }).catch(() => {});
    await db.end().catch(() => {});
    await cluster.stop();
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
  ['messages/s sent (offered)', (r) => `${fmt(r.sentPerSec)} (${fmt(r.offeredSendsPerSec)})`],
  ['messages/s stored', (r) => fmt(r.storedPerSec)],
  ['deliveries/s (offered)', (r) => `${fmt(r.deliveredPerSec)} (${fmt(r.offeredDeliveriesPerSec)})`],
  ['latency across p50 / p99 (ms)', (r) => `${fmt(r.latencyUs.cross.p50 && r.latencyUs.cross.p50 / 1000)} / ${fmt(r.latencyUs.cross.p99 && r.latencyUs.cross.p99 / 1000)}`],
  ['latency within p50 / p99 (ms)', (r) => `${fmt(r.latencyUs.local.p50 && r.latencyUs.local.p50 / 1000)} / ${fmt(r.latencyUs.local.p99 && r.latencyUs.local.p99 / 1000)}`],
  ['cores: chat each / pg / redis', (r) => `${r.cpuCores.chatEach.join(' + ')} / ${r.cpuCores.postgres} / ${r.cpuCores.redis}`],
  ['cores: client procs each', (r) => r.cpuCores.clientsEach.join(' + ')],
  ['server CPU µs per delivery', (r) => fmt(r.cpuUsPerDelivery)],
  ['client CPU µs per delivery', (r) => fmt(r.clientCpuUsPerDelivery)],
  ['Redis commands/s, KB/s in / out', (r) => (r.redisPerSec ? `${fmt(r.redisPerSec.commands)}, ${fmt(r.redisPerSec.inputKB)} / ${fmt(r.redisPerSec.outputKB)}` : '—')],
  ['Redis top commands/s', (r) => (r.redisPerSec ? r.redisPerSec.top.map(([c, n]) => `${c} ${fmt(n)}`).join(', ') : '—')],
  ['client errors / closed', (r) => `${r.clientErrors} / ${r.closed}`],
];
console.log(`\nchat bench: ${machine()}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end; ${o.seconds} s window after ${o.warmup} s warm-up\n`);
for (const [label, f] of rows) console.log(`${label.padEnd(34)} ${results.map((r) => f(r).padEnd(40)).join('')}`);
for (const r of results) console.log(`saturated (${r.scenario}): ${r.saturated}`);
if (results.length === 2 && results[1].deliveredPerSec > 0) {
  const [c, s] = results;
  console.log(`\ncluster ÷ single: deliveries/s ${(c.deliveredPerSec / s.deliveredPerSec).toFixed(2)}, CPU per delivery ${c.cpuUsPerDelivery && s.cpuUsPerDelivery ? (c.cpuUsPerDelivery / s.cpuUsPerDelivery).toFixed(2) : '—'}`);
}
const file = writeResult('chat.json', { date: new Date().toISOString(), machine: machine(), loadavg: os.loadavg(), options: o, results });
console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
