// Robustness: a server with NO error handler and no handler beyond `message`
// survives every malformed input class (no crash, no unhandled error), random
// garbage before and after the handshake, abrupt disconnects, and a burst of
// 1,000 malformed connections — and still echoes on a fresh connection.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from '../../src/index';
import { closePayload, encodeFrame, upgradeRequest, type RawClient } from '../helpers/raw-client';
import { notBefore, waitFor } from '../helpers/server';
import { OP, cleanupClientsAfterEach, connect, expectEcho, open, prng, randomBytes, sleep } from './conformance-util';

cleanupClientsAfterEach();

/** Malformed handshakes, each with the status the server must answer. */
const BAD_REQUESTS: [string, string, number][] = [
  ['§4.2.1 no Upgrade', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 426],
  ['§4.2.1 POST', upgradeRequest('/', {}, 'POST / HTTP/1.1'), 405],
  ['§4.2.1 HTTP/1.0', upgradeRequest('/', {}, 'GET / HTTP/1.0'), 400],
  ['§4.2.1 no Connection', upgradeRequest('/', { Connection: null }), 400],
  ['§4.2.1 no Host', upgradeRequest('/', { Host: null }), 400],
  ['§4.2.1 bad key', upgradeRequest('/', { 'Sec-WebSocket-Key': 'xx' }), 400],
  ['§4.2.1 no key', upgradeRequest('/', { 'Sec-WebSocket-Key': null }), 400],
  ['§4.2.2 version 8', upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }), 426],
  ['RFC 9112 65 fields', upgradeRequest('/', Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`X-${i}`, 'v']))), 431],
  ['RFC 9112 head over 16 KiB', upgradeRequest('/', { 'X-Big': 'b'.repeat(17_000) }), 431],
  ['RFC 9112 no colon', 'GET / HTTP/1.1\r\nHost x\r\n\r\n', 400],
  ['RFC 9112 space before colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
  ['RFC 9112 obs-fold', `${upgradeRequest('/').slice(0, -2)}X-A: b\r\n c\r\n\r\n`, 400],
  ['RFC 9112 bare LF', 'GET / HTTP/1.1\r\nHost: a\nB: c\r\n\r\n', 400],
  ['RFC 9112 bad request line', 'GARBAGE\r\n\r\n', 400],
  ['RFC 9112 NUL in value', 'GET / HTTP/1.1\r\nHost: a\u0000b\r\n\r\n', 400],
];

/** Malformed frames after a valid handshake, each with the Close code the server must send. */
const BAD_FRAMES: [string, Buffer, number][] = [
  ['§5.1 unmasked', encodeFrame({ opcode: OP.TEXT, payload: 'x', mask: false }), 1002],
  ['§5.2 RSV1', encodeFrame({ opcode: OP.TEXT, payload: 'x', rsv: 4 }), 1002],
  ['§5.2 RSV3', encodeFrame({ opcode: OP.BINARY, payload: 'x', rsv: 1 }), 1002],
  ['§5.2 opcode 0x3', encodeFrame({ opcode: 3 }), 1002],
  ['§5.2 opcode 0xF', encodeFrame({ opcode: 0xf, payload: 'x' }), 1002],
  ['§5.5 ping 126 bytes', encodeFrame({ opcode: OP.PING, payload: Buffer.alloc(126) }), 1002],
  ['§5.5 fragmented close', encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000), fin: false }), 1002],
  ['§5.4 lone continuation', encodeFrame({ opcode: OP.CONT, payload: 'x' }), 1002],
  ['§5.4 new message mid-fragment', Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: 'a', fin: false }), encodeFrame({ opcode: OP.TEXT, payload: 'b' })]), 1002],
  ['§5.2 length top bit', encodeFrame({ opcode: OP.BINARY, declaredLength: 1n << 63n }), 1002],
  ['§10.4 huge declared length', encodeFrame({ opcode: OP.BINARY, declaredLength: 1n << 50n }), 1009],
  ['§10.4 fragments over maxPayload', Buffer.concat([encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(40_000), fin: false }), encodeFrame({ opcode: OP.CONT, declaredLength: 30_000n })]), 1009],
  ['§8.1 invalid UTF-8', encodeFrame({ opcode: OP.TEXT, payload: Buffer.from([0xff]) }), 1007],
  ['§8.1 invalid UTF-8 fail fast', encodeFrame({ opcode: OP.TEXT, payload: Buffer.from([0xc0, 0x80]), declaredLength: 1000n }), 1007],
  ['§8.1 truncated UTF-8', encodeFrame({ opcode: OP.TEXT, payload: Buffer.from([0xe2, 0x82]) }), 1007],
  ['§8.1 split invalid sequence', Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: Buffer.from([0xf0, 0x90]), fin: false }), encodeFrame({ opcode: OP.CONT, payload: Buffer.from([0x28]) })]), 1007],
  ['§5.5.1 1-byte close', encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([1]) }), 1002],
  ['§7.4 close code 1006', encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1006) }), 1002],
  ['§7.4 close code 5000', encodeFrame({ opcode: OP.CLOSE, payload: closePayload(5000) }), 1002],
  ['§5.5.1 close reason invalid UTF-8', encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from([0xed, 0xa0, 0x80])) }), 1007],
];

describe('robustness of a server with only a message handler', () => {
  let server: Server;
  let port: number;
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => {
    unhandled.push(err);
  };

  beforeAll(async () => {
    process.on('uncaughtException', onUnhandled);
    process.on('unhandledRejection', onUnhandled);
    // Deliberately: no error, open, close, upgrade or http handler.
    server = createServer({
      threads: 1,
      maxPayload: 64 * 1024,
      handshakeTimeout: 2000,
      closeTimeout: 1000,
      message(ws, data, isBinary) {
        ws.send(data, { binary: isBinary });
      },
    });
    await server.listen(0, '127.0.0.1');
    port = server.address()!.port;
  });
  afterEach(() => {
    expect(unhandled).toEqual([]);
  });
  afterAll(async () => {
    await server.close();
    process.off('uncaughtException', onUnhandled);
    process.off('unhandledRejection', onUnhandled);
  });

  /** Reads everything until the server ends the connection. */
  async function drain(c: RawClient, ms = 5000): Promise<Buffer> {
    await c.waitEnd(ms);
    return Buffer.from(c.unread);
  }

  it.each(BAD_REQUESTS)('%s → status, server survives', async (_name, req, status) => {
    const c = await connect(port);
    c.write(req);
    expect((await c.readHttp()).status).toBe(status);
    await c.waitEnd();
    await expectEcho(port);
  });

  it.each(BAD_FRAMES)('%s → Close code, server survives', async (_name, frame, code) => {
    const c = await open(port);
    c.write(frame);
    const { code: got } = await c.readClose();
    expect(got).toBe(code);
    await c.waitEnd();
    await expectEcho(port);
  });

  it('§4.2.1 handshake timeout with no handlers → 408, server survives', async () => {
    const quick = createServer({ threads: 1, handshakeTimeout: 50, message(ws, d) { ws.send(d); } });
    await quick.listen(0, '127.0.0.1');
    try {
      const p = quick.address()!.port;
      const t0 = Date.now(); // before the connection: the timer starts at the accept
      const c = await connect(p);
      c.write('GET / HT');
      expect((await c.readHttp()).status).toBe(408);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(notBefore(50));
      await c.waitEnd();
      await expectEcho(p);
    } finally {
      await quick.close();
    }
  });

  it('RFC 9112 random garbage before the handshake: every connection ends, server survives', async () => {
    const rand = prng(0xc0ffee);
    for (let i = 0; i < 40; i++) {
      const c = await connect(port);
      let junk = randomBytes(rand, 1 + Math.floor(rand() * 3000));
      if (i % 2 === 1) junk = Buffer.concat([junk, Buffer.from('\r\n\r\n')]);
      c.write(junk);
      c.socket.end();
      const got = await drain(c);
      // Either nothing (dropped on our FIN while incomplete) or an HTTP refusal.
      if (got.length > 0) expect(got.subarray(0, 10).toString('latin1')).toMatch(/^HTTP\/1\.1 4/);
      if (i % 2 === 1) expect(got.subarray(0, 13).toString('latin1')).toMatch(/^HTTP\/1\.1 (400|431) /);
      if (i % 10 === 9) await expectEcho(port);
    }
    await expectEcho(port);
  });

  it('RFC 9112 random garbage sent as a request head (no end), server drops it on FIN', async () => {
    const rand = prng(42);
    for (let i = 0; i < 10; i++) {
      const c = await connect(port);
      c.write(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n'), randomBytes(rand, 500).map((b) => (b === 0x0d || b === 0x0a ? 0x20 : b))]));
      await sleep(5);
      c.socket.end();
      await drain(c);
    }
    await expectEcho(port);
  });

  it('§5 random garbage after the handshake: every connection ends, server survives', async () => {
    const rand = prng(0xbadf00d);
    for (let i = 0; i < 60; i++) {
      const c = await open(port);
      c.write(randomBytes(rand, 1 + Math.floor(rand() * 2000)));
      await sleep(2);
      c.socket.end();
      await drain(c);
      if (i % 15 === 14) await expectEcho(port);
    }
    await expectEcho(port);
  });

  it('§5 masked garbage after the handshake (valid-looking headers): server survives', async () => {
    const rand = prng(7);
    for (let i = 0; i < 60; i++) {
      const c = await open(port);
      const chunks: Buffer[] = [];
      for (let k = 0; k < 5; k++) {
        const opcode = Math.floor(rand() * 16);
        const fin = rand() < 0.7;
        const payload = randomBytes(rand, Math.floor(rand() * 200));
        const rsv = rand() < 0.1 ? 4 : 0;
        const lengthBits = ([7, 16, 64] as const)[Math.floor(rand() * 3)];
        const len = BigInt(payload.length);
        chunks.push(encodeFrame({ opcode, fin, payload, rsv, lengthBits: len > 125n && lengthBits === 7 ? 16 : lengthBits }));
      }
      const all = Buffer.concat(chunks);
      // Flip a few random bits, then send in random pieces.
      for (let k = 0; k < 3; k++) all[Math.floor(rand() * all.length)] ^= 1 << Math.floor(rand() * 8);
      let at = 0;
      while (at < all.length) {
        const n = 1 + Math.floor(rand() * 64);
        c.write(all.subarray(at, at + n));
        at += n;
      }
      await sleep(2);
      c.socket.end();
      await drain(c);
    }
    await expectEcho(port);
  });

  // --- abrupt disconnects -----------------------------------------------------

  it.each([
    ['mid-handshake (partial request line)', Buffer.from('GET / HT')],
    ['mid-handshake (partial headers)', Buffer.from(upgradeRequest('/').slice(0, 60))],
    ['right after a complete request', Buffer.from(upgradeRequest('/'))],
  ])('RFC 9112 abrupt disconnect %s (FIN and RST): server survives', async (_name, bytes) => {
    for (const rst of [false, true]) {
      const c = await connect(port);
      c.write(bytes);
      await sleep(10);
      if (rst) c.socket.resetAndDestroy();
      else c.socket.end();
      await c.waitEnd();
    }
    await expectEcho(port);
  });

  it.each([
    ['after 1 header byte', Buffer.from([0x81])],
    ['mid 64-bit length', encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(70_000) }).subarray(0, 6)],
    ['mid masking key', encodeFrame({ opcode: OP.TEXT, payload: 'abc' }).subarray(0, 4)],
    ['mid payload', encodeFrame({ opcode: OP.TEXT, payload: 'a'.repeat(1000) }).subarray(0, 500)],
    ['mid UTF-8 sequence', encodeFrame({ opcode: OP.TEXT, payload: Buffer.from('😀😀') }).subarray(0, 8)],
    ['mid fragmented message', encodeFrame({ opcode: OP.TEXT, payload: 'part', fin: false })],
    ['mid control frame', encodeFrame({ opcode: OP.PING, payload: 'p'.repeat(100) }).subarray(0, 50)],
    ['mid close frame', encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye') }).subarray(0, 8)],
  ])('§7.1.1 abrupt disconnect %s (FIN and RST): server survives', async (_name, bytes) => {
    for (const rst of [false, true]) {
      const c = await open(port);
      c.write(bytes);
      await sleep(10);
      if (rst) c.socket.resetAndDestroy();
      else c.socket.end();
      await c.waitEnd();
    }
    await expectEcho(port);
  });

  it('§7.1.1 disconnect while the server still has large replies queued: server survives', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await open(port);
      // Don't read: let replies pile up, then vanish.
      c.socket.pause();
      for (let k = 0; k < 10; k++) c.send({ opcode: OP.BINARY, payload: Buffer.alloc(60_000, k) });
      await sleep(20);
      if (i % 2 === 0) c.socket.resetAndDestroy();
      else c.destroy();
    }
    await expectEcho(port);
  });

  it('§7.1.1 reset while megabytes the client sent are still unread: the connection is released at once', async () => {
    // After a reset the kernel still hands out the bytes that arrived before
    // it, so the first read after the error brings data, not the error: the
    // server must keep reading until it sees the end.
    const frame = encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(60_000, 7) });
    for (let i = 0; i < 8; i++) {
      const c = await open(port);
      c.socket.pause();
      for (let k = 0; k < 100; k++) c.write(frame);
      await sleep(5);
      c.socket.resetAndDestroy();
    }
    await waitFor(() => server.connections === 0, 3000, 'every reset connection released');
    await expectEcho(port);
  });

  it('§7.1.1 disconnect right after a protocol error, before reading the Close: server survives', async () => {
    for (const rst of [false, true]) {
      const c = await open(port);
      c.write(encodeFrame({ opcode: OP.TEXT, payload: 'x', mask: false }));
      if (rst) c.socket.resetAndDestroy();
      else c.destroy();
    }
    await expectEcho(port);
  });

  it('§7.1.1 disconnect right after sending Close, before the echo: server survives', async () => {
    for (const rst of [false, true]) {
      const c = await open(port);
      c.write(Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: 'hi' }), encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) })]));
      if (rst) c.socket.resetAndDestroy();
      else c.destroy();
    }
    await expectEcho(port);
  });

  it('§7.1.1 client half-closes (FIN) after the handshake without a Close: connection ends', async () => {
    const c = await open(port);
    c.socket.end();
    await c.waitEnd();
    await expectEcho(port);
  });

  it('§7.1.1 client keeps sending after the server failed the connection: server survives', async () => {
    const c = await open(port);
    c.write(encodeFrame({ opcode: 0x4 }));
    for (let i = 0; i < 20; i++) c.write(Buffer.alloc(10_000, 0xff));
    const { code } = await c.readClose();
    expect(code).toBe(1002);
    await c.waitEnd();
    await expectEcho(port);
  });

  it('§5 stalled connections (mid-handshake, mid-frame, mid-message) do not block others', async () => {
    const stalled = [
      await connect(port),
      await open(port),
      await open(port),
    ];
    stalled[0].write(upgradeRequest('/').slice(0, 30));
    stalled[1].write(encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(10), declaredLength: 1000n }));
    stalled[2].write(encodeFrame({ opcode: OP.TEXT, payload: 'half', fin: false }));
    await Promise.all(Array.from({ length: 10 }, () => expectEcho(port)));
    for (const c of stalled) expect(c.ended).toBe(false);
    // Finish the stalled message: it still arrives whole.
    stalled[2].send({ opcode: OP.CONT, payload: ' done' });
    expect((await stalled[2].readFrame()).payload.toString()).toBe('half done');
    for (const c of stalled) c.destroy();
  });

  // --- burst ------------------------------------------------------------------

  it('a 1,000-connection burst of malformed inputs is handled and the server still echoes', async () => {
    const inputs: { request: Buffer; frames?: Buffer; status: number; code?: number }[] = [
      ...BAD_REQUESTS.map(([, req, status]) => ({ request: Buffer.from(req, 'latin1'), status })),
      ...BAD_FRAMES.map(([, frames, code]) => ({ request: Buffer.from(upgradeRequest('/')), frames, status: 101, code })),
    ];
    const results = { refused: 0, failed: 0 };
    async function one(i: number): Promise<void> {
      const input = inputs[i % inputs.length];
      const c = await connect(port);
      // Pipeline the malformed frames right behind the request.
      c.write(input.frames ? Buffer.concat([input.request, input.frames]) : input.request);
      const res = await c.readHttp(15_000);
      expect(res.status).toBe(input.status);
      if (input.code !== undefined) {
        const { code } = await c.readClose(15_000);
        expect(code).toBe(input.code);
        results.failed++;
      } else {
        results.refused++;
      }
      await c.waitEnd(15_000);
      c.destroy();
    }
    // All 1,000 at once.
    await Promise.all(Array.from({ length: 1000 }, (_, i) => one(i)));
    expect(results.refused + results.failed).toBe(1000);
    await expectEcho(port);
    await waitFor(() => server.connections === 0, 5000, 'server.connections to reach 0');
  }, 30_000);
});

describe('every connection is released', () => {
  // Its own server and clients: the count must reach 0 because each way of
  // ending gave its connection back, not because earlier tests left nothing.
  // A connection that is gone but still holds its place under maxConnections
  // would leave the server's count at 0 and refuse newcomers: so every place
  // is taken first, and taken again after.
  it('whichever way connections end, none stays open and every place under maxConnections is free again', async () => {
    const PLACES = 12;
    const server = createServer({
      threads: 2,
      maxPayload: 64 * 1024,
      maxConnections: PLACES,
      handshakeTimeout: 2000,
      closeTimeout: 1000,
      message(ws, data, isBinary) {
        if (data === 'close me') ws.close(4000, 'closed by the server');
        else if (data === 'terminate me') ws.terminate();
        else ws.send(data, { binary: isBinary });
      },
    });
    await server.listen(0, '127.0.0.1');
    const port = server.address()!.port;
    const refusedAtLimit = async (): Promise<void> => {
      const c = await connect(port);
      c.write(upgradeRequest('/'));
      expect((await c.readHttp()).status).toBe(503);
      await c.waitEnd();
    };
    const big = encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(60_000, 7) });
    const endings: [string, (c: RawClient) => Promise<void>][] = [
      ['closing handshake', async (c) => {
        c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
        expect((await c.readClose()).code).toBe(1000);
        await c.waitEnd();
      }],
      ['FIN without a Close', async (c) => {
        c.socket.end();
        await c.waitEnd();
      }],
      ['reset', async (c) => void c.socket.resetAndDestroy()],
      ['reset mid-frame', async (c) => {
        c.write(big.subarray(0, 1000));
        await sleep(5);
        c.socket.resetAndDestroy();
      }],
      ['reset with megabytes unread', async (c) => {
        c.socket.pause();
        for (let k = 0; k < 50; k++) c.write(big);
        await sleep(5);
        c.socket.resetAndDestroy();
      }],
      ['FIN with replies queued', async (c) => {
        c.socket.pause();
        for (let k = 0; k < 50; k++) c.write(big);
        await sleep(20);
        c.socket.end();
        c.socket.resume();
        await c.waitEnd(10_000);
      }],
      ['protocol error, then gone without reading', async (c) => {
        c.write(encodeFrame({ opcode: OP.TEXT, payload: 'x', mask: false }));
        c.destroy();
      }],
      ['protocol error answered', async (c) => {
        c.write(encodeFrame({ opcode: 0x3 }));
        expect((await c.readClose()).code).toBe(1002);
        c.send({ opcode: OP.CLOSE, payload: closePayload(1002) });
        await c.waitEnd();
      }],
      ['message over maxPayload', async (c) => {
        c.write(encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(70_000) }));
        expect((await c.readClose()).code).toBe(1009);
        await c.waitEnd();
      }],
      ['closed by the server, never answered', async (c) => {
        c.send({ opcode: OP.TEXT, payload: 'close me' });
        expect((await c.readClose()).code).toBe(4000);
        await c.waitEnd(); // after closeTimeout
      }],
      ['terminated by the server', async (c) => {
        c.send({ opcode: OP.TEXT, payload: 'terminate me' });
        await c.waitEnd();
      }],
      ['Close, then a reset before the echo', async (c) => {
        c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
        c.socket.resetAndDestroy();
      }],
    ];
    expect(endings).toHaveLength(PLACES);
    try {
      for (let round = 0; round < 2; round++) {
        const clients = await Promise.all(Array.from({ length: PLACES }, () => open(port)));
        await waitFor(() => server.connections === PLACES, 5000, `${PLACES} connections`);
        await refusedAtLimit();
        for (const c of clients) {
          c.send({ opcode: OP.TEXT, payload: 'in' });
          expect((await c.readFrame()).payload.toString()).toBe('in');
        }
        await Promise.all(endings.map(([, end], i) => end(clients[i])));
        // Handshakes that never open hold no place either.
        for (const rst of [false, true]) {
          const c = await connect(port);
          c.write(upgradeRequest('/').slice(0, 40));
          await sleep(5);
          if (rst) c.socket.resetAndDestroy();
          else c.socket.end();
        }
        const bad = await connect(port);
        bad.write(upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }));
        expect((await bad.readHttp()).status).toBe(426);
        await waitFor(() => server.connections === 0 && server.stats().connections.open === 0, 5000,
          `every connection released (JS counts ${server.connections}, the workers ${server.stats().connections.open})`);
        for (const c of clients) c.destroy();
      }
      // Every place is free: all of them can be taken once more, and no more.
      const again = await Promise.all(Array.from({ length: PLACES }, () => open(port)));
      await refusedAtLimit();
      for (const c of again) c.destroy();
      const s = server.stats();
      expect(s.handshakes.accepted).toBe(3 * PLACES);
      expect(s.handshakes.rejected).toEqual({ 426: 2, 503: 3 });
    } finally {
      await server.close();
    }
  });
});

describe('robustness with several worker threads', () => {
  it('a burst of malformed inputs spread over 4 worker threads; every thread still echoes', async () => {
    const server = createServer({ threads: 4, maxPayload: 64 * 1024, message(ws, data, isBinary) { ws.send(data, { binary: isBinary }); } });
    await server.listen(0, '127.0.0.1');
    const port = server.address()!.port;
    try {
      await Promise.all(Array.from({ length: 400 }, async (_, i) => {
        const c = await connect(port);
        if (i % 2 === 0) {
          c.write(BAD_REQUESTS[i % BAD_REQUESTS.length][1]);
          expect((await c.readHttp(15_000)).status).toBe(BAD_REQUESTS[i % BAD_REQUESTS.length][2]);
        } else {
          const [, frames, code] = BAD_FRAMES[i % BAD_FRAMES.length];
          c.write(Buffer.concat([Buffer.from(upgradeRequest('/')), frames]));
          expect((await c.readHttp(15_000)).status).toBe(101);
          expect((await c.readClose(15_000)).code).toBe(code);
        }
        await c.waitEnd(15_000);
        c.destroy();
      }));
      // SO_REUSEPORT spreads connections over the threads: many fresh echoes reach all of them.
      await Promise.all(Array.from({ length: 40 }, () => expectEcho(port)));
      await waitFor(() => server.connections === 0, 5000, 'server.connections to reach 0');
    } finally {
      await server.close();
    }
  }, 30_000);
});
