// RFC 6455 §5.1–§5.5: the base framing protocol, as a server receives it.
// Each protocol violation must fail the connection with a Close carrying the
// code (then FIN), and the server must keep serving a fresh connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePayload, encodeFrame } from '../helpers/raw-client';
import { echoOptions, startServer, type Started } from '../helpers/server';
import { OP, cleanupClientsAfterEach, expectCloseFrame, expectEcho, expectFailure, open, sleep } from './conformance-util';

cleanupClientsAfterEach();

const MAX = 100_000;

/** A raw frame header (no payload) with an arbitrary first byte and length field. */
function header(byte0: number, len: bigint, opts: { mask?: boolean; bits?: 7 | 16 | 64 } = {}): Buffer {
  return encodeFrame({ opcode: byte0 & 0x0f, fin: (byte0 & 0x80) !== 0, rsv: (byte0 >> 4) & 7, declaredLength: len, lengthBits: opts.bits, mask: opts.mask });
}

describe('framing (§5)', () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(echoOptions({ maxPayload: MAX }));
  });
  afterAll(async () => {
    await s.server.close();
  });

  /** Sends frames on a fresh connection; expects each echoed message (opcode, payload) in order. */
  async function roundTrip(frames: Buffer[], expected: { opcode: number; payload: Buffer | string }[], writeEach = false) {
    const c = await open(s.port);
    if (writeEach) for (const f of frames) c.write(f);
    else c.write(Buffer.concat(frames));
    for (const e of expected) {
      const f = await c.readFrame();
      expect(f.fin).toBe(true);
      expect(f.rsv).toBe(0);
      expect(f.opcode).toBe(e.opcode);
      const want = typeof e.payload === 'string' ? Buffer.from(e.payload) : e.payload;
      expect(f.payload.length).toBe(want.length);
      expect(Buffer.compare(f.payload, want)).toBe(0);
    }
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    const close = await c.readClose();
    expect(close.before).toEqual([]);
    expect(close.code).toBe(1000);
    await c.waitEnd();
    c.destroy();
  }

  // --- §5.1 masking -----------------------------------------------------------

  it('§5.1 unmasked client text frame → 1002', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.TEXT, payload: 'hello', mask: false }), 1002);
  });

  it('§5.1 unmasked client ping → 1002 (no Pong)', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.PING, payload: 'p', mask: false }), 1002);
  });

  it('§5.1 unmasked client close → 1002', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: false }), 1002);
  });

  it('§5.1 unmasked empty client frame → 1002', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.BINARY, mask: false }), 1002);
  });

  it('§5.1 unmasked frame after a valid masked one → echo, then 1002', async () => {
    const c = await open(s.port);
    c.write(Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: 'ok' }), encodeFrame({ opcode: OP.TEXT, payload: 'bad', mask: false })]));
    expect((await c.readFrame()).payload.toString()).toBe('ok');
    await expectCloseFrame(c, 1002);
    await expectEcho(s.port);
  });

  it('§5.3 an all-zero masking key is valid', async () => {
    const frame = encodeFrame({ opcode: OP.TEXT, payload: 'zero-mask', mask: false });
    const masked = Buffer.concat([Buffer.from([frame[0], frame[1] | 0x80]), Buffer.alloc(4), frame.subarray(2)]);
    await roundTrip([masked], [{ opcode: OP.TEXT, payload: 'zero-mask' }]);
  });

  it('§5.1 server frames are never masked and never fragmented', async () => {
    // readFrame throws on a masked server frame; roundTrip checks FIN on each reply.
    await roundTrip([encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(70_000, 0x5a) })], [{ opcode: OP.BINARY, payload: Buffer.alloc(70_000, 0x5a) }]);
  });

  // --- §5.2 RSV bits and opcodes ----------------------------------------------

  it.each([
    ['RSV1', 4],
    ['RSV2', 2],
    ['RSV3', 1],
    ['RSV1+RSV2+RSV3', 7],
  ])('§5.2 %s set without a negotiated extension → 1002', async (_name, rsv) => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.TEXT, payload: 'x', rsv }), 1002);
  });

  it('§5.2 RSV1 on a ping → 1002', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.PING, payload: 'x', rsv: 4 }), 1002);
  });

  it('§5.2 RSV1 on a continuation frame → 1002', async () => {
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.TEXT, payload: 'a', fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 'b', rsv: 4 }),
    ], 1002);
  });

  it.each([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf])('§5.2 reserved opcode 0x%s → 1002', async (op) => {
    await expectFailure(s.port, encodeFrame({ opcode: op, payload: 'x' }), 1002);
  });

  it.each([3, 0xb])('§5.2 reserved opcode 0x%s with an empty payload → 1002', async (op) => {
    await expectFailure(s.port, encodeFrame({ opcode: op }), 1002);
  });

  it('§5.2 reserved opcode in the middle of a fragmented message → 1002', async () => {
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.BINARY, payload: 'a', fin: false }),
      encodeFrame({ opcode: 0x5, payload: 'b' }),
    ], 1002);
  });

  it('§5.2 reserved opcode decided from the first byte, before the payload arrives', async () => {
    await expectFailure(s.port, header(0x80 | 0x3, 1000n), 1002);
  });

  // --- §5.5 control frames ----------------------------------------------------

  it.each([
    ['ping', OP.PING],
    ['pong', OP.PONG],
    ['close', OP.CLOSE],
  ])('§5.5 %s with a 126-byte payload → 1002', async (_name, opcode) => {
    const payload = opcode === OP.CLOSE ? closePayload(1000, 'r'.repeat(124)) : Buffer.alloc(126, 0x61);
    await expectFailure(s.port, encodeFrame({ opcode, payload }), 1002);
  });

  it('§5.5 ping declaring a 64-bit length of 2^32, header only → 1002', async () => {
    await expectFailure(s.port, header(0x80 | OP.PING, 1n << 32n), 1002);
  });

  it('§5.5 ping with 125 bytes in the 16-bit form (non-minimal) is fine', async () => {
    const c = await open(s.port);
    const payload = Buffer.alloc(125, 0x42);
    c.send({ opcode: OP.PING, payload, lengthBits: 16 });
    const f = await c.readFrame();
    expect(f.opcode).toBe(OP.PONG);
    expect(Buffer.compare(f.payload, payload)).toBe(0);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it.each([
    ['ping', OP.PING],
    ['pong', OP.PONG],
    ['close', OP.CLOSE],
  ])('§5.5 fragmented control frame (%s with FIN=0) → 1002', async (_name, opcode) => {
    const payload = opcode === OP.CLOSE ? closePayload(1000) : Buffer.from('frag');
    await expectFailure(s.port, encodeFrame({ opcode, payload, fin: false }), 1002);
  });

  it('§5.5 fragmented ping inside a fragmented message → 1002', async () => {
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.TEXT, payload: 'a', fin: false }),
      encodeFrame({ opcode: OP.PING, payload: 'p', fin: false }),
    ], 1002);
  });

  // --- §5.4 fragmentation -----------------------------------------------------

  it('§5.4 continuation frame with no message in progress → 1002', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.CONT, payload: 'x' }), 1002);
  });

  it('§5.4 non-final continuation frame with no message in progress → 1002', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.CONT, payload: 'x', fin: false }), 1002);
  });

  it('§5.4 continuation after a complete message → 1002', async () => {
    const c = await open(s.port);
    c.write(Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: 'done' }), encodeFrame({ opcode: OP.CONT, payload: 'more' })]));
    expect((await c.readFrame()).payload.toString()).toBe('done');
    await expectCloseFrame(c, 1002);
    await expectEcho(s.port);
  });

  it('§5.4 continuation after a completed fragmented message → 1002', async () => {
    const c = await open(s.port);
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'a', fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 'b' }),
      encodeFrame({ opcode: OP.CONT, payload: 'c' }),
    ]));
    expect((await c.readFrame()).payload.toString()).toBe('ab');
    await expectCloseFrame(c, 1002);
    await expectEcho(s.port);
  });

  it.each([
    ['text', OP.TEXT, 'text', OP.TEXT],
    ['text', OP.TEXT, 'binary', OP.BINARY],
    ['binary', OP.BINARY, 'text', OP.TEXT],
    ['binary', OP.BINARY, 'binary', OP.BINARY],
  ])('§5.4 new %s… then a %s frame before the message ended → 1002', async (_a, first, _b, second) => {
    await expectFailure(s.port, [
      encodeFrame({ opcode: first, payload: 'part', fin: false }),
      encodeFrame({ opcode: second, payload: 'new' }),
    ], 1002);
  });

  it('§5.4 new non-final data frame while a fragmented message is in progress → 1002', async () => {
    await expectFailure(s.port, Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'a', fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 'b', fin: false }),
      encodeFrame({ opcode: OP.BINARY, payload: 'c', fin: false }),
    ]), 1002);
  });

  it('§5.4 fragmented text arrives whole', async () => {
    await roundTrip([
      encodeFrame({ opcode: OP.TEXT, payload: 'Hel', fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 'lo, ', fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 'world' }),
    ], [{ opcode: OP.TEXT, payload: 'Hello, world' }]);
  });

  it('§5.4 fragmented binary arrives whole, fragments in separate writes', async () => {
    const parts = [Buffer.from([0, 1, 2]), Buffer.from([0xff, 0xfe]), Buffer.from([0x80])];
    await roundTrip([
      encodeFrame({ opcode: OP.BINARY, payload: parts[0], fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: parts[1], fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: parts[2] }),
    ], [{ opcode: OP.BINARY, payload: Buffer.concat(parts) }], true);
  });

  it('§5.4 100 one-byte fragments arrive as one message', async () => {
    const frames: Buffer[] = [];
    let want = '';
    for (let i = 0; i < 100; i++) {
      const ch = String.fromCharCode(0x61 + (i % 26));
      want += ch;
      frames.push(encodeFrame({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: ch, fin: i === 99 }));
    }
    await roundTrip(frames, [{ opcode: OP.TEXT, payload: want }]);
  });

  it('§5.4 empty fragments (first, middle and last) are fine', async () => {
    await roundTrip([
      encodeFrame({ opcode: OP.TEXT, fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 'ab', fin: false }),
      encodeFrame({ opcode: OP.CONT, fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 'cd', fin: false }),
      encodeFrame({ opcode: OP.CONT }),
    ], [{ opcode: OP.TEXT, payload: 'abcd' }]);
  });

  it('§5.4 a message of only empty fragments is an empty message', async () => {
    await roundTrip([
      encodeFrame({ opcode: OP.BINARY, fin: false }),
      encodeFrame({ opcode: OP.CONT, fin: false }),
      encodeFrame({ opcode: OP.CONT }),
    ], [{ opcode: OP.BINARY, payload: Buffer.alloc(0) }]);
  });

  it('§5.4 first fragment empty, final fragment carries everything', async () => {
    await roundTrip([
      encodeFrame({ opcode: OP.TEXT, fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 'all of it' }),
    ], [{ opcode: OP.TEXT, payload: 'all of it' }]);
  });

  it('§5.4/§5.5 pings and pongs interleaved between fragments → Pongs, then the message whole', async () => {
    const c = await open(s.port);
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'one ', fin: false }),
      encodeFrame({ opcode: OP.PING, payload: 'p1' }),
      encodeFrame({ opcode: OP.CONT, payload: 'two ', fin: false }),
      encodeFrame({ opcode: OP.PONG, payload: 'unsolicited' }),
      encodeFrame({ opcode: OP.PING, payload: 'p2' }),
      encodeFrame({ opcode: OP.CONT, payload: 'three' }),
    ]));
    const frames = [await c.readFrame(), await c.readFrame(), await c.readFrame()];
    expect(frames.filter((f) => f.opcode === OP.PONG).map((f) => f.payload.toString())).toEqual(['p1', 'p2']);
    expect(frames.filter((f) => f.opcode !== OP.PONG).map((f) => [f.opcode, f.payload.toString()])).toEqual([[OP.TEXT, 'one two three']]);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§5.4 ping between fragments sent in separate writes → Pong before the message completes', async () => {
    const c = await open(s.port);
    c.send({ opcode: OP.BINARY, payload: Buffer.from([1]), fin: false });
    c.send({ opcode: OP.PING, payload: 'mid' });
    const pong = await c.readFrame();
    expect([pong.opcode, pong.payload.toString()]).toEqual([OP.PONG, 'mid']);
    c.send({ opcode: OP.CONT, payload: Buffer.from([2]) });
    const m = await c.readFrame();
    expect([m.opcode, m.payload.toString('hex')]).toEqual([OP.BINARY, '0102']);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§5.4 a text and a binary message may follow one another after completion', async () => {
    await roundTrip([
      encodeFrame({ opcode: OP.TEXT, payload: 't1', fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: 't2' }),
      encodeFrame({ opcode: OP.BINARY, payload: Buffer.from([9]), fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: Buffer.from([8]) }),
      encodeFrame({ opcode: OP.TEXT, payload: 'single' }),
    ], [
      { opcode: OP.TEXT, payload: 't1t2' },
      { opcode: OP.BINARY, payload: Buffer.from([9, 8]) },
      { opcode: OP.TEXT, payload: 'single' },
    ]);
  });

  // --- §5.2 payload length ----------------------------------------------------

  it.each([0, 1, 125])('§5.2 7-bit length %i is accepted', async (n) => {
    const p = Buffer.alloc(n, 0x33);
    await roundTrip([encodeFrame({ opcode: OP.BINARY, payload: p })], [{ opcode: OP.BINARY, payload: p }]);
  });

  it.each([126, 127, 1000, 65535])('§5.2 16-bit length %i is accepted', async (n) => {
    const p = Buffer.alloc(n, 0x34);
    await roundTrip([encodeFrame({ opcode: OP.BINARY, payload: p })], [{ opcode: OP.BINARY, payload: p }]);
  });

  it.each([65536, 70_000, MAX])('§5.2 64-bit length %i is accepted', async (n) => {
    const p = Buffer.alloc(n);
    for (let i = 0; i < n; i++) p[i] = i & 0xff;
    await roundTrip([encodeFrame({ opcode: OP.BINARY, payload: p })], [{ opcode: OP.BINARY, payload: p }]);
  });

  it.each([
    [0, 16],
    [5, 16],
    [125, 16],
    [0, 64],
    [5, 64],
    [200, 64],
    [65535, 64],
  ] as const)('§5.2 non-minimal length encoding: %i bytes in the %i-bit form is accepted', async (n, bits) => {
    const p = Buffer.alloc(n, 0x35);
    await roundTrip([encodeFrame({ opcode: OP.BINARY, payload: p, lengthBits: bits })], [{ opcode: OP.BINARY, payload: p }]);
  });

  it('§5.2 non-minimal lengths on text, ping and continuation frames', async () => {
    const c = await open(s.port);
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'ab', fin: false, lengthBits: 64 }),
      encodeFrame({ opcode: OP.PING, payload: 'pp', lengthBits: 16 }),
      encodeFrame({ opcode: OP.CONT, payload: 'cd', lengthBits: 16 }),
    ]));
    const a = await c.readFrame();
    expect([a.opcode, a.payload.toString()]).toEqual([OP.PONG, 'pp']);
    const b = await c.readFrame();
    expect([b.opcode, b.payload.toString()]).toEqual([OP.TEXT, 'abcd']);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000), lengthBits: 64 });
    await expectCloseFrame(c, 1000);
  });

  it('§5.2 zero-length text and binary messages are delivered', async () => {
    await roundTrip([
      encodeFrame({ opcode: OP.TEXT }),
      encodeFrame({ opcode: OP.BINARY }),
      encodeFrame({ opcode: OP.TEXT, payload: 'after' }),
    ], [
      { opcode: OP.TEXT, payload: '' },
      { opcode: OP.BINARY, payload: Buffer.alloc(0) },
      { opcode: OP.TEXT, payload: 'after' },
    ]);
  });

  it('§5.2 a frame sent one byte per write (header and payload) is reassembled', async () => {
    const c = await open(s.port);
    const payload = Buffer.alloc(300, 0x71);
    for (const byte of encodeFrame({ opcode: OP.BINARY, payload, lengthBits: 64 })) {
      c.write(Buffer.from([byte]));
      await sleep(0);
    }
    const f = await c.readFrame();
    expect(Buffer.compare(f.payload, payload)).toBe(0);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§5.2 many frames in one write and frames split across writes at odd offsets', async () => {
    const frames: Buffer[] = [];
    const want: { opcode: number; payload: string }[] = [];
    for (let i = 0; i < 50; i++) {
      const p = `m${i}-${'x'.repeat(i * 7)}`;
      frames.push(encodeFrame({ opcode: OP.TEXT, payload: p }));
      want.push({ opcode: OP.TEXT, payload: p });
    }
    const all = Buffer.concat(frames);
    const chunks: Buffer[] = [];
    for (let at = 0; at < all.length; at += 37) chunks.push(all.subarray(at, at + 37));
    await roundTrip(chunks, want, true);
  });

  it('§5.2 64-bit length with the most significant bit set → 1002 (header only)', async () => {
    await expectFailure(s.port, header(0x80 | OP.BINARY, 1n << 63n), 1002);
  });

  it('§5.2 64-bit length 0xFFFFFFFFFFFFFFFF → 1002 (header only)', async () => {
    await expectFailure(s.port, header(0x80 | OP.TEXT, 0xffffffffffffffffn), 1002);
  });

  it('§5.2 64-bit length with top bit set, header dribbled one byte at a time → 1002', async () => {
    const h = header(0x80 | OP.BINARY, (1n << 63n) | 5n);
    await expectFailure(s.port, [...h].map((b) => Buffer.from([b])), 1002);
  });

  // --- §10.4 maxPayload -------------------------------------------------------

  it('§10.4 single frame one byte over maxPayload → 1009', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(MAX + 1) }), 1009);
  });

  it('§10.4 message of exactly maxPayload is accepted', async () => {
    const p = Buffer.alloc(MAX, 0x21);
    await roundTrip([encodeFrame({ opcode: OP.TEXT, payload: p })], [{ opcode: OP.TEXT, payload: p }]);
  });

  it('§10.4 huge declared length, no payload sent → 1009 from the header alone', async () => {
    await expectFailure(s.port, header(0x80 | OP.BINARY, 1n << 40n), 1009);
  });

  it('§10.4 largest legal 64-bit length (2^63-1), no payload sent → 1009', async () => {
    await expectFailure(s.port, header(0x80 | OP.TEXT, (1n << 63n) - 1n), 1009);
  });

  it('§10.4 declared MAX+1 in a non-final first fragment, no payload → 1009', async () => {
    await expectFailure(s.port, header(OP.TEXT, BigInt(MAX + 1)), 1009);
  });

  it('§10.4 16-bit length over a small maxPayload, header only → 1009', async () => {
    const small = await startServer(echoOptions({ maxPayload: 100 }));
    try {
      await expectFailure(small.port, header(0x80 | OP.TEXT, 101n, { bits: 16 }), 1009);
      await expectFailure(small.port, header(0x80 | OP.TEXT, 101n, { bits: 7 }), 1009);
      const c = await open(small.port);
      c.send({ opcode: OP.TEXT, payload: 'x'.repeat(100) });
      expect((await c.readFrame()).payload.length).toBe(100);
      c.destroy();
    } finally {
      await small.server.close();
    }
  });

  it('§10.4/§5.5 control frames are not limited by a maxPayload below 125', async () => {
    const tiny = await startServer(echoOptions({ maxPayload: 10 }));
    try {
      const c = await open(tiny.port);
      const ping = Buffer.alloc(125, 0x70);
      c.send({ opcode: OP.PING, payload: ping });
      const pong = await c.readFrame();
      expect([pong.opcode, pong.payload.length]).toEqual([OP.PONG, 125]);
      c.send({ opcode: OP.TEXT, payload: '0123456789' });
      expect((await c.readFrame()).payload.toString()).toBe('0123456789');
      c.send({ opcode: OP.CLOSE, payload: closePayload(1000, 'r'.repeat(100)) });
      await expectCloseFrame(c, 1000);
      const d = await open(tiny.port);
      d.send({ opcode: OP.TEXT, payload: '01234567890' });
      await expectCloseFrame(d, 1009);
    } finally {
      await tiny.server.close();
    }
  });

  it('§10.4 fragments whose sum passes maxPayload → 1009', async () => {
    const half = Buffer.alloc(MAX / 2, 0x41);
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.BINARY, payload: half, fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: half, fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: Buffer.alloc(1) }),
    ], 1009);
  });

  it('§10.4 fragments whose sum passes maxPayload, last header only → 1009', async () => {
    const part = Buffer.alloc(60_000, 0x41);
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.TEXT, payload: part, fin: false }),
      header(0x80 | OP.CONT, 50_000n),
    ], 1009);
  });

  it('§10.4 fragments summing to exactly maxPayload are accepted', async () => {
    const a = Buffer.alloc(MAX - 10, 0x61);
    const b = Buffer.alloc(10, 0x62);
    await roundTrip([
      encodeFrame({ opcode: OP.TEXT, payload: a, fin: false }),
      encodeFrame({ opcode: OP.PING, payload: 'between' }),
      encodeFrame({ opcode: OP.CONT, payload: b }),
    ], [{ opcode: OP.PONG, payload: 'between' }, { opcode: OP.TEXT, payload: Buffer.concat([a, b]) }]);
  });

  it('§10.4 maxPayload counts per message: consecutive messages near the limit are fine', async () => {
    const a = Buffer.alloc(MAX - 1, 0x61);
    await roundTrip([
      encodeFrame({ opcode: OP.BINARY, payload: a, fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: Buffer.alloc(1, 0x62) }),
      encodeFrame({ opcode: OP.BINARY, payload: a }),
    ], [
      { opcode: OP.BINARY, payload: Buffer.concat([a, Buffer.alloc(1, 0x62)]) },
      { opcode: OP.BINARY, payload: a },
    ]);
  });
});
