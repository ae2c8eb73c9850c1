// Ordering (RFC 6455 §5.4 message order, §7.1.1–§7.1.7): valid messages that
// precede a protocol error or the peer's Close in the same TCP write are still
// delivered, and replies the handler sends synchronously go out BEFORE the
// server's Close frame.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePayload, encodeFrame, upgradeRequest, type Frame } from '../helpers/raw-client';
import { startServer, waitFor, type Started } from '../helpers/server';
import { OP, cleanupClientsAfterEach, connect, expectEcho, open } from './conformance-util';

cleanupClientsAfterEach();

const text = (p: string): Buffer => encodeFrame({ opcode: OP.TEXT, payload: p });
const binary = (p: Buffer): Buffer => encodeFrame({ opcode: OP.BINARY, payload: p });

describe('ordering of replies and Close', () => {
  let s: Started;
  /** Messages the handler saw, by connection URL. */
  const seen = new Map<string, string[]>();
  const closed = new Map<string, number>();

  beforeAll(async () => {
    s = await startServer({
      message(ws, data, isBinary) {
        const label = isBinary ? `bin:${(data as Buffer).toString('hex')}` : String(data);
        const list = seen.get(ws.url) ?? [];
        list.push(label);
        seen.set(ws.url, list);
        if (!isBinary && (data as string).startsWith('triple:')) {
          ws.send(`${data}#1`);
          ws.send(`${data}#2`);
          ws.send(`${data}#3`);
          return;
        }
        ws.send(data, { binary: isBinary });
      },
      close(ws, code) {
        closed.set(ws.url, code);
      },
    });
  });
  afterAll(async () => {
    await s.server.close();
  });

  let n = 0;
  async function openTagged() {
    const url = `/ord-${++n}`;
    return { c: await open(s.port, url), url };
  }

  /** Reads frames up to the Close; checks the data frames before it and the Close code. */
  async function expectRepliesThenClose(c: Awaited<ReturnType<typeof open>>, want: string[], code: number | null): Promise<Frame[]> {
    const frames: Frame[] = [];
    for (;;) {
      const f = await c.readFrame();
      if (f.opcode === OP.CLOSE) {
        frames.push(f);
        break;
      }
      if (f.opcode !== OP.PONG) frames.push(f);
    }
    const data = frames.slice(0, -1);
    const label = (f: Frame) => (f.opcode === OP.BINARY ? `bin:${f.payload.toString('hex')}` : f.payload.toString());
    expect(data.map(label)).toEqual(want);
    const close = frames[frames.length - 1];
    if (code === null) expect(close.payload.length).toBe(0);
    else expect(close.payload.readUInt16BE(0)).toBe(code);
    await c.waitEnd();
    return frames;
  }

  const three = ['first', 'second', 'third'];

  it.each([
    ['§5.1 unmasked frame → 1002', encodeFrame({ opcode: OP.TEXT, payload: 'bad', mask: false }), 1002],
    ['§5.2 RSV1 set → 1002', encodeFrame({ opcode: OP.TEXT, payload: 'bad', rsv: 4 }), 1002],
    ['§5.2 reserved opcode 0x3 → 1002', encodeFrame({ opcode: 3, payload: 'bad' }), 1002],
    ['§5.4 continuation with no message → 1002', encodeFrame({ opcode: OP.CONT, payload: 'bad' }), 1002],
    ['§5.5 fragmented ping → 1002', encodeFrame({ opcode: OP.PING, payload: 'bad', fin: false }), 1002],
    ['§5.5 ping over 125 bytes → 1002', encodeFrame({ opcode: OP.PING, payload: Buffer.alloc(126) }), 1002],
    ['§5.2 64-bit length top bit → 1002', encodeFrame({ opcode: OP.BINARY, declaredLength: 1n << 63n }), 1002],
    ['§5.5.1 close with 1-byte payload → 1002', encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([3]) }), 1002],
    ['§7.4 invalid close code 1005 → 1002', encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1005) }), 1002],
    ['§8.1 invalid UTF-8 → 1007', encodeFrame({ opcode: OP.TEXT, payload: Buffer.from([0x61, 0xff]) }), 1007],
    ['§8.1 invalid UTF-8, fail fast in a partial frame → 1007', encodeFrame({ opcode: OP.TEXT, payload: Buffer.from([0xc0]), declaredLength: 500n }), 1007],
    ['§5.5.1 close reason invalid UTF-8 → 1007', encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from([0xff])) }), 1007],
    ['§10.4 over maxPayload (header only) → 1009', encodeFrame({ opcode: OP.BINARY, declaredLength: 1n << 40n }), 1009],
  ] as const)('%s: three valid messages before it in the same write are delivered and answered before the Close', async (_name, bad, code) => {
    const { c, url } = await openTagged();
    c.write(Buffer.concat([...three.map(text), bad]));
    await expectRepliesThenClose(c, three, code);
    expect(seen.get(url)).toEqual(three);
    await waitFor(() => closed.has(url));
    expect(closed.get(url)).toBe(code);
    await expectEcho(s.port);
  });

  it('§7.1.7 text, binary and a fragmented message before a protocol error are answered in order before the Close', async () => {
    const { c, url } = await openTagged();
    c.write(Buffer.concat([
      text('t1'),
      binary(Buffer.from([1, 2])),
      encodeFrame({ opcode: OP.TEXT, payload: 'fr', fin: false }),
      encodeFrame({ opcode: OP.PING, payload: 'p' }),
      encodeFrame({ opcode: OP.CONT, payload: 'ag' }),
      text('t2'),
      encodeFrame({ opcode: OP.TEXT, payload: 'x', mask: false }),
    ]));
    await expectRepliesThenClose(c, ['t1', 'bin:0102', 'frag', 't2'], 1002);
    expect(seen.get(url)).toEqual(['t1', 'bin:0102', 'frag', 't2']);
    await expectEcho(s.port);
  });

  it('§7.1.7 several synchronous replies per message all arrive before the Close 1002', async () => {
    const { c } = await openTagged();
    c.write(Buffer.concat([text('triple:a'), text('triple:b'), encodeFrame({ opcode: 0xf })]));
    await expectRepliesThenClose(c, ['triple:a#1', 'triple:a#2', 'triple:a#3', 'triple:b#1', 'triple:b#2', 'triple:b#3'], 1002);
    await expectEcho(s.port);
  });

  it('§7.1.7 200 messages before a protocol error are all answered, in order, before the Close', async () => {
    const { c, url } = await openTagged();
    const msgs = Array.from({ length: 200 }, (_, i) => `m${i}`);
    c.write(Buffer.concat([...msgs.map(text), encodeFrame({ opcode: OP.CONT, payload: 'x' })]));
    await expectRepliesThenClose(c, msgs, 1002);
    expect(seen.get(url)).toEqual(msgs);
    await expectEcho(s.port);
  });

  it('§7.1.7 large replies (3 × 200 KB) before a protocol error are all written before the Close', async () => {
    const { c } = await openTagged();
    const big = [0x41, 0x42, 0x43].map((b) => Buffer.alloc(200_000, b));
    c.write(Buffer.concat([...big.map(binary), encodeFrame({ opcode: OP.BINARY, payload: 'x', rsv: 2 })]));
    const frames: Frame[] = [];
    for (;;) {
      const f = await c.readFrame();
      frames.push(f);
      if (f.opcode === OP.CLOSE) break;
    }
    expect(frames.map((f) => [f.opcode, f.payload.length, f.payload[0]])).toEqual([
      [OP.BINARY, 200_000, 0x41],
      [OP.BINARY, 200_000, 0x42],
      [OP.BINARY, 200_000, 0x43],
      [OP.CLOSE, frames[3].payload.length, 0x03],
    ]);
    expect(frames[3].payload.readUInt16BE(0)).toBe(1002);
    await c.waitEnd();
    await expectEcho(s.port);
  });

  // --- the peer's Close -------------------------------------------------------

  it('§7.1.7 three messages before the peer Close in the same write are answered before the Close echo', async () => {
    const { c, url } = await openTagged();
    c.write(Buffer.concat([...three.map(text), encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'done') })]));
    await expectRepliesThenClose(c, three, 1000);
    expect(seen.get(url)).toEqual(three);
    await waitFor(() => closed.has(url));
    expect(closed.get(url)).toBe(1000);
  });

  it('§7.1.7 messages before an empty peer Close are answered before the empty Close echo', async () => {
    const { c, url } = await openTagged();
    c.write(Buffer.concat([...three.map(text), encodeFrame({ opcode: OP.CLOSE })]));
    await expectRepliesThenClose(c, three, null);
    await waitFor(() => closed.has(url));
    expect(closed.get(url)).toBe(1005);
  });

  it('§7.1.7 several synchronous replies per message all arrive before the Close echo', async () => {
    const { c } = await openTagged();
    c.write(Buffer.concat([text('triple:x'), binary(Buffer.from([7])), text('triple:y'), encodeFrame({ opcode: OP.CLOSE, payload: closePayload(4000) })]));
    await expectRepliesThenClose(c, ['triple:x#1', 'triple:x#2', 'triple:x#3', 'bin:07', 'triple:y#1', 'triple:y#2', 'triple:y#3'], 4000);
  });

  it('§7.1.7 200 messages before the peer Close are answered in order before the Close echo', async () => {
    const { c } = await openTagged();
    const msgs = Array.from({ length: 200 }, (_, i) => `c${i}`);
    c.write(Buffer.concat([...msgs.map(text), encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1001) })]));
    await expectRepliesThenClose(c, msgs, 1001);
  });

  it('§7.1.7 large replies (3 × 200 KB) before the peer Close are all written before the Close echo', async () => {
    const { c } = await openTagged();
    const big = [0x61, 0x62, 0x63].map((b) => Buffer.alloc(200_000, b));
    c.write(Buffer.concat([...big.map(binary), encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) })]));
    const frames: Frame[] = [];
    for (;;) {
      const f = await c.readFrame();
      frames.push(f);
      if (f.opcode === OP.CLOSE) break;
    }
    expect(frames.map((f) => [f.opcode, f.payload.length])).toEqual([
      [OP.BINARY, 200_000],
      [OP.BINARY, 200_000],
      [OP.BINARY, 200_000],
      [OP.CLOSE, 2],
    ]);
    await c.waitEnd();
  });

  // --- with the handshake in the same write -----------------------------------

  it('§4.2.2/§7.1.7 request + messages + protocol error in one write → 101, replies, then Close 1002', async () => {
    const c = await connect(s.port);
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/ord-pipelined')), ...three.map(text), encodeFrame({ opcode: 0x7 })]));
    expect((await c.readHttp()).status).toBe(101);
    await expectRepliesThenClose(c, three, 1002);
    await expectEcho(s.port);
  });

  it('§4.2.2/§7.1.7 request + messages + Close in one write → 101, replies, then Close echo', async () => {
    const c = await connect(s.port);
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/ord-pipelined-2')), ...three.map(text), encodeFrame({ opcode: OP.CLOSE, payload: closePayload(3333) })]));
    expect((await c.readHttp()).status).toBe(101);
    await expectRepliesThenClose(c, three, 3333);
  });

  it('§7.1.7 messages in an earlier write, error in a later one: replies still precede the Close', async () => {
    const { c } = await openTagged();
    c.write(Buffer.concat(three.map(text)));
    c.write(encodeFrame({ opcode: OP.TEXT, payload: Buffer.from([0xed, 0xa0, 0x80]) }));
    await expectRepliesThenClose(c, three, 1007);
    await expectEcho(s.port);
  });

  it('§5.4 message order is preserved across many writes and message kinds', async () => {
    const { c } = await openTagged();
    const want: string[] = [];
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 0) {
        c.write(binary(Buffer.from([i])));
        want.push(`bin:${Buffer.from([i]).toString('hex')}`);
      } else if (i % 3 === 1) {
        c.write(Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: `f${i}-`, fin: false }), encodeFrame({ opcode: OP.CONT, payload: 'end' })]));
        want.push(`f${i}-end`);
      } else {
        c.write(text(`t${i}`));
        want.push(`t${i}`);
      }
    }
    c.write(encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }));
    await expectRepliesThenClose(c, want, 1000);
    expect(c.unread.length).toBe(0);
  });

  it('§7.1.7 no frame follows the server Close', async () => {
    const { c } = await openTagged();
    c.write(Buffer.concat([...three.map(text), encodeFrame({ opcode: OP.TEXT, payload: 'x', mask: false }), ...three.map(text)]));
    await expectRepliesThenClose(c, three, 1002);
    expect(c.unread.length).toBe(0);
    await expectEcho(s.port);
  });
});
