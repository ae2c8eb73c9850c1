// corews under test: an echo server (text as text, binary as binary) that
// also fans out: whatever a `?role=publisher` connection sends goes to every
// `?role=subscriber` connection.
//   node bench/servers/corews.mjs      prints `listening <port>` on stdout
// Env: CRWS_THREADS worker threads (default 1; 0: inline mode), PORT (default 0: any free
// port), CRWS_BUSY_POLL the busyPollMicros option (inline mode; default 0), HOST (default 127.0.0.1), CRWS_FANOUT=loop to loop over the
// subscribers even when native topics are available, BENCH_TLS_KEY and
// BENCH_TLS_CERT (PEM files) to serve wss:// (the `tls` option), CRWS_ATTACH=1
// to listen with a plain Node http.Server instead and take its upgrades with
// server.attach() (the handshake passes through Node's http parser, then the
// connection moves into the worker; with BENCH_TLS_KEY an https.Server, whose
// connections are bridged), BENCH_DEFLATE the perMessageDeflate
// option (see control.mjs). Which fan-out ran goes to stderr as
// `fanout=native` or `fanout=loop`. The control channel (see
// control.mjs) also answers with server.stats() where this build has it.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import corews from '../../dist/index.js';
import { TOPIC, control, deflateOption, exitOnSignal, newStats, roleOf } from './control.mjs';

const { createServer, WebSocket } = corews;
const threads = Number(process.env.CRWS_THREADS ?? 1);
const stats = newStats();

// Native topics (ws.subscribe / server.publish) when this build has them,
// else a loop over the subscribers with ws.send.
const hasTopics = typeof WebSocket?.prototype?.subscribe === 'function' && typeof corews.Server?.prototype?.publish === 'function';
const native = hasTopics && process.env.CRWS_FANOUT !== 'loop';
process.stderr.write(`fanout=${native ? 'native' : 'loop'}\n`);

const subscribers = new Set(); // loop fan-out: the subscribed sockets
let subscribed = 0; // native fan-out: how many subscribed (for the delivery count)

const attach = process.env.CRWS_ATTACH === '1';
const certificate = process.env.BENCH_TLS_KEY
  ? { key: fs.readFileSync(process.env.BENCH_TLS_KEY), cert: fs.readFileSync(process.env.BENCH_TLS_CERT) }
  : null;
// Attached with a certificate, TLS is the https.Server's (bridged), not corews's.
const tls = certificate && !attach ? { tls: certificate } : {};

const server = createServer({
  ...tls,
  threads,
  ...(Number(process.env.CRWS_BUSY_POLL ?? 0) > 0 ? { busyPollMicros: Number(process.env.CRWS_BUSY_POLL) } : {}),
  perMessageDeflate: deflateOption(), // BENCH_DEFLATE (control.mjs)
  open(ws) {
    stats.opened++;
    stats.open++;
    const role = roleOf(ws.url);
    ws.data = role;
    if (role !== 'subscriber') return;
    if (!native) subscribers.add(ws);
    else if (ws.subscribe(TOPIC)) subscribed++;
  },
  message(ws, data, isBinary) {
    stats.messages++;
    if (ws.data !== 'publisher') {
      ws.send(data, { binary: isBinary });
      return;
    }
    if (native) {
      server.publish(TOPIC, data, { binary: isBinary });
      stats.deliveries += subscribed;
    } else {
      for (const s of subscribers) s.send(data, { binary: isBinary });
      stats.deliveries += subscribers.size;
    }
  },
  close(ws) {
    stats.open--;
    if (ws.data !== 'subscriber') return;
    if (native) subscribed--;
    else subscribers.delete(ws);
  },
});

// The server's own counters ride along in the control channel's `stats`
// answer, where this build has them (server.stats(): JS hop latency and more).
Object.defineProperty(stats, 'corews', { enumerable: true, get: () => (typeof server.stats === 'function' ? server.stats() : undefined) });

let port;
if (attach) {
  const app = certificate ? https.createServer(certificate, (req, res) => res.end('ok')) : http.createServer((req, res) => res.end('ok'));
  await new Promise((resolve, reject) => app.once('error', reject).listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', resolve));
  server.attach(app);
  port = app.address().port;
} else {
  await server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
  port = server.address().port;
}
control(stats);
exitOnSignal();
process.stdout.write(`listening ${port}\n`);
