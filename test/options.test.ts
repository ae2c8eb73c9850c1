// Option validation (each wrong option throws an error naming it) and the
// behaviour of the options that shape handshakes and messages.
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, type ServerOptions, type WebSocket } from '../src/index';
import { closeAllClients, closeAllServers, connect, destroyAllRaw, expectRefused, openRaw, serve } from './helpers/clients';
import { RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, notBefore, waitFor } from './helpers/server';

afterEach(async () => {
  destroyAllRaw();
  await closeAllClients();
  await closeAllServers();
});

/** createServer with options as plain JS could pass them. */
const create = (options: unknown) => () => createServer(options as ServerOptions);

describe('invalid options', () => {
  const cases: [string, unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ['unknown key', { thread: 2 }, TypeError, /unknown option 'thread'/],
    ['unknown key (camel case typo)', { maxpayload: 10 }, TypeError, /'maxpayload'/],
    ['threads -1', { threads: -1 }, RangeError, /'threads'/],
    ['threads 1.5', { threads: 1.5 }, TypeError, /'threads'/],
    ["threads 'x'", { threads: 'x' }, TypeError, /'threads'/],
    ['threads NaN', { threads: NaN }, TypeError, /'threads'/],
    ['threads 10000', { threads: 10_000 }, RangeError, /'threads'/],
    ["path 'x'", { path: 'x' }, TypeError, /'path'/],
    ['path 5', { path: 5 }, TypeError, /'path'/],
    ["path '/a b'", { path: '/a b' }, TypeError, /'path'/],
    ["path '/a?b'", { path: '/a?b' }, TypeError, /'path'/],
    ["origins 'x'", { origins: 'x' }, TypeError, /'origins'/],
    ['origins [1]', { origins: [1] }, TypeError, /'origins\[0\]'/],
    ["origins ['']", { origins: [''] }, TypeError, /'origins\[0\]'/],
    ["protocols ['bad token']", { protocols: ['bad token'] }, TypeError, /'protocols\[0\]'/],
    ["protocols ['ok', 'a,b']", { protocols: ['ok', 'a,b'] }, TypeError, /'protocols\[1\]'/],
    ["protocols 'x'", { protocols: 'x' }, TypeError, /'protocols'/],
    ['maxPayload 0', { maxPayload: 0 }, RangeError, /'maxPayload'/],
    ['maxPayload -1', { maxPayload: -1 }, RangeError, /'maxPayload'/],
    ['maxPayload 2**31', { maxPayload: 2 ** 31 }, RangeError, /'maxPayload'/],
    ["maxPayload 'x'", { maxPayload: 'x' }, TypeError, /'maxPayload'/],
    ['maxPayload Infinity', { maxPayload: Infinity }, TypeError, /'maxPayload'/],
    ['handshakeTimeout 0', { handshakeTimeout: 0 }, RangeError, /'handshakeTimeout'/],
    ["handshakeTimeout 'x'", { handshakeTimeout: 'x' }, TypeError, /'handshakeTimeout'/],
    ['closeTimeout -5', { closeTimeout: -5 }, RangeError, /'closeTimeout'/],
    ['backlog 0', { backlog: 0 }, RangeError, /'backlog'/],
    ['backlog 70000', { backlog: 70_000 }, RangeError, /'backlog'/],
    ["message 'x'", { message: 'x' }, TypeError, /'message'/],
    ['open 5', { open: 5 }, TypeError, /'open'/],
    ['close {}', { close: {} }, TypeError, /'close'/],
    ['upgrade true', { upgrade: true }, TypeError, /'upgrade'/],
    ["http 'x'", { http: 'x' }, TypeError, /'http'/],
    ['error null', { error: null }, TypeError, /'error'/],
    ['options null', null, TypeError, /options must be an object/],
    ['options 5', 5, TypeError, /options must be an object/],
    ["options 'x'", 'x', TypeError, /options must be an object/],
    ['options []', [], TypeError, /options must be an object/],
  ];

  it.each(cases)('%s throws', (_name, options, type, message) => {
    expect(create(options)).toThrow(type);
    expect(create(options)).toThrow(message);
  });

  it('accepts the limits of each range', () => {
    for (const options of [
      { threads: 0 },
      { threads: 1 },
      { threads: 256 },
      { maxPayload: 1 },
      { maxPayload: 1024 * 1024 * 1024 },
      { handshakeTimeout: 1 },
      { closeTimeout: 1 },
      { backlog: 1 },
      { backlog: 65535 },
      { path: '/' },
      { origins: [] },
      { protocols: [] },
      {},
      undefined,
    ]) {
      expect(create(options)).not.toThrow();
    }
  });
});

describe('the limits of each range, in use', () => {
  // Accepting an option is not serving with it: each extreme runs a real
  // server and carries messages.
  const MiB = 1024 * 1024;
  const GiB = 1024 * MiB;

  it('maxPayload 1 GiB: a 20 MiB message (over the 16 MiB default) is echoed whole; a frame declaring 1 GiB + 1 byte closes with 1009', async () => {
    const closes: number[] = [];
    const { url, port } = await serve({ threads: 1, maxPayload: GiB, ...echoOptions(), close: (_ws, code) => void closes.push(code) });
    const c = await connect('ws', url);
    const big = Buffer.alloc(20 * MiB);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
    c.send(big);
    const echoed = await c.next(20_000);
    expect(echoed.binary).toBe(true);
    expect((echoed.data as Buffer).length).toBe(big.length);
    expect(Buffer.compare(echoed.data as Buffer, big)).toBe(0);
    c.send('and a small one');
    expect((await c.next()).data).toBe('and a small one');
    c.close(1000);
    expect((await c.closed).code).toBe(1000);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(closes).toEqual([1000]);

    // The limit still holds at the top of the range (no payload is sent: the
    // header alone must be refused).
    const raw = await openRaw(port);
    raw.send({ opcode: 0x2, declaredLength: BigInt(GiB) + 1n });
    expect((await raw.readClose()).code).toBe(1009);
    // After reassembly too: 16 bytes, then a continuation that would make 1 GiB + 1.
    const frag = await openRaw(port);
    frag.send({ opcode: 0x2, fin: false, payload: Buffer.alloc(16) });
    frag.send({ opcode: 0x0, declaredLength: BigInt(GiB) - 15n });
    expect((await frag.readClose()).code).toBe(1009);
  });

  it('maxPayload 1: a 1-byte message is echoed, a 2-byte one closes with 1009', async () => {
    const { url } = await serve({ threads: 1, maxPayload: 1, ...echoOptions() });
    const c = await connect('ws', url);
    c.send('x');
    expect((await c.next()).data).toBe('x');
    c.send(Buffer.from([1]));
    expect((await c.next()).data).toEqual(Buffer.from([1]));
    c.send('xy');
    expect((await c.closed).code).toBe(1009);
  });

  it('threads 256: 256 workers share the port, and 300 clients spread over them each get their echo and close cleanly', async () => {
    const CLIENTS = 300;
    const sockets: WebSocket[] = [];
    const closes: number[] = [];
    const { server, url } = await serve({
      threads: 256,
      ...echoOptions(),
      open: (ws) => void sockets.push(ws),
      close: (_ws, code) => void closes.push(code),
    });
    expect(server.threads).toBe(256);
    expect(server.stats().workers).toHaveLength(256);
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect('ws', url)));
    await waitFor(() => sockets.length === CLIENTS, 10_000, `${CLIENTS} opens`);
    await Promise.all(
      clients.map(async (c, i) => {
        c.send(`client ${i}`);
        expect((await c.next()).data).toBe(`client ${i}`);
      }),
    );
    // Spread over the workers (SO_REUSEPORT's hash, or round-robin with the
    // acceptor hand-off), the high-numbered ones included: with 300 clients on
    // 256 workers, all of them on the lower half would be a 1 in 2^300 chance.
    const used = new Set(sockets.map((ws) => ws._worker));
    expect(used.size).toBeGreaterThan(16);
    expect(Math.max(...used)).toBeGreaterThanOrEqual(128);
    expect(Math.max(...used)).toBeLessThan(256);
    const perWorker = server.stats().workers.map((w) => w.connectionsOpen);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    for (const w of used) expect(perWorker[w]).toBe(sockets.filter((ws) => ws._worker === w).length);
    for (const c of clients) c.close(1000);
    const infos = await Promise.all(clients.map((c) => c.closed));
    expect(infos.map((i) => i.code)).toEqual(Array(CLIENTS).fill(1000));
    await waitFor(() => closes.length === CLIENTS, 10_000, 'every close handler');
    expect(closes).toEqual(Array(CLIENTS).fill(1000));
    expect(server.connections).toBe(0);
    await server.close();
  }, 60_000);
});

describe('path', () => {
  it("path '/ws' accepts only /ws (with any query); other paths get 404", async () => {
    const { url, port } = await serve({ threads: 1, path: '/ws', ...echoOptions() });
    const ok = await connect('ws', `${url}/ws`);
    ok.send('in');
    expect((await ok.next()).data).toBe('in');
    const withQuery = await connect('undici', `${url}/ws?token=1`);
    withQuery.send('q');
    expect((await withQuery.next()).data).toBe('q');
    for (const p of ['/', '/wsx', '/ws/', '/other', '/WS']) {
      const res = await expectRefused(`${url}${p}`);
      expect(res.status, p).toBe(404);
    }
    const raw = await RawClient.connect(port);
    try {
      raw.write(upgradeRequest('/nope'));
      const res = await raw.readHttp();
      expect(res.status).toBe(404);
      await raw.waitEnd();
    } finally {
      raw.destroy();
    }
  });
});

describe('maxPayload', () => {
  it('a message one byte over maxPayload closes with 1009; one at the limit passes', async () => {
    const closes: number[] = [];
    const { url } = await serve({
      threads: 1,
      maxPayload: 1000,
      ...echoOptions(),
      close(_ws, code) {
        closes.push(code);
      },
    });
    const c = await connect('ws', url);
    c.send(Buffer.alloc(1000, 1));
    expect(((await c.next()).data as Buffer).length).toBe(1000);
    c.send('y'.repeat(1000));
    expect(((await c.next()).data as string).length).toBe(1000);
    c.send(Buffer.alloc(1001, 2));
    expect((await c.closed).code).toBe(1009);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(closes[0]).toBe(1009);
  });

  it('applies after reassembly of fragments', async () => {
    const { url } = await serve({ threads: 1, maxPayload: 1000, ...echoOptions() });
    const c = await connect('ws', url);
    const sock = c.raw as WS;
    sock.send(Buffer.alloc(600), { fin: false });
    sock.send(Buffer.alloc(401), { fin: true });
    expect((await c.closed).code).toBe(1009);
  });

  it('undici sees 1009 too', async () => {
    const { url } = await serve({ threads: 2, maxPayload: 1000, ...echoOptions() });
    const c = await connect('undici', url);
    c.send('z'.repeat(1001));
    expect((await c.closed).code).toBe(1009);
  });
});

describe('origins', () => {
  it('accepts listed origins (case-insensitively) and answers 403 to others and to none', async () => {
    const { url } = await serve({ threads: 1, origins: ['https://good.example', 'http://localhost:3000'], ...echoOptions() });
    const a = await connect('ws', url, [], { origin: 'https://good.example' });
    a.send('a');
    expect((await a.next()).data).toBe('a');
    const b = await connect('ws', url, [], { origin: 'HTTPS://GOOD.EXAMPLE' });
    b.send('b');
    expect((await b.next()).data).toBe('b');
    await connect('ws', url, [], { origin: 'http://localhost:3000' });
    expect((await expectRefused(url, [], { origin: 'https://evil.example' })).status).toBe(403);
    expect((await expectRefused(url, [], { origin: 'https://good.example.evil' })).status).toBe(403);
    expect((await expectRefused(url)).status).toBe(403);
  });
});

describe('handshakeTimeout', () => {
  it('a client that does not finish its handshake in time gets 408, not before handshakeTimeout', async () => {
    const { port, url } = await serve({ threads: 1, handshakeTimeout: 300, ...echoOptions() });
    const t0 = Date.now(); // before the connection exists: the server's timer starts later
    const raw = await RawClient.connect(port);
    try {
      raw.write('GET / HTTP/1.1\r\nHost: x\r\n');
      const res = await raw.readHttp(3000);
      const elapsed = Date.now() - t0;
      expect(res.status).toBe(408);
      expect(elapsed).toBeGreaterThanOrEqual(notBefore(300));
      expect(elapsed).toBeLessThan(3000);
    } finally {
      raw.destroy();
    }
    // Completed handshakes are not affected later on.
    const c = await connect('ws', url);
    await new Promise((r) => setTimeout(r, 200));
    c.send('alive');
    expect((await c.next()).data).toBe('alive');
  });
});

describe('closeTimeout', () => {
  it('drops a peer that never answers our Close after closeTimeout, not before', async () => {
    const closes: number[] = [];
    const { port } = await serve({
      threads: 1,
      closeTimeout: 400,
      open(ws) {
        ws.close(4000, 'go');
      },
      close(_ws, code) {
        closes.push(code);
      },
    });
    // Before the connection exists: the timer starts when the server sends its Close.
    const t0 = Date.now();
    const raw = await RawClient.open(port);
    try {
      const close = await raw.readClose();
      expect(close.code).toBe(4000);
      // Never answer: the server drops the connection after ~400 ms.
      await raw.waitEnd(3000);
      const elapsed = Date.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(notBefore(400));
      expect(elapsed).toBeLessThan(3000);
      await waitFor(() => closes.length === 1, 2000, 'the close handler');
      expect(closes[0]).toBe(4000);
    } finally {
      raw.destroy();
    }
  });
});
