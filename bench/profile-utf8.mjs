// Instructions per UTF-8 validation call, corews's validator (the addon's
// hotPaths.isUtf8, through N-API) against Buffer.isUtf8 (a V8 builtin over
// simdutf), counted by callgrind: each case runs twice in its own process, with
// 0 and with N calls after the same warm-up, and the difference ÷ N is the
// call's cost. Instructions, not time (a vector instruction counts one whatever
// its width), but they do not move with the machine's load as bench/micro.mjs's
// ops/s do. About two minutes.
//
//   node bench/profile-utf8.mjs [--calls N]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ascii, multiByte } from './utf8-inputs.mjs';

const SELF = fileURLToPath(import.meta.url);

const CASES = {
  '0 B': () => Buffer.alloc(0),
  'ASCII 1 KiB': () => ascii(1024),
  'ASCII 64 KiB': () => ascii(65536),
  'multi-byte 1 KiB': () => multiByte(1024),
  'multi-byte 64 KiB': () => multiByte(65536),
};

if (process.argv[2] === '--child') {
  // node profile-utf8.mjs --child <validator> <case> <calls>
  const [, , , which, label, calls] = process.argv;
  const { createRequire } = await import('node:module');
  const { isUtf8 } = await import('node:buffer');
  const { ROOT } = await import('./common.mjs');
  const hotPaths = createRequire(import.meta.url)('node-gyp-build')(ROOT).hotPaths;
  const fn = which === 'corews' ? (b) => hotPaths.isUtf8(b) : (b) => isUtf8(b);
  const data = CASES[label]();
  let ok = 0;
  for (let i = 0; i < 2000; i++) ok += fn(data) ? 1 : 0;
  for (let i = 0; i < Number(calls); i++) ok += fn(data) ? 1 : 0;
  if (ok !== 2000 + Number(calls)) throw new Error('a validator refused valid UTF-8');
  process.exit(0);
}

const arg = process.argv.indexOf('--calls');
const CALLS = arg > 0 ? Number(process.argv[arg + 1]) : 20_000;

function instructions(which, label, calls) {
  const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, SELF, '--child', which, label, String(calls)],
    { encoding: 'utf8', timeout: 300_000 });
  const m = /Collected : (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`callgrind failed for ${which} ${label}: ${r.stderr.slice(-500)}`);
  return Number(m[1]);
}

const rows = [];
for (const label of Object.keys(CASES)) {
  const calls = label.includes('64 KiB') ? Math.max(1, Math.floor(CALLS / 32)) : CALLS;
  const per = {};
  for (const which of ['corews', 'Buffer.isUtf8']) per[which] = (instructions(which, label, calls) - instructions(which, label, 0)) / calls;
  rows.push([label, per.corews, per['Buffer.isUtf8']]);
  process.stderr.write(`${label}: corews ${per.corews.toFixed(0)}, Buffer.isUtf8 ${per['Buffer.isUtf8'].toFixed(0)}\n`);
}
console.log('instructions per call (callgrind; lower is better)');
console.log(`${'case'.padEnd(20)}${'corews'.padStart(10)}${'Buffer.isUtf8'.padStart(15)}${'corews/peer'.padStart(13)}`);
for (const [label, a, b] of rows) console.log(`${label.padEnd(20)}${a.toFixed(0).padStart(10)}${b.toFixed(0).padStart(15)}${`${(a / b).toFixed(2)}×`.padStart(13)}`);
