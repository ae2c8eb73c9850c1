// Connection and message limits with real sockets: maxConnections (503),
// maxConnectionsPerIp (429, other loopback addresses unaffected), a connection
// flood, and maxMessagesPerSecond (Close 1008 after the burst).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAllClients, closeAllServers, connect, destroyAllRaw, expectRefused, openRaw, serve, sleep, trackRaw, type TestClient } from './helpers/clients';
import { closePayload, encodeFrame, RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';

const sockets = new Set<net.Socket>();
afterEach(async () => {
  destroyAllRaw();
  for (const s of sockets) s.destroy();
  sockets.clear();
  await closeAllClients();
  await closeAllServers();
});

const AT_LIMIT = { status: 503, body: 'server is at its connection limit\n' };
const PER_IP = { status: 429, body: 'too many connections from this address\n' };

describe('maxConnections', () => {
  it('the 11th handshake gets 503 with the reason; after one closes a new one succeeds', async () => {
    const { server, url } = await serve({ ...echoOptions(), maxConnections: 10 });
    const clients = await Promise.all(Array.from({ length: 10 }, () => connect('ws', url)));
    await waitFor(() => server.connections === 10, 5000, 'ten connections');
    expect(await expectRefused(url)).toMatchObject(AT_LIMIT);
    // Refused ones do not count: still refused, still 10 open.
    expect(await expectRefused(url)).toMatchObject(AT_LIMIT);
    expect(server.connections).toBe(10);

    clients[0].close();
    await clients[0].closed;
    await waitFor(() => server.connections === 9, 5000, 'the close to be seen');
    const again = await connect('ws', url);
    again.send('in again');
    expect((await again.next()).data).toBe('in again');
    expect(await expectRefused(url)).toMatchObject(AT_LIMIT);
    const s = server.stats();
    expect(s.handshakes.rejected).toEqual({ 503: 3 });
    expect(s.handshakes.accepted).toBe(11);
    expect(s.connections.open).toBe(10);
  });

  it('two threads share the limit: 10 open across both workers, the 11th is refused', async () => {
    const { server, url } = await serve({ ...echoOptions(), threads: 2, maxConnections: 10 });
    const clients: TestClient[] = await Promise.all(Array.from({ length: 10 }, () => connect('ws', url)));
    await waitFor(() => server.stats().connections.open === 10, 5000, 'ten connections');
    // Connections are spread over the workers (by SO_REUSEPORT's hash): make
    // sure both hold some (close and reconnect until they do).
    for (let tries = 0; tries < 60 && server.stats().workers.some((w) => w.connectionsOpen === 0); tries++) {
      const busiest = server.stats().workers.findIndex((w) => w.connectionsOpen === 10);
      expect(busiest).toBeGreaterThanOrEqual(0);
      const victim = clients.shift()!;
      victim.close();
      await victim.closed;
      await waitFor(() => server.stats().connections.open === 9, 5000, 'nine connections');
      clients.push(await connect('ws', url));
      await waitFor(() => server.stats().connections.open === 10, 5000, 'ten connections');
    }
    const workers = server.stats().workers;
    expect(workers).toHaveLength(2);
    expect(workers[0].connectionsOpen).toBeGreaterThan(0);
    expect(workers[1].connectionsOpen).toBeGreaterThan(0);
    expect(workers[0].connectionsOpen + workers[1].connectionsOpen).toBe(10);

    // Several attempts, so that both workers see some of them.
    for (let i = 0; i < 6; i++) expect(await expectRefused(url)).toMatchObject(AT_LIMIT);
    expect(server.stats().connections.open).toBe(10);
    expect(server.stats().handshakes.rejected['503']).toBe(6);
    for (const c of clients) {
      c.send('x');
      expect((await c.next()).data).toBe('x');
    }
  });

  it('a flood of 500 connections at once with maxConnections 100: exactly 100 open, 400 get 503, the server serves afterwards', async () => {
    const { server, url, port } = await serve({ ...echoOptions(), threads: 2, maxConnections: 100 });
    const attempt = async (): Promise<{ status: number; body: string }> => {
      const r = trackRaw(await RawClient.connect(port));
      r.write(upgradeRequest('/'));
      const res = await r.readHttp(10_000);
      return { status: res.status, body: res.body };
    };
    const results = await Promise.all(Array.from({ length: 500 }, attempt));
    const byStatus = new Map<number, number>();
    for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    expect(Object.fromEntries(byStatus)).toEqual({ 101: 100, 503: 400 });
    for (const r of results.filter((x) => x.status === 503)) expect(r).toEqual(AT_LIMIT);
    await waitFor(() => server.connections === 100, 5000, '100 open connections');
    let s = server.stats();
    expect(s.connections.open).toBe(100);
    expect(s.handshakes.accepted).toBe(100);
    expect(s.handshakes.rejected).toEqual({ 503: 400 });

    // All go: the places are free again and the server still serves.
    destroyAllRaw();
    await waitFor(() => server.connections === 0, 10_000, 'every connection to close');
    const clients = await Promise.all(Array.from({ length: 100 }, () => connect('ws', url)));
    await Promise.all(
      clients.map(async (c, i) => {
        c.send(`after the flood ${i}`);
        expect((await c.next()).data).toBe(`after the flood ${i}`);
      }),
    );
    expect(await expectRefused(url)).toMatchObject(AT_LIMIT);
    s = server.stats();
    expect(s.handshakes.rejected).toEqual({ 503: 401 });
    expect(s.connections.open).toBe(100);
  }, 60_000);
});

describe('maxConnections and the upgrade hook', () => {
  /** A handshake whose client keeps its side of the TCP connection open after the answer. */
  function lingering(port: number, urlPath: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      sockets.add(s);
      let head = '';
      s.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) resolve(Number(head.split(' ')[1]));
      });
      s.once('error', reject);
      s.write(upgradeRequest(urlPath));
    });
  }

  it('handshakes the upgrade hook refuses hold no place: with 2 refused clients still connected, 2 others open', async () => {
    const { server, url, port } = await serve({
      ...echoOptions(),
      maxConnections: 2,
      upgrade: (req) => (req.url === '/refused' ? { accept: false, status: 401, body: 'no' } : undefined),
    });
    expect(await lingering(port, '/refused')).toBe(401);
    expect(await lingering(port, '/refused')).toBe(401);
    expect(server.stats().connections.open).toBe(0);
    // Nothing is open: both places are free.
    const a = await connect('ws', url);
    const b = await connect('ws', url);
    a.send('a');
    b.send('b');
    expect((await a.next()).data).toBe('a');
    expect((await b.next()).data).toBe('b');
    expect(await expectRefused(url)).toMatchObject(AT_LIMIT);
  });
});

describe('maxConnectionsPerIp', () => {
  it('the 4th connection from 127.0.0.1 gets 429; 127.0.0.2 is unaffected; a closed one frees its place', async () => {
    const { server, url } = await serve({ ...echoOptions(), maxConnectionsPerIp: 3 });
    const local = await Promise.all(Array.from({ length: 3 }, () => connect('ws', url, undefined, { localAddress: '127.0.0.1' })));
    expect(await expectRefused(url, [], { localAddress: '127.0.0.1' })).toMatchObject(PER_IP);

    // Other addresses have their own count.
    const other = await connect('ws', url, undefined, { localAddress: '127.0.0.2' });
    other.send('from .2');
    expect((await other.next()).data).toBe('from .2');
    const more = await Promise.all([
      connect('ws', url, undefined, { localAddress: '127.0.0.2' }),
      connect('ws', url, undefined, { localAddress: '127.0.0.2' }),
      connect('ws', url, undefined, { localAddress: '127.0.0.3' }),
    ]);
    expect(more).toHaveLength(3);
    expect(await expectRefused(url, [], { localAddress: '127.0.0.2' })).toMatchObject(PER_IP);
    expect(server.connections).toBe(7);

    local[0].close();
    await local[0].closed;
    await waitFor(() => server.connections === 6, 5000, 'the close to be seen');
    const back = await connect('ws', url, undefined, { localAddress: '127.0.0.1' });
    back.send('back');
    expect((await back.next()).data).toBe('back');
    expect(server.stats().handshakes.rejected).toEqual({ 429: 2 });
  });

  it('with both limits, the per-address one answers 429 and the global one 503', async () => {
    const { url } = await serve({ ...echoOptions(), threads: 2, maxConnections: 4, maxConnectionsPerIp: 2 });
    await connect('ws', url, undefined, { localAddress: '127.0.0.1' });
    await connect('ws', url, undefined, { localAddress: '127.0.0.1' });
    expect(await expectRefused(url, [], { localAddress: '127.0.0.1' })).toMatchObject(PER_IP);
    await connect('ws', url, undefined, { localAddress: '127.0.0.2' });
    await connect('ws', url, undefined, { localAddress: '127.0.0.3' });
    expect(await expectRefused(url, [], { localAddress: '127.0.0.4' })).toMatchObject(AT_LIMIT);
  });
});

describe('maxMessagesPerSecond', () => {
  it("200 messages at once with a limit of 50: the burst is echoed, then Close 1008 'message rate limit exceeded'", async () => {
    const closes: { code: number; reason: string }[] = [];
    const received: string[] = [];
    const { server, port } = await serve({
      maxMessagesPerSecond: 50,
      message(ws, data) {
        received.push(String(data));
        ws.send(data);
      },
      close: (_ws, code, reason) => void closes.push({ code, reason }),
    });
    const raw = await openRaw(port);
    raw.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => encodeFrame({ opcode: 0x1, payload: `m${i}` }))));
    const close = await raw.readClose(5000);
    expect(close.code).toBe(1008);
    expect(close.reason).toBe('message rate limit exceeded');
    const echoed = close.before.map((f) => f.payload.toString());
    // The burst is one second's worth: about 50 (a few more may have accrued meanwhile).
    expect(echoed.length).toBeGreaterThanOrEqual(50);
    expect(echoed.length).toBeLessThan(60);
    // The messages before the limit, all of them, in order, and nothing after it.
    expect(echoed).toEqual(Array.from({ length: echoed.length }, (_, i) => `m${i}`));
    expect(received).toEqual(echoed);
    raw.send({ opcode: 0x8, payload: closePayload(1008) });
    await raw.waitEnd(5000);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(closes[0].code).toBe(1008);
    const s = server.stats();
    expect(s.rateLimitCloses).toBe(1);
    expect(s.closeCodes.sent).toEqual({ 1008: 1 });
    expect(s.messages.out).toBe(echoed.length);
  });

  it('a client sending 20 messages a second (limit 50) stays open for 3 s, well past its burst', async () => {
    const { server, url } = await serve({ ...echoOptions(), maxMessagesPerSecond: 50 });
    const c = await connect('ws', url);
    for (let i = 0; i < 60; i++) {
      c.send(`steady ${i}`);
      expect((await c.next()).data).toBe(`steady ${i}`);
      await sleep(50);
    }
    expect(c.isClosed).toBe(false);
    expect(server.stats().rateLimitCloses).toBe(0);
    expect(server.connections).toBe(1);
  });

  it('the limit is per connection: another client is not affected by one that is closed for its rate', async () => {
    const { server, url, port } = await serve({ ...echoOptions(), maxMessagesPerSecond: 50 });
    const calm = await connect('ws', url);
    const raw = await openRaw(port);
    raw.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => encodeFrame({ opcode: 0x1, payload: `m${i}` }))));
    expect((await raw.readClose(5000)).code).toBe(1008);
    for (let i = 0; i < 40; i++) calm.send(`calm ${i}`);
    for (let i = 0; i < 40; i++) expect((await calm.next()).data).toBe(`calm ${i}`);
    expect(calm.isClosed).toBe(false);
    expect(server.stats().rateLimitCloses).toBe(1);
  });
});
