'use strict';
// A short RFC 6455 conformance subset over raw TCP, for a platform where the
// full suites do not run (linux-arm64 under qemu in the pack test): framing
// the client masks by hand, fragmentation with a ping between the fragments,
// 16- and 64-bit lengths, a publish to two subscribers, and the close codes
// for an unmasked frame (1002), invalid UTF-8 (1007) and a clean close (1000).
// CommonJS and Node 18's API only; prints "conformance ok: …" or exits 1.
//   node pack-conformance.cjs   (in an app where require('corews') resolves)
const net = require('net');
const crypto = require('crypto');
const { createServer } = require('corews');

const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

/** One client frame; `mask` false sends it unmasked (a violation). */
function frame(opcode, payload, { fin = true, mask = true } = {}) {
  const len = payload.length;
  const head = [(fin ? 0x80 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 255);
  else head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255);
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** Server frames out of `buf`: complete ones, and the rest. */
function parse(buf) {
  const frames = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    let len = buf[at + 1] & 127;
    let off = at + 2;
    if (len === 126) { if (buf.length - at < 4) break; len = buf.readUInt16BE(at + 2); off = at + 4; }
    else if (len === 127) { if (buf.length - at < 10) break; len = Number(buf.readBigUInt64BE(at + 2)); off = at + 10; }
    if (buf.length < off + len) break;
    frames.push({ fin: (buf[at] & 0x80) !== 0, opcode: buf[at] & 15, payload: buf.subarray(off, off + len) });
    at = off + len;
  }
  return { frames, rest: buf.subarray(at) };
}

/** A raw client: handshakes, then `frames()` resolves with what came until `until(frames)` or the end. */
function client(port, path = '/') {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let open = false;
    const got = [];
    const waiters = [];
    const settle = (ended) => {
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (ended || waiters[i].until(got)) waiters.splice(i, 1)[0].resolve(got);
      }
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error('handshake: ' + head.split('\r\n')[0]));
        const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        if (!head.toLowerCase().includes('sec-websocket-accept: ' + accept.toLowerCase())) return reject(new Error('bad accept'));
        buf = buf.subarray(end + 4);
        open = true;
        resolve(api);
      }
      const { frames, rest } = parse(buf);
      buf = rest;
      got.push(...frames);
      settle(false);
    });
    sock.on('close', () => settle(true));
    sock.on('error', () => {});
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const api = {
      send: (...frames) => sock.write(Buffer.concat(frames)),
      frames: (until) => new Promise((res) => { waiters.push({ until, resolve: res }); settle(sock.destroyed); }),
      end: () => sock.destroy(),
    };
  });
}

const closeCode = (f) => (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005);
const hasClose = (fs) => fs.some((f) => f.opcode === OP.close);
function expect(what, ok, detail) {
  if (!ok) throw new Error(what + (detail === undefined ? '' : ': ' + JSON.stringify(detail)));
}

(async () => {
  const server = createServer({
    threads: 2,
    open(ws) { if (ws.url === '/room') ws.subscribe('room'); },
    message(ws, data, isBinary) {
      if (ws.url === '/room') server.publish('room', data, { binary: isBinary });
      else ws.send(data, { binary: isBinary });
    },
  });
  await server.listen(0, '127.0.0.1');
  const port = server.address().port;
  const passed = [];

  // Fragmented text with a ping between its fragments: the pong comes first, then the whole message.
  let c = await client(port);
  c.send(frame(OP.text, Buffer.from('frag'), { fin: false }), frame(OP.ping, Buffer.from('p1')),
    frame(OP.cont, Buffer.from('mented ü'), { fin: false }), frame(OP.cont, Buffer.from('!')));
  let fs = await c.frames((g) => g.length >= 2);
  expect('pong for the ping', fs[0] && fs[0].opcode === OP.pong && String(fs[0].payload) === 'p1', fs[0]);
  expect('reassembled text', fs[1] && fs[1].opcode === OP.text && String(fs[1].payload) === 'fragmented ü!', fs[1] && String(fs[1].payload));
  passed.push('fragments + ping');

  // 16- and 64-bit lengths, binary, byte for byte.
  const mid = crypto.randomBytes(300);
  const big = crypto.randomBytes(70000);
  c.send(frame(OP.binary, mid), frame(OP.binary, big));
  fs = await c.frames((g) => g.length >= 4);
  expect('300-byte echo', fs[2] && fs[2].opcode === OP.binary && fs[2].payload.equals(mid));
  expect('70,000-byte echo', fs[3] && fs[3].opcode === OP.binary && fs[3].payload.equals(big));
  passed.push('16/64-bit lengths');

  // A clean close: 1000 back.
  c.send(frame(OP.close, Buffer.from([0x03, 0xe8])));
  fs = await c.frames(hasClose);
  expect('close 1000', closeCode(fs.find((f) => f.opcode === OP.close)) === 1000, fs);
  c.end();
  passed.push('close 1000');

  // Violations: an unmasked frame (1002), invalid UTF-8 in a text message (1007).
  for (const [what, bad, code] of [
    ['unmasked frame', frame(OP.text, Buffer.from('x'), { mask: false }), 1002],
    ['invalid UTF-8', frame(OP.text, Buffer.from([0x68, 0xc3, 0x28])), 1007],
  ]) {
    c = await client(port);
    c.send(bad);
    fs = await c.frames(hasClose);
    const close = fs.find((f) => f.opcode === OP.close);
    expect(what + ' → ' + code, close && closeCode(close) === code, close && closeCode(close));
    c.end();
    passed.push(what + ' ' + code);
  }

  // A publish reaches both subscribers (on whichever workers they landed).
  const a = await client(port, '/room');
  const b = await client(port, '/room');
  await new Promise((r) => setTimeout(r, 100)); // both subscribed
  a.send(frame(OP.text, Buffer.from('to the room')));
  for (const s of [a, b]) {
    fs = await s.frames((g) => g.length >= 1);
    expect('publish', fs[0] && String(fs[0].payload) === 'to the room', fs[0] && String(fs[0].payload));
    s.end();
  }
  passed.push('publish to 2');

  await server.close();
  console.log(`conformance ok: ${passed.join(', ')} (node ${process.version} ${process.arch})`);
})().catch((err) => { console.error(err); process.exit(1); });
