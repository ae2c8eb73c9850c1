// Interoperability with real clients (the `ws` package and undici's WebSocket)
// over loopback, on servers with one and two worker threads.
import crypto from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { SendStatus, WebSocket, type ServerOptions } from '../src/index';
import {
  CLIENT_KINDS,
  closeAllClients,
  closeAllServers,
  connect,
  serve,
  sleep,
  type ClientKind,
  type TestClient,
} from './helpers/clients';
import { RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';

const SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024];
const THREADS = [1, 2];

afterEach(async () => {
  await closeAllClients();
  await closeAllServers();
});

/** A string of exactly `bytes` UTF-8 bytes mixing 1-, 2-, 3- and 4-byte characters. */
function utf8Text(bytes: number): string {
  const unit = 'aé€😀'; // 1 + 2 + 3 + 4 bytes
  let s = unit.repeat(Math.floor(bytes / 10));
  s += 'x'.repeat(bytes - Buffer.byteLength(s));
  expect(Buffer.byteLength(s)).toBe(bytes);
  return s;
}

function asciiText(bytes: number): string {
  let s = '';
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  for (let i = 0; i < bytes; i++) s += alphabet[(i * 7) % alphabet.length];
  return s;
}

/** Deterministic binary content covering every byte value. */
function binary(bytes: number, seed = 1): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = (x >>> 16) & 0xff;
  }
  return b;
}

interface ServerLog<UserData = unknown> {
  opens: WebSocket<UserData>[];
  closes: { ws: WebSocket<UserData>; code: number; reason: string; state: number }[];
  errors: unknown[];
}

function logging<UserData = unknown>(extra: ServerOptions<UserData> = {}): { log: ServerLog<UserData>; options: ServerOptions<UserData> } {
  const log: ServerLog<UserData> = { opens: [], closes: [], errors: [] };
  const options: ServerOptions<UserData> = {
    ...echoOptions<UserData>(),
    open(ws) {
      log.opens.push(ws);
    },
    close(ws, code, reason) {
      log.closes.push({ ws, code, reason, state: ws.readyState });
    },
    error(err) {
      log.errors.push(err);
    },
    ...extra,
  };
  return { log, options };
}

function hasIPv6Loopback(): boolean {
  return Object.values(os.networkInterfaces())
    .flat()
    .some((i) => i !== undefined && i.family === 'IPv6' && i.address === '::1');
}

describe.each(THREADS.flatMap((threads) => CLIENT_KINDS.map((kind) => ({ threads, kind }))))(
  'interop: $kind client, threads $threads',
  ({ threads, kind }: { threads: number; kind: ClientKind }) => {
    const start = <U = unknown>(options: ServerOptions<U>, host?: string) => serve<U>({ threads, ...options }, host);

    it.each(SIZES)('echoes binary payloads of %i bytes byte-exact', async (size) => {
      const { url } = await start(echoOptions());
      const c = await connect(kind, url);
      const payload = binary(size, size + 1);
      c.send(payload);
      const got = await c.next(10_000);
      expect(got.binary).toBe(true);
      expect(Buffer.isBuffer(got.data)).toBe(true);
      expect((got.data as Buffer).length).toBe(size);
      expect((got.data as Buffer).equals(payload)).toBe(true);
    });

    it.each(SIZES)('echoes ASCII and multi-byte UTF-8 text of %i bytes exactly', async (size) => {
      const { url } = await start(echoOptions());
      const c = await connect(kind, url);
      for (const text of [asciiText(size), utf8Text(size)]) {
        c.send(text);
        const got = await c.next(10_000);
        expect(got.binary).toBe(false);
        expect(typeof got.data).toBe('string');
        expect((got.data as string).length).toBe(text.length);
        expect(got.data === text).toBe(true);
      }
    });

    it('serves 200 concurrent clients, each getting its 20 echoes in order', async () => {
      const { url, server } = await start(echoOptions());
      const clients = await Promise.all(Array.from({ length: 200 }, () => connect(kind, url)));
      // A client may see the 101 before the server's open handler has run.
      await waitFor(() => server.connections === 200, 5000, '200 open connections');
      clients.forEach((c, id) => {
        for (let i = 0; i < 20; i++) c.send(i % 2 === 0 ? `${id}:${i}` : Buffer.from(`${id}:${i}`));
      });
      await Promise.all(
        clients.map(async (c, id) => {
          for (let i = 0; i < 20; i++) {
            const got = await c.next(10_000);
            expect(got.binary).toBe(i % 2 === 1);
            expect(got.data.toString()).toBe(`${id}:${i}`);
          }
        }),
      );
      await Promise.all(clients.map((c) => (c.close(1000), c.closed)));
      await waitFor(() => server.connections === 0, 5000, 'all connections to close');
    });

    it.runIf(hasIPv6Loopback())('works over IPv6 loopback ([::1])', async () => {
      const { log, options } = logging();
      const { url, server } = await start(options, '::1');
      expect(url).toMatch(/^ws:\/\/\[::1\]:\d+$/);
      expect(server.address()).toMatchObject({ address: '::1', family: 'IPv6' });
      const c = await connect(kind, url);
      c.send('over six');
      expect((await c.next()).data).toBe('over six');
      await waitFor(() => log.opens.length === 1);
      expect(log.opens[0].remoteAddress).toBe('::1');
    });

    it("negotiates a subprotocol from the server's `protocols`", async () => {
      const { log, options } = logging({ protocols: ['chat'] });
      const { url } = await start(options);
      const c = await connect(kind, url, ['x', 'chat']);
      expect(c.protocol).toBe('chat');
      await waitFor(() => log.opens.length === 1);
      expect(log.opens[0].protocol).toBe('chat');
    });

    it("picks the first of the server's `protocols` that the client offers (server preference)", async () => {
      const { log, options } = logging({ protocols: ['x', 'chat'] });
      const { url } = await start(options);
      const c = await connect(kind, url, ['chat', 'x']);
      expect(c.protocol).toBe('x');
      await waitFor(() => log.opens.length === 1);
      expect(log.opens[0].protocol).toBe('x');
    });

    it('exposes url, remoteAddress and readyState transitions', async () => {
      const states: number[] = [];
      const { log, options } = logging({
        open(ws) {
          states.push(ws.readyState);
          log.opens.push(ws);
        },
        message(ws, data) {
          if (data === 'close me') {
            ws.close(1000, 'done');
            states.push(ws.readyState);
          }
        },
      });
      const { url } = await start(options);
      const c = await connect(kind, `${url}/chat/room?x=1&y=%20`);
      await waitFor(() => log.opens.length === 1);
      const ws = log.opens[0];
      expect(ws.url).toBe('/chat/room?x=1&y=%20');
      expect(ws.remoteAddress).toBe('127.0.0.1');
      expect(ws.protocol).toBe('');
      expect(ws.readyState).toBe(WebSocket.OPEN);
      c.send('close me');
      const info = await c.closed;
      expect(info).toEqual({ code: 1000, reason: 'done' });
      await waitFor(() => log.closes.length === 1);
      expect(states).toEqual([WebSocket.OPEN, WebSocket.CLOSING]);
      expect(log.closes[0].state).toBe(WebSocket.CLOSED);
      expect(ws.readyState).toBe(WebSocket.CLOSED);
      expect(log.closes[0].code).toBe(1000);
    });

    it("a server-initiated close(4000, 'bye') reaches the client, then the close handler runs", async () => {
      const { log, options } = logging({
        message(ws) {
          expect(ws.close(4000, 'bye')).toBe(true);
          expect(ws.readyState).toBe(WebSocket.CLOSING);
          // Closing twice is a no-op.
          expect(ws.close(4001, 'again')).toBe(false);
        },
      });
      const { url, server } = await start(options);
      const c = await connect(kind, url);
      c.send('please close');
      expect(await c.closed).toEqual({ code: 4000, reason: 'bye' });
      await waitFor(() => log.closes.length === 1, 5000, 'the close handler');
      expect(log.closes[0].code).toBe(4000);
      expect(log.closes[0].ws).toBe(log.opens[0]);
      expect(server.connections).toBe(0);
    });

    it('a client-initiated close passes its code and reason to the close handler', async () => {
      const { log, options } = logging();
      const { url } = await start(options);
      const c = await connect(kind, url);
      await waitFor(() => log.opens.length === 1);
      c.close(4321, 'client says bye – ü');
      const info = await c.closed;
      expect(info.code).toBe(4321);
      await waitFor(() => log.closes.length === 1, 5000, 'the close handler');
      expect(log.closes[0]).toMatchObject({ code: 4321, reason: 'client says bye – ü', state: WebSocket.CLOSED });
      // A close without a code is reported as 1005.
      const d = await connect(kind, url);
      await waitFor(() => log.opens.length === 2);
      d.close();
      await d.closed;
      await waitFor(() => log.closes.length === 2, 5000, 'the second close handler');
      expect(log.closes[1]).toMatchObject({ code: 1005, reason: '' });
    });

    it('ws.ping() reaches the client, and the connection keeps working', async () => {
      const { log, options } = logging();
      const { url } = await start(options);
      const pings: Buffer[] = [];
      const onUndiciPing = (msg: unknown): void => {
        const m = msg as { payload: Buffer };
        pings.push(Buffer.from(m.payload));
      };
      diagnosticsChannel.subscribe('undici:websocket:ping', onUndiciPing);
      try {
        const c = await connect(kind, url);
        if (kind === 'ws') (c.raw as WS).on('ping', (d: Buffer) => pings.push(d));
        await waitFor(() => log.opens.length === 1);
        expect(log.opens[0].ping('hello?')).toBe(true);
        expect(log.opens[0].ping(new Uint8Array([1, 2, 3]))).toBe(true);
        expect(log.opens[0].ping()).toBe(true);
        await waitFor(() => pings.length === 3, 5000, 'three pings');
        expect(pings.map((p) => p.toString('hex'))).toEqual([Buffer.from('hello?').toString('hex'), '010203', '']);
        c.send('still there');
        expect((await c.next()).data).toBe('still there');
      } finally {
        diagnosticsChannel.unsubscribe('undici:websocket:ping', onUndiciPing);
      }
    });

    it('ws.terminate() drops the connection: 1006 on both sides', async () => {
      const { log, options } = logging({
        message(ws) {
          expect(ws.terminate()).toBe(true);
        },
      });
      const { url } = await start(options);
      const c = await connect(kind, url);
      c.send('terminate me');
      expect((await c.closed).code).toBe(1006);
      await waitFor(() => log.closes.length === 1, 5000, 'the close handler');
      expect(log.closes[0].code).toBe(1006);
      expect(log.closes[0].ws.terminate()).toBe(false);
    });

    it('messages are strings (text) and Buffers (binary) that stay valid after the handler returns', async () => {
      const kept: { data: string | Buffer; isBinary: boolean }[] = [];
      const { url } = await start({
        message(ws, data, isBinary) {
          kept.push({ data, isBinary });
          ws.send('ack');
        },
      });
      const c = await connect(kind, url);
      const sent: (string | Buffer)[] = [];
      for (let i = 0; i < 40; i++) {
        const m = i % 2 === 0 ? binary(1000 + i * 37, i) : `text ${i} ${'é'.repeat(i)}`;
        sent.push(m);
        c.send(m);
        expect((await c.next()).data).toBe('ack');
      }
      // Lots more traffic through the same worker, then compare what was kept.
      for (let i = 0; i < 50; i++) c.send(binary(70_000, 1000 + i));
      for (let i = 0; i < 50; i++) expect((await c.next()).data).toBe('ack');
      expect(kept.length).toBe(90);
      for (let i = 0; i < 40; i++) {
        const k = kept[i];
        if (i % 2 === 0) {
          expect(k.isBinary).toBe(true);
          expect(Buffer.isBuffer(k.data)).toBe(true);
          expect((k.data as Buffer).equals(sent[i] as Buffer)).toBe(true);
        } else {
          expect(k.isBinary).toBe(false);
          expect(k.data).toBe(sent[i]);
        }
      }
      for (let i = 0; i < 50; i++) expect((kept[40 + i].data as Buffer).equals(binary(70_000, 1000 + i))).toBe(true);
    });

    it('sends ArrayBuffer, typed arrays, DataView, and strings/Buffers with an explicit `binary`', async () => {
      const backing = new ArrayBuffer(64);
      new Uint8Array(backing).forEach((_, i, a) => (a[i] = i));
      const floats = new Float32Array(backing, 8, 3); // bytes 8..19
      const statuses: SendStatus[] = [];
      const { url } = await start({
        message(ws) {
          statuses.push(
            ws.send(backing.slice(0, 4)),
            ws.send(new Uint8Array(backing, 4, 4)),
            ws.send(new DataView(backing, 20, 5)),
            ws.send(floats),
            ws.send('text as binary', { binary: true }),
            ws.send(Buffer.from('bytes as text ✓'), { binary: false }),
            ws.send(new Uint8Array(0)),
            ws.send(''),
          );
        },
      });
      const c = await connect(kind, url);
      c.send('go');
      const got = [];
      for (let i = 0; i < 8; i++) got.push(await c.next());
      expect(statuses).toEqual(Array(8).fill(SendStatus.SENT));
      const bytes = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => from + i));
      expect(got[0]).toEqual({ binary: true, data: bytes(0, 4) });
      expect(got[1]).toEqual({ binary: true, data: bytes(4, 4) });
      expect(got[2]).toEqual({ binary: true, data: bytes(20, 5) });
      expect(got[3]).toEqual({ binary: true, data: bytes(8, 12) });
      expect(got[4]).toEqual({ binary: true, data: Buffer.from('text as binary') });
      expect(got[5]).toEqual({ binary: false, data: 'bytes as text ✓' });
      expect(got[6]).toEqual({ binary: true, data: Buffer.alloc(0) });
      expect(got[7]).toEqual({ binary: false, data: '' });
    });
  },
);

describe.each(THREADS)('interop: fragmented messages from the ws client, threads %i', (threads) => {
  const connectWs = async (url: string): Promise<{ c: TestClient; sock: WS }> => {
    const c = await connect('ws', url);
    return { c, sock: c.raw as WS };
  };

  it('reassembles fragmented text, including a character split across fragments', async () => {
    const { url } = await serve({ threads, ...echoOptions() });
    const { c, sock } = await connectWs(url);
    sock.send('hel', { fin: false });
    sock.send('lo, ', { fin: false });
    sock.send('world', { fin: true });
    expect(await c.next()).toEqual({ binary: false, data: 'hello, world' });

    // '€' is E2 82 AC: split it between two continuation frames.
    const euro = Buffer.from('a€b');
    sock.send(euro.subarray(0, 2), { binary: false, fin: false });
    sock.send(euro.subarray(2, 3), { binary: false, fin: false });
    sock.send(euro.subarray(3), { binary: false, fin: true });
    expect(await c.next()).toEqual({ binary: false, data: 'a€b' });

    // An ASCII first fragment followed by non-ASCII ones (and the reverse).
    sock.send('plain ascii, then ', { fin: false });
    sock.send('ümlauts', { fin: true });
    expect(await c.next()).toEqual({ binary: false, data: 'plain ascii, then ümlauts' });
    sock.send('ü', { fin: false });
    sock.send(' then ascii', { fin: true });
    expect(await c.next()).toEqual({ binary: false, data: 'ü then ascii' });

    // Many small fragments of a large text message.
    const big = 'ü'.repeat(50_000);
    const buf = Buffer.from(big);
    for (let off = 0; off < buf.length; off += 999) {
      sock.send(buf.subarray(off, off + 999), { binary: false, fin: off + 999 >= buf.length });
    }
    expect(await c.next(10_000)).toEqual({ binary: false, data: big });
  });

  it('reassembles fragmented binary, with a ping between fragments and empty fragments', async () => {
    const { url } = await serve({ threads, ...echoOptions() });
    const { c, sock } = await connectWs(url);
    const pongs: Buffer[] = [];
    sock.on('pong', (d: Buffer) => pongs.push(d));
    const whole = binary(200_000, 7);
    sock.send(whole.subarray(0, 70_000), { binary: true, fin: false });
    sock.ping('mid');
    sock.send(Buffer.alloc(0), { binary: true, fin: false });
    sock.send(whole.subarray(70_000, 140_000), { binary: true, fin: false });
    sock.send(whole.subarray(140_000), { binary: true, fin: true });
    const got = await c.next(10_000);
    expect(got.binary).toBe(true);
    expect((got.data as Buffer).equals(whole)).toBe(true);
    await waitFor(() => pongs.length === 1);
    expect(pongs[0].toString()).toBe('mid');
    // Then a normal message on the same connection.
    sock.send(Buffer.from([9, 8, 7]));
    expect(await c.next()).toEqual({ binary: true, data: Buffer.from([9, 8, 7]) });
  });

  it('interleaves fragmented messages from many clients correctly', async () => {
    const { url } = await serve({ threads, ...echoOptions() });
    const clients = await Promise.all(Array.from({ length: 20 }, () => connectWs(url)));
    for (let round = 0; round < 5; round++) {
      clients.forEach(({ sock }, id) => sock.send(`${id}-${round}-`, { fin: false }));
      clients.forEach(({ sock }, id) => sock.send(`${'z'.repeat(id * 100)}`, { fin: true }));
    }
    await Promise.all(
      clients.map(async ({ c }, id) => {
        for (let round = 0; round < 5; round++) {
          expect((await c.next()).data).toBe(`${id}-${round}-${'z'.repeat(id * 100)}`);
        }
      }),
    );
  });
});

describe('interop: both clients against one two-thread server', () => {
  it('spreads connections over both workers and keeps per-connection order', async () => {
    const seenWorkers = new Set<number>();
    const { url } = await serve({
      threads: 2,
      open(ws) {
        seenWorkers.add(ws._worker);
      },
      message(ws, data, isBinary) {
        ws.send(data, { binary: isBinary });
      },
    });
    const clients = await Promise.all(Array.from({ length: 40 }, (_, i) => connect(i % 2 ? 'ws' : 'undici', url)));
    await sleep(10);
    const payload = crypto.randomBytes(3000);
    for (const c of clients) for (let i = 0; i < 10; i++) c.send(Buffer.concat([Buffer.from([i]), payload]));
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 10; i++) {
          const got = (await c.next()).data as Buffer;
          expect(got[0]).toBe(i);
          expect(got.subarray(1).equals(payload)).toBe(true);
        }
      }),
    );
    expect(seenWorkers.size).toBe(2);
  });
});

describe('interop: subprotocol without a match', () => {
  it('opens without Sec-WebSocket-Protocol when no offered protocol is spoken', async () => {
    const { log, options } = logging({ protocols: ['chat'] });
    const { port } = await serve({ threads: 1, ...options });
    const c = await RawClient.connect(port);
    try {
      c.write(upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'x, y' }));
      const res = await c.readHttp();
      expect(res.status).toBe(101);
      expect(res.headers['sec-websocket-protocol']).toBeUndefined();
      await waitFor(() => log.opens.length === 1);
      expect(log.opens[0].protocol).toBe('');
    } finally {
      c.destroy();
    }
  });
});
