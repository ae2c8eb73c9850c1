// Is `corews bench` fast enough to saturate a native server? Both it and a
// hand-written C load generator (bench/c/loadgen.c) drive the same minimal C
// echo server (bench/c/echo_server.c), each pinned to the same single core, in
// alternating rounds; the medians are compared.
//   node bench/loadgen-vs-c.mjs [rounds=5] [seconds=3]
import { benchArgv, buildC, CLIENT_CPUS, freePort, machine, median, pinned, runJson, SERVER_CPUS, startProcess, stopProcess, writeResult } from './common.mjs';

const rounds = Number(process.argv[2] ?? 5);
const seconds = Number(process.argv[3] ?? 3);
const scenarios = [
  { connections: 100, depth: 10, size: 32 },
  { connections: 100, depth: 32, size: 32 },
  { connections: 100, depth: 4, size: 1024 },
];

const server = buildC('echo_server', ['-lcrypto']);
const loadgen = buildC('loadgen');
const rows = [];
for (const sc of scenarios) {
  const port = await freePort();
  const srv = await startProcess(pinned(SERVER_CPUS, [server, String(port)]));
  await new Promise((r) => setTimeout(r, 200));
  const c = [];
  const ours = [];
  for (let i = 0; i < rounds; i++) {
    const cr = await runJson(pinned(CLIENT_CPUS, [loadgen, String(port), String(sc.connections), String(sc.depth), String(sc.size), String(seconds), '0.5']));
    c.push(cr.msgsPerSec);
    const br = await runJson(benchArgv('echo', `ws://127.0.0.1:${port}/`, { connections: sc.connections, depth: sc.depth, size: sc.size, binary: true, duration: seconds, warmup: 0.5, threads: 1 }));
    if (br.errors) throw new Error(`corews bench reported ${br.errors} errors`);
    ours.push(br.msgsPerSec);
  }
  await stopProcess(srv);
  const row = { ...sc, cMsgsPerSec: median(c), corewsMsgsPerSec: median(ours), ratio: median(ours) / median(c), cRuns: c, corewsRuns: ours };
  rows.push(row);
  console.log(`echo ${sc.size} B, ${sc.connections} conns × depth ${sc.depth}: C ${Math.round(row.cMsgsPerSec).toLocaleString('en-US')} msg/s, corews bench ${Math.round(row.corewsMsgsPerSec).toLocaleString('en-US')} msg/s, ratio ${row.ratio.toFixed(3)}`);
}
const file = writeResult('loadgen-vs-c.json', { date: new Date().toISOString(), machine: machine(), rounds, seconds, rows });
console.log(`written ${file}`);
