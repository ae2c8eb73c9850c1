// One client process of bench/chat.mjs: a share of the chat clients, each a raw
// WebSocket over TCP that joins its room and then sends one message a second. The
// parent talks to it over IPC:
//
//   → { cmd: 'start', urls, first, count, rooms, ramp, sampleEvery }   open and join
//   ← { ev: 'joined', open, failed }                   each got its first presence list
//   → { cmd: 'send', rate }                            start sending
//   → { cmd: 'window', on }                            start/stop counting
//   ← { ev: 'window', ... }                            counts of the window
//   → { cmd: 'stop' }
//
// Client i joins room i % rooms and connects to urls[⌊i / rooms⌋ % urls.length],
// so each room has its clients spread over the processes. A text is
// "<server index>:<send time>" (process.hrtime, the system's monotonic clock, the
// same in every process of the machine), so a receiver knows the delivery's
// latency and whether it crossed processes.
//
// Why raw frames, not `ws`: receiving is the generator's heaviest work (every
// client gets every message of its room: ~100 deliveries per message sent), and
// the bench must measure the server, not its clients. A `ws` client runs its
// frame parser, a Buffer and a 'message' event per delivery; here a delivery is a
// frame header walked in the read buffer and a counter bumped. Only one client in
// `sampleEvery` reads its payloads, for the latency histogram; the others look at
// one byte of each (the message type) to tell messages from errors.
import net from 'node:net';

/** Latency histogram: bucket b holds latencies in [2^(b/8), 2^((b+1)/8)) µs (about 9 % wide). */
const BUCKETS = 8 * 32;
const bucketOf = (us) => Math.min(BUCKETS - 1, Math.max(0, Math.floor(8 * Math.log2(Math.max(us, 1)))));
/** `{"type":"` is 9 bytes: the payload's 10th byte tells message (m), presence (p), error (e). */
const TYPE_AT = 9;
const M = 0x6d;
const E = 0x65;
const P = 0x70;
const TEXT_KEY = Buffer.from('"text":"');

const sockets = [];
let counting = false;
let counts;
const reset = () => {
  counts = { delivered: 0, sent: 0, cross: new Array(BUCKETS).fill(0), local: new Array(BUCKETS).fill(0), sampled: 0, errors: 0, other: 0 };
};
reset();
let closed = 0;
let socketErrors = 0;
let sendTimer = null;

/** A client frame: FIN + text, masked with the zero key (the RFC's mask, with no effect on the bytes). */
function textFrame(s) {
  const body = Buffer.from(s);
  const n = body.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n, 0, 0, 0, 0]) : Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255, 0, 0, 0, 0]);
  return Buffer.concat([head, body]);
}

/** The latency of a sampled message payload, into the window's histograms. */
function sample(c, payload) {
  const at = payload.indexOf(TEXT_KEY);
  if (at < 0) return;
  const start = at + TEXT_KEY.length;
  const colon = payload.indexOf(0x3a, start);
  const end = payload.indexOf(0x22, colon);
  const from = Number(payload.latin1Slice(start, colon));
  const sentNs = BigInt(payload.latin1Slice(colon + 1, end));
  const us = Number((process.hrtime.bigint() - sentNs) / 1000n);
  counts.sampled++;
  (from === c.serverIndex ? counts.local : counts.cross)[bucketOf(us)]++;
}

/**
 * Walks the server's frames in `chunk` (unmasked, unfragmented: the chat sends small text
 * messages). State per client: `rest` (an incomplete frame start kept for the next chunk)
 * and `skip` (payload bytes of a counted frame still to come).
 */
function onData(c, chunk) {
  let buf = c.rest ? Buffer.concat([c.rest, chunk]) : chunk;
  c.rest = null;
  let i = 0;
  if (c.skip > 0) {
    const n = Math.min(c.skip, buf.length);
    c.skip -= n;
    i = n;
  }
  while (i < buf.length) {
    if (buf.length - i < 2) break;
    const op = buf[i] & 0x0f;
    let len = buf[i + 1] & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - i < 4) break;
      len = buf.readUInt16BE(i + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - i < 10) break;
      len = Number(buf.readBigUInt64BE(i + 2));
      head = 10;
    }
    const p = i + head;
    // Whole payloads for the few that need them (joining, sampling, control frames), else the type byte.
    const wholeNeeded = !c.joined || c.samples || op !== 1;
    const need = wholeNeeded ? len : Math.min(len, TYPE_AT + 1);
    if (buf.length - p < need) break;
    if (op === 1) {
      const type = len > TYPE_AT ? buf[p + TYPE_AT] : 0;
      if (!c.joined) {
        if (type === P) c.onJoined();
      } else if (counting) {
        if (type === M) {
          counts.delivered++;
          if (c.samples) sample(c, buf.subarray(p, p + len));
        } else if (type === E) counts.errors++;
        else if (type !== P) counts.other++;
      }
    } else if (op === 9) {
      c.socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | len, 0, 0, 0, 0]), buf.subarray(p, p + len)])); // pong
    } else if (op === 8) {
      c.socket.end();
    }
    const end = p + len;
    if (end > buf.length) {
      c.skip = end - buf.length;
      i = buf.length;
    } else i = end;
  }
  if (i < buf.length) c.rest = Buffer.from(buf.subarray(i)); // a copy: the chunk's memory is not kept
}

/** Opens client `i`: the upgrade, then the join; resolves once its first presence list came (or it failed). */
function openClient(i, url, serverIndex, room, samples) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port) });
    socket.setNoDelay(true);
    const c = { socket, serverIndex, room, samples, joined: false, rest: null, skip: 0, frame: null, onJoined: null };
    let settled = false;
    const settle = (ok) => {
      if (settled) return;
      settled = true;
      resolve(ok);
    };
    c.onJoined = () => {
      c.joined = true;
      settle(true);
    };
    let head = '';
    const onHandshake = (d) => {
      head += d.latin1Slice(0, d.length);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onHandshake);
      if (!head.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        settle(false);
        return;
      }
      socket.on('data', (chunk) => onData(c, chunk));
      const after = Buffer.from(head.slice(end + 4), 'latin1');
      if (after.length > 0) onData(c, after);
      socket.write(textFrame(JSON.stringify({ type: 'join', channel: room, user: `u${i}` })));
    };
    socket.on('data', onHandshake);
    socket.once('connect', () => {
      socket.write(
        `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.on('error', () => {
      socketErrors++;
      settle(false);
    });
    socket.on('close', () => {
      closed++;
      c.closed = true;
      settle(false);
    });
    sockets.push(c);
  });
}

async function start({ urls, first, count, rooms, ramp, sampleEvery }) {
  let failed = 0;
  let batch = [];
  for (let k = 0; k < count; k++) {
    const i = first + k;
    // Room i % rooms, process ⌊i / rooms⌋ % processes: every room has clients on every process.
    const serverIndex = Math.floor(i / rooms) % urls.length;
    batch.push(openClient(i, urls[serverIndex], serverIndex, `r${i % rooms}`, i % sampleEvery === 0));
    // A few hundred handshakes and joins in flight at a time.
    if (batch.length === ramp) {
      failed += (await Promise.all(batch)).filter((ok) => !ok).length;
      batch = [];
    }
  }
  failed += (await Promise.all(batch)).filter((ok) => !ok).length;
  process.send({ ev: 'joined', open: sockets.filter((c) => c.joined && !c.closed).length, failed });
}

/**
 * Every client sends `rate` messages a second, at a phase of its own spread over the
 * period; one timer walks the clients whose time has come (10,000 timers would cost
 * more than the sends).
 */
function startSending(rate) {
  const period = 1000 / rate;
  const live = sockets.filter((c) => c.joined);
  const order = live.map((c) => ({ c, phase: Math.random() * period })).sort((a, b) => a.phase - b.phase);
  if (order.length === 0) return;
  const t0 = performance.now();
  let next = 0; // index into order of the next client due
  let round = 0;
  sendTimer = setInterval(() => {
    const now = performance.now() - t0;
    for (;;) {
      if (next === order.length) {
        next = 0;
        round++;
      }
      const { c, phase } = order[next];
      if (round * period + phase > now) break;
      next++;
      if (c.closed) continue;
      c.socket.write(textFrame(`{"type":"message","channel":"${c.room}","text":"${c.serverIndex}:${process.hrtime.bigint()}"}`));
      if (counting) counts.sent++;
    }
  }, 5);
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
      process.send({ ev: 'window', ...counts, closed, socketErrors });
    }
  } else if (msg.cmd === 'stop') {
    clearInterval(sendTimer);
    for (const c of sockets) c.socket.destroy();
    process.exit(0);
  }
});
