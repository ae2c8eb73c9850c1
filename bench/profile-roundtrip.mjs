// Instructions per unloaded round trip on the server's JS thread (inline
// mode), counted by callgrind, which does not depend on how loaded the machine
// is: the yardstick for before/after comparisons of the inline path (README,
// "Where a round trip's microseconds go"). The server (bench/servers/corews.mjs,
// threads: 0) runs under callgrind with instrumentation off; one `ws` client in
// this process sends a 32-byte binary message and the next only once its echo
// came back, --warmup round trips first, then instrumentation is switched on for
// --rounds round trips and off again, and the main thread's instruction count is
// divided by the round trips the server handled in that window.
//
//   node bench/profile-roundtrip.mjs [--rounds 2000] [--warmup 3000] [--size 32] [--text]
//                                    [--busy-poll 0] [--threads 0] [--out DIR]
// Prints one JSON line; the callgrind files stay in DIR (default a temp dir) for
// callgrind_annotate. Needs valgrind. Kernel time is not counted.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { freePort, ROOT } from './common.mjs';

const args = { rounds: 2000, warmup: 3000, size: 32, text: false, 'busy-poll': 0, threads: 0, out: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i].replace(/^--/, '');
  if (a === 'text') args.text = true;
  else if (a in args) args[a] = a === 'out' ? process.argv[++i] : Number(process.argv[++i]);
  else throw new Error(`unknown argument ${process.argv[i]}`);
}
const out = args.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'corews-rt-'));
fs.mkdirSync(out, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const port = await freePort();
const argv = ['valgrind', '--tool=callgrind', '--separate-threads=yes', '--instr-atstart=no',
  `--callgrind-out-file=${path.join(out, 'callgrind.out.%p')}`, process.execPath, path.join(ROOT, 'bench', 'servers', 'corews.mjs')];
const server = spawn(argv[0], argv.slice(1), {
  stdio: ['pipe', 'pipe', 'pipe'],
  env: { ...process.env, CRWS_THREADS: String(args.threads), CRWS_BUSY_POLL: String(args['busy-poll']), PORT: String(port) },
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
const messages = async () => {
  server.stdin.write('stats\n');
  return JSON.parse(await waitLine('stats ', 60000)).messages;
};
const control = (...a) => execFileSync('callgrind_control', [...a, String(server.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });

try {
  await waitLine('listening ', 120000);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const payload = args.text ? 'x'.repeat(args.size) : Buffer.alloc(args.size, 7);
  const roundTrips = (n) => new Promise((resolve) => {
    let left = n;
    const next = () => (left-- === 0 ? (ws.off('message', next), resolve()) : ws.send(payload));
    ws.on('message', next);
    next();
  });
  await roundTrips(args.warmup);
  const m0 = await messages();
  control('-i', 'on');
  await roundTrips(args.rounds);
  control('-i', 'off');
  const m1 = await messages();
  ws.close();
  await sleep(300);
  // The counts are written when the server exits.
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r() : server.once('exit', r)));
  // The stats exchange itself (stdin) is a few thousand instructions: noise at 2,000 round trips.
  const handled = m1 - m0;
  const files = fs.readdirSync(out).filter((f) => f.startsWith(`callgrind.out.${server.pid}`)).sort();
  const threads = files.map((f) => {
    const ir = Number(/^totals:\s+(\d+)/m.exec(fs.readFileSync(path.join(out, f), 'utf8'))?.[1] ?? 0);
    return { file: f, instructions: ir, perRoundTrip: Math.round(ir / handled) };
  }).filter((t) => t.instructions > 0);
  process.stdout.write(`${JSON.stringify({ ...args, out, roundTrips: handled, threads })}\n`);
} finally {
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
}
