// Heartbeats and timeouts with real sockets: idleTimeout closes silent peers
// with 1001 'idle timeout', pingInterval pings quiet ones and any bytes (a
// pong) reset the clock, handshakeTimeout still answers 408, and a peer that
// half-closes still gets the output queued for it. Time windows are generous:
// they bound behaviour, not speed.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type WS from 'ws';
import type { WebSocket } from '../src/index';
import { closeAllClients, closeAllServers, connect, destroyAllRaw, openRaw, serve, sleep, trackRaw } from './helpers/clients';
import { closePayload, RawClient, upgradeRequest, type Frame } from './helpers/raw-client';
import { echoOptions, notBefore, waitFor } from './helpers/server';

const MiB = 1024 * 1024;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

afterEach(async () => {
  destroyAllRaw();
  await closeAllClients();
  await closeAllServers();
});

function closeInfo(f: Frame): { code: number; reason: string } {
  return { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, reason: f.payload.subarray(2).toString() };
}

const HALF_CLOSE = path.join(__dirname, 'fixtures', 'half-close-client.cjs');

interface HalfCloseResult {
  status: number;
  frames: { opcode: number; length: number; head: string }[];
  trailing: number;
  ended: boolean;
}

/** Runs a fixture script in a child node process; resolves with its RESULT line (SIGKILL after 30 s). */
function runChild(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; line: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, line: out.split('\n').find((l) => l.startsWith('RESULT ')) ?? '', stderr });
    });
  });
}

describe('idleTimeout', () => {
  it("a silent peer gets Close 1001 'idle timeout' after about idleTimeout (0.5 s, pingInterval 0)", async () => {
    const closes: { code: number; reason: string }[] = [];
    const { server, port } = await serve({
      idleTimeout: 0.5,
      pingInterval: 0,
      close: (_ws, code, reason) => void closes.push({ code, reason }),
    });
    const t0 = Date.now();
    const raw = await openRaw(port);
    const f = await raw.readFrame(5000);
    const elapsed = Date.now() - t0;
    expect(f.opcode).toBe(OP_CLOSE); // no ping came first: pingInterval is 0
    expect(closeInfo(f)).toEqual({ code: 1001, reason: 'idle timeout' });
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3000);
    // Answer the Close: the closing handshake completes.
    raw.send({ opcode: OP_CLOSE, payload: closePayload(1001) });
    await raw.waitEnd(5000);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(closes[0].code).toBe(1001);
    const s = server.stats();
    expect(s.idleCloses).toBe(1);
    expect(s.pingsSent).toBe(0);
    expect(s.closeCodes.sent).toEqual({ 1001: 1 });
  });

  it('a peer that keeps sending is not idle, one that stops is closed', async () => {
    const { server, port } = await serve({ ...echoOptions(), idleTimeout: 0.5, pingInterval: 0 });
    const raw = await openRaw(port);
    // 1.5 s of traffic every 100 ms: three idle timeouts' worth of time, never 0.5 s of silence.
    let lastSent = 0;
    for (let i = 0; i < 15; i++) {
      lastSent = Date.now(); // the server reads the tick after this
      raw.send({ opcode: OP_TEXT, payload: `tick ${i}` });
      const f = await raw.readFrame(2000);
      expect(f.opcode).toBe(OP_TEXT);
      expect(f.payload.toString()).toBe(`tick ${i}`);
      await sleep(100);
    }
    expect(server.stats().idleCloses).toBe(0);
    // Now silence: idleTimeout after the last tick, not before.
    const f = await raw.readFrame(5000);
    const silent = Date.now() - lastSent;
    expect(closeInfo(f)).toEqual({ code: 1001, reason: 'idle timeout' });
    expect(silent).toBeGreaterThanOrEqual(notBefore(500));
    expect(silent).toBeLessThan(3000);
    expect(server.stats().idleCloses).toBe(1);
  });

  it('idleTimeout shorter than pingInterval (default 30 s) still closes a silent peer after about idleTimeout', async () => {
    const { server, port } = await serve({ idleTimeout: 0.5 });
    const t0 = Date.now();
    const raw = await openRaw(port);
    const f = await raw.readFrame(5000).catch((err: Error) => err);
    expect(f, `no Close within 5 s (${Date.now() - t0} ms)`).not.toBeInstanceOf(Error);
    const elapsed = Date.now() - t0;
    expect(closeInfo(f as Frame)).toEqual({ code: 1001, reason: 'idle timeout' });
    expect(elapsed).toBeGreaterThanOrEqual(notBefore(500));
    expect(elapsed).toBeLessThan(3000);
    expect(server.stats().idleCloses).toBe(1);
  });
});

describe('pingInterval', () => {
  it('a raw peer that answers every ping with a masked pong stays open past 2 s (pingInterval 0.2, idleTimeout 1)', async () => {
    const closes: number[] = [];
    const { server, port } = await serve({ pingInterval: 0.2, idleTimeout: 1, close: (_ws, code) => void closes.push(code) });
    // Each ping comes pingInterval after the last bytes the server read: after
    // the open (later than this), then after each pong (later than its send).
    let quietSince = Date.now();
    const raw = await openRaw(port);
    const t0 = Date.now();
    let pings = 0;
    const gaps: number[] = [];
    while (Date.now() - t0 < 2500) {
      const f = await raw.readFrame(2000);
      gaps.push(Date.now() - quietSince);
      expect(f.opcode).toBe(OP_PING);
      pings++;
      quietSince = Date.now();
      raw.send({ opcode: OP_PONG, payload: f.payload });
    }
    // About one ping per 0.2 s of silence: at least a few in 2.5 s, none early.
    expect(pings).toBeGreaterThanOrEqual(4);
    expect(Math.min(...gaps), `ms of silence before each ping: ${gaps.join(', ')}`).toBeGreaterThanOrEqual(notBefore(200));
    expect(raw.ended).toBe(false);
    expect(server.connections).toBe(1);
    expect(closes).toEqual([]);
    const s = server.stats();
    expect(s.pingsSent).toBeGreaterThanOrEqual(pings);
    expect(s.idleCloses).toBe(0);
  });

  it("a raw peer that never answers pings is pinged, then closed with 1001 'idle timeout' at about idleTimeout", async () => {
    const closes: number[] = [];
    const { server, port } = await serve({ pingInterval: 0.2, idleTimeout: 1, close: (_ws, code) => void closes.push(code) });
    const t0 = Date.now();
    const raw = await openRaw(port);
    const frames: Frame[] = [];
    const at: number[] = [];
    for (;;) {
      const f = await raw.readFrame(5000);
      if (f.opcode === OP_CLOSE) {
        expect(closeInfo(f)).toEqual({ code: 1001, reason: 'idle timeout' });
        break;
      }
      frames.push(f);
      at.push(Date.now() - t0);
    }
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3000);
    expect(frames.length).toBeGreaterThanOrEqual(1);
    for (const f of frames) expect(f.opcode).toBe(OP_PING);
    // The silence only grows: the k-th ping comes k intervals after the open at the earliest.
    at.forEach((ms, k) => expect(ms, `ping ${k + 1} at ${ms} ms`).toBeGreaterThanOrEqual(notBefore((k + 1) * 200)));
    // Without an answer to the Close, the close timeout ends it; answering ends it now.
    raw.send({ opcode: OP_CLOSE, payload: closePayload(1001) });
    await raw.waitEnd(5000);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(closes).toEqual([1001]);
    const s = server.stats();
    expect(s.pingsSent).toBeGreaterThanOrEqual(1);
    expect(s.idleCloses).toBeGreaterThanOrEqual(1);
  });

  it('the ws client (which answers pings) stays connected across many intervals, and messages still flow', async () => {
    const { server, url } = await serve({ ...echoOptions(), pingInterval: 0.2, idleTimeout: 1 });
    const c = await connect('ws', url);
    let pingsSeen = 0;
    // ws answers a ping before emitting it, so each ping after the first
    // comes at least pingInterval after the previous one was seen.
    const seenAt: number[] = [];
    (c.raw as WS).on('ping', () => {
      pingsSeen++;
      seenAt.push(Date.now());
    });
    await sleep(2500);
    expect(c.isClosed).toBe(false);
    expect(pingsSeen).toBeGreaterThanOrEqual(4);
    const gaps = seenAt.slice(1).map((t, i) => t - seenAt[i]);
    expect(Math.min(...gaps), `ms between pings: ${gaps.join(', ')}`).toBeGreaterThanOrEqual(notBefore(200));
    c.send('still here');
    expect((await c.next()).data).toBe('still here');
    const s = server.stats();
    expect(s.pingsSent).toBeGreaterThanOrEqual(pingsSeen);
    expect(s.idleCloses).toBe(0);
    expect(server.connections).toBe(1);
  });

  it('pingInterval 0 and idleTimeout 0: a silent peer is neither pinged nor closed', async () => {
    const { server, port } = await serve({ pingInterval: 0, idleTimeout: 0 });
    const raw = await openRaw(port);
    await sleep(1500);
    expect(raw.unread.length).toBe(0);
    expect(raw.ended).toBe(false);
    expect(server.stats()).toMatchObject({ pingsSent: 0, idleCloses: 0 });
  });
});

describe('handshakeTimeout with heartbeats on', () => {
  /** Connects without a request (or with `partial`), and reads the HTTP answer. */
  async function stalled(port: number, partial: string): Promise<{ status: number; body: string; ms: number }> {
    const t0 = Date.now();
    const r = trackRaw(await RawClient.connect(port));
    if (partial !== '') r.write(partial);
    const res = await r.readHttp(5000);
    return { status: res.status, body: res.body, ms: Date.now() - t0 };
  }

  it('a client that sends nothing after connecting gets 408', async () => {
    const { server, port } = await serve({ handshakeTimeout: 300, pingInterval: 0.2, idleTimeout: 1 });
    const res = await stalled(port, '');
    expect(res.status).toBe(408);
    expect(res.body).toBe('handshake timed out\n');
    expect(res.ms).toBeGreaterThanOrEqual(250);
    expect(res.ms).toBeLessThan(3000);
    expect(server.stats().handshakes.rejected).toEqual({ 408: 1 });
    expect(server.stats().pingsSent).toBe(0);
  });

  it('a client that sends half its request gets 408', async () => {
    const { port } = await serve({ handshakeTimeout: 300, pingInterval: 0.2, idleTimeout: 1 });
    const req = upgradeRequest('/');
    const res = await stalled(port, req.slice(0, req.length >> 1));
    expect(res.status).toBe(408);
    expect(res.ms).toBeGreaterThanOrEqual(notBefore(300));
    expect(res.ms).toBeLessThan(3000);
  });
});

describe('half-close: a peer that sends FIN', () => {
  it('a message then FIN: the reply to the message (4 MiB) still arrives completely before the server closes', async () => {
    const closes: number[] = [];
    const statuses: number[] = [];
    const { port } = await serve({
      message(ws, data) {
        // Some work first, then a 4 MiB reply and a short one behind it.
        const t0 = Date.now();
        while (Date.now() - t0 < 100) {
          // busy
        }
        const big = Buffer.alloc(4 * MiB, 0x61);
        big.write(String(data), 0);
        statuses.push(ws.send(big), ws.send('last'));
      },
      close: (_ws, code) => void closes.push(code),
    });
    // The client runs in its own process: its FIN follows the message at once,
    // whatever this process's JS thread is doing.
    const run = await runChild(HALF_CLOSE, [String(port), 'hello'], { UPGRADE_REQUEST: upgradeRequest('/') });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.line.slice('RESULT '.length)) as HalfCloseResult;
    expect(result.status).toBe(101);
    expect(statuses).toHaveLength(2); // the handler ran and replied
    expect(result.frames).toEqual([
      { opcode: OP_BINARY, length: 4 * MiB, head: 'helloaaaaaaaaaaa' },
      { opcode: OP_TEXT, length: 4, head: 'last' },
    ]);
    expect(result.trailing).toBe(0);
    expect(result.ended).toBe(true);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
  });

  it('FIN while output is queued: the queue is flushed completely, then the server closes', async () => {
    const closes: number[] = [];
    let sock: WebSocket<unknown> | undefined;
    const { server, port } = await serve({
      message(ws) {
        sock = ws;
        ws.send(Buffer.alloc(8 * MiB, 0x62));
        ws.send('last');
      },
      close: (_ws, code) => void closes.push(code),
    });
    const raw = await openRaw(port);
    raw.socket.pause(); // read nothing: the reply stays queued in the server
    raw.send({ opcode: OP_TEXT, payload: 'hello' });
    await waitFor(() => sock !== undefined && sock.bufferedAmount > 0, 5000, 'output queued in the server');
    raw.socket.end();
    await sleep(200); // the server sees the FIN with its queue non-empty
    expect(server.connections).toBe(1);
    raw.socket.resume();
    const big = await raw.readFrame(10_000);
    expect(big.opcode).toBe(OP_BINARY);
    expect(big.payload.length).toBe(8 * MiB);
    expect(big.payload.every((b) => b === 0x62)).toBe(true);
    const last = await raw.readFrame(5000);
    expect(last.payload.toString()).toBe('last');
    await raw.waitEnd(10_000);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    // The peer never sent a Close: abnormal closure.
    expect(closes).toEqual([1006]);
  });

  it('FIN with nothing queued: the server closes the connection at once', async () => {
    const closes: number[] = [];
    const { port } = await serve({ close: (_ws, code) => void closes.push(code) });
    const r = await openRaw(port);
    r.socket.end();
    await r.waitEnd(5000);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(closes).toEqual([1006]);
  });
});
