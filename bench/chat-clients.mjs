// One client process of bench/chat.mjs: a share of the chat clients, each a
// `ws` WebSocket that joins its room and then sends one message a second. The
// parent talks to it over IPC:
//
//   → { cmd: 'start', urls, first, count, rooms, rate, ramp }   open and join
//   ← { ev: 'joined', open, failed }                           each got its first presence list
//   → { cmd: 'send' }                                          start sending
//   → { cmd: 'window', on }                                    start/stop counting
//   ← { ev: 'window', ... }                                    counts of the window
//   → { cmd: 'stop' }
//
// Client i joins room i % rooms and connects to urls[⌊i / rooms⌋ % urls.length],
// so each room has half its clients on each process. A text
// is "<server index>:<send time>" (process.hrtime, the system's monotonic
// clock, the same in every process of the machine), so a receiver knows the
// delivery's latency and whether it crossed processes. Receiving is the
// bench's heaviest client work: a message is searched for its text, not
// JSON-parsed.
import WebSocket from 'ws';

const TEXT_KEY = '"text":"';
/** Latency histogram: bucket b holds latencies in [2^(b/8), 2^((b+1)/8)) µs (about 9 % wide). */
const BUCKETS = 8 * 32;
const bucketOf = (us) => Math.min(BUCKETS - 1, Math.max(0, Math.floor(8 * Math.log2(Math.max(us, 1)))));

const sockets = [];
let counting = false;
let counts;
const reset = () => {
  counts = {
    delivered: 0,
    sent: 0,
    cross: new Array(BUCKETS).fill(0),
    local: new Array(BUCKETS).fill(0),
    other: 0,
    errors: 0,
  };
};
reset();
let closed = 0;
let errors = 0;
let sendTimers = [];

function onMessage(data) {
  if (!counting) return;
  const s = data.toString();
  const at = s.indexOf(TEXT_KEY);
  if (at < 0 || !s.startsWith('{"type":"message"', 0)) {
    if (s.includes('"type":"error"')) counts.errors++;
    else counts.other++;
    return;
  }
  const start = at + TEXT_KEY.length;
  const colon = s.indexOf(':', start);
  const end = s.indexOf('"', colon);
  const from = Number(s.slice(start, colon));
  const sentNs = BigInt(s.slice(colon + 1, end));
  const us = Number((process.hrtime.bigint() - sentNs) / 1000n);
  counts.delivered++;
  const mine = this.serverIndex;
  (from === mine ? counts.local : counts.cross)[bucketOf(us)]++;
}

async function start({ urls, first, count, rooms, ramp }) {
  let failed = 0;
  const opening = [];
  for (let k = 0; k < count; k++) {
    const i = first + k;
    // Room i % rooms, process ⌊i / rooms⌋ % processes: every room has clients on every process.
    const serverIndex = Math.floor(i / rooms) % urls.length;
    const ws = new WebSocket(urls[serverIndex], { perMessageDeflate: false });
    ws.serverIndex = serverIndex;
    ws.room = `r${i % rooms}`;
    ws.on('message', onMessage);
    ws.on('close', () => closed++);
    ws.on('error', () => errors++);
    sockets.push(ws);
    opening.push(
      new Promise((resolve) => {
        ws.once('open', () => ws.send(JSON.stringify({ type: 'join', channel: ws.room, user: `u${i}` })));
        // Joined once the first presence list comes: the server sends it after the history.
        const onJoined = (data) => {
          if (!data.toString().startsWith('{"type":"presence"')) return;
          ws.off('message', onJoined);
          resolve();
        };
        ws.on('message', onJoined);
        ws.once('error', () => {
          failed++;
          resolve();
        });
        ws.once('close', () => resolve());
      }),
    );
    // A few hundred handshakes in flight at a time.
    if (opening.length % ramp === 0) await Promise.all(opening.slice(-ramp));
  }
  await Promise.all(opening);
  process.send({ ev: 'joined', open: sockets.filter((w) => w.readyState === WebSocket.OPEN).length, failed });
}

function startSending(rate) {
  const period = 1000 / rate;
  for (const ws of sockets) {
    // Spread over the period, so the load is even rather than a burst a second.
    const t = setTimeout(() => {
      const send = () => {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(`{"type":"message","channel":"${ws.room}","text":"${ws.serverIndex}:${process.hrtime.bigint()}"}`);
        if (counting) counts.sent++;
      };
      send();
      sendTimers.push(setInterval(send, period));
    }, Math.random() * period);
    sendTimers.push(t);
  }
}

process.on('message', async (msg) => {
  if (msg.cmd === 'start') await start(msg);
  else if (msg.cmd === 'send') startSending(msg.rate);
  else if (msg.cmd === 'window') {
    if (msg.on) {
      reset();
      counting = true;
    } else {
      counting = false;
      process.send({ ev: 'window', ...counts, closed, socketErrors: errors });
    }
  } else if (msg.cmd === 'stop') {
    for (const t of sendTimers) clearInterval(t);
    sendTimers = [];
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
