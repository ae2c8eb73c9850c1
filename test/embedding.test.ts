// corews inside an Express 5 app and a Fastify 5 app (examples/express and
// examples/fastify, imported as they are and run as a user would): the HTTP
// routes keep working on one keep-alive connection while ws and undici
// clients echo, join a room and get what is published to it; server.close()
// closes the WebSocket clients with 1001 and leaves the HTTP server serving;
// SIGTERM shuts the example down in that order. Real sockets on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import dns from 'node:dns/promises';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from '../src/index';
import { closeAllClients, connect, expectRefused, sleep, type TestClient } from './helpers/clients';
import { waitFor } from './helpers/server';

const ROOT = path.join(__dirname, '..');

/** What both examples export: start() builds the app, listens, attaches corews. */
interface Example {
  start(options: { port?: number; host?: string; threads?: number }): Promise<{
    http: http.Server;
    wss: Server<{ room: string | null }>;
    port: number;
    close(): Promise<void>;
  }>;
}
type Started = Awaited<ReturnType<Example['start']>>;

const FRAMEWORKS = ['express', 'fastify'] as const;
const script = (name: string): string => path.join(ROOT, 'examples', name, 'server.mjs');
const load = async (name: string): Promise<Example> => (await import(script(name))) as Example;

const apps: Started[] = [];
const agents: http.Agent[] = [];
const procs: ChildProcess[] = [];

afterEach(async () => {
  await closeAllClients();
  for (const a of agents.splice(0)) a.destroy();
  await Promise.all(apps.splice(0).map((a) => Promise.race([a.close().catch(() => {}), sleep(5000)])));
  for (const p of procs.splice(0)) p.kill('SIGKILL');
});

async function startApp(name: string, host = '127.0.0.1'): Promise<Started> {
  const app = await (await load(name)).start({ port: 0, host, threads: 2 });
  apps.push(app);
  return app;
}

interface Reply {
  status: number;
  type: string;
  body: string;
  socket: net.Socket;
}

/** One request through `agent` (keep-alive, one socket): the response and the socket it came on. */
function request(port: number, agent: http.Agent, method: string, target: string, json?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : JSON.stringify(json);
    const req = http.request({
      host: '127.0.0.1', port, method, path: target, agent,
      headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: text, socket: req.socket! }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${target} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

function keepAlive(): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(agent);
  return agent;
}

/** `p`, or a rejection naming `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what}: nothing within ${ms} ms`)))]);
}

const text = async (c: TestClient): Promise<string> => String((await c.next()).data);

describe.each(FRAMEWORKS)('%s + corews on one port', (name) => {
  it('HTTP routes keep working on one keep-alive connection while ws and undici clients echo, join a room and get its messages', async () => {
    const app = await startApp(name);
    const { port, wss } = app;
    const agent = keepAlive();
    const health = await request(port, agent, 'GET', '/health');
    expect([health.status, health.body]).toEqual([200, 'ok']);

    const base = `ws://127.0.0.1:${port}/ws`;
    const a = await connect('ws', `${base}?room=r1`);
    const u = await connect('undici', `${base}?room=r1`);
    const loner = await connect('ws', base); // no room
    const other = await connect('undici', `${base}?room=r2`);
    // A client sees the 101 before the worker's open event reaches JS: wait for the handlers.
    await waitFor(() => wss.connections === 4 && wss.subscribers('r1') === 2, 5000, 'four open handlers');

    // Echo to the sender, and to the rest of its room.
    a.send('from a');
    expect(await text(a)).toBe('from a');
    expect(await text(u)).toBe('from a');
    u.send('from undici');
    expect(await text(u)).toBe('from undici');
    expect(await text(a)).toBe('from undici');
    const bytes = Buffer.from([0, 1, 2, 255]);
    loner.send(bytes);
    const echoed = await loner.next();
    expect(echoed.binary).toBe(true);
    expect(Buffer.compare(echoed.data as Buffer, bytes)).toBe(0);

    // HTTP in between, on the same connection: a JSON route, a publish from HTTP, the page.
    const stats = await request(port, agent, 'GET', '/api/stats');
    expect(stats.type).toMatch(/^application\/json/);
    expect(JSON.parse(stats.body)).toMatchObject({ connections: 4, opened: 4 });
    const posted = await request(port, agent, 'POST', '/api/rooms/r1/messages', { text: 'from http' });
    expect([posted.status, JSON.parse(posted.body)]).toEqual([200, { room: 'r1', subscribers: 2 }]);
    expect(await text(a)).toBe('from http');
    expect(await text(u)).toBe('from http');
    const bad = await request(port, agent, 'POST', '/api/rooms/r1/messages', { nope: 1 });
    expect(bad.status).toBe(400);
    const page = await request(port, agent, 'GET', '/');
    expect(page.type).toMatch(/^text\/html/);
    expect(page.body).toContain("new WebSocket('ws://' + location.host + '/ws?room='");
    for (const r of [stats, posted, bad, page]) expect(r.socket).toBe(health.socket); // keep-alive: one socket throughout

    // Nothing leaked to those outside the room.
    await sleep(100);
    expect([loner.queued, other.queued]).toEqual([0, 0]);
    // An upgrade to another path is refused, not left hanging.
    expect((await expectRefused(`ws://127.0.0.1:${port}/elsewhere`)).status).toBe(404);
    expect(wss.stats().handshakes.accepted).toBe(4);
  });

  it('server.close() closes the WebSocket clients with 1001 and leaves the HTTP server running', async () => {
    const app = await startApp(name);
    const { port, wss } = app;
    const agent = keepAlive();
    const before = await request(port, agent, 'GET', '/health');
    const clients = [await connect('ws', `ws://127.0.0.1:${port}/ws?room=r`), await connect('undici', `ws://127.0.0.1:${port}/ws`)];
    await wss.close({ timeout: 2000 });
    for (const c of clients) expect(await within(c.closed, 5000, 'the close')).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(app.http.listening).toBe(true);
    const after = await request(port, agent, 'GET', '/health');
    expect([after.status, after.body]).toEqual([200, 'ok']);
    expect(after.socket).toBe(before.socket); // the keep-alive connection survived
    expect(JSON.parse((await request(port, agent, 'GET', '/api/stats')).body)).toMatchObject({ connections: 0 });
    // Detached: new upgrades to /ws are answered by the app's fallback, not taken.
    expect((await expectRefused(`ws://127.0.0.1:${port}/ws`)).status).toBe(503);
  });

  it(`node examples/${name}/server.mjs serves on PORT and shuts down on SIGTERM: WebSocket clients get 1001, then HTTP closes`, async () => {
    const proc = spawn(process.execPath, [script(name)], {
      cwd: ROOT, env: { ...process.env, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(proc);
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const deadline = Date.now() + 15_000;
    let m: RegExpExecArray | null;
    while (!(m = /on http:\/\/localhost:(\d+)\//.exec(out))) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`the example did not start: ${out} ${err}`);
      await sleep(20);
    }
    const port = Number(m[1]);
    const agent = keepAlive();
    expect((await request(port, agent, 'GET', '/health')).body).toBe('ok');
    const c = await connect('ws', `ws://127.0.0.1:${port}/ws`);
    c.send('ping');
    expect(await text(c)).toBe('ping');
    agent.destroy(); // an idle keep-alive socket does not hold up the HTTP close
    proc.kill('SIGTERM');
    expect(await within(c.closed, 10_000, 'the close after SIGTERM')).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await within(exited, 10_000, 'the exit after SIGTERM')).toBe(0);
    expect(out).toMatch(/closed\n$/);
    expect(err).toBe('');
  });
});

describe('fastify specifics', () => {
  it('Fastify adds no upgrade handling of its own: the attached listener and the example\'s fallback are all there is', async () => {
    const { http: server } = await startApp('fastify');
    expect(server.listenerCount('upgrade')).toBe(2);
    expect(server.listenerCount('request')).toBe(1); // Fastify's router
  });

  it('listening on localhost (one http server per address), upgrades on every address reach corews', async (ctx) => {
    const addresses = (await dns.lookup('localhost', { all: true })).map((a) => a.address);
    // Fastify adds secondary servers only when localhost has several addresses (127.0.0.1 and ::1).
    if (addresses.length < 2) ctx.skip(`localhost is only ${addresses.join()} here: no secondary server to test`);
    const app = await startApp('fastify', 'localhost');
    const agent = keepAlive();
    expect((await request(app.port, agent, 'GET', '/health')).body).toBe('ok');
    for (const address of addresses) {
      const host = address.includes(':') ? `[${address}]` : address;
      const c = await connect('ws', `ws://${host}:${app.port}/ws`);
      c.send(`via ${address}`);
      expect(await text(c)).toBe(`via ${address}`);
    }
    expect(app.wss.stats().handshakes.accepted).toBe(addresses.length);
  });
});
