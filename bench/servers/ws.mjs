// ws under test (bench/node_modules: ws with bufferutil, perMessageDeflate
// off unless BENCH_DEFLATE): an echo server (text as text, binary as binary) that also fans out:
// whatever a `?role=publisher` connection sends goes to every
// `?role=subscriber` connection, by a loop over them (ws has no topics).
//   node bench/servers/ws.mjs      prints `listening <port>` on stdout
// Env: PORT (default 0: any free port), HOST (default 127.0.0.1),
// BENCH_TLS_KEY and BENCH_TLS_CERT (PEM files) to serve wss://: ws on an
// https.createServer; BENCH_DEFLATE (perMessageDeflate: true; see control.mjs).
import fs from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';
import { control, deflateOption, exitOnSignal, newStats, roleOf } from './control.mjs';

// ws picks bufferutil up by itself when it can load it; say whether it can.
const require = createRequire(import.meta.url);
let bufferutil = 'missing';
try {
  require(require.resolve('bufferutil', { paths: [require.resolve('ws')] }));
  bufferutil = 'native';
} catch {}
process.stderr.write(`bufferutil=${bufferutil}\n`);

const stats = newStats();
const subscribers = new Set();

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);
const secure = process.env.BENCH_TLS_KEY
  ? https.createServer({ key: fs.readFileSync(process.env.BENCH_TLS_KEY), cert: fs.readFileSync(process.env.BENCH_TLS_CERT) })
  : null;
// BENCH_DEFLATE (control.mjs): ws's defaults when on.
const perMessageDeflate = deflateOption() !== false;
const wss = secure
  ? new WebSocketServer({ server: secure, perMessageDeflate })
  : new WebSocketServer({ host, port, perMessageDeflate });

wss.on('connection', (ws, req) => {
  stats.opened++;
  stats.open++;
  const role = roleOf(req.url);
  if (role === 'subscriber') subscribers.add(ws);
  ws.on('error', () => {});
  ws.on('close', () => {
    stats.open--;
    subscribers.delete(ws);
  });
  ws.on('message', (data, isBinary) => {
    stats.messages++;
    if (role !== 'publisher') {
      ws.send(data, { binary: isBinary });
      return;
    }
    for (const s of subscribers) s.send(data, { binary: isBinary });
    stats.deliveries += subscribers.size;
  });
});

const listening = () => {
  control(stats);
  exitOnSignal();
  process.stdout.write(`listening ${(secure ?? wss).address().port}\n`);
};
if (secure) secure.listen(port, host, listening);
else wss.on('listening', listening);
