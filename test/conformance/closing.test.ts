// RFC 6455 §5.5.1 (Close), §5.5.2/§5.5.3 (Ping/Pong), §7.1–§7.4 (closing the
// connection, close codes), and what the server's `close` handler is told.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from '../../src/index';
import { closePayload, encodeFrame } from '../helpers/raw-client';
import { echoOptions, startServer, waitFor, type Started } from '../helpers/server';
import { OP, cleanupClientsAfterEach, expectCloseFrame, expectEcho, expectFailure, open, sleep } from './conformance-util';

cleanupClientsAfterEach();

interface Closed {
  url: string;
  code: number;
  reason: string;
}

describe('closing handshake (§5.5.1, §7)', () => {
  let s: Started;
  const closed: Closed[] = [];
  const serverSockets = new Map<string, WebSocket>();

  beforeAll(async () => {
    s = await startServer(echoOptions({
      open(ws) {
        serverSockets.set(ws.url, ws);
      },
      message(ws, data, isBinary) {
        if (data === 'server-close') {
          ws.close(4001, 'server says bye');
          return;
        }
        if (data === 'server-close-default') {
          ws.close();
          return;
        }
        ws.send(data, { binary: isBinary });
      },
      close(ws, code, reason) {
        closed.push({ url: ws.url, code, reason });
      },
    }));
  });
  afterAll(async () => {
    await s.server.close();
  });
  afterEach(() => {
    closed.length = 0;
  });

  let tag = 0;
  /** Opens a connection whose URL identifies it in `closed`. */
  async function openTagged() {
    const url = `/conn-${++tag}`;
    return { c: await open(s.port, url), url };
  }

  async function closeInfo(url: string): Promise<Closed> {
    await waitFor(() => closed.some((x) => x.url === url), 5000, `close handler for ${url}`);
    return closed.find((x) => x.url === url)!;
  }

  // --- §5.5.1 echoing a Close -------------------------------------------------

  it('§5.5.1 Close 1000 with a UTF-8 reason is echoed with 1000 (empty reason), then FIN', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye — ünïcode') });
    const f = await expectCloseFrame(c, 1000);
    expect(f.payload.length).toBe(2);
    expect(await closeInfo(url)).toEqual({ url, code: 1000, reason: 'bye — ünïcode' });
    await expectEcho(s.port);
  });

  it('§5.5.1 empty Close is echoed as an empty Close (no code)', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.CLOSE });
    await expectCloseFrame(c, null);
    expect((await closeInfo(url)).code).toBe(1005);
    await expectEcho(s.port);
  });

  it('§5.5.1 Close with a 1-byte payload → 1002', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) }), 1002);
  });

  it.each([0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])(
    '§7.4.1/§7.4.2 invalid close code %i on the wire → 1002',
    async (code) => {
      await expectFailure(s.port, encodeFrame({ opcode: OP.CLOSE, payload: closePayload(code) }), 1002);
    },
  );

  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999])(
    '§7.4.1/§7.4.2 valid close code %i is echoed',
    async (code) => {
      const { c, url } = await openTagged();
      c.send({ opcode: OP.CLOSE, payload: closePayload(code, 'r') });
      const f = await expectCloseFrame(c, code);
      expect(f.payload.length).toBe(2);
      expect(await closeInfo(url)).toEqual({ url, code, reason: 'r' });
      await expectEcho(s.port);
    },
  );

  it('§5.5.1 Close with a 123-byte reason (125-byte payload) is echoed', async () => {
    const { c, url } = await openTagged();
    const reason = 'é'.repeat(61) + 'x';
    expect(Buffer.byteLength(reason)).toBe(123);
    c.send({ opcode: OP.CLOSE, payload: closePayload(3000, reason) });
    await expectCloseFrame(c, 3000);
    expect(await closeInfo(url)).toEqual({ url, code: 3000, reason });
    await expectEcho(s.port);
  });

  it.each([
    ['FF', 'ff'],
    ['overlong C0 80', 'c0 80'],
    ['surrogate ED A0 80', 'ed a0 80'],
    ['truncated E2 82', 'e2 82'],
    ['valid then truncated', '6f6b f0 9f 98'],
  ])('§5.5.1/§8.1 Close reason that is invalid UTF-8 (%s) → 1007', async (_name, bytes) => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from(bytes.replace(/\s+/g, ''), 'hex')) });
    await expectCloseFrame(c, 1007);
    expect((await closeInfo(url)).code).toBe(1007);
    await expectEcho(s.port);
  });

  it('§5.5.1 invalid close code is judged before an invalid reason (1002)', async () => {
    await expectFailure(s.port, encodeFrame({ opcode: OP.CLOSE, payload: closePayload(999, Buffer.from([0xff])) }), 1002);
  });

  it('§5.5.1 Close split across TCP writes is echoed', async () => {
    const frame = encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1001, 'split') });
    const { c } = await openTagged();
    for (const b of frame) {
      c.write(Buffer.from([b]));
      await sleep(0);
    }
    await expectCloseFrame(c, 1001);
    await expectEcho(s.port);
  });

  it('§5.5.1 Close in the middle of a fragmented message is echoed (the partial message is dropped)', async () => {
    const { c, url } = await openTagged();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'partial', fin: false }),
      encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }),
    ]));
    const { code, before } = await c.readClose();
    expect(code).toBe(1000);
    expect(before).toEqual([]);
    await c.waitEnd();
    expect((await closeInfo(url)).code).toBe(1000);
  });

  it('§5.5.1 data frames after the peer Close are not processed (no reply after our Close)', async () => {
    const { c } = await openTagged();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }),
      encodeFrame({ opcode: OP.TEXT, payload: 'after close' }),
      encodeFrame({ opcode: OP.PING, payload: 'after close' }),
    ]));
    await expectCloseFrame(c, 1000);
    expect(c.unread.length).toBe(0);
    await expectEcho(s.port);
  });

  it('§5.5.1 garbage after the peer Close is ignored (no 1002)', async () => {
    const { c, url } = await openTagged();
    c.write(Buffer.concat([encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1001) }), Buffer.from([0xff, 0xff, 0xff, 0x00])]));
    await expectCloseFrame(c, 1001);
    expect(c.unread.length).toBe(0);
    expect((await closeInfo(url)).code).toBe(1001);
    await expectEcho(s.port);
  });

  // --- §7.1.2 server-initiated close ------------------------------------------

  it('§7.1.2 server-initiated Close: client answers, server closes TCP; handler gets the peer code', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.TEXT, payload: 'server-close' });
    const f = await c.readFrame();
    expect(f.opcode).toBe(OP.CLOSE);
    expect(f.payload.readUInt16BE(0)).toBe(4001);
    expect(f.payload.subarray(2).toString()).toBe('server says bye');
    c.send({ opcode: OP.CLOSE, payload: closePayload(4001) });
    await c.waitEnd();
    expect(c.unread.length).toBe(0);
    expect((await closeInfo(url)).code).toBe(4001);
    await expectEcho(s.port);
  });

  it('§7.1.2 server-initiated Close: ws.close() without a code sends 1000', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.TEXT, payload: 'server-close-default' });
    const f = await c.readFrame();
    expect(f.opcode).toBe(OP.CLOSE);
    expect(f.payload.readUInt16BE(0)).toBe(1000);
    c.send({ opcode: OP.CLOSE });
    await c.waitEnd();
    await closeInfo(url);
  });

  it('§5.5.1/§7.1.2 server-initiated Close: no data frames follow the server Close', async () => {
    const { c } = await openTagged();
    c.send({ opcode: OP.TEXT, payload: 'server-close' });
    expect((await c.readFrame()).opcode).toBe(OP.CLOSE);
    c.send({ opcode: OP.TEXT, payload: 'late message' });
    c.send({ opcode: OP.BINARY, payload: Buffer.from([1]) });
    await sleep(50);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await c.waitEnd();
    // A Pong would be allowed here (§5.5.1 forbids only data frames), but nothing else.
    expect(c.unread.length).toBe(0);
  });

  it('§7.1.2 server-initiated Close answered with a protocol error: connection ends', async () => {
    const { c } = await openTagged();
    c.send({ opcode: OP.TEXT, payload: 'server-close' });
    expect((await c.readFrame()).opcode).toBe(OP.CLOSE);
    c.send({ opcode: OP.TEXT, payload: 'unmasked', mask: false });
    await c.waitEnd();
    await expectEcho(s.port);
  });

  // --- §5.5.2/§5.5.3 ping and pong --------------------------------------------

  it.each([
    ['a short text', Buffer.from('hello')],
    ['125 bytes', Buffer.alloc(125, 0x7a)],
    ['0 bytes', Buffer.alloc(0)],
    ['binary bytes', Buffer.from([0x00, 0xff, 0x80, 0x7f])],
  ])('§5.5.2/§5.5.3 Ping with %s → Pong with the same payload', async (_name, payload) => {
    const { c } = await openTagged();
    c.send({ opcode: OP.PING, payload });
    const f = await c.readFrame();
    expect({ opcode: f.opcode, fin: f.fin, rsv: f.rsv }).toEqual({ opcode: OP.PONG, fin: true, rsv: 0 });
    expect(f.payload.toString('hex')).toBe(payload.toString('hex'));
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§5.5.2 several pings in one write → one Pong each, in order', async () => {
    const { c } = await openTagged();
    c.write(Buffer.concat(['1', '2', '3', '4', '5'].map((p) => encodeFrame({ opcode: OP.PING, payload: p }))));
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const f = await c.readFrame();
      expect(f.opcode).toBe(OP.PONG);
      got.push(f.payload.toString());
    }
    expect(got).toEqual(['1', '2', '3', '4', '5']);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§5.5.2 Pongs are sent natively: the Pong precedes the reply to a message sent just before the Ping', async () => {
    const { c } = await openTagged();
    c.write(Buffer.concat([encodeFrame({ opcode: OP.TEXT, payload: 'needs JS' }), encodeFrame({ opcode: OP.PING, payload: 'native' })]));
    const first = await c.readFrame();
    expect([first.opcode, first.payload.toString()]).toEqual([OP.PONG, 'native']);
    const second = await c.readFrame();
    expect([second.opcode, second.payload.toString()]).toEqual([OP.TEXT, 'needs JS']);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§5.5.2 a Ping split across TCP writes is answered with the whole payload', async () => {
    const { c } = await openTagged();
    const payload = Buffer.from(Array.from({ length: 125 }, (_, i) => i));
    const frame = encodeFrame({ opcode: OP.PING, payload });
    for (let at = 0; at < frame.length; at += 9) {
      c.write(frame.subarray(at, at + 9));
      await sleep(0);
    }
    const f = await c.readFrame();
    expect([f.opcode, f.payload.toString('hex')]).toEqual([OP.PONG, payload.toString('hex')]);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§5.5.3 unsolicited Pongs are ignored', async () => {
    const { c } = await openTagged();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.PONG, payload: 'unsolicited' }),
      encodeFrame({ opcode: OP.PONG }),
      encodeFrame({ opcode: OP.PONG, payload: Buffer.alloc(125, 1) }),
      encodeFrame({ opcode: OP.TEXT, payload: 'after pongs' }),
    ]));
    const f = await c.readFrame();
    expect([f.opcode, f.payload.toString()]).toEqual([OP.TEXT, 'after pongs']);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    const { before } = await c.readClose();
    expect(before).toEqual([]);
    await c.waitEnd();
  });

  // --- §7.1.5 what the close handler is told ----------------------------------

  it('§7.1.5 close handler: peer Close code and reason', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.CLOSE, payload: closePayload(4321, 'app reason') });
    await expectCloseFrame(c, 4321);
    expect(await closeInfo(url)).toEqual({ url, code: 4321, reason: 'app reason' });
  });

  it('§7.1.5 close handler: empty Close → 1005', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.CLOSE });
    await expectCloseFrame(c, null);
    expect((await closeInfo(url)).code).toBe(1005);
  });

  it('§7.1.5 close handler: protocol error → 1002', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.TEXT, payload: 'x', mask: false });
    await expectCloseFrame(c, 1002);
    expect((await closeInfo(url)).code).toBe(1002);
    await expectEcho(s.port);
  });

  it('§7.1.5 close handler: invalid UTF-8 → 1007', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.TEXT, payload: Buffer.from([0xff]) });
    await expectCloseFrame(c, 1007);
    expect((await closeInfo(url)).code).toBe(1007);
    await expectEcho(s.port);
  });

  it('§7.1.5 close handler: message over maxPayload → 1009', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.BINARY, declaredLength: 1n << 40n });
    await expectCloseFrame(c, 1009);
    expect((await closeInfo(url)).code).toBe(1009);
    await expectEcho(s.port);
  });

  it('§7.1.5 close handler: TCP dropped without a Close → 1006', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.TEXT, payload: 'x' });
    await c.readFrame();
    c.socket.end();
    expect((await closeInfo(url)).code).toBe(1006);
    await expectEcho(s.port);
  });

  it('§7.1.5 close handler: TCP reset mid-frame → 1006', async () => {
    const { c, url } = await openTagged();
    c.write(encodeFrame({ opcode: OP.TEXT, payload: 'abc', declaredLength: 100n }));
    await sleep(20);
    c.socket.resetAndDestroy();
    expect((await closeInfo(url)).code).toBe(1006);
    await expectEcho(s.port);
  });

  it('§7.1.5 close handler: readyState is CLOSED (3) and send is dropped', async () => {
    const { c, url } = await openTagged();
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
    await closeInfo(url);
    const ws = serverSockets.get(url)!;
    expect(ws.readyState).toBe(3);
    expect(ws.send('too late')).toBe(2);
  });
});
