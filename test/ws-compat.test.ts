// corews/ws against ws itself: the server examples of ws's README, rewritten as programs that
// take the library as their only import (`{ WebSocketServer, WebSocket }`), run once on the `ws`
// package and once on corews/ws, with real `ws` clients over loopback. Then what corews/ws adds
// or refuses: option errors, verifyClient, handleProtocols, 'headers', binaryType, callbacks.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WS, { WebSocketServer as WsServer } from 'ws';
import * as corewsWs from '../src/ws/index';
import { destroyAllRaw, trackRaw } from './helpers/clients';
import { closePayload, RawClient } from './helpers/raw-client';
import { WebSocket as CoreWsSocket, WebSocketServer as CoreWsServer } from '../src/ws/index';

interface Lib {
  // The programs below are written for ws's API: both libraries are used through the same shape.
  WebSocketServer: typeof WsServer;
  WebSocket: typeof WS;
}
const LIBS: [string, Lib][] = [
  ['ws', { WebSocketServer: WsServer, WebSocket: WS }],
  ['corews/ws', corewsWs as unknown as Lib],
];

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  destroyAllRaw();
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function closeWss(wss: { close(cb?: () => void): void; clients?: Set<{ terminate(): void }> }): Promise<void> {
  return new Promise((resolve) => {
    for (const c of wss.clients ?? []) c.terminate();
    wss.close(() => resolve());
  });
}

function listening(wss: WsServer): Promise<number> {
  return new Promise((resolve, reject) => {
    wss.once('listening', () => resolve((wss.address() as AddressInfo).port));
    wss.once('error', reject);
  });
}

/** A ws client that records what it gets. */
function client(url: string, options?: WS.ClientOptions): Promise<{ ws: WS; next: () => Promise<[Buffer, boolean]> }> {
  return new Promise((resolve, reject) => {
    const ws = new WS(url, options);
    cleanup.push(() => ws.terminate());
    const queue: [Buffer, boolean][] = [];
    const waiting: ((m: [Buffer, boolean]) => void)[] = [];
    ws.on('message', (data, isBinary) => {
      const m: [Buffer, boolean] = [data as Buffer, isBinary];
      const w = waiting.shift();
      if (w) w(m);
      else queue.push(m);
    });
    const next = (): Promise<[Buffer, boolean]> => new Promise((r) => {
      const m = queue.shift();
      if (m) r(m);
      else waiting.push(r);
    });
    ws.once('open', () => resolve({ ws, next }));
    ws.once('error', reject);
  });
}

function closed(ws: WS): Promise<[number, string]> {
  return new Promise((resolve) => {
    if (ws.readyState === WS.CLOSED) resolve([-1, '']);
    ws.once('close', (code, reason) => resolve([code, String(reason)]));
  });
}

/** Status code of a refused upgrade. */
function refusal(url: string, options?: WS.ClientOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WS(url, options);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => {});
  });
}

for (const [name, { WebSocketServer, WebSocket }] of LIBS) {
  describe(`ws README server examples on ${name}`, () => {
    it('simple server', async () => {
      const received: string[] = [];
      // --- program ---
      const wss = new WebSocketServer({ port: 0 });
      wss.on('connection', function connection(ws) {
        ws.on('error', console.error);
        ws.on('message', function message(data) {
          received.push(`received: ${data}`);
        });
        ws.send('something');
      });
      // --- end ---
      cleanup.push(() => closeWss(wss));
      const port = await listening(wss);
      const c = await client(`ws://127.0.0.1:${port}`);
      const [data, isBinary] = await c.next();
      expect([String(data), isBinary]).toEqual(['something', false]);
      c.ws.send('hello');
      await expect.poll(() => received).toEqual(['received: hello']);
    });

    it('sending binary data', async () => {
      const wss = new WebSocketServer({ port: 0 });
      wss.on('connection', function connection(ws) {
        ws.on('error', console.error);
        const array = new Float32Array(5);
        for (let i = 0; i < array.length; ++i) array[i] = i / 2;
        ws.send(array);
      });
      cleanup.push(() => closeWss(wss));
      const c = await client(`ws://127.0.0.1:${await listening(wss)}`);
      const [data, isBinary] = await c.next();
      expect(isBinary).toBe(true);
      expect([...new Float32Array(new Uint8Array(data).buffer)]).toEqual([0, 0.5, 1, 1.5, 2]);
    });

    it('broadcast to all connected clients, and to all but the sender', async () => {
      const wss = new WebSocketServer({ port: 0 });
      wss.on('connection', function connection(ws) {
        ws.on('error', console.error);
        ws.on('message', function message(data, isBinary) {
          const all = String(data).startsWith('all');
          wss.clients.forEach(function each(client) {
            if ((all || client !== ws) && client.readyState === WebSocket.OPEN) {
              client.send(data, { binary: isBinary });
            }
          });
        });
      });
      cleanup.push(() => closeWss(wss));
      const port = await listening(wss);
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => client(`ws://127.0.0.1:${port}`)));
      await expect.poll(() => wss.clients.size).toBe(3);
      a.ws.send('all: hi');
      for (const x of [a, b, c]) expect(String((await x.next())[0])).toBe('all: hi');
      b.ws.send(Buffer.from([1, 2, 3]));
      for (const x of [a, c]) expect(await x.next()).toEqual([Buffer.from([1, 2, 3]), true]);
      a.ws.send('others');
      for (const x of [b, c]) expect(String((await x.next())[0])).toBe('others');
      // Nothing else reached a (it sent 'others') or b: the next message each gets is this one.
      c.ws.send('all: last');
      for (const x of [a, b, c]) expect(String((await x.next())[0])).toBe('all: last');
      c.ws.close();
      await expect.poll(() => wss.clients.size).toBe(2);
    });

    it('multiple servers sharing a single HTTP server (noServer, by path)', async () => {
      const server = http.createServer();
      const wss1 = new WebSocketServer({ noServer: true });
      const wss2 = new WebSocketServer({ noServer: true });
      wss1.on('connection', function connection(ws) {
        ws.on('error', console.error);
        ws.send('one');
      });
      wss2.on('connection', function connection(ws) {
        ws.on('error', console.error);
        ws.send('two');
      });
      server.on('upgrade', function upgrade(request, socket, head) {
        const { pathname } = new URL(request.url ?? '/', 'wss://base.url');
        if (pathname === '/foo') {
          wss1.handleUpgrade(request, socket, head, function done(ws) {
            wss1.emit('connection', ws, request);
          });
        } else if (pathname === '/bar') {
          wss2.handleUpgrade(request, socket, head, function done(ws) {
            wss2.emit('connection', ws, request);
          });
        } else {
          socket.destroy();
        }
      });
      server.on('request', (_req, res) => res.end('http ok'));
      server.listen(0);
      cleanup.push(() => new Promise((r) => server.close(r)));
      cleanup.push(() => closeWss(wss1));
      cleanup.push(() => closeWss(wss2));
      await new Promise((r) => server.once('listening', r));
      const port = (server.address() as AddressInfo).port;
      expect(() => wss1.address()).toThrow('The server is operating in "noServer" mode');
      const foo = await client(`ws://127.0.0.1:${port}/foo`);
      const bar = await client(`ws://127.0.0.1:${port}/bar?x=1`);
      expect(String((await foo.next())[0])).toBe('one');
      expect(String((await bar.next())[0])).toBe('two');
      const other = new WS(`ws://127.0.0.1:${port}/baz`);
      other.on('error', () => {});
      await closed(other);
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(await res.text()).toBe('http ok');
      foo.ws.close(4000, 'done');
      await closed(foo.ws);
      await expect.poll(() => wss1.clients.size).toBe(0);
      expect(wss2.clients.size).toBe(1);
    });

    it('client authentication (upgrade, then handleUpgrade with an extra connection argument)', async () => {
      function onSocketError(err: Error): void {
        console.error(err);
      }
      function authenticate(request: http.IncomingMessage, next: (err: Error | null, client?: string) => void): void {
        const token = request.headers.authorization;
        setTimeout(() => (token === 'Bearer good' ? next(null, 'alice') : next(new Error('no'))), 5);
      }
      const server = http.createServer();
      const wss = new WebSocketServer({ noServer: true });
      const seen: string[] = [];
      wss.on('connection', function connection(ws: WS, request: http.IncomingMessage, client: string) {
        ws.on('error', console.error);
        ws.on('message', function message(data: Buffer) {
          seen.push(`Received message ${data} from user ${client} at ${request.socket.remoteAddress}`);
          ws.send('ok');
        });
      });
      server.on('upgrade', function upgrade(request, socket, head) {
        socket.on('error', onSocketError);
        authenticate(request, function next(err, client) {
          if (err || !client) {
            socket.write('HTTP/1.1 401 Unauthorized\r\n\r\n');
            socket.destroy();
            return;
          }
          socket.removeListener('error', onSocketError);
          wss.handleUpgrade(request, socket, head, function done(ws) {
            wss.emit('connection', ws, request, client);
          });
        });
      });
      server.listen(0);
      cleanup.push(() => new Promise((r) => server.close(r)));
      cleanup.push(() => closeWss(wss));
      await new Promise((r) => server.once('listening', r));
      const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      expect(await refusal(url, { headers: { authorization: 'Bearer bad' } })).toBe(401);
      const c = await client(url, { headers: { authorization: 'Bearer good' } });
      c.ws.send('hi');
      expect(String((await c.next())[0])).toBe('ok');
      expect(seen).toEqual([expect.stringMatching(/^Received message hi from user alice at (::ffff:)?127\.0\.0\.1$/)]);
    });

    it('detect and close broken connections (heartbeat with ping, pong and terminate)', async () => {
      // The example's 30 s interval is shortened to 1.5 s. The pongs are the client's own frames.
      const wss = new WebSocketServer({ port: 0 });
      let pongs = 0;
      type Alive = InstanceType<typeof WebSocket> & { isAlive?: boolean };
      function heartbeat(this: Alive): void {
        this.isAlive = true;
        pongs++;
      }
      wss.on('connection', function connection(ws: Alive) {
        ws.isAlive = true;
        ws.on('error', console.error);
        ws.on('pong', heartbeat);
      });
      const interval = setInterval(function ping() {
        wss.clients.forEach(function each(ws: Alive) {
          if (ws.isAlive === false) return ws.terminate();
          ws.isAlive = false;
          ws.ping();
        });
      }, 1500);
      wss.on('close', function close() {
        clearInterval(interval);
      });
      cleanup.push(() => clearInterval(interval));
      cleanup.push(() => closeWss(wss));
      const port = await listening(wss);
      const live = await client(`ws://127.0.0.1:${port}`);
      // A client that answers no ping and sends nothing.
      const dead = await client(`ws://127.0.0.1:${port}`, { autoPong: false });
      const deadClosed = closed(dead.ws);
      await new Promise((r) => setTimeout(r, 3400)); // two rounds and a bit
      expect(live.ws.readyState).toBe(WS.OPEN);
      expect(dead.ws.readyState).toBe(WS.CLOSED);
      await deadClosed;
      expect(pongs).toBeGreaterThanOrEqual(1);
      expect(wss.clients.size).toBe(1);
    });

    it('pause() and resume(): nothing while paused, TCP pushes back on the client, then all of it in order', async () => {
      const got: number[] = [];
      let paused: boolean | undefined;
      const wss = new WebSocketServer({ port: 0 });
      wss.on('connection', function connection(ws) {
        ws.pause();
        paused = ws.isPaused;
        ws.on('message', function message(data: Buffer) {
          got.push(data.readUInt32BE(0));
        });
      });
      cleanup.push(() => closeWss(wss));
      const c = await client(`ws://127.0.0.1:${await listening(wss)}`);
      await expect.poll(() => paused).toBe(true);
      for (let i = 0; i < 128; i++) {
        const m = Buffer.alloc(256 * 1024, i); // 32 MiB in all: more than loopback's buffers hold
        m.writeUInt32BE(i, 0);
        c.ws.send(m);
      }
      await new Promise((r) => setTimeout(r, 400));
      expect(got).toEqual([]);
      expect(c.ws.bufferedAmount).toBeGreaterThan(8 * 1024 * 1024);
      wss.clients.forEach((ws) => ws.resume());
      await expect.poll(() => got.length, { timeout: 20_000 }).toBe(128);
      expect(got).toEqual(Array.from({ length: 128 }, (_, i) => i));
    });

    it("'error' before 'close' when the client breaks the protocol (raw TCP: invalid UTF-8, a too big message)", async () => {
      const events: unknown[] = [];
      const wss = new WebSocketServer({ port: 0, maxPayload: 1000 });
      wss.on('connection', function connection(ws) {
        ws.on('error', (err: Error & { code?: string }) => events.push(['error', err.code]));
        ws.on('close', (code) => events.push(['close', code]));
      });
      cleanup.push(() => closeWss(wss));
      const port = await listening(wss);
      const utf8 = trackRaw(await RawClient.open(port));
      utf8.send({ opcode: 1, payload: Buffer.from([0x68, 0xff, 0x69]) });
      expect((await utf8.readClose()).code).toBe(1007);
      utf8.send({ opcode: 8, payload: closePayload(1007) }); // the client answers the Close, as clients do
      // 'close' says 1006 on ws (it stops reading after the error, so it never sees the client's
      // Close), the server's code on corews/ws: a difference README lists.
      const closeCode = (code: number): number => (name === 'ws' ? 1006 : code);
      await expect.poll(() => events).toEqual([['error', 'WS_ERR_INVALID_UTF8'], ['close', closeCode(1007)]]);
      const big = trackRaw(await RawClient.open(port));
      big.send({ opcode: 2, payload: Buffer.alloc(2000) });
      expect((await big.readClose()).code).toBe(1009);
      big.send({ opcode: 8, payload: closePayload(1009) });
      await expect.poll(() => events.slice(2)).toEqual([['error', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'], ['close', closeCode(1009)]]);
    });

    it("'ping' and 'pong' events with their payloads", async () => {
      const events: string[] = [];
      const wss = new WebSocketServer({ port: 0 });
      wss.on('connection', function connection(ws) {
        ws.on('ping', (data) => events.push(`ping ${data}`));
        ws.on('pong', (data) => events.push(`pong ${data}`));
        ws.ping('from the server');
      });
      cleanup.push(() => closeWss(wss));
      const c = await client(`ws://127.0.0.1:${await listening(wss)}`);
      await expect.poll(() => events).toEqual(['pong from the server']);
      const answered = new Promise((r) => c.ws.once('pong', (data) => r(String(data))));
      c.ws.ping('from the client');
      expect(await answered).toBe('from the client'); // answered as before
      c.ws.pong('unsolicited');
      await expect.poll(() => events).toEqual(['pong from the server', 'ping from the client', 'pong unsolicited']);
    });

    it('{ server, path }: upgrades to other paths get 400, HTTP routes keep working, close() leaves the http server', async () => {
      const server = http.createServer((_req, res) => res.end('page'));
      const wss = new WebSocketServer({ server, path: '/ws' });
      let listened = false;
      wss.on('listening', () => (listened = true));
      wss.on('connection', (ws, req) => ws.send(`hello ${req.url}`));
      server.listen(0, '127.0.0.1');
      cleanup.push(() => new Promise((r) => server.close(r)));
      cleanup.push(() => closeWss(wss));
      await new Promise((r) => server.once('listening', r));
      expect(listened).toBe(true);
      const port = (wss.address() as AddressInfo).port;
      expect(port).toBe((server.address() as AddressInfo).port);
      const c = await client(`ws://127.0.0.1:${port}/ws?a=1`);
      expect(String((await c.next())[0])).toBe('hello /ws?a=1');
      expect(await refusal(`ws://127.0.0.1:${port}/other`)).toBe(400);
      const gone = closed(c.ws);
      const wssClosed = new Promise<void>((r) => wss.close(() => r()));
      c.ws.close(); // ws 8: close() waits for the clients, it does not close them
      await gone;
      await wssClosed;
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('page');
    });

    it('verifyClient (sync and with a callback), handleProtocols, headers', async () => {
      const wss = new WebSocketServer({
        port: 0,
        verifyClient(info: { origin?: string; secure: boolean; req: http.IncomingMessage }, cb?: (ok: boolean, code?: number, msg?: string) => void) {
          const ok = info.origin === 'https://good.example' && info.secure === false && info.req.headers['x-user'] !== undefined;
          setTimeout(() => (ok ? cb!(true) : cb!(false, 403, 'go away')), 1);
        },
        handleProtocols(protocols: Set<string>, req: http.IncomingMessage) {
          return protocols.has('b') && req.url === '/p' ? 'b' : false;
        },
      });
      wss.on('headers', (headers: string[], req: http.IncomingMessage) => {
        headers.push(`X-Hello: ${req.headers['x-user']}`);
        headers.push('Set-Cookie: a=1', 'Set-Cookie: b=2');
      });
      const got: string[] = [];
      wss.on('connection', (ws, req) => got.push(`${ws.protocol} ${req.headers['x-user']} ${req.socket.remoteAddress}`));
      cleanup.push(() => closeWss(wss));
      const url = `ws://127.0.0.1:${await listening(wss)}/p`;
      expect(await refusal(url, { origin: 'https://evil.example', headers: { 'x-user': 'u' } })).toBe(403);
      const response = new Promise<http.IncomingMessage>((resolve) => {
        const ws = new WS(url, ['a', 'b'], { origin: 'https://good.example', headers: { 'x-user': 'u1' } });
        cleanup.push(() => ws.terminate());
        ws.on('upgrade', resolve);
      });
      const res = await response;
      expect(res.headers['x-hello']).toBe('u1');
      expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(res.headers['sec-websocket-protocol']).toBe('b');
      await expect.poll(() => got).toEqual([expect.stringMatching(/^b u1 (::ffff:)?127\.0\.0\.1$/)]);
    });

    it('binaryType, send callbacks, close(code, reason), addEventListener and onmessage', async () => {
      const wss = new WebSocketServer({ port: 0 });
      const events: unknown[] = [];
      wss.on('connection', (ws) => {
        ws.binaryType = 'arraybuffer';
        ws.addEventListener('message', (event) => {
          events.push(['event', event.data instanceof ArrayBuffer ? `ab ${event.data.byteLength}` : event.data]);
        }, { once: true });
        ws.onmessage = (event) => events.push(['onmessage', typeof event.data]);
        ws.on('message', (data, isBinary) => {
          events.push(['message', data instanceof ArrayBuffer ? 'arraybuffer' : Buffer.isBuffer(data) ? 'buffer' : typeof data, isBinary]);
          if (events.length >= 6) {
            ws.binaryType = 'fragments';
          }
          ws.send(`ack ${events.length}`, (err) => {
            events.push(['sent', err ?? null]);
            if (String(data) === 'bye') ws.close(4001, Buffer.from('done'));
          });
        });
        ws.on('close', (code, reason) => events.push(['close', code, Buffer.isBuffer(reason), String(reason)]));
      });
      cleanup.push(() => closeWss(wss));
      const c = await client(`ws://127.0.0.1:${await listening(wss)}`);
      c.ws.send(Buffer.from([1, 2, 3, 4]));
      await c.next();
      c.ws.send('text');
      await c.next();
      c.ws.send('bye');
      await c.next();
      expect(await closed(c.ws)).toEqual([4001, 'done']);
      await expect.poll(() => events.at(-1)).toEqual(['close', 4001, true, 'done']);
      expect(events).toEqual([
        ['event', 'ab 4'], ['onmessage', 'object'], ['message', 'arraybuffer', true], ['sent', null],
        ['onmessage', 'string'], ['message', 'buffer', false], ['sent', null],
        ['onmessage', 'string'], ['message', 'buffer', false], ['sent', null],
        ['close', 4001, true, 'done'],
      ]);
    });
  });
}

describe('corews/ws: what differs from ws', () => {
  it('options: one of port, server, noServer; unsupported and unknown options throw naming them', () => {
    expect(() => new CoreWsServer({})).toThrow(new TypeError('One and only one of the "port", "server", or "noServer" options must be specified'));
    expect(() => new CoreWsServer({ port: 0, noServer: true })).toThrow(TypeError);
    expect(() => new CoreWsServer({ port: 70000 })).toThrow(RangeError);
    expect(() => new CoreWsServer({ noServer: true, skipUTF8Validation: true })).toThrow(/skipUTF8Validation.*not supported/);
    expect(() => new CoreWsServer({ noServer: true, autoPong: false })).toThrow(/autoPong.*not supported/);
    expect(() => new CoreWsServer({ noServer: true, WebSocket: WS } as never)).toThrow(/'WebSocket' is not supported/);
    expect(() => new CoreWsServer({ noServer: true, porrt: 1 } as never)).toThrow(/unknown option 'porrt'/);
    expect(() => new CoreWsServer({ noServer: true, verifyClient: 1 } as never)).toThrow(/'verifyClient' must be a function/);
    expect(() => new CoreWsServer({ noServer: true, maxPayload: -1 })).toThrow(/maxPayload/);
    expect(() => new CoreWsServer({ noServer: true, perMessageDeflate: { zlibDeflateOptions: { strategy: 1 } } as never }))
      .toThrow(/zlibDeflateOptions.strategy/);
    expect(() => new CoreWsServer({ noServer: true, corews: { message: () => {} } as never })).toThrow(/corews.message/);
    expect(() => new CoreWsSocket('ws://localhost')).toThrow('corews/ws is server-only');
    expect(() => corewsWs.createWebSocketStream()).toThrow(/not supported/);
    expect(corewsWs.Server).toBe(CoreWsServer);
  });

  it('ping/pong listeners turn the reports on and off; perMessageDeflate as in ws; close() twice', async () => {
    const wss = new CoreWsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0, zlibDeflateOptions: { level: 1 } } });
    const sockets: CoreWsSocket[] = [];
    let pings = 0;
    const onPing = (): void => void pings++;
    wss.on('connection', (ws) => {
      sockets.push(ws);
      ws.on('ping', onPing);
      ws.on('message', (data) => ws.send(data as Buffer));
    });
    const port = await listening(wss as unknown as WsServer);
    const c = await client(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
    expect(c.ws.extensions).toMatch(/^permessage-deflate/);
    c.ws.ping('x');
    c.ws.send('a'.repeat(1000));
    expect(String((await c.next())[0])).toBe('a'.repeat(1000));
    const ws = sockets[0];
    expect(ws.extensions).toMatch(/^permessage-deflate/);
    expect(ws.isPaused).toBe(false);
    expect(ws.url).toBe('/');
    expect(pings).toBe(1);
    ws.off('ping', onPing);
    c.ws.ping('y');
    c.ws.send('b');
    expect(String((await c.next())[0])).toBe('b');
    expect(pings).toBe(1); // no listener: no report
    ws.once('ping', onPing); // once: on for one ping, then off again
    // Reports start once the worker has the command: a ping already on its way may come unreported.
    await new Promise((r) => setTimeout(r, 50));
    c.ws.ping('z');
    c.ws.send('c');
    expect(String((await c.next())[0])).toBe('c');
    await expect.poll(() => pings).toBe(2);
    expect(ws.listenerCount('ping')).toBe(0);
    ws.removeAllListeners(); // the socket still notices listeners added after it
    ws.on('ping', onPing);
    await new Promise((r) => setTimeout(r, 50));
    c.ws.ping('w');
    await expect.poll(() => pings).toBe(3);
    c.ws.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    const err = await new Promise((r) => wss.close(r));
    expect(err).toEqual(new Error('The server is not running'));
  });

  it('handleUpgrade: ws\'s request checks answer in JS, or go to wsClientError when it is listened to', async () => {
    const server = http.createServer();
    const wss = new CoreWsServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.send('x')));
    server.listen(0, '127.0.0.1');
    cleanup.push(() => new Promise((r) => server.close(r)));
    cleanup.push(() => closeWss(wss));
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const raw = (key: string): Promise<string> => new Promise((resolve) => {
      const req = http.request({ port, host: '127.0.0.1', headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': key } });
      req.on('response', (res) => resolve(String(res.statusCode)));
      req.on('upgrade', (res, socket) => { socket.destroy(); resolve(String(res.statusCode)); });
      req.on('error', () => resolve('error'));
      req.end();
    });
    expect(await raw('short')).toBe('400');
    expect(await raw('dGhlIHNhbXBsZSBub25jZQ==')).toBe('101');
    const errors: string[] = [];
    wss.on('wsClientError', (err: Error, socket: import('node:stream').Duplex) => {
      errors.push(err.message);
      socket.end('HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\n\r\n');
    });
    expect(await raw('short')).toBe('418');
    expect(errors).toEqual(['Missing or invalid Sec-WebSocket-Key header']);
  });

  it("native refusals on corews's own listener go to wsClientError (raw TCP), answered natively already", async () => {
    const wss = new CoreWsServer({ port: 0, host: '127.0.0.1' });
    cleanup.push(() => closeWss(wss));
    const port = await listening(wss as unknown as WsServer);
    const send = (request: string): Promise<string> => new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
      let answer = '';
      socket.on('data', (d) => (answer += d.toString('latin1')));
      socket.on('close', () => resolve(answer.split('\r\n')[0]));
      socket.on('error', () => {});
    });
    const upgrade = (path: string, extra: string): string =>
      `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;
    const badVersion = upgrade('/v?q=1', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n');
    const badKey = upgrade('/k', 'Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n');
    expect(await send(badVersion)).toBe('HTTP/1.1 426 Upgrade Required'); // no listener: as before
    const seen: unknown[] = [];
    const listener = (err: Error, socket: import('node:stream').Duplex, req: import('../src/ws/index').UpgradeIncomingMessage): void => {
      const refused = socket as InstanceType<typeof corewsWs.RefusedSocket>;
      seen.push([err.message, refused instanceof corewsWs.RefusedSocket, refused.status, refused.remoteAddress, req.method, req.url,
        req.headers['sec-websocket-version']]);
      socket.end('ignored: the refusal was sent natively');
    };
    wss.on('wsClientError', listener);
    expect(await send(badVersion)).toBe('HTTP/1.1 426 Upgrade Required');
    expect(await send(badKey)).toBe('HTTP/1.1 400 Bad Request');
    expect(await send('POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')).toBe('HTTP/1.1 405 Method Not Allowed');
    expect(await send('GET / HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1.1 426/); // plain HTTP: no wsClientError
    await expect.poll(() => seen.length).toBe(3);
    expect(seen[0]).toEqual([expect.stringMatching(/Sec-WebSocket-Version/), true, 426, '127.0.0.1', 'GET', '/v?q=1', '8']);
    expect(seen[1]).toEqual([expect.stringMatching(/Sec-WebSocket-Key/), true, 400, '127.0.0.1', 'GET', '/k', '13']);
    expect(seen[2]).toEqual([expect.any(String), true, 405, '127.0.0.1', 'POST', '/', undefined]);
    wss.off('wsClientError', listener);
    expect(await send(badKey)).toBe('HTTP/1.1 400 Bad Request');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.length).toBe(3);
    // An open connection still works alongside.
    const c = await client(`ws://127.0.0.1:${port}`);
    expect(c.ws.readyState).toBe(WS.OPEN);
  });
});
