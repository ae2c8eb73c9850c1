// ws under test (bench/node_modules: ws with bufferutil, perMessageDeflate
// off unless BENCH_DEFLATE): an echo server (text as text, binary as binary) that also fans out:
// whatever a `?role=publisher` connection sends goes to every
// `?role=subscriber` connection, by a loop over them (ws has no topics).
//   node bench/servers/ws.mjs      prints `listening <port>` on stdout
// Env: PORT (default 0: any free port), HOST (default 127.0.0.1),
// BENCH_DEFLATE (perMessageDeflate: true; see control.mjs).
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

const wss = new WebSocketServer({
  host: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  perMessageDeflate: deflateOption() !== false, // BENCH_DEFLATE (control.mjs): ws's defaults when on
});

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

wss.on('listening', () => {
  control(stats);
  exitOnSignal();
  process.stdout.write(`listening ${wss.address().port}\n`);
});
