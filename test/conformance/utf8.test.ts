// RFC 6455 §8.1 (and §5.6): text messages must be valid UTF-8, and an endpoint
// fails the connection with 1007 as soon as the bytes cannot be valid — also
// in the middle of a frame whose rest has not arrived, and across fragments.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePayload, encodeFrame } from '../helpers/raw-client';
import { echoOptions, startServer, type Started } from '../helpers/server';
import { OP, cleanupClientsAfterEach, expectCloseFrame, expectEcho, expectFailure, open } from './conformance-util';

cleanupClientsAfterEach();

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A masked frame header declaring `declared` bytes, followed by only `sent` (masked from offset 0). */
function partialFrame(opcode: number, declared: number, sent: Buffer, fin = true): Buffer {
  return encodeFrame({ opcode, fin, payload: sent, declaredLength: BigInt(declared) });
}

describe('UTF-8 handling (§8.1)', () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(echoOptions());
  });
  afterAll(async () => {
    await s.server.close();
  });

  /** Sends text frames; expects the whole message echoed byte for byte. */
  async function echoesBytes(frames: Buffer[], want: Buffer, writeEach = true) {
    const c = await open(s.port);
    if (writeEach) for (const f of frames) c.write(f);
    else c.write(Buffer.concat(frames));
    const f = await c.readFrame();
    expect(f.opcode).toBe(OP.TEXT);
    expect(f.payload.toString('hex')).toBe(want.toString('hex'));
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  }

  // --- fail fast --------------------------------------------------------------

  it('§8.1 invalid byte early in a 1000-byte frame → 1007 before the rest is sent', async () => {
    await expectFailure(s.port, partialFrame(OP.TEXT, 1000, Buffer.from([0x61, 0x62, 0xff])), 1007);
  });

  it('§8.1 invalid continuation (E2 28) in a partial frame → 1007 before the rest is sent', async () => {
    await expectFailure(s.port, partialFrame(OP.TEXT, 1000, Buffer.from([0x61, 0xe2, 0x28])), 1007);
  });

  it('§8.1 invalid byte after 40 ASCII bytes (past the 8-byte fast path) in a partial frame → 1007', async () => {
    await expectFailure(s.port, partialFrame(OP.TEXT, 5000, Buffer.concat([Buffer.alloc(40, 0x61), hex('c0')])), 1007);
  });

  it.each([7, 8, 9, 15, 16, 17])('§8.1 invalid byte at offset %i of a partial frame → 1007', async (at) => {
    const p = Buffer.concat([Buffer.alloc(at, 0x61), hex('80')]);
    await expectFailure(s.port, partialFrame(OP.TEXT, 1000, p), 1007);
  });

  it('§8.1 invalid byte in a partial frame sent in a later write → 1007 before the rest is sent', async () => {
    const full = encodeFrame({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.alloc(500, 0x61), hex('ff'), Buffer.alloc(499, 0x61)]) });
    const headerLen = 2 + 2 + 4;
    await expectFailure(s.port, [full.subarray(0, headerLen + 200), full.subarray(headerLen + 200, headerLen + 501)], 1007);
  });

  it('§8.1 invalid sequence split across fragments (F0 90 | 28) → 1007', async () => {
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.TEXT, payload: hex('61 f0 90'), fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: hex('28 80 61') }),
    ], 1007);
  });

  it('§8.1 invalid sequence split across fragments, second fragment partial → 1007 before the rest', async () => {
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.TEXT, payload: hex('61 f0 90'), fin: false }),
      partialFrame(OP.CONT, 1000, hex('28')),
    ], 1007);
  });

  it('§8.1 invalid byte in a non-final first fragment → 1007 before any continuation', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.TEXT, payload: hex('61 62 fe'), fin: false }), 1007);
  });

  it('§8.1 invalid byte in a middle fragment, ping interleaved → 1007', async () => {
    const c = await open(s.port);
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'ok ', fin: false }),
      encodeFrame({ opcode: OP.PING, payload: 'p' }),
      encodeFrame({ opcode: OP.CONT, payload: hex('ce'), fin: false }),
      encodeFrame({ opcode: OP.PING, payload: 'q' }),
      encodeFrame({ opcode: OP.CONT, payload: hex('41'), fin: false }),
    ]));
    const pongs = [await c.readFrame(), await c.readFrame()];
    expect(pongs.map((f) => [f.opcode, f.payload.toString()])).toEqual([[OP.PONG, 'p'], [OP.PONG, 'q']]);
    await expectCloseFrame(c, 1007);
    await expectEcho(s.port);
  });

  // --- incomplete sequences at the end ----------------------------------------

  it.each([
    ['C3', 'c3'],
    ['E2 82', 'e2 82'],
    ['F0 9F 98', 'f0 9f 98'],
    ['F0', 'f0'],
  ])('§8.1 text message ending inside a sequence (%s) → 1007', async (_name, tail) => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.from('abc'), hex(tail)]) }), 1007);
  });

  it('§8.1 fragmented text whose final fragment ends inside a sequence → 1007', async () => {
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.TEXT, payload: 'abc', fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: hex('e2 82') }),
    ], 1007);
  });

  it('§8.1 fragment ending inside a sequence, then an empty final fragment → 1007', async () => {
    await expectFailure(s.port, [
      encodeFrame({ opcode: OP.TEXT, payload: hex('41 e2 82'), fin: false }),
      encodeFrame({ opcode: OP.CONT }),
    ], 1007);
  });

  it('§8.1 incomplete sequence followed by a ping is still incomplete at the end → 1007', async () => {
    const c = await open(s.port);
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: hex('f0 9f'), fin: false }),
      encodeFrame({ opcode: OP.PING, payload: hex('98 80') }),
      encodeFrame({ opcode: OP.CONT }),
    ]));
    const pong = await c.readFrame();
    expect([pong.opcode, pong.payload.toString('hex')]).toEqual([OP.PONG, '9880']);
    await expectCloseFrame(c, 1007);
    await expectEcho(s.port);
  });

  // --- ill-formed sequences (Unicode Table 3-7) --------------------------------

  it.each([
    ['overlong 2-byte NUL C0 80', 'c0 80'],
    ['overlong 2-byte C1 BF', 'c1 bf'],
    ['overlong 3-byte E0 80 80', 'e0 80 80'],
    ['overlong 3-byte E0 9F BF', 'e0 9f bf'],
    ['overlong 4-byte F0 80 80 80', 'f0 80 80 80'],
    ['overlong 4-byte F0 8F BF BF', 'f0 8f bf bf'],
    ['high surrogate ED A0 80', 'ed a0 80'],
    ['low surrogate ED BF BF', 'ed bf bf'],
    ['surrogate pair ED A0 BD ED B2 A9', 'ed a0 bd ed b2 a9'],
    ['above U+10FFFF F4 90 80 80', 'f4 90 80 80'],
    ['above U+10FFFF F4 BF BF BF', 'f4 bf bf bf'],
    ['lone continuation 80', '80'],
    ['lone continuation BF', 'bf'],
    ['two continuations 80 80', '80 80'],
    ['lead followed by a lead C3 C3', 'c3 c3'],
    ['lead followed by ASCII C3 41', 'c3 41'],
    ['3-byte lead cut by ASCII E2 82 41', 'e2 82 41'],
    ['4-byte lead cut by ASCII F0 9F 98 41', 'f0 9f 98 41'],
    ['continuation after a complete sequence C3 A9 A9', 'c3 a9 a9'],
    ['F5', 'f5 80 80 80'],
    ['F7', 'f7 bf bf bf'],
    ['F8 (5-byte form)', 'f8 88 80 80 80'],
    ['FB', 'fb bf bf bf bf'],
    ['FC (6-byte form)', 'fc 84 80 80 80 80'],
    ['FD', 'fd'],
    ['FE', 'fe'],
    ['FF', 'ff'],
  ])('§8.1 %s in a text message → 1007', async (_name, bytes) => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.from('ok:'), hex(bytes), Buffer.from(':ok')]) }), 1007);
  });

  it.each(['c0 80', 'ed a0 80', 'f4 90 80 80', 'f5'])('§8.1 ill-formed %s fails fast inside a partial frame → 1007', async (bytes) => {
    await expectFailure(s.port, partialFrame(OP.TEXT, 1000, hex(bytes)), 1007);
  });

  it('§8.1 ill-formed bytes in a binary message are not validated', async () => {
    const c = await open(s.port);
    const p = hex('c0 80 ed a0 80 f4 90 80 80 ff fe f0');
    c.send({ opcode: OP.BINARY, payload: p });
    const f = await c.readFrame();
    expect([f.opcode, f.payload.toString('hex')]).toEqual([OP.BINARY, p.toString('hex')]);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§8.1 ill-formed bytes in a ping payload are not validated', async () => {
    const c = await open(s.port);
    c.send({ opcode: OP.PING, payload: hex('ff c0 80') });
    const f = await c.readFrame();
    expect([f.opcode, f.payload.toString('hex')]).toEqual([OP.PONG, 'ffc080']);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  // --- valid text echoes unchanged --------------------------------------------

  it.each([
    ['U+0000', '00'],
    ['U+007F', '7f'],
    ['U+0080', 'c2 80'],
    ['U+07FF', 'df bf'],
    ['U+0800', 'e0 a0 80'],
    ['U+D7FF (last before surrogates)', 'ed 9f bf'],
    ['U+E000 (first after surrogates)', 'ee 80 80'],
    ['U+FFFD', 'ef bf bd'],
    ['U+FFFE (noncharacter, still valid)', 'ef bf be'],
    ['U+FFFF (noncharacter, still valid)', 'ef bf bf'],
    ['U+10000', 'f0 90 80 80'],
    ['U+10FFFF', 'f4 8f bf bf'],
    ['mixed', '41 c3 a9 e2 82 ac f0 9f 98 80 00 7a'],
  ])('§8.1 boundary code point %s echoes unchanged', async (_name, bytes) => {
    const p = Buffer.concat([Buffer.from('<'), hex(bytes), Buffer.from('>')]);
    await echoesBytes([encodeFrame({ opcode: OP.TEXT, payload: p })], p);
  });

  it('§8.1 a byte order mark at the start of a text message is data and echoes unchanged', async () => {
    const p = Buffer.concat([hex('ef bb bf'), Buffer.from('bom')]);
    await echoesBytes([encodeFrame({ opcode: OP.TEXT, payload: p })], p);
    const only = hex('ef bb bf');
    await echoesBytes([encodeFrame({ opcode: OP.TEXT, payload: only })], only);
  });

  it('§8.1 valid multi-byte text (Greek, CJK, emoji, combining marks) echoes unchanged', async () => {
    const text = 'κόσμε — 你好世界 — 😀🎉👩‍👩‍👧 — e\u0301 — \u{10348}';
    await echoesBytes([encodeFrame({ opcode: OP.TEXT, payload: text })], Buffer.from(text));
  });

  it('§8.1 long non-ASCII text (60 KB) echoes unchanged', async () => {
    const text = 'ä€😀'.repeat(7000);
    await echoesBytes([encodeFrame({ opcode: OP.TEXT, payload: text })], Buffer.from(text));
  });

  it.each([1, 2, 3])('§8.1 4-byte emoji split across two fragments after byte %i echoes unchanged', async (cut) => {
    const emoji = Buffer.from('😀');
    const p = Buffer.concat([Buffer.from('a'), emoji, Buffer.from('b')]);
    const at = 1 + cut;
    await echoesBytes([
      encodeFrame({ opcode: OP.TEXT, payload: p.subarray(0, at), fin: false }),
      encodeFrame({ opcode: OP.CONT, payload: p.subarray(at) }),
    ], p);
  });

  it('§8.1 4-byte emoji split into four one-byte fragments echoes unchanged', async () => {
    const emoji = Buffer.from('😀');
    await echoesBytes([0, 1, 2, 3].map((i) => encodeFrame({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: emoji.subarray(i, i + 1), fin: i === 3 })), emoji, false);
  });

  it('§8.1 every split point of a mixed multi-byte text into two fragments echoes unchanged', async () => {
    const p = Buffer.from('x€😀é');
    for (let cut = 0; cut <= p.length; cut++) {
      await echoesBytes([
        encodeFrame({ opcode: OP.TEXT, payload: p.subarray(0, cut), fin: false }),
        encodeFrame({ opcode: OP.CONT, payload: p.subarray(cut) }),
      ], p, false);
    }
  });

  it('§8.1 emoji split across TCP writes inside one frame echoes unchanged', async () => {
    const p = Buffer.from('ab😀cd');
    const frame = encodeFrame({ opcode: OP.TEXT, payload: p });
    const chunks: Buffer[] = [];
    for (let i = 0; i < frame.length; i++) chunks.push(frame.subarray(i, i + 1));
    await echoesBytes(chunks, p);
  });

  it('§8.1 emoji split across fragments with a ping between the halves echoes unchanged', async () => {
    const c = await open(s.port);
    const emoji = Buffer.from('🎉');
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: emoji.subarray(0, 2), fin: false }),
      encodeFrame({ opcode: OP.PING, payload: 'x' }),
      encodeFrame({ opcode: OP.CONT, payload: emoji.subarray(2) }),
    ]));
    const pong = await c.readFrame();
    expect(pong.opcode).toBe(OP.PONG);
    const m = await c.readFrame();
    expect(m.payload.toString('hex')).toBe(emoji.toString('hex'));
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§8.1 ASCII then non-ASCII then ASCII messages on one connection each echo unchanged', async () => {
    const c = await open(s.port);
    const texts = ['plain ascii', 'ünïcödé', 'ascii again', ''];
    for (const t of texts) c.send({ opcode: OP.TEXT, payload: t });
    for (const t of texts) {
      const f = await c.readFrame();
      expect(f.payload.toString('hex')).toBe(Buffer.from(t).toString('hex'));
    }
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§8.1 the validator resets between messages: valid text after a complete non-ASCII message', async () => {
    // A first message that ends exactly on a code point boundary must not leave state behind.
    await echoesBytes([encodeFrame({ opcode: OP.TEXT, payload: '€' })], Buffer.from('€'));
    const c = await open(s.port);
    c.write(Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: '€' }), encodeFrame({ opcode: OP.TEXT, payload: 'z' })]));
    expect((await c.readFrame()).payload.toString()).toBe('€');
    expect((await c.readFrame()).payload.toString()).toBe('z');
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });
});
