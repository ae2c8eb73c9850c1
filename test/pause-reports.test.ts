// ws.pause()/resume() and the reports JS asks for (the ping, pong and refused handlers), with
// real ws clients and raw TCP over loopback: a paused connection delivers nothing while the
// client's sends back up in TCP, and after resume everything comes, in order; pings and pongs
// reach JS with their payloads only where a handler wants them; refused handshakes reach the
// refused handler with their status and request.
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, type HandshakeRefusal, type WebSocket } from '../src/index';
import { closeAllClients, closeAllServers, destroyAllRaw, serve, sleep, trackRaw } from './helpers/clients';
import { RawClient, upgradeRequest } from './helpers/raw-client';
import { waitFor } from './helpers/server';

afterEach(async () => {
  destroyAllRaw();
  await closeAllClients();
  await closeAllServers();
});

const opened: WS[] = [];
afterEach(() => {
  for (const ws of opened.splice(0)) ws.terminate();
});

function wsClient(url: string): Promise<WS> {
  return new Promise((resolve, reject) => {
    const ws = new WS(url);
    opened.push(ws);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('pause() and resume()', () => {
  it('delivers nothing while paused, pushes back on the client, and loses or reorders nothing', async () => {
    const got: number[] = [];
    let socket: WebSocket | undefined;
    const { url } = await serve({
      maxPayload: 1024 * 1024,
      open(ws) {
        socket = ws;
      },
      message(_ws, data) {
        got.push((data as Buffer).readUInt32BE(0));
      },
    });
    const client = await wsClient(url);
    await waitFor(() => socket !== undefined);
    expect(socket!.isPaused).toBe(false);
    expect(socket!.pause()).toBe(true);
    expect(socket!.isPaused).toBe(true);
    expect(socket!.pause()).toBe(false); // already paused
    await sleep(50); // the worker has taken the pause
    const count = 128;
    const size = 256 * 1024; // 32 MiB in all: more than loopback's socket buffers hold
    for (let i = 0; i < count; i++) {
      const m = Buffer.alloc(size, i & 0xff);
      m.writeUInt32BE(i, 0);
      client.send(m);
    }
    await sleep(500);
    expect(got).toEqual([]);
    // TCP pushed back: most of what the client sent is still in its own buffer.
    expect(client.bufferedAmount).toBeGreaterThan(8 * 1024 * 1024);
    const stalled = client.bufferedAmount;
    await sleep(200);
    expect(client.bufferedAmount).toBe(stalled);
    expect(socket!.resume()).toBe(true);
    expect(socket!.isPaused).toBe(false);
    expect(socket!.resume()).toBe(false);
    await waitFor(() => got.length === count, 20_000, 'every message after resume');
    expect(got).toEqual(Array.from({ length: count }, (_, i) => i));
    await waitFor(() => client.bufferedAmount === 0);
  });

  it('holds messages already read when pause() is called, and delivers them on resume in order', async () => {
    const got: string[] = [];
    const { url } = await serve({
      message(ws, data) {
        got.push(String(data));
        // Paused from within the first message's handler: its batch may carry more messages.
        if (data === '0') {
          ws.pause();
          setTimeout(() => ws.resume(), 300);
        }
      },
    });
    const client = await wsClient(url);
    for (let i = 0; i < 50; i++) client.send(String(i));
    await sleep(150);
    expect(got).toEqual(['0']);
    await waitFor(() => got.length === 50);
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });

  it('is not idle while paused: the idle timeout does not close it', async () => {
    let socket: WebSocket | undefined;
    const closes: number[] = [];
    const { url } = await serve({
      idleTimeout: 0.3,
      pingInterval: 0.1,
      open(ws) {
        socket = ws;
        ws.pause();
      },
      close(_ws, code) {
        closes.push(code);
      },
    });
    const client = await wsClient(url);
    let pings = 0;
    client.on('ping', () => pings++);
    await sleep(1200);
    expect(closes).toEqual([]);
    expect(pings).toBe(0);
    // Once resumed the client answers the heartbeat (ws auto-pongs): still alive.
    socket!.resume();
    await sleep(800);
    expect(closes).toEqual([]);
    expect(pings).toBeGreaterThan(0);
  });

  it('is a no-op on a closed socket', async () => {
    let socket: WebSocket | undefined;
    const { url } = await serve({ open: (ws) => void (socket = ws), close: () => {} });
    const client = await wsClient(url);
    await waitFor(() => socket !== undefined);
    client.close();
    await waitFor(() => socket!.readyState === 3);
    expect(socket!.pause()).toBe(false);
    expect(socket!.resume()).toBe(false);
  });
});

describe('ping, pong and refused handlers', () => {
  it('reports the client\'s pings (still answered natively) and pongs with their payloads', async () => {
    const pings: string[] = [];
    const pongs: string[] = [];
    const { url } = await serve({
      pingInterval: 0,
      ping: (_ws, data) => void pings.push(data.toString()),
      pong: (_ws, data) => void pongs.push(data.toString()),
    });
    const client = await wsClient(url);
    const answered: string[] = [];
    client.on('pong', (data) => answered.push(data.toString()));
    client.ping('hello');
    client.ping();
    client.pong('unsolicited');
    await waitFor(() => pings.length === 2 && pongs.length === 1 && answered.length === 2);
    expect(pings).toEqual(['hello', '']);
    expect(pongs).toEqual(['unsolicited']);
    expect(answered).toEqual(['hello', '']);
  });

  it('reports the pong that answers ws.ping()', async () => {
    const pongs: string[] = [];
    const { url } = await serve({
      pingInterval: 0,
      open: (ws) => void ws.ping('are you there'),
      pong: (_ws, data) => void pongs.push(data.toString()),
    });
    await wsClient(url);
    await waitFor(() => pongs.length === 1);
    expect(pongs).toEqual(['are you there']);
  });

  it('reports refused handshakes with status, reason and request; plain HTTP is no refusal', async () => {
    const refusals: HandshakeRefusal[] = [];
    const { port } = await serve({ path: '/ws', refused: (r) => void refusals.push(r) });
    const send = async (request: string): Promise<number> => {
      const raw = trackRaw(await RawClient.connect(port));
      raw.write(request);
      return (await raw.readHttp()).status;
    };
    expect(await send(upgradeRequest('/ws?x=1', { 'Sec-WebSocket-Version': '8' }))).toBe(426);
    expect(await send(upgradeRequest('/ws', { 'Sec-WebSocket-Key': 'short' }))).toBe(400);
    expect(await send(upgradeRequest('/elsewhere'))).toBe(404);
    expect(await send('GET /ws HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(426); // plain HTTP
    expect(await send('NOT HTTP AT ALL\r\n\r\n')).toBe(400);
    await waitFor(() => refusals.length === 4);
    await sleep(100);
    expect(refusals.map((r) => r.status)).toEqual([426, 400, 404, 400]);
    expect(refusals[0]).toMatchObject({ method: 'GET', url: '/ws?x=1', remoteAddress: '127.0.0.1' });
    expect(refusals[0].headers['sec-websocket-version']).toBe('8');
    expect(refusals[0].reason).toMatch(/Sec-WebSocket-Version/);
    expect(refusals[1].reason).toMatch(/Sec-WebSocket-Key/);
    expect(refusals[2].url).toBe('/elsewhere');
    expect(refusals[3]).toMatchObject({ method: '', url: '', headers: {} });
  });

  it('with an http hook, its requests refused for their body (413, 400) are no handshake refusals', async () => {
    const refusals: HandshakeRefusal[] = [];
    const { port } = await serve({ maxHttpBody: 16, http: () => ({ body: 'ok' }), refused: (r) => void refusals.push(r) });
    const send = async (request: string): Promise<number> => {
      const raw = trackRaw(await RawClient.connect(port));
      raw.write(request);
      return (await raw.readHttp()).status;
    };
    expect(await send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n')).toBe(413);
    expect(await send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n')).toBe(400);
    expect(await send(upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }))).toBe(426); // a handshake: reported
    await waitFor(() => refusals.length === 1);
    await sleep(100);
    expect(refusals.map((r) => r.status)).toEqual([426]);
  });

  it('throws a TypeError naming a handler that is not a function', () => {
    for (const name of ['ping', 'pong', 'refused']) {
      expect(() => createServer({ [name]: 42 } as never)).toThrow(TypeError);
      expect(() => createServer({ [name]: 42 } as never)).toThrow(new RegExp(`option '${name}'`));
    }
  });
});
