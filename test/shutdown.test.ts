// Graceful shutdown with real sockets: server.close({ code, reason, timeout })
// stops accepting, sends Close to every open connection, waits for closing
// handshakes and queued output up to `timeout`, refuses handshakes in
// progress with 503, runs every close handler, and resolves once everything
// is gone.
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, SendStatus, WebSocket, type CloseOptions } from '../src/index';
import { closeAllClients, closeAllServers, connect, destroyAllRaw, openRaw, serve, sleep, track, trackRaw, type TestClient } from './helpers/clients';
import { closePayload, encodeFrame, RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';

const MiB = 1024 * 1024;

afterEach(async () => {
  destroyAllRaw();
  await closeAllClients();
  await closeAllServers();
});

const threadCount = (): number => fs.readdirSync('/proc/self/task').length;

/** What a new connection attempt gets: refused at the TCP level, an HTTP status, or a reset. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let head = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve('no answer');
    }, 5000);
    const done = (what: string): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(what);
    };
    s.once('connect', () => s.write(upgradeRequest('/')));
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) done(`HTTP ${head.split(' ')[1]}`);
    });
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'error'));
    s.once('end', () => done(head === '' ? 'closed without an answer' : `HTTP ${head.split(' ')[1]}`));
  });
}

describe('server.close()', () => {
  it('connections in the middle of a message get Close 1001, then end; close() resolves and every close handler runs', async () => {
    const closes: number[] = [];
    const messages: string[] = [];
    const { server, port } = await serve({
      threads: 2,
      message: (_ws, data) => void messages.push(String(data)),
      close: (_ws, code) => void closes.push(code),
    });
    // Half of a 200-byte masked frame from each.
    const frame = encodeFrame({ opcode: 0x1, payload: 'x'.repeat(200) });
    const answering = await openRaw(port);
    const leaving = await openRaw(port);
    answering.write(frame.subarray(0, 100));
    leaving.write(frame.subarray(0, 100));
    await waitFor(() => server.connections === 2, 5000, 'two connections');
    await sleep(50);

    const t0 = Date.now();
    const closed = server.close();
    for (const r of [answering, leaving]) {
      const c = await r.readClose(5000);
      expect(c).toMatchObject({ code: 1001, reason: 'server shutting down' });
      expect(c.before).toEqual([]);
    }
    // One completes its message and answers the Close; the other just leaves (FIN).
    answering.write(Buffer.concat([frame.subarray(100), encodeFrame({ opcode: 0x8, payload: closePayload(1001) })]));
    leaving.socket.end();
    await answering.waitEnd(5000);
    await leaving.waitEnd(5000);
    await closed;
    expect(Date.now() - t0).toBeLessThan(3000);
    // Both were closed by the server's 1001 (one peer echoed it, the other sent none).
    expect(closes).toEqual([1001, 1001]);
    expect(server.connections).toBe(0);
    expect(server.address()).toBeNull();
  });

  it('a peer that never answers the Close: close({ timeout: 500 }) resolves after about 0.5 s, its close handler gets 1001', async () => {
    const closes: { code: number; reason: string }[] = [];
    const { server, port } = await serve({ closeTimeout: 30_000, close: (_ws, code, reason) => void closes.push({ code, reason }) });
    const raw = await openRaw(port);
    raw.socket.pause(); // reads nothing, answers nothing
    await waitFor(() => server.connections === 1, 5000, 'the connection');
    const t0 = Date.now();
    await server.close({ timeout: 500 });
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(3000);
    expect(closes).toEqual([{ code: 1001, reason: 'server shutting down' }]);
    raw.socket.resume();
    const c = await raw.readClose(5000);
    expect(c.code).toBe(1001);
    await raw.waitEnd(5000);
  });

  it("ws and undici clients that answer: close() resolves within 1 s, they see 1001 'server shutting down', threads are gone", async () => {
    const threads = threadCount();
    const closes: number[] = [];
    const { server, url } = await serve({ ...echoOptions(), threads: 2, close: (_ws, code) => void closes.push(code) });
    const clients: TestClient[] = await Promise.all(Array.from({ length: 10 }, (_, i) => connect(i % 2 ? 'ws' : 'undici', url)));
    await waitFor(() => server.connections === 10, 5000, 'ten connections');
    for (const c of clients) {
      c.send('before');
      expect((await c.next()).data).toBe('before');
    }
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(closes).toEqual(Array(10).fill(1001));
    for (const info of await Promise.all(clients.map((c) => c.closed))) {
      expect(info).toEqual({ code: 1001, reason: 'server shutting down' });
    }
    expect(server.connections).toBe(0);
    expect(threadCount()).toBe(threads);
    const s = server.stats(); // zeros once closed
    expect(s.connections.open).toBe(0);
  });

  it("a custom { code: 4000, reason: 'bye' } reaches the clients", async () => {
    const closes: { code: number; reason: string }[] = [];
    const { server, url } = await serve({ close: (_ws, code, reason) => void closes.push({ code, reason }) });
    const clients = await Promise.all([connect('ws', url), connect('undici', url)]);
    await waitFor(() => server.connections === 2, 5000, 'two connections');
    await server.close({ code: 4000, reason: 'bye' });
    for (const info of await Promise.all(clients.map((c) => c.closed))) expect(info).toEqual({ code: 4000, reason: 'bye' });
    expect(closes.map((c) => c.code)).toEqual([4000, 4000]);
  });

  it('after close() is called, new connections are refused (or get 503); a handshake in progress gets 503', async () => {
    const { server, port } = await serve({ threads: 2, closeTimeout: 30_000 });
    // Keeps the server shutting down for a while: it never answers the Close.
    const stubborn = await openRaw(port);
    stubborn.socket.pause();
    // A handshake in progress: half of the request.
    const halfway = trackRaw(await RawClient.connect(port));
    const req = upgradeRequest('/');
    halfway.write(req.slice(0, 40));
    await waitFor(() => server.connections === 1, 5000, 'the open connection');
    await sleep(50);

    const closed = server.close({ timeout: 1500 });
    const right = await tryConnect(port);
    const res = await halfway.readHttp(5000);
    expect(res.status).toBe(503);
    expect(res.body).toBe('server shutting down\n');
    expect(server.stats().handshakes.rejected['503']).toBeGreaterThanOrEqual(1);
    await sleep(100);
    const later = await tryConnect(port);
    for (const what of [right, later]) expect(['ECONNREFUSED', 'ECONNRESET', 'HTTP 503']).toContain(what);
    await closed;
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
  });

  it('a handshake waiting on an async upgrade hook gets 503; the hook settling later is harmless', async () => {
    let settle: (() => void) | undefined;
    let asked = 0;
    const errors: unknown[] = [];
    const opens: string[] = [];
    const { server, port } = await serve({
      upgrade: () => {
        asked++;
        return new Promise<undefined>((resolve) => {
          settle = () => resolve(undefined);
        });
      },
      open: (ws) => void opens.push(ws.url),
      error: (err) => void errors.push(err),
    });
    const waiting = trackRaw(await RawClient.connect(port));
    waiting.write(upgradeRequest('/waiting'));
    await waitFor(() => asked === 1, 5000, 'the hook to be asked');
    const closed = server.close();
    const res = await waiting.readHttp(5000);
    expect(res.status).toBe(503);
    expect(res.body).toBe('server shutting down\n');
    await closed;
    settle!();
    await sleep(50);
    expect(opens).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('invalid options throw TypeError or RangeError naming them, and the server keeps running', async () => {
    const { server, url } = await serve(echoOptions());
    const bad = (o: unknown): (() => Promise<void>) => () => server.close(o as CloseOptions);
    expect(bad(null)).toThrow(TypeError);
    expect(bad(null)).toThrow(/options/);
    expect(bad('soon')).toThrow(TypeError);
    expect(bad({ code: 5 })).toThrow(/code/);
    expect(bad({ code: 5 })).toThrow(expect.objectContaining({ name: expect.stringMatching(/^(TypeError|RangeError)$/) }) as Error);
    expect(bad({ code: 1005 })).toThrow(/code/);
    expect(bad({ code: '1000' })).toThrow(TypeError);
    expect(bad({ timeout: -1 })).toThrow(RangeError);
    expect(bad({ timeout: -1 })).toThrow(/timeout/);
    expect(bad({ timeout: 1.5 })).toThrow(/timeout/);
    expect(bad({ timeout: '10' })).toThrow(TypeError);
    expect(bad({ reason: 'x'.repeat(124) })).toThrow(RangeError);
    expect(bad({ reason: 'x'.repeat(124) })).toThrow(/reason/);
    expect(bad({ reason: 42 })).toThrow(TypeError);
    // Nothing happened: still serving.
    const c = await connect('ws', url);
    c.send('still up');
    expect((await c.next()).data).toBe('still up');
    await server.close();
    expect((await c.closed).code).toBe(1001);
  });

  it('close() before listen() and a second close() are harmless', async () => {
    const idle = track(createServer({ threads: 1 }));
    await idle.close();
    await idle.close({ timeout: 0 });
    const { server } = await serve({ threads: 1 });
    const first = server.close();
    const second = server.close();
    await Promise.all([first, second]);
    expect(server.address()).toBeNull();
  });
});

describe('server.close() drains queued output first', () => {
  it('a 2 MiB message sent just before close(): the client receives all of it, then Close 1001', async () => {
    let sock: WebSocket<unknown> | undefined;
    let status: number | undefined;
    const { server, port } = await serve({
      open(ws) {
        sock = ws;
      },
    });
    const raw = await openRaw(port);
    raw.socket.pause(); // the message stays queued in the server until the client reads
    await waitFor(() => sock !== undefined, 5000, 'the connection');
    const payload = Buffer.alloc(2 * MiB);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(i, i);
    status = sock!.send(payload);
    const closed = server.close();
    expect(status).not.toBe(SendStatus.DROPPED);
    await sleep(200);
    raw.socket.resume();
    const c = await raw.readClose(10_000);
    expect(c.before).toHaveLength(1);
    expect(c.before[0].opcode).toBe(0x2);
    expect(c.before[0].payload.equals(payload)).toBe(true);
    expect(c).toMatchObject({ code: 1001, reason: 'server shutting down' });
    raw.send({ opcode: 0x8, payload: closePayload(1001) });
    await closed;
    await raw.waitEnd(5000);
  });

  it('a ws client gets every message sent before close(), then 1001', async () => {
    let sock: WebSocket<unknown> | undefined;
    const { server, url } = await serve({
      open(ws) {
        sock = ws;
      },
    });
    const c = await connect('ws', url);
    await waitFor(() => sock !== undefined, 5000, 'the connection');
    for (let i = 0; i < 32; i++) sock!.send(Buffer.alloc(256 * 1024, i));
    sock!.send('last');
    await server.close();
    for (let i = 0; i < 32; i++) {
      const m = await c.next(10_000);
      expect((m.data as Buffer).length).toBe(256 * 1024);
      expect((m.data as Buffer)[0]).toBe(i);
    }
    expect((await c.next()).data).toBe('last');
    expect(await c.closed).toEqual({ code: 1001, reason: 'server shutting down' });
  });
});
