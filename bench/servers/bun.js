// Bun under test (Bun.serve, uWebSockets inside): an echo server (text as
// text, binary as binary) that also fans out with Bun's native topics:
// `?role=subscriber` connections ws.subscribe('bench'), and whatever a
// `?role=publisher` connection sends goes out with server.publish.
//   bun bench/servers/bun.js      prints `listening <port>` on stdout
// Env: PORT (default 0: any free port), HOST (default 127.0.0.1),
// BENCH_TLS_KEY and BENCH_TLS_CERT (PEM files) to serve wss:// (the `tls` option),
// BENCH_DEFLATE (perMessageDeflate: true; see control.mjs).
import { TOPIC, control, deflateOption, exitOnSignal, newStats, roleOf } from './control.mjs';

const stats = newStats();
let subscribed = 0;
// With perMessageDeflate on, Bun compresses only the messages whose send
// asks for it (measured: with `perMessageDeflate: true` alone, none is), so
// every send asks, as ws and corews compress every message over their
// threshold.
const compress = deflateOption() !== false;

const tls = process.env.BENCH_TLS_KEY
  ? { tls: { key: Bun.file(process.env.BENCH_TLS_KEY), cert: Bun.file(process.env.BENCH_TLS_CERT) } }
  : {};

const server = Bun.serve({
  ...tls,
  hostname: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  fetch(req, srv) {
    if (srv.upgrade(req, { data: { role: roleOf(req.url) } })) return undefined;
    return new Response('WebSocket only\n', { status: 426 });
  },
  websocket: {
    perMessageDeflate: deflateOption() !== false, // BENCH_DEFLATE (control.mjs): Bun's defaults when on
    open(ws) {
      stats.opened++;
      stats.open++;
      if (ws.data.role === 'subscriber') {
        ws.subscribe(TOPIC);
        subscribed++;
      }
    },
    message(ws, message) {
      stats.messages++;
      if (ws.data.role !== 'publisher') {
        ws.send(message, compress); // a string goes as text, a Buffer as binary
        return;
      }
      server.publish(TOPIC, message, compress);
      stats.deliveries += subscribed;
    },
    close(ws) {
      stats.open--;
      if (ws.data.role === 'subscriber') subscribed--;
    },
  },
});

control(stats);
exitOnSignal();
process.stdout.write(`listening ${server.port}\n`);
