// permessage-deflate (RFC 7692) with real clients: the `ws` client (every
// negotiation parameter, both directions), undici's WebSocket, Python's
// websockets, a raw TCP client for what is on the wire (RSV1, the threshold,
// the compress override, a publish compressed once) and for hostile input
// (a deflate bomb, bad DEFLATE data, RSV1 where it does not belong), TLS with
// deflate, the upgrade hook, and the option's validation.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { WebSocket as UndiciWebSocket } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, type Server, type ServerOptions, type WebSocket } from '../src/index';
import { RawClient, upgradeRequest, type Frame } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';
import { testPki, type TestPki } from './helpers/tls-certs';

const MiB = 1024 * 1024;
const servers: Server<any>[] = [];
const clients: (WS | RawClient)[] = [];
let pki: TestPki;

beforeAll(() => {
  pki = testPki();
});

afterEach(async () => {
  for (const c of clients.splice(0)) {
    if (c instanceof WS) c.terminate();
    else c.socket.destroy();
  }
  await Promise.all(servers.splice(0).map((s) => s.close({ timeout: 500 }).catch(() => {})));
});

async function serve<U = unknown>(options: ServerOptions<U> = {}): Promise<{ server: Server<U>; port: number; url: string }> {
  const server = createServer<U>({ threads: 1, perMessageDeflate: true, ...echoOptions<U>(), ...options });
  servers.push(server);
  await server.listen(0, '127.0.0.1');
  const port = server.address()!.port;
  return { server, port, url: `ws://127.0.0.1:${port}` };
}

function wsClient(url: string, opts: WS.ClientOptions = {}): Promise<WS> {
  const ws = new WS(url, { perMessageDeflate: true, maxPayload: 64 * MiB, ...opts });
  clients.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WS, ms = 20_000): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message')), ms);
    ws.once('message', (data: Buffer, binary: boolean) => {
      clearTimeout(t);
      resolve({ data, binary });
    });
  });
}

/** JSON-like text of exactly `bytes` ASCII bytes: compresses as chat and market data do. */
function jsonText(bytes: number, seed = 0): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const p = `{"id":${i + seed},"user":"user${(i * 7 + seed) % 31}","text":"message number ${i}","room":"lobby"},`;
    parts.push(p);
    n += p.length;
  }
  return parts.join('').slice(0, bytes);
}

/** Bytes that do not compress. */
const noise = (bytes: number): Buffer => crypto.randomBytes(bytes);

const sha = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');

/** A raw client whose handshake offers `extensions`; the response's Sec-WebSocket-Extensions. */
async function rawDeflate(port: number, offer = 'permessage-deflate; client_max_window_bits'): Promise<{ c: RawClient; agreed: string }> {
  const c = await RawClient.connect(port);
  clients.push(c);
  c.write(upgradeRequest('/', { 'Sec-WebSocket-Extensions': offer }));
  const res = await c.readHttp();
  expect(res.status).toBe(101);
  return { c, agreed: res.headers['sec-websocket-extensions'] ?? '' };
}

/** A server message's payload as the client reads it (inflated when RSV1 says so, no context kept). */
function inflateFrame(f: Frame): Buffer {
  if (!(f.rsv & 4)) return f.payload;
  return zlib.inflateRawSync(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** A client's compressed payload: raw DEFLATE, sync-flushed, the 00 00 ff ff tail removed (§7.2.1). */
function deflatePayload(data: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

async function closeCode(c: RawClient): Promise<number> {
  for (;;) {
    const f = await c.readFrame(10_000);
    if (f.opcode === 8) return f.payload.readUInt16BE(0);
  }
}

// ------------------------------------------------------------------ the ws client

describe('with the ws client', () => {
  it('agrees, and messages of 10 B to 16 MiB go both ways compressed, text and binary', async () => {
    let serverExtensions = '';
    const { server, url } = await serve({ maxPayload: 32 * MiB, open: (ws) => (serverExtensions = ws.extensions) });
    const ws = await wsClient(url);
    expect(ws.extensions).toBe('permessage-deflate');
    await waitFor(() => serverExtensions !== '', 5000, 'the open handler');
    expect(serverExtensions).toBe('permessage-deflate');
    for (const size of [10, 1000, 1024, 64 * 1024, MiB, 16 * MiB]) {
      const text = jsonText(size, size);
      ws.send(text);
      const back = await nextMessage(ws);
      expect(back.binary).toBe(false);
      expect(sha(back.data)).toBe(sha(text));
      const bin = Buffer.from(jsonText(size, size + 1));
      ws.send(bin);
      const backBin = await nextMessage(ws);
      expect(backBin.binary).toBe(true);
      expect(sha(backBin.data)).toBe(sha(bin));
    }
    const d = server.stats().perMessageDeflate!;
    expect(d.negotiated).toBe(1);
    // ws compresses every message while it keeps context (its threshold applies only
    // without); this server compresses from 1 KiB: 1024 B and up, text and binary.
    expect(d.messagesInflated).toBe(12);
    expect(d.messagesCompressed).toBe(8);
    expect(d.bytesAfterCompression * 5).toBeLessThan(d.bytesBeforeCompression);
    expect(d.bytesAfterInflation).toBeGreaterThan(d.bytesBeforeInflation * 5);
    expect(server.stats().bytes.out).toBeLessThan(d.bytesBeforeCompression / 5);
  });

  it('an incompressible payload still round-trips', async () => {
    const { url } = await serve();
    const ws = await wsClient(url);
    const data = noise(200_000);
    ws.send(data);
    expect(sha((await nextMessage(ws)).data)).toBe(sha(data));
  });

  const offers: [string, WS.PerMessageDeflateOptions, string][] = [
    ['server_no_context_takeover', { serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
    ['client_no_context_takeover', { clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
    ['server_max_window_bits=10', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=10'],
    ['client_max_window_bits=9', { clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=9'],
  ];
  for (const [name, opts, agreed] of offers) {
    it(`the client offers ${name}: the response names exactly that, and messages flow`, async () => {
      let serverExtensions = '';
      const { url } = await serve({ open: (ws) => (serverExtensions = ws.extensions) });
      const ws = await wsClient(url, { perMessageDeflate: opts });
      await waitFor(() => serverExtensions !== '', 5000, 'the open handler');
      expect(serverExtensions).toBe(agreed);
      for (let i = 0; i < 3; i++) {
        const text = jsonText(20_000, i);
        ws.send(text);
        expect((await nextMessage(ws)).data.toString()).toBe(text);
      }
    });
  }

  it("the server's own limits: window bits and no context takeover, as configured", async () => {
    let serverExtensions = '';
    const { url } = await serve({
      perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 12 },
      open: (ws) => (serverExtensions = ws.extensions),
    });
    const ws = await wsClient(url);
    await waitFor(() => serverExtensions !== '', 5000, 'the open handler');
    expect(serverExtensions).toBe(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=12');
    const text = jsonText(300_000);
    ws.send(text);
    expect((await nextMessage(ws)).data.toString()).toBe(text);
  });

  it('without the option the offer is declined (as ws does by default)', async () => {
    const { url } = await serve({ perMessageDeflate: false });
    const ws = await wsClient(url);
    expect(ws.extensions).toBe('');
    ws.send(jsonText(5000));
    expect((await nextMessage(ws)).data.length).toBe(5000);
  });

  it('a client that offers nothing gets nothing, from a deflate server', async () => {
    let serverExtensions = 'unset';
    const { url } = await serve({ open: (ws) => (serverExtensions = ws.extensions) });
    const ws = await wsClient(url, { perMessageDeflate: false });
    await waitFor(() => serverExtensions !== 'unset', 5000, 'the open handler');
    expect(serverExtensions).toBe('');
    ws.send(jsonText(5000));
    expect((await nextMessage(ws)).data.length).toBe(5000);
  });

  it('with the upgrade hook: negotiated after the hook accepts, and refused upgrades reserve nothing', async () => {
    const { server, url } = await serve({
      upgrade: (req) => (req.url === '/no' ? { accept: false, status: 403 } : { accept: true, data: 1 }),
    });
    await expect(wsClient(`${url}/no`)).rejects.toThrow(/403/);
    const ws = await wsClient(url);
    expect(ws.extensions).toBe('permessage-deflate');
    const text = jsonText(10_000);
    ws.send(text);
    expect((await nextMessage(ws)).data.toString()).toBe(text);
    expect(server.stats().perMessageDeflate!.negotiated).toBe(1);
  });

  it('publish: subscribers with deflate and without all get the message', async () => {
    const { server, url } = await serve({ open: (ws) => ws.subscribe('room') });
    const a = await wsClient(url);
    const b = await wsClient(url, { perMessageDeflate: { serverNoContextTakeover: true } });
    const plain = await wsClient(url, { perMessageDeflate: false });
    await waitFor(() => server.subscribers('room') === 3);
    const text = jsonText(50_000);
    const got = [nextMessage(a), nextMessage(b), nextMessage(plain)];
    expect(server.publish('room', text)).toBe(true);
    for (const m of await Promise.all(got)) expect(m.data.toString()).toBe(text);
    // One compression for both deflate subscribers (same window).
    expect(server.stats().perMessageDeflate!.messagesCompressed).toBe(1);
  });
});

// ------------------------------------------------------------------ on the wire

describe('on the wire (raw client)', () => {
  it('RSV1 on compressed messages only: the threshold, and the compress override both ways', async () => {
    const { server, port } = await serve({
      perMessageDeflate: { threshold: 100 },
      message(ws, data) {
        const s = String(data);
        if (s === 'go') {
          ws.send('x'.repeat(99));                     // under the threshold
          ws.send('y'.repeat(100));                    // at it
          ws.send('z', { compress: true });            // forced
          ws.send('w'.repeat(5000), { compress: false }); // never
          ws.send(Buffer.alloc(3000, 7));              // binary, compressed
        }
      },
    });
    const { c, agreed } = await rawDeflate(port);
    expect(agreed).toBe('permessage-deflate');
    c.send({ opcode: 1, payload: deflatePayload('go'), rsv: 4 });
    const frames: Frame[] = [];
    for (let i = 0; i < 5; i++) frames.push(await c.readFrame());
    expect(frames.map((f) => f.rsv)).toEqual([0, 4, 4, 0, 4]);
    expect(frames.map((f) => f.opcode)).toEqual([1, 1, 1, 1, 2]);
    expect(frames.every((f) => f.fin)).toBe(true);
    const payloads = frames.map(inflateFrame);
    expect(payloads[0].toString()).toBe('x'.repeat(99));
    expect(payloads[1].toString()).toBe('y'.repeat(100));
    expect(payloads[2].toString()).toBe('z');
    expect(payloads[3].toString()).toBe('w'.repeat(5000));
    expect(payloads[4].equals(Buffer.alloc(3000, 7))).toBe(true);
    expect(frames[1].payload.length).toBeLessThan(20);
    expect(server.stats().perMessageDeflate!.messagesCompressed).toBe(3);
  });

  it('pings and close frames are never compressed, and uncompressed client messages still work', async () => {
    const { port } = await serve({ message: (ws, data) => (String(data) === 'ping' ? ws.ping('hello') : ws.send(data)) });
    const { c } = await rawDeflate(port);
    c.send({ opcode: 1, payload: 'ping' });
    const ping = await c.readFrame();
    expect(ping.opcode).toBe(9);
    expect(ping.rsv).toBe(0);
    c.send({ opcode: 1, payload: 'plain text, RSV1 clear' });
    expect(inflateFrame(await c.readFrame()).toString()).toBe('plain text, RSV1 clear');
  });

  it('a compressed message across fragments, with control frames between them', async () => {
    const { port } = await serve();
    const { c } = await rawDeflate(port);
    const text = jsonText(40_000);
    const z = deflatePayload(text);
    const cut = [0, 100, 5000, z.length];
    c.send({ opcode: 1, payload: z.subarray(cut[0], cut[1]), rsv: 4, fin: false });
    c.send({ opcode: 9, payload: 'between' });
    c.send({ opcode: 0, payload: z.subarray(cut[1], cut[2]), fin: false });
    c.send({ opcode: 0, payload: z.subarray(cut[2], cut[3]), fin: true });
    const pong = await c.readFrame();
    expect(pong.opcode).toBe(10);
    expect(inflateFrame(await c.readFrame()).toString()).toBe(text);
  });

  it('a deflate bomb closes with 1009 after at most maxPayload inflated', async () => {
    const { server, port } = await serve({ maxPayload: 256 * 1024 });
    const { c } = await rawDeflate(port);
    const bomb = deflatePayload(Buffer.alloc(64 * MiB)); // ~64 KiB on the wire
    expect(bomb.length).toBeLessThan(128 * 1024);
    c.send({ opcode: 2, payload: bomb, rsv: 4 });
    expect(await closeCode(c)).toBe(1009);
    const d = server.stats().perMessageDeflate!;
    expect(d.bytesAfterInflation).toBeLessThanOrEqual(256 * 1024 + 16 * 1024);
  });

  it('bad DEFLATE data, and compressed text that is not UTF-8, close with 1007', async () => {
    const { port } = await serve();
    const a = await rawDeflate(port);
    a.c.send({ opcode: 1, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), rsv: 4 });
    expect(await closeCode(a.c)).toBe(1007);
    const b = await rawDeflate(port);
    b.c.send({ opcode: 1, payload: deflatePayload(Buffer.from([0x61, 0xc3, 0x28, 0x62])), rsv: 4 });
    expect(await closeCode(b.c)).toBe(1007);
  });

  it('RSV1 on a control frame or a continuation closes with 1002; RSV1 without the extension too', async () => {
    const { port } = await serve();
    const a = await rawDeflate(port);
    a.c.send({ opcode: 9, payload: deflatePayload('x'), rsv: 4 });
    expect(await closeCode(a.c)).toBe(1002);
    const b = await rawDeflate(port);
    b.c.send({ opcode: 1, payload: deflatePayload('ab'), rsv: 4, fin: false });
    b.c.send({ opcode: 0, payload: Buffer.alloc(0), rsv: 4, fin: true });
    expect(await closeCode(b.c)).toBe(1002);
    const plain = await RawClient.open(port);
    clients.push(plain);
    plain.send({ opcode: 1, payload: deflatePayload('hi'), rsv: 4 });
    expect(await closeCode(plain)).toBe(1002);
  });

  it('a malformed offer is declined, not fatal; the next acceptable offer wins', async () => {
    const { port } = await serve();
    const a = await rawDeflate(port, 'permessage-deflate; server_max_window_bits=7');
    expect(a.agreed).toBe('');
    const b = await rawDeflate(port, 'permessage-deflate; foo=1, permessage-deflate; server_no_context_takeover');
    expect(b.agreed).toBe('permessage-deflate; server_no_context_takeover');
    const c = await rawDeflate(port, 'permessage-deflate; client_max_window_bits; client_max_window_bits');
    expect(c.agreed).toBe('');
  });

  it('publish: one compression per worker for every subscriber sharing a window; others as they agreed', async () => {
    const { server, port } = await serve({ threads: 2, open: (ws) => ws.subscribe('t') });
    const subs = [];
    for (let i = 0; i < 6; i++) subs.push(await rawDeflate(port, i === 5 ? 'x-other' : 'permessage-deflate'));
    await waitFor(() => server.subscribers('t') === 6);
    const text = jsonText(20_000);
    server.publish('t', text);
    for (const [i, s] of subs.entries()) {
      const f = await s.c.readFrame();
      expect(f.rsv).toBe(i === 5 ? 0 : 4);
      expect(inflateFrame(f).toString()).toBe(text);
    }
    // At most one per worker with deflate subscribers (2 workers), not one per subscriber (5).
    const compressed = server.stats().perMessageDeflate!.messagesCompressed;
    expect(compressed).toBeGreaterThanOrEqual(1);
    expect(compressed).toBeLessThanOrEqual(2);
    server.publish('t', text, { compress: false });
    for (const s of subs) expect((await s.c.readFrame()).rsv).toBe(0);
  });
});

// ------------------------------------------------------------------ memory budget

describe('maxMemory', () => {
  it('connections past the budget negotiate no context takeover both ways, and still compress', async () => {
    // About one inflate window (32 KiB + zlib's state + a 16 KiB chunk) fits.
    const { server, port } = await serve({ perMessageDeflate: { maxMemory: 80 * 1024 } });
    const first = await rawDeflate(port, 'permessage-deflate');
    expect(first.agreed).toBe('permessage-deflate');
    const second = await rawDeflate(port, 'permessage-deflate');
    expect(second.agreed).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    expect(server.stats().perMessageDeflate!.forcedNoContextTakeover).toBe(1);
    // The first connection's reservation comes back when it closes. (Before any
    // message: the shared streams that messages need count against the budget too.)
    first.c.socket.destroy();
    await waitFor(() => server.stats().connections.open === 1);
    await waitFor(() => server.stats().perMessageDeflate!.zlibReserved === 0);
    const third = await rawDeflate(port, 'permessage-deflate');
    expect(third.agreed).toBe('permessage-deflate');
    // The forced connection compresses both ways all the same.
    const text = jsonText(10_000);
    second.c.send({ opcode: 1, payload: deflatePayload(text), rsv: 4 });
    const back = await second.c.readFrame();
    expect(back.rsv).toBe(4);
    expect(inflateFrame(back).toString()).toBe(text);
  });
});

// ------------------------------------------------------------------ other clients

describe('other clients', () => {
  it("undici's WebSocket: agrees, and inflates what the server compresses (it sends uncompressed)", async () => {
    const { server, url } = await serve();
    const ws = new UndiciWebSocket(url);
    ws.binaryType = 'arraybuffer';
    const messages: (string | ArrayBuffer)[] = [];
    ws.addEventListener('message', (ev) => messages.push(ev.data as string | ArrayBuffer));
    await new Promise((r, j) => {
      ws.addEventListener('open', r);
      ws.addEventListener('error', j);
    });
    expect(ws.extensions).toContain('permessage-deflate');
    for (const size of [10, 5000, MiB, 16 * MiB]) {
      const text = jsonText(size);
      ws.send(text);
      await waitFor(() => messages.length > 0, 20_000, `echo of ${size}`);
      expect(sha(messages.shift() as string)).toBe(sha(text));
      const bin = Buffer.from(jsonText(size, 3));
      ws.send(bin);
      await waitFor(() => messages.length > 0, 20_000, `binary echo of ${size}`);
      expect(sha(Buffer.from(messages.shift() as ArrayBuffer))).toBe(sha(bin));
    }
    expect(server.stats().perMessageDeflate!.messagesCompressed).toBe(6);
    const closed = new Promise<number>((r) => ws.addEventListener('close', (ev) => r(ev.code)));
    ws.close(1000);
    expect(await closed).toBe(1000);
  });

  it("Python's websockets (deflate on by default): 10 B to 16 MiB both ways, compressed", async (ctx) => {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import websockets'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      console.warn('skipped: /usr/bin/python3 has no websockets module (Debian: apt-get install python3-websockets)');
      ctx.skip();
      return;
    }
    let serverExtensions = '';
    const { server, url } = await serve({ maxPayload: 32 * MiB, open: (ws) => (serverExtensions = ws.extensions) });
    const script = `
import asyncio, hashlib, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], max_size=None) as ws:
        print("extensions", [e.name for e in ws.extensions])
        for size in (10, 1000, 65536, 1048576, 16777216):
            text = ('{"n":%d,"text":"hello from python"},' % size) * (size // 30 + 1)
            text = text[:size]
            await ws.send(text)
            back = await ws.recv()
            print("text", size, back == text)
            data = text.encode() + b"\\x00\\xff"
            await ws.send(data)
            back = await ws.recv()
            print("binary", size, back == data)
    print("closed", ws.close_code)
asyncio.run(main())
`;
    const out = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn('/usr/bin/python3', ['-c', script, url]);
      let text = '';
      p.stdout.on('data', (d) => (text += d));
      p.stderr.on('data', (d) => (text += d));
      const k = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('close', (code) => {
        clearTimeout(k);
        resolve({ code, out: text });
      });
    });
    expect(out.out).toContain("extensions ['permessage-deflate']");
    for (const size of [10, 1000, 65536, 1048576, 16777216]) {
      expect(out.out).toContain(`text ${size} True`);
      expect(out.out).toContain(`binary ${size} True`);
    }
    expect(out.out).toContain('closed 1000');
    expect(out.code).toBe(0);
    expect(serverExtensions).toMatch(/^permessage-deflate/);
    const d = server.stats().perMessageDeflate!;
    // Both sides compress from 1 KiB here (python's websockets too): 65536 and up, text and binary.
    expect(d.messagesInflated).toBeGreaterThanOrEqual(6);
    expect(d.messagesCompressed).toBe(6);
  }, 90_000);

  it('over TLS: wss:// with deflate, ws client', async () => {
    const server = createServer({
      threads: 1,
      tls: { key: pki.server.key, cert: pki.server.cert },
      perMessageDeflate: true,
      ...echoOptions(),
    });
    servers.push(server);
    await server.listen(0, '127.0.0.1');
    const ws = await wsClient(`wss://localhost:${server.address()!.port}`, { ca: pki.ca });
    expect(ws.extensions).toBe('permessage-deflate');
    for (const size of [100, 100_000, 4 * MiB]) {
      const text = jsonText(size);
      ws.send(text);
      expect(sha((await nextMessage(ws)).data)).toBe(sha(text));
    }
    const s = server.stats();
    expect(s.tls!.handshakes).toBe(1);
    expect(s.perMessageDeflate!.messagesCompressed).toBe(2);
  });
});

// ------------------------------------------------------------------ options

describe('options', () => {
  const bad: [unknown, ErrorConstructor, RegExp][] = [
    ['yes', TypeError, /option 'perMessageDeflate' must be a boolean or an object/],
    [{ level: 10 }, RangeError, /perMessageDeflate\.level' must be between -1 and 9/],
    [{ level: 1.5 }, TypeError, /perMessageDeflate\.level' must be an integer/],
    [{ memLevel: 0 }, RangeError, /perMessageDeflate\.memLevel' must be between 1 and 9/],
    [{ serverMaxWindowBits: 7 }, RangeError, /perMessageDeflate\.serverMaxWindowBits' must be between 8 and 15/],
    [{ clientMaxWindowBits: 16 }, RangeError, /perMessageDeflate\.clientMaxWindowBits' must be between 8 and 15/],
    [{ clientMaxWindowBits: true }, TypeError, /perMessageDeflate\.clientMaxWindowBits' must be an integer/],
    [{ threshold: -1 }, RangeError, /perMessageDeflate\.threshold' must be between 0/],
    [{ maxMemory: 'big' }, TypeError, /perMessageDeflate\.maxMemory' must be an integer/],
    [{ serverNoContextTakeover: 1 }, TypeError, /perMessageDeflate\.serverNoContextTakeover' must be a boolean/],
    [{ zlibDeflateOptions: { level: 1 } }, TypeError, /perMessageDeflate\.zlibDeflateOptions' is not supported: use 'perMessageDeflate\.level'/],
    [{ concurrencyLimit: 10 }, TypeError, /perMessageDeflate\.concurrencyLimit' is not supported/],
    [{ windowBits: 10 }, TypeError, /unknown option 'perMessageDeflate\.windowBits'/],
  ];
  for (const [value, type, message] of bad) {
    it(`perMessageDeflate: ${JSON.stringify(value)} throws a ${type.name}`, () => {
      let err: unknown;
      try {
        createServer({ perMessageDeflate: value as ServerOptions['perMessageDeflate'] });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(type);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('send and publish check the compress option', async () => {
    let socket: WebSocket | undefined;
    const { server, url } = await serve({ open: (ws) => (socket = ws) });
    await wsClient(url);
    await waitFor(() => socket !== undefined);
    expect(() => socket!.send('x', { compress: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => socket!.send('x', { compress: 'yes' as unknown as boolean })).toThrow(/send: options\.compress must be a boolean/);
    socket!.subscribe('t');
    expect(() => server.publish('t', 'x', { compress: 1 as unknown as boolean })).toThrow(/publish: options\.compress must be a boolean/);
  });
});
