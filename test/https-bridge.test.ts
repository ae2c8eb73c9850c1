// The bridged mode: corews on a Node https.Server (attach and handleUpgrade). Node's TLS socket
// is piped over a socketpair to a native worker, which still frames, validates and fans out.
// Real wss:// clients (ws and undici with the test CA, raw TLS for malformed frames) check echo
// (1 MiB without corruption), fan-out, close codes both ways, 1002 on protocol violations,
// backpressure end to end, HTTPS routes beside it, close() leaving the https server running, no
// descriptor left behind, the client's address, and the corews/ws layer with an https server.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import { Agent, WebSocket as UndiciWebSocket } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, SendStatus, type Server, type ServerOptions, type WebSocket } from '../src/index';
import { WebSocketServer, type WebSocket as WsLayerSocket } from '../src/ws/index';
import { closePayload, RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';
import { testPki } from './helpers/tls-certs';

const pki = testPki();
const servers: Server<any>[] = [];
const httpsServers: https.Server[] = [];
const clients: WS[] = [];
const sockets: tls.TLSSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close({ timeout: 500 }).catch(() => {})));
  await Promise.all(httpsServers.splice(0).map((h) => new Promise((r) => {
    h.closeAllConnections();
    h.close(r);
  })));
});

/** An https server with a route, listening on loopback. */
async function httpsApp(): Promise<{ app: https.Server; port: number }> {
  const app = https.createServer({ key: pki.server.key, cert: pki.server.cert }, (req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`route ${req.url}`);
  });
  httpsServers.push(app);
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  return { app, port: (app.address() as net.AddressInfo).port };
}

function corews<U = unknown>(options: ServerOptions<U> = {}): Server<U> {
  const s = createServer<U>({ threads: 2, ...echoOptions<U>(), ...options });
  servers.push(s);
  return s;
}

function wss(url: string, opts: WS.ClientOptions = {}): Promise<WS> {
  return new Promise((resolve, reject) => {
    const ws = new WS(url, { ca: pki.ca, ...opts });
    clients.push(ws);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws: WS): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (d, binary) => resolve({ data: d as Buffer, binary })));
}

function closed(ws: WS): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
}

function getRoute(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, ca: pki.ca, servername: 'localhost', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** A raw WebSocket client over TLS, upgraded. */
async function rawTls(port: number, path = '/'): Promise<RawClient> {
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const sock = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.ca }, () => resolve(sock));
    sock.once('error', reject);
  });
  sockets.push(s);
  const c = RawClient.wrap(s);
  c.write(upgradeRequest(path));
  const res = await c.readHttp();
  expect(res.status).toBe(101);
  return c;
}

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

describe('https.Server, bridged', () => {
  it('attach: ws and undici over wss:// echo text and binary, 1 MiB intact; HTTPS routes answer on the same port', async () => {
    const { app, port } = await httpsApp();
    const server = corews();
    server.attach(app, { path: '/ws' });
    expect(await getRoute(port, '/before')).toBe('route /before');
    const a = await wss(`wss://localhost:${port}/ws`);
    a.send('hello');
    expect(await next(a)).toEqual({ data: Buffer.from('hello'), binary: false });
    const big = crypto.randomBytes(1 << 20);
    a.send(big);
    const back = await next(a);
    expect(back.binary).toBe(true);
    expect(back.data.length).toBe(big.length);
    expect(crypto.createHash('sha256').update(back.data).digest('hex')).toBe(crypto.createHash('sha256').update(big).digest('hex'));
    const text = 'é'.repeat(300_000); // 600 KB of two-byte UTF-8 across many TLS records
    a.send(text);
    expect(String((await next(a)).data)).toBe(text);

    const dispatcher = new Agent({ connect: { ca: pki.ca } });
    const u = new UndiciWebSocket(`wss://localhost:${port}/ws`, { dispatcher } as ConstructorParameters<typeof UndiciWebSocket>[1]);
    u.binaryType = 'arraybuffer';
    const got: (string | ArrayBuffer)[] = [];
    u.addEventListener('message', (ev) => got.push(ev.data as string | ArrayBuffer));
    await new Promise((resolve, reject) => {
      u.addEventListener('open', resolve);
      u.addEventListener('error', () => reject(new Error('undici failed to connect')));
    });
    u.send('from undici');
    const bytes = crypto.randomBytes(200_000);
    u.send(bytes);
    await waitFor(() => got.length === 2);
    expect(got[0]).toBe('from undici');
    expect(Buffer.from(got[1] as ArrayBuffer).equals(bytes)).toBe(true);
    expect(server.connections).toBe(2);
    expect(await getRoute(port, '/during')).toBe('route /during');
    u.close(1000);
    await waitFor(() => server.connections === 1);
    await dispatcher.close();
    expect(server.stats().connections.open).toBe(1);
  });

  it("handleUpgrade: the upgrade hook and ws.remoteAddress see the client's address; publish fans out to every subscriber", async () => {
    const { app, port } = await httpsApp();
    const seen: string[] = [];
    const opened: WebSocket<unknown>[] = [];
    const server = corews({
      upgrade: (req) => void seen.push(req.remoteAddress),
      open: (ws) => {
        opened.push(ws);
        ws.subscribe('room');
      },
      message: (ws, data) => ws.publish('room', data),
    });
    app.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
      expect(server.handleUpgrade(req, socket, head)).toBe(true);
    });
    const peers = await Promise.all([1, 2, 3].map(() => wss(`wss://localhost:${port}/`)));
    await waitFor(() => server.subscribers('room') === 3);
    expect(seen).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    expect(opened.map((ws) => ws.remoteAddress)).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    // ws.publish skips the sender; server.publish reaches all.
    const others = [next(peers[1]), next(peers[2])];
    peers[0].send('to the room');
    expect((await Promise.all(others)).map((m) => String(m.data))).toEqual(['to the room', 'to the room']);
    const all = peers.map((p) => next(p));
    expect(server.publish('room', Buffer.alloc(70_000, 7))).toBe(true);
    for (const m of await Promise.all(all)) expect(m.data.equals(Buffer.alloc(70_000, 7))).toBe(true);
  });

  it("maxConnectionsPerIp counts the TLS client's address (the socketpair has none)", async () => {
    const { app, port } = await httpsApp();
    const server = corews({ maxConnectionsPerIp: 1 });
    server.attach(app);
    await wss(`wss://localhost:${port}/`);
    const second = new WS(`wss://localhost:${port}/`, { ca: pki.ca });
    clients.push(second);
    second.on('error', () => {}); // refused: terminate() in afterEach reports it
    const status = await new Promise<number>((resolve) => {
      second.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      second.once('open', () => resolve(101));
    });
    expect(status).toBe(429);
  });

  it('close codes both ways: the client\'s reaches the close handler, the server\'s reaches the client', async () => {
    const { app, port } = await httpsApp();
    const codes: [number, string][] = [];
    const server = corews({
      message: (ws, data) => {
        if (String(data) === 'close me') ws.close(4002, 'server says bye');
      },
      close: (_ws, code, reason) => void codes.push([code, reason]),
    });
    server.attach(app);
    const a = await wss(`wss://localhost:${port}/`);
    const aClosed = closed(a);
    a.close(4001, 'client says bye');
    expect((await aClosed).code).toBe(4001); // echoed (corews echoes the code, not the reason)
    await waitFor(() => codes.length === 1);
    expect(codes[0]).toEqual([4001, 'client says bye']);
    const b = await wss(`wss://localhost:${port}/`);
    const bClosed = closed(b);
    b.send('close me');
    expect(await bClosed).toEqual({ code: 4002, reason: 'server says bye' });
    await waitFor(() => codes.length === 2);
    expect(codes[1]).toEqual([4002, 'server says bye']);
    await waitFor(() => server.connections === 0);
  });

  it('a frame with RSV bits, or an unmasked one, over the TLS connection closes with 1002', async () => {
    const { app, port } = await httpsApp();
    const server = corews();
    server.attach(app);
    for (const spec of [{ opcode: 0x1, payload: 'rsv', rsv: 0x4 }, { opcode: 0x1, payload: 'bare', mask: false }]) {
      const c = await rawTls(port);
      c.send({ opcode: 0x1, payload: 'fine first' });
      expect(String((await c.readFrame()).payload)).toBe('fine first');
      c.send(spec);
      const f = await c.readFrame();
      expect(f.opcode).toBe(0x8);
      expect(f.payload.readUInt16BE(0)).toBe(1002);
      c.send({ opcode: 0x8, payload: closePayload(1002) });
      await waitFor(() => c.socket.destroyed || c.socket.readableEnded);
    }
    expect(server.stats().closeCodes.sent['1002']).toBe(2);
    await waitFor(() => server.connections === 0);
  });

  it('a client that stops reading: backpressure reaches the worker through the bridge (sends are dropped past maxBackpressure, Node buffers little); what was accepted arrives intact', async () => {
    const { app, port } = await httpsApp();
    const maxBackpressure = 1 << 20;
    let target: WebSocket<unknown> | undefined;
    const server = corews({ threads: 1, maxBackpressure, backpressurePolicy: 'drop', open: (ws) => void (target = ws) });
    let outer: net.Socket | undefined;
    app.on('upgrade', (_req, socket: net.Socket) => void (outer = socket));
    server.attach(app);
    const c = await rawTls(port);
    await waitFor(() => target !== undefined);
    c.socket.pause();
    const chunk = 64 * 1024;
    const total = 2048; // 128 MiB offered
    const accepted: number[] = []; // the fill byte of each message accepted
    let dropped = 0;
    let nodeBuffered = 0;
    const message = Buffer.alloc(chunk);
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < total; i++) {
      const status = target!.send(message.fill(i & 0xff)); // send() copies: one buffer serves every message
      if (status === SendStatus.DROPPED) dropped++;
      else accepted.push(i & 0xff);
      nodeBuffered = Math.max(nodeBuffered, outer!.writableLength);
      if (i % 16 === 15) await new Promise((r) => setTimeout(r, 1)); // let the worker and Node's pipe run
    }
    expect(target!.bufferedAmount).toBeLessThanOrEqual(maxBackpressure + chunk + 16);
    // Loopback TCP buffers and the socketpair hold some (about 5 MiB were accepted here); a bridge
    // without backpressure lets Node's TLS socket buffer what the worker writes, and the worker
    // never sees the client as slow (checked: the drops then fall under half).
    expect(dropped).toBeGreaterThan(total * 0.9);
    expect(accepted.length * chunk).toBeLessThan(16 << 20);
    expect(nodeBuffered).toBeLessThan(512 << 10);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 << 20);
    expect(server.stats().backpressure.drops).toBe(dropped);
    // The client reads again: every accepted message arrives whole, in order.
    c.socket.resume();
    const received: number[] = [];
    while (received.length < accepted.length) {
      const f = await c.readFrame(10_000);
      expect(f.payload.length).toBe(chunk);
      expect(f.payload.equals(Buffer.alloc(chunk, f.payload[0]))).toBe(true);
      received.push(f.payload[0]);
    }
    expect(received).toEqual(accepted);
  });

  it('server.close() closes the WebSockets (1001) and leaves the https server serving routes and other upgrade listeners', async () => {
    const { app, port } = await httpsApp();
    const server = corews();
    server.attach(app, { path: '/ws' });
    const a = await wss(`wss://localhost:${port}/ws`);
    const aClosed = closed(a);
    await server.close();
    expect((await aClosed).code).toBe(1001);
    expect(app.listening).toBe(true);
    expect(await getRoute(port, '/after')).toBe('route /after');
    // The upgrade listener is gone: a second corews takes the port's upgrades now.
    expect(app.listenerCount('upgrade')).toBe(0);
    const again = corews();
    again.attach(app, { path: '/ws' });
    const b = await wss(`wss://localhost:${port}/ws`);
    b.send('second server');
    expect(String((await next(b)).data)).toBe('second server');
  });

  it('200 bridged connections opened and closed (either side closing) leave no descriptor behind', async () => {
    const { app, port } = await httpsApp();
    const server = corews({ message: (ws, data) => (String(data) === 'bye' ? ws.close(1000) : ws.send(data)) });
    server.attach(app);
    const warm = await wss(`wss://localhost:${port}/`);
    warm.close();
    await waitFor(() => server.connections === 0);
    await new Promise((r) => setTimeout(r, 100));
    const before = openFds();
    for (let round = 0; round < 10; round++) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => wss(`wss://localhost:${port}/`)));
      const ends = batch.map((ws) => closed(ws));
      batch.forEach((ws, i) => {
        if (i % 3 === 0) ws.close(1000); // the client closes
        else if (i % 3 === 1) ws.send('bye'); // the server closes
        else ws.terminate(); // the client drops the TCP connection
      });
      await Promise.all(ends);
      clients.splice(0);
    }
    await waitFor(() => server.connections === 0, 10_000, 'every connection closed');
    await waitFor(() => openFds() <= before, 10_000, `descriptors back to ${before} (now ${openFds()})`);
    expect(server.stats().connections.total).toBeGreaterThanOrEqual(201);
  });

  it('bad sockets still throw a TypeError naming what handleUpgrade takes', () => {
    const server = corews();
    const req = { method: 'GET', url: '/', httpVersion: '1.1', rawHeaders: [] };
    expect(() => server.handleUpgrade(req, {} as net.Socket, Buffer.alloc(0))).toThrow(TypeError);
    expect(() => server.handleUpgrade(req, {} as net.Socket, Buffer.alloc(0))).toThrow(/TLS socket/);
  });
});

describe('corews/ws with { server: httpsServer }', () => {
  it("echoes over wss://; req is Node's (req.socket.encrypted), verifyClient's info.secure is true; routes keep working", async () => {
    const { app, port } = await httpsApp();
    const infos: boolean[] = [];
    const wsServer = new WebSocketServer({
      server: app,
      corews: { threads: 1 },
      verifyClient: (info: { secure: boolean }) => {
        infos.push(info.secure);
        return true;
      },
    });
    const connected: IncomingMessage[] = [];
    wsServer.on('connection', (ws: WsLayerSocket, req: IncomingMessage) => {
      connected.push(req);
      ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    });
    const a = await wss(`wss://localhost:${port}/`);
    a.send('through corews/ws');
    expect(String((await next(a)).data)).toBe('through corews/ws');
    const big = crypto.randomBytes(1 << 20);
    a.send(big);
    expect((await next(a)).data.equals(big)).toBe(true);
    expect(infos).toEqual([true]);
    expect((connected[0].socket as tls.TLSSocket).encrypted).toBe(true);
    expect(connected[0].socket.remoteAddress).toBe('127.0.0.1');
    expect(await getRoute(port, '/x')).toBe('route /x');
    const aClosed = closed(a);
    a.close(4005, 'done');
    expect((await aClosed).code).toBe(4005);
    await new Promise<void>((r) => wsServer.close(() => r()));
    expect(app.listening).toBe(true);
  });
});

describe("the faster path (README): corews's own tls listener with the http hook", () => {
  it('answers HTTPS requests from the http hook and WebSockets on the same port, TLS in the worker', async () => {
    const server = corews({
      threads: 1,
      tls: { key: pki.server.key, cert: pki.server.cert },
      path: '/ws',
      http: (req) => (req.url === '/health' ? { body: 'ok\n' } : { status: 404, body: 'not found\n' }),
    });
    await server.listen(0, '127.0.0.1');
    const port = server.address()!.port;
    expect(await getRoute(port, '/health')).toBe('ok\n');
    expect(await getRoute(port, '/elsewhere')).toBe('not found\n');
    const a = await wss(`wss://localhost:${port}/ws`);
    a.send('native tls');
    expect(String((await next(a)).data)).toBe('native tls');
    expect(server.stats().tls?.handshakes).toBeGreaterThanOrEqual(3);
  });
});
