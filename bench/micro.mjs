// Microbenchmarks of the protocol core's hot paths (native, through the
// addon's internal `hotPaths` binding) against what a Node server uses for the
// same job: ws's Receiver, bufferutil, Buffer.isUtf8, utf-8-validate and
// crypto's SHA-1. Both sides of a pair get the same bytes and the same extra
// work (a frame-parse iteration copies the masked frames back first, on both
// sides, because parsing unmasks in place). Each benchmark function repeats
// its operation so that it runs for tens of microseconds: per-call timer
// overhead would otherwise swamp operations of a few dozen nanoseconds.
//   node bench/micro.mjs [--time ms]      (default 400 ms per task)
// Prints a table, writes bench/results/micro.json.
import { Buffer, isUtf8 } from 'node:buffer';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';
import { machine, ROOT, writeResult } from './common.mjs';
import { ascii, multiByte } from './utf8-inputs.mjs';

const require = createRequire(import.meta.url);
const hotPaths = require('node-gyp-build')(ROOT).hotPaths;
const bufferutil = require('bufferutil');
const isValidUTF8 = require('utf-8-validate');
const { Receiver } = require('ws'); // ws/lib/receiver.js

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write('usage: node bench/micro.mjs [--time ms]   (ms per task, default 400)\n');
  process.exit(0);
}
const timeArg = process.argv.indexOf('--time');
const time = timeArg > 0 ? Number(process.argv[timeArg + 1]) : 400;

// ---------------------------------------------------------------- inputs

/** Masked client frames (§5.2), `count` binary messages of `size` bytes each. */
function maskedFrames(count, size) {
  const frames = [];
  for (let i = 0; i < count; i++) {
    const head = size < 126 ? 2 : size < 65536 ? 4 : 10;
    const f = Buffer.alloc(head + 4 + size);
    f[0] = 0x82; // FIN, binary
    if (size < 126) f[1] = 0x80 | size;
    else if (size < 65536) {
      f[1] = 0x80 | 126;
      f.writeUInt16BE(size, 2);
    } else {
      f[1] = 0x80 | 127;
      f.writeBigUInt64BE(BigInt(size), 2);
    }
    const key = crypto.randomBytes(4);
    key.copy(f, head);
    for (let j = 0; j < size; j++) f[head + 4 + j] = ((i + j * 31) & 0xff) ^ key[j & 3];
    frames.push(f);
  }
  return Buffer.concat(frames);
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const wsKey = crypto.randomBytes(16).toString('base64');

// ---------------------------------------------------------------- pairs

/** A frame parser fed every iteration: ws's Receiver as ws's server uses it. */
function wsReceiver() {
  const r = new Receiver({ isServer: true, binaryType: 'nodebuffer', allowSynchronousEvents: true, maxPayload: 0 });
  let messages = 0;
  r.on('message', () => messages++);
  r.on('error', (err) => {
    throw err;
  });
  return { feed: (buf) => r.write(buf), count: () => messages };
}

const cases = [];
/** One comparison: corews's function against one or more peers, all running `reps` operations per call. */
function pair(group, name, reps, corews, peers) {
  cases.push({ group, name, reps, corews, peers });
}

for (const [count, size] of [[1000, 32], [64, 1024]]) {
  const original = maskedFrames(count, size);
  const work = Buffer.alloc(original.length);
  const receiver = wsReceiver();
  // Both agree on the message count before anything is timed.
  work.set(original);
  const native = hotPaths.parseFrames(work);
  work.set(original);
  receiver.feed(work);
  if (native !== count || receiver.count() !== count) throw new Error(`frame parse: corews counted ${native}, ws ${receiver.count()}, expected ${count}`);
  pair('frame parse', `${count.toLocaleString('en-US')} × ${size < 1024 ? `${size} B` : `${size / 1024} KiB`} masked frames (copy + parse)`, 1,
    () => {
      work.set(original);
      if (hotPaths.parseFrames(work) !== count) throw new Error('parse');
    },
    {
      'ws Receiver': () => {
        work.set(original);
        receiver.feed(work);
      },
    });
}

for (const [size, reps] of [[1024, 256], [65536, 8]]) {
  const data = crypto.randomBytes(size);
  const key = crypto.randomBytes(4);
  const a = Buffer.from(data);
  hotPaths.unmask(a, key);
  const b = Buffer.from(data);
  bufferutil.unmask(b, key);
  if (!a.equals(b)) throw new Error('unmask: corews and bufferutil disagree');
  const label = size < 65536 ? '1 KiB' : '64 KiB';
  pair('unmask', `${label} in place`, reps,
    () => {
      for (let i = 0; i < reps; i++) hotPaths.unmask(data, key);
    },
    {
      bufferutil: () => {
        for (let i = 0; i < reps; i++) bufferutil.unmask(data, key);
      },
    });
  // Masking into another buffer, as a client's send does.
  const outA = Buffer.alloc(size);
  const outB = Buffer.alloc(size);
  hotPaths.mask(data, key, outA);
  bufferutil.mask(data, key, outB, 0, size);
  if (!outA.equals(outB) || !outA.equals(a)) throw new Error('mask: corews and bufferutil disagree');
  pair('mask', `${label} copy`, reps,
    () => {
      for (let i = 0; i < reps; i++) hotPaths.mask(data, key, outA);
    },
    {
      bufferutil: () => {
        for (let i = 0; i < reps; i++) bufferutil.mask(data, key, outB, 0, size);
      },
    });
}

{
  // An empty buffer: the call alone (N-API for corews, a V8 builtin behind
  // Buffer.isUtf8), which is most of the cost at 1 KiB.
  const reps = 256;
  const empty = Buffer.alloc(0);
  pair('UTF-8 validation', '0 B (the call alone)', reps,
    () => {
      for (let i = 0; i < reps; i++) hotPaths.isUtf8(empty);
    },
    {
      'Buffer.isUtf8': () => {
        for (let i = 0; i < reps; i++) isUtf8(empty);
      },
      'utf-8-validate': () => {
        for (let i = 0; i < reps; i++) isValidUTF8(empty);
      },
    });
}
for (const [label, make] of [['ASCII', ascii], ['multi-byte', multiByte]]) {
  for (const [size, reps] of [[1024, 256], [65536, 8]]) {
    const data = make(size);
    if (!hotPaths.isUtf8(data) || !isUtf8(data) || !isValidUTF8(data)) throw new Error(`UTF-8 ${label}: not all validators accept it`);
    const bad = Buffer.from(data);
    bad[bad.length >> 1] = 0xff;
    if (hotPaths.isUtf8(bad) || isUtf8(bad) || isValidUTF8(bad)) throw new Error(`UTF-8 ${label}: not all validators refuse 0xff`);
    pair('UTF-8 validation', `${label} ${size < 65536 ? '1 KiB' : '64 KiB'}`, reps,
      () => {
        for (let i = 0; i < reps; i++) hotPaths.isUtf8(data);
      },
      {
        'Buffer.isUtf8': () => {
          for (let i = 0; i < reps; i++) isUtf8(data);
        },
        'utf-8-validate': () => {
          for (let i = 0; i < reps; i++) isValidUTF8(data);
        },
      });
  }
}

{
  const reps = 32;
  const expected = crypto.createHash('sha1').update(wsKey + GUID).digest('base64');
  if (hotPaths.acceptKey(wsKey) !== expected) throw new Error('acceptKey disagrees with crypto');
  pair('handshake', 'Sec-WebSocket-Accept', reps,
    () => {
      for (let i = 0; i < reps; i++) hotPaths.acceptKey(wsKey);
    },
    {
      'crypto sha1': () => {
        for (let i = 0; i < reps; i++) crypto.createHash('sha1').update(wsKey + GUID).digest('base64');
      },
    });
}

// ---------------------------------------------------------------- run

const bench = new Bench({ time, warmupTime: Math.min(100, time / 4), throws: true });
for (const [i, c] of cases.entries()) {
  bench.add(`${i}:corews`, c.corews);
  for (const [peer, fn] of Object.entries(c.peers)) bench.add(`${i}:${peer}`, fn);
}
const bodies = hotPaths.simdBodies();
process.stderr.write(`micro: ${bench.tasks.length} tasks × ~${time} ms …\n`);
await bench.run();

const opsPerSec = (name, reps) => {
  const r = bench.getTask(name)?.result;
  if (!r || !('period' in r) || !(r.period > 0)) return null;
  return (reps * 1000) / r.period;
};
const rows = [];
for (const [i, c] of cases.entries()) {
  const ours = opsPerSec(`${i}:corews`, c.reps);
  for (const peer of Object.keys(c.peers)) {
    const theirs = opsPerSec(`${i}:${peer}`, c.reps);
    rows.push({ group: c.group, case: c.name, corews: ours, peer, peerOpsPerSec: theirs, ratio: ours && theirs ? ours / theirs : null });
  }
}

const fmt = (x) => (x === null ? 'n/a' : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));
const header = ['hot path', 'case', 'corews ops/s', 'peer', 'peer ops/s', 'corews/peer'];
const body = rows.map((r, k) => {
  const first = k === 0 || rows[k - 1].case !== r.case || rows[k - 1].group !== r.group;
  return [first && (k === 0 || rows[k - 1].group !== r.group) ? r.group : '', first ? r.case : '', first ? fmt(r.corews) : '', r.peer, fmt(r.peerOpsPerSec), r.ratio === null ? 'n/a' : `${r.ratio.toFixed(2)}×`];
});
const all = [header, ...body];
const w = header.map((_, c) => Math.max(...all.map((r) => [...r[c]].length)));
const line = (r) => r.map((x, c) => (c === 2 || c >= 4 ? x.padStart(w[c]) : x.padEnd(w[c]))).join('  ').trimEnd();
process.stdout.write(`Hot paths (ops/s; one op = one call, a frame-parse op = one whole buffer; higher is better; vector bodies: UTF-8 ${bodies.utf8}, mask ${bodies.mask})\n${[line(header), w.map((n) => '─'.repeat(n)).join('  '), ...body.map(line)].join('\n')}\n`);

const file = writeResult('micro.json', { date: new Date().toISOString(), machine: machine(), node: process.versions.node, timeMs: time, simdBodies: bodies, rows });
process.stdout.write(`written ${file}\n`);
