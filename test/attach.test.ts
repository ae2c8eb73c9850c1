// Sharing a port with a Node http.Server: server.attach() and
// server.handleUpgrade() take the descriptor of an upgrade Node accepted into
// a native worker. HTTP keeps working beside it (keep-alive included); the
// handshake is decided as on corews's own listener; bytes that came with the
// request reach the worker; close() leaves the HTTP server running; nothing
// leaks a descriptor; bad arguments throw.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { WebSocket as UndiciWebSocket } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, type Server, type ServerOptions } from '../src/index';
import { encodeFrame, RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';
import { testPki } from './helpers/tls-certs';

const servers: Server<any>[] = [];
const httpServers: http.Server[] = [];
const clients: (WS | RawClient)[] = [];
const agents: http.Agent[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) {
    if (c instanceof WS) c.terminate();
    else c.socket.destroy();
  }
  await Promise.all(servers.splice(0).map((s) => s.close({ timeout: 500 }).catch(() => {})));
  for (const a of agents.splice(0)) a.destroy();
  await Promise.all(httpServers.splice(0).map((h) => new Promise((r) => {
    h.closeAllConnections();
    h.close(r);
  })));
});

/** An http server with a route, listening on loopback. */
async function httpApp(): Promise<{ app: http.Server; port: number; requests: string[] }> {
  const requests: string[] = [];
  const app = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    res.setHeader('content-type', 'text/plain');
    res.end(`route ${req.url}`);
  });
  httpServers.push(app);
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  return { app, port: (app.address() as net.AddressInfo).port, requests };
}

function corews<U = unknown>(options: ServerOptions<U> = {}): Server<U> {
  const s = createServer<U>({ threads: 2, ...echoOptions<U>(), ...options });
  servers.push(s);
  return s;
}

function get(port: number, path: string, agent: http.Agent): Promise<{ status: number; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socket: req.socket! }));
    });
    req.on('error', reject);
  });
}

function wsClient(url: string, opts: WS.ClientOptions = {}, protocols: string[] = []): Promise<WS> {
  const ws = new WS(url, protocols, opts);
  clients.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws: WS): Promise<string> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(String(d))));
}

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

describe('attach', () => {
  it('HTTP routes keep working, with keep-alive, while WebSocket clients echo on the same port', async () => {
    const { app, port, requests } = await httpApp();
    const server = corews({ perMessageDeflate: true });
    server.attach(app, { path: '/ws' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    const first = await get(port, '/before', agent);
    expect(first.body).toBe('route /before');
    const a = await wsClient(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: true });
    expect(a.extensions).toBe('permessage-deflate');
    const u = new UndiciWebSocket(`ws://127.0.0.1:${port}/ws?x=1`);
    const undiciMessages: string[] = [];
    u.addEventListener('message', (ev) => undiciMessages.push(String(ev.data)));
    await new Promise((r, j) => {
      u.addEventListener('open', r);
      u.addEventListener('error', j);
    });
    for (const text of ['hi', 'x'.repeat(100_000)]) {
      a.send(text);
      expect(await next(a)).toBe(text);
      u.send(text);
      await waitFor(() => undiciMessages.length > 0);
      expect(undiciMessages.shift()).toBe(text);
    }
    const second = await get(port, '/during', agent);
    expect(second.body).toBe('route /during');
    expect(second.socket).toBe(first.socket); // the same keep-alive connection
    expect(requests).toEqual(['/before', '/during']);
    expect(server.connections).toBe(2);
    expect(server.stats().handshakes.accepted).toBe(2);
    expect(server.address()).toBeNull(); // no listener of its own
    u.close();
  });

  it("an upgrade to another path gets 404 when no other 'upgrade' listener is there, and is left to one that is", async () => {
    const { app, port } = await httpApp();
    corews().attach(app, { path: '/ws' });
    const c = await RawClient.connect(port);
    clients.push(c);
    c.write(upgradeRequest('/elsewhere'));
    const res = await c.readHttp();
    expect(res.status).toBe(404);
    expect(res.body).toBe('no WebSocket endpoint at this path\n');
    // With a listener of the application's own, corews keeps out of it.
    const other = corews({ message: (ws, d) => ws.send(`other:${d}`) });
    app.on('upgrade', (req, socket, head) => {
      if (req.url === '/elsewhere') other.handleUpgrade(req, socket as net.Socket, head);
    });
    const ws = await wsClient(`ws://127.0.0.1:${port}/elsewhere`);
    ws.send('x');
    expect(await next(ws)).toBe('other:x');
  });

  it('close() closes the WebSocket connections with 1001 and leaves the HTTP server running', async () => {
    const { app, port } = await httpApp();
    const server = corews();
    server.attach(app);
    const ws = await wsClient(`ws://127.0.0.1:${port}/`);
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    await server.close({ timeout: 1000 });
    expect(await closed).toBe(1001);
    const agent = new http.Agent();
    agents.push(agent);
    expect((await get(port, '/still', agent)).body).toBe('route /still');
    // Detached: a later upgrade is nobody's (Node's default for an unheard upgrade: the socket is closed).
    await expect(wsClient(`ws://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('two corews servers on one http server, by path (ws\'s noServer pattern)', async () => {
    const { app, port } = await httpApp();
    const chat = corews({ message: (ws, d) => ws.send(`chat:${d}`) });
    const feed = corews({ message: (ws, d) => ws.send(`feed:${d}`) });
    app.on('upgrade', (req, socket, head) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/chat') chat.handleUpgrade(req, socket as net.Socket, head);
      else if (path === '/feed') feed.handleUpgrade(req, socket as net.Socket, head);
      else socket.destroy();
    });
    const a = await wsClient(`ws://127.0.0.1:${port}/chat`);
    const b = await wsClient(`ws://127.0.0.1:${port}/feed`);
    const replies = [next(a), next(b)];
    a.send('1');
    b.send('2');
    expect(await Promise.all(replies)).toEqual(['chat:1', 'feed:2']);
    await expect(wsClient(`ws://127.0.0.1:${port}/other`)).rejects.toThrow();
  });

  it('the handshake is decided natively as on the own listener: the upgrade hook, limits, options', async () => {
    const { app, port } = await httpApp();
    const seen: string[] = [];
    const server = corews<{ user: string }>({
      maxConnections: 1,
      protocols: ['chat.v1'],
      upgrade: (req) => {
        seen.push(`${req.url} ${req.headers['x-user']}`);
        return req.headers['x-user'] === 'mallory' ? { accept: false, status: 401 } : { accept: true, data: { user: String(req.headers['x-user']) } };
      },
      message: (ws, d) => ws.send(`${ws.data.user}:${d}`),
    });
    server.attach(app);
    await expect(wsClient(`ws://127.0.0.1:${port}/in`, { headers: { 'x-user': 'mallory' } })).rejects.toThrow(/401/);
    const ws = await wsClient(`ws://127.0.0.1:${port}/in?q=1`, { headers: { 'x-user': 'alice' } }, ['chat.v1']);
    expect(ws.protocol).toBe('chat.v1');
    ws.send('hi');
    expect(await next(ws)).toBe('alice:hi');
    await expect(wsClient(`ws://127.0.0.1:${port}/in`, { headers: { 'x-user': 'bob' } })).rejects.toThrow(/503/);
    expect(seen).toEqual(['/in mallory', '/in?q=1 alice']); // bob met the limit before the hook
    expect(server.stats().handshakes.rejected).toMatchObject({ 503: 1 });
  });

  it('frames that came in the same packet as the request reach the worker', async () => {
    const { app, port } = await httpApp();
    const server = corews();
    server.attach(app);
    const c = await RawClient.connect(port);
    clients.push(c);
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/')), encodeFrame({ opcode: 1, payload: 'early bird' })]));
    const res = await c.readHttp();
    expect(res.status).toBe(101);
    const f = await c.readFrame();
    expect(f.payload.toString()).toBe('early bird');
    expect(server.stats().messages.in).toBe(1);
  });

  it('connections handed over leave no descriptor behind in Node', async () => {
    const { app, port } = await httpApp();
    const server = corews();
    server.attach(app);
    const warm = await wsClient(`ws://127.0.0.1:${port}/`);
    warm.terminate();
    await waitFor(() => server.connections === 0);
    const before = openFds();
    const many: WS[] = [];
    for (let i = 0; i < 50; i++) many.push(await wsClient(`ws://127.0.0.1:${port}/`));
    await waitFor(() => server.connections === 50);
    for (const ws of many) ws.terminate();
    await waitFor(() => server.connections === 0);
    await waitFor(() => openFds() <= before, 5000, 'descriptors to come back');
    expect(openFds()).toBeLessThanOrEqual(before);
  });

  it('bad arguments throw a TypeError naming what is wrong; a closed server refuses (false)', async () => {
    const server = corews();
    expect(() => server.attach({} as unknown as http.Server)).toThrow(/attach: httpServer must be an http.Server/);
    const { app, port } = await httpApp();
    expect(() => server.attach(app, { path: 'ws' })).toThrow(/attach: options.path must be a string starting with '\/'/);
    const req = { method: 'GET', url: '/', httpVersion: '1.1', rawHeaders: [] };
    expect(() => server.handleUpgrade(req, {} as net.Socket, Buffer.alloc(0))).toThrow(/socket must be a plain TCP net.Socket/);
    expect(() => server.handleUpgrade({} as typeof req, new net.Socket(), Buffer.alloc(0))).toThrow(/req must be the http.IncomingMessage/);
    const pki = testPki();
    const secure = corews({ tls: { key: pki.server.key, cert: pki.server.cert } });
    expect(() => secure.handleUpgrade(req, new net.Socket(), Buffer.alloc(0))).toThrow(/wss:\/\/ server/);
    // After close(): the upgrade is refused and its socket destroyed.
    let result: boolean | undefined;
    app.on('upgrade', (r, socket, head) => (result = server.handleUpgrade(r, socket as net.Socket, head)));
    await server.close();
    await expect(wsClient(`ws://127.0.0.1:${port}/`)).rejects.toThrow();
    expect(result).toBe(false);
  });
});
