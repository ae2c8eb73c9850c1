// Is `corews bench` fast enough to saturate a native server? Both it and a
// hand-written C load generator (bench/c/loadgen.c) drive the same minimal C
// echo server (bench/c/echo_server.c, core 0), each pinned to the same single
// core (core 1).
//   node bench/loadgen-vs-c.mjs [pairs=16] [seconds=1.5]
//
// This VM's speed drifts by up to a third over tens of seconds, far more than
// the difference being measured, so one comparison is a pair of runs back to
// back (order alternating: C first, then corews bench first, so drift favours
// neither), and the verdict is the median of the pairs' ratios.
import { benchArgv, buildC, CLIENT_CPUS, freePort, machine, median, pinned, runJson, SERVER_CPUS, startProcess, stopProcess, writeResult } from './common.mjs';

const pairs = Number(process.argv[2] ?? 16);
const seconds = Number(process.argv[3] ?? 1.5);
const warmup = 0.3;
const scenarios = [
  { connections: 100, depth: 10, size: 32 },
  { connections: 100, depth: 32, size: 32 },
  { connections: 100, depth: 4, size: 1024 },
];

const server = buildC('echo_server', ['-lcrypto']);
const loadgen = buildC('loadgen');
const fmt = (x) => Math.round(x).toLocaleString('en-US');
const rows = [];
for (const sc of scenarios) {
  const port = await freePort();
  const srv = await startProcess(pinned(SERVER_CPUS, [server, String(port)]));
  await new Promise((r) => setTimeout(r, 200));
  const runC = async () => (await runJson(pinned(CLIENT_CPUS, [loadgen, String(port), String(sc.connections), String(sc.depth), String(sc.size), String(seconds), String(warmup)]))).msgsPerSec;
  const runOurs = async () => {
    const r = await runJson(benchArgv('echo', `ws://127.0.0.1:${port}/`, { connections: sc.connections, depth: sc.depth, size: sc.size, binary: true, duration: seconds, warmup, threads: 1 }));
    if (r.errors) throw new Error(`corews bench reported ${r.errors} errors`);
    return r.msgsPerSec;
  };
  const c = [];
  const ours = [];
  const ratios = [];
  for (let i = 0; i < pairs; i++) {
    let a;
    let b;
    if (i % 2 === 0) {
      a = await runC();
      b = await runOurs();
    } else {
      b = await runOurs();
      a = await runC();
    }
    c.push(a);
    ours.push(b);
    ratios.push(b / a);
  }
  await stopProcess(srv);
  const row = {
    ...sc,
    cMsgsPerSec: median(c),
    corewsMsgsPerSec: median(ours),
    ratio: median(ratios),
    pairsAhead: ratios.filter((r) => r >= 1).length,
    pairs,
    ratios,
    cRuns: c,
    corewsRuns: ours,
  };
  rows.push(row);
  console.log(`echo ${sc.size} B, ${sc.connections} conns × depth ${sc.depth}: C ${fmt(row.cMsgsPerSec)} msg/s, corews bench ${fmt(row.corewsMsgsPerSec)} msg/s (medians); median paired ratio ${row.ratio.toFixed(3)}, corews bench ahead in ${row.pairsAhead} of ${pairs} pairs`);
}
const ahead = rows.every((r) => r.ratio >= 1);
console.log(`corews bench ${ahead ? 'drives at least as many messages per second as the C load generator in every scenario' : 'is behind the C load generator in at least one scenario'} (median paired ratio ≥ 1)`);
const file = writeResult('loadgen-vs-c.json', { date: new Date().toISOString(), machine: machine(), pairs, seconds, warmup, rows, ahead });
console.log(`written ${file}`);
