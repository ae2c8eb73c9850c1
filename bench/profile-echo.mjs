// Instructions per echoed message on each of corews's threads, counted by
// callgrind (valgrind), which does not depend on how loaded the machine is:
// the yardstick for before/after comparisons of the byte path
// (docs/where-the-time-goes.md). The server (bench/servers/corews.mjs, one
// worker thread) runs under callgrind with instrumentation off; a `corews bench`
// echo load runs against it; after the warm-up instrumentation is switched on for
// the window, then dumped, and the server's own message count over exactly
// that window divides each thread's instruction count. Page faults of the
// server over the window and its peak RSS (from /proc) are printed too; --no-valgrind runs
// the server as it is, for those and the message rate alone.
//
//   node bench/profile-echo.mjs [--size 1024] [--connections 100] [--depth 8] [--text]
//                               [--window 8] [--warmup 6] [--out DIR] [--threads 1] [--no-valgrind]
//                               [--fanout] [--c]
// --fanout: the fan-out load instead (--connections subscribers, --depth the
// publisher's lead), divided by deliveries; --c: bench/c's C floor as the server.
// Prints one JSON line; the callgrind files stay in DIR (default a temp dir)
// for callgrind_annotate. Needs valgrind. Kernel time (the socket copies) is
// not counted: callgrind sees user space only.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchArgv, buildC, freePort, ROOT } from './common.mjs';

const args = { size: 1024, connections: 100, depth: 8, text: false, window: 8, warmup: 6, out: null, threads: 1, valgrind: true, fanout: false, c: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i].replace(/^--/, '');
  if (a === 'text') args.text = true;
  else if (a === 'no-valgrind') args.valgrind = false;
  else if (a === 'fanout' || a === 'c') args[a] = true;
  else if (a in args) args[a] = a === 'out' ? process.argv[++i] : Number(process.argv[++i]);
  else throw new Error(`unknown argument ${process.argv[i]}`);
}
const out = args.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'corews-profile-'));
fs.mkdirSync(out, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const port = await freePort();
const serverArgv = args.c ? [buildC('echo_server', ['-lcrypto']), String(port)] : [process.execPath, path.join(ROOT, 'bench', 'servers', 'corews.mjs')];
const valgrind = ['valgrind', '--tool=callgrind', '--separate-threads=yes', '--instr-atstart=no', `--callgrind-out-file=${path.join(out, 'callgrind.out.%p')}`];
const argv0 = args.valgrind ? [...valgrind, ...serverArgv] : serverArgv;
const server = spawn(argv0[0], argv0.slice(1), {
  stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CRWS_THREADS: String(args.threads), PORT: String(port) },
});
let stdout = '';
let stderr = '';
server.stdout.on('data', (d) => (stdout += d));
server.stderr.on('data', (d) => (stderr += d));
const waitLine = async (prefix, ms) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = stdout.split('\n').find((l) => l.startsWith(prefix));
    if (line) {
      stdout = stdout.slice(stdout.indexOf(line) + line.length + 1);
      return line.slice(prefix.length);
    }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`no "${prefix}" from the server: ${stderr.slice(-2000)}`);
    await sleep(50);
  }
};
const stats = async () => {
  server.stdin.write('stats\n');
  return JSON.parse(await waitLine('stats ', 60000))[args.fanout ? 'deliveries' : 'messages'];
};
const faults = () => {
  const s = fs.readFileSync(`/proc/${server.pid}/stat`, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[7]); // minflt
};
const control = (...a) => args.valgrind && execFileSync('callgrind_control', [...a, String(server.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });

try {
  await waitLine('listening ', 120000);
  const total = args.warmup + args.window + 30;
  const argv = benchArgv(args.fanout ? 'fanout' : 'echo', `ws://127.0.0.1:${port}/`, {
    connections: args.connections, depth: args.depth, size: args.size, ...(args.text ? { text: true } : { binary: true }), duration: total, warmup: 0,
  });
  const client = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  await sleep(args.warmup * 1000);
  const m0 = await stats();
  const f0 = faults();
  control('-i', 'on');
  await sleep(args.window * 1000);
  control('-i', 'off');
  const m1 = await stats();
  const f1 = faults();
  const peakRssKiB = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0);
  client.kill('SIGINT');
  await sleep(500);
  // The counts are written when the server exits (a dump on request would be
  // overwritten by that one, which has the same file name).
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r() : server.once('exit', r)));
  const messages = m1 - m0;
  // One file per thread (…-01 the main thread, then the others as created).
  const files = fs.readdirSync(out).filter((f) => f.startsWith(`callgrind.out.${server.pid}`));
  const threads = [];
  for (const f of files.sort()) {
    const text = fs.readFileSync(path.join(out, f), 'utf8');
    const ir = Number(/^totals:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    if (ir > 0) threads.push({ file: f, instructions: ir, perMessage: Math.round(ir / messages) });
  }
  process.stdout.write(`${JSON.stringify({ ...args, out, messages, msgsPerSec: Math.round(messages / args.window), pageFaultsPerMessage: Number(((f1 - f0) / messages).toFixed(4)), peakRssKiB, threads })}\n`);
} finally {
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
}
