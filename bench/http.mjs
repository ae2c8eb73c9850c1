// The http hook as an HTTP server: keep-alive requests per second against
// Node's own http module answering the same request, measured in the same
// run by the same client. Each server runs in its own process, pinned to one
// CPU where there are two (corews's worker thread and JS thread share it);
// the client, this process, keeps `conns` keep-alive connections busy, one
// request at a time each (no pipelining), on raw sockets so that the client
// is not what is measured.
//   node bench/http.mjs [--seconds s] [--conns n]   (default 3 s, 50 connections)
// Prints requests/s of each and the ratio; writes bench/results/http.json.
import net from 'node:net';
import path from 'node:path';
import { machine, PIN, pinned, ROOT, SERVER_CPUS, startProcess, stopProcess, writeResult } from './common.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('--seconds', 3);
const conns = arg('--conns', 50);

const BODY = 'ok';
const SERVERS = {
  corews: `import { createServer } from ${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))};
const s = createServer({ threads: 1, http: () => ({ body: ${JSON.stringify(BODY)} }) });
await s.listen(0, '127.0.0.1');
console.log('port', s.address().port);`,
  'node:http': `import http from 'node:http';
const s = http.createServer((req, res) => { res.setHeader('content-type', 'text/plain; charset=utf-8'); res.end(${JSON.stringify(BODY)}); });
s.keepAliveTimeout = 5000;
s.listen(0, '127.0.0.1', () => console.log('port', s.address().port));`,
};

const REQUEST = Buffer.from('GET /health HTTP/1.1\r\nHost: bench\r\n\r\n');

/** Requests completed over `seconds` on `conns` keep-alive connections. */
async function load(port) {
  let done = 0;
  let stop = false;
  const sockets = await Promise.all(Array.from({ length: conns }, () => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  })));
  const run = (s) => new Promise((resolve, reject) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.latin1Slice();
      // Responses are a head and the two-byte body: count the complete ones.
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0 || buf.length < end + 4 + BODY.length) return;
        buf = buf.slice(end + 4 + BODY.length);
        done++;
        if (stop) return resolve();
        s.write(REQUEST);
      }
    });
    s.once('error', reject);
    s.once('close', () => (stop ? resolve() : reject(new Error('the server closed a keep-alive connection'))));
    s.write(REQUEST);
  });
  const runs = sockets.map(run);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  await Promise.all(runs);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of sockets) s.destroy();
  return done / elapsed;
}

const results = {};
for (const [name, source] of Object.entries(SERVERS)) {
  const p = await startProcess(pinned(SERVER_CPUS, [process.execPath, '--input-type=module', '-e', source]), { ready: (out) => /port \d+/.test(out) });
  try {
    const port = Number(/port (\d+)/.exec(p.output())[1]);
    await load(port);  // warm-up, discarded
    results[name] = Math.round(await load(port));
  } finally {
    await stopProcess(p);
  }
}
const ratio = results.corews / results['node:http'];
console.log(`keep-alive GET, ${conns} connections, ${seconds} s each, server on one CPU${PIN ? ' (pinned)' : ''}`);
for (const [name, rps] of Object.entries(results)) console.log(`  ${name.padEnd(10)} ${rps.toLocaleString('en-US')} req/s`);
console.log(`  corews / node:http: ${ratio.toFixed(2)}×`);
const file = writeResult('http.json', { machine: machine(), seconds, conns, requestsPerSecond: results, ratio: Number(ratio.toFixed(2)) });
console.log(`wrote ${path.relative(ROOT, file)}`);
