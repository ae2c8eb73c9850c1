// The http hook as a small HTTP/1.1 server: keep-alive (Node's http.Agent and
// undici's fetch reuse one connection), pipelining, request bodies and their
// bound, strict framing against request smuggling, streamed responses read as
// they come and bounded for a slow reader, HEAD, and an upgrade on a
// connection that served HTTP first. Real sockets on loopback throughout.
import http from 'node:http';
import type net from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type HttpRequest } from '../src/index';
import { closeAllServers, serve } from './helpers/clients';
import { encodeFrame, RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';

const raws: RawClient[] = [];
async function raw(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  raws.push(c);
  return c;
}

afterEach(async () => {
  for (const c of raws.splice(0)) c.destroy();
  await closeAllServers();
});

/** A hook answering `METHOD url bodyLength`, recording what it saw. */
function echoHook(seen: HttpRequest[] = []) {
  return (req: HttpRequest) => {
    seen.push(req);
    return { body: `${req.method} ${req.url} ${req.body.length}` };
  };
}

/** One request through `agent`; resolves with the status, body and the client socket used. */
function agentGet(port: number, agent: http.Agent, path: string, options: http.RequestOptions = {}, body?: string | Buffer):
Promise<{ status: number; body: string; socket: net.Socket; reused: boolean; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), socket: req.socket!, reused: req.reusedSocket, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('keep-alive', () => {
  it("Node's http.Agent({ keepAlive: true }) sends several requests over one connection", async () => {
    const { port } = await serve({ threads: 2, http: echoHook() });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await agentGet(port, agent, `/r${i}`));
      expect(results.map((r) => r.body)).toEqual([0, 1, 2, 3, 4].map((i) => `GET /r${i} 0`));
      expect(results.map((r) => r.reused)).toEqual([false, true, true, true, true]);
      expect(new Set(results.map((r) => r.socket.localPort)).size).toBe(1);
      expect(results[0].headers.connection).toBe('keep-alive');
      expect(results[0].headers['keep-alive']).toBe('timeout=5');
    } finally {
      agent.destroy();
    }
  });

  it('undici fetch (keep-alive by default) reuses one connection for sequential requests, bodies included', async () => {
    const seen: HttpRequest[] = [];
    const { port } = await serve({ threads: 2, http: echoHook(seen) });
    // One connection allowed: a second 'connect' would mean the server closed the first.
    // (With more allowed, undici opens a second one for the next request before it
    // has put the first back, against Node's http server too.)
    let connections = 0;
    const dispatcher = new Agent({ connections: 1 });
    dispatcher.on('connect', () => connections++);
    try {
      for (let i = 0; i < 4; i++) {
        const res = await undiciFetch(`http://127.0.0.1:${port}/f${i}`, { dispatcher });
        expect(await res.text()).toBe(`GET /f${i} 0`);
      }
      const posted = await undiciFetch(`http://127.0.0.1:${port}/post`, { dispatcher, method: 'POST', body: 'x'.repeat(1000) });
      expect(await posted.text()).toBe('POST /post 1000');
      expect(seen.at(-1)!.body.toString()).toBe('x'.repeat(1000));
      expect(connections).toBe(1);
    } finally {
      await dispatcher.close();
    }
  });

  it('closes after the response on Connection: close, and for HTTP/1.0 unless it asks for keep-alive', async () => {
    const { port } = await serve({ threads: 1, http: echoHook() });
    const cases: [string, string, boolean][] = [
      ['GET /a HTTP/1.1\r\nConnection: close\r\n\r\n', 'close', true],
      ['GET /b HTTP/1.0\r\n\r\n', 'close', true],
      ['GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 'keep-alive', false],
      ['GET /d HTTP/1.1\r\nHost: x\r\n\r\n', 'keep-alive', false],
    ];
    for (const [request, connection, closes] of cases) {
      const c = await raw(port);
      c.write(request);
      const res = await c.readHttp();
      expect(res.status).toBe(200);
      expect(res.headers.connection).toBe(connection);
      if (closes) {
        await c.waitEnd();
      } else {
        await delay(50);
        expect(c.ended).toBe(false);
      }
    }
  });

  it('an idle keep-alive connection is closed after httpKeepAliveTimeout, without a response; 0 means one request per connection', async () => {
    const { port } = await serve({ threads: 1, httpKeepAliveTimeout: 300, http: echoHook() });
    const c = await raw(port);
    c.write('GET / HTTP/1.1\r\n\r\n');
    expect((await c.readHttp()).headers['keep-alive']).toBeUndefined();  // under a second: not advertised
    const t0 = Date.now();
    await c.waitEnd(3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(c.unread.length).toBe(0);

    const { port: port0 } = await serve({ threads: 1, httpKeepAliveTimeout: 0, http: echoHook() });
    const d = await raw(port0);
    d.write('GET / HTTP/1.1\r\n\r\n');
    expect((await d.readHttp()).headers.connection).toBe('close');
    await d.waitEnd();
  });

  it('a keep-alive connection waiting for its next request is closed by server.close() without a response', async () => {
    const { port, server } = await serve({ threads: 1, http: echoHook() });
    const c = await raw(port);
    c.write('GET / HTTP/1.1\r\n\r\n');
    await c.readHttp();
    await server.close();
    await c.waitEnd();
    expect(c.unread.length).toBe(0);
  });

  it('rejects bad httpKeepAliveTimeout and maxHttpBody values, naming the option', () => {
    expect(() => createServer({ httpKeepAliveTimeout: -1 })).toThrow(RangeError);
    expect(() => createServer({ httpKeepAliveTimeout: -1 })).toThrow(/httpKeepAliveTimeout/);
    expect(() => createServer({ httpKeepAliveTimeout: 1.5 })).toThrow(/httpKeepAliveTimeout/);
    expect(() => createServer({ maxHttpBody: -1 })).toThrow(RangeError);
    expect(() => createServer({ maxHttpBody: 2 ** 30 + 1 })).toThrow(/maxHttpBody/);
    expect(() => createServer({ maxHttpBody: '1' as unknown as number })).toThrow(TypeError);
  });
});

describe('pipelining', () => {
  it('answers pipelined requests in order, one at a time, bodies (Content-Length and chunked) included', async () => {
    let active = 0;
    let maxActive = 0;
    const { port } = await serve({
      threads: 1,
      async http(req) {
        active++;
        maxActive = Math.max(maxActive, active);
        await delay(req.url === '/slow' ? 60 : 5);
        active--;
        return { body: `${req.method} ${req.url} ${req.body.toString()}` };
      },
    });
    const c = await raw(port);
    c.write(
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /len HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: t\r\n\r\n' +
      'GET /last HTTP/1.1\r\n\r\n',
    );
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await c.readHttp()).body);
    expect(bodies).toEqual(['GET /slow ', 'POST /len hello', 'POST /chunked abcde', 'GET /last ']);
    expect(maxActive).toBe(1);
  });

  it('an upgrade after HTTP requests on the same connection opens a WebSocket that echoes', async () => {
    const { port, server } = await serve({ threads: 1, http: echoHook(), ...echoOptions() });
    const c = await raw(port);
    c.write('GET /page HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await c.readHttp()).body).toBe('GET /page 0');
    c.write('POST /form HTTP/1.1\r\nContent-Length: 2\r\n\r\nok');
    expect((await c.readHttp()).body).toBe('POST /form 2');
    c.write(upgradeRequest('/'));
    expect((await c.readHttp()).status).toBe(101);
    c.send({ opcode: 1, payload: Buffer.from('after http'), mask: true });
    const f = await c.readFrame();
    expect(f.payload.toString()).toBe('after http');
    await waitFor(() => server.connections === 1, 2000, 'the open connection');
  });
});

describe('request bodies', () => {
  it('gives the hook the body as a Buffer: Content-Length from fetch, chunked from http.request without a length', async () => {
    const seen: HttpRequest[] = [];
    const { port } = await serve({ threads: 1, http: echoHook(seen) });
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13]);
    const res = await fetch(`http://127.0.0.1:${port}/bin`, { method: 'PUT', body: bytes });
    expect(await res.text()).toBe('PUT /bin 7');
    expect(Buffer.isBuffer(seen[0].body)).toBe(true);
    expect([...seen[0].body]).toEqual([...bytes]);

    const agent = new http.Agent({ keepAlive: true });
    try {
      const chunked = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/up', method: 'POST', agent }, (r) => {
          let b = '';
          r.on('data', (d: Buffer) => (b += d.toString()));
          r.on('end', () => resolve(b));
        });
        req.on('error', reject);
        expect(req.getHeader('content-length')).toBeUndefined();
        req.write('part one, ');
        setTimeout(() => req.end('part two'), 20);
      });
      expect(chunked).toBe('POST /up 18');
      expect(seen[1].headers['transfer-encoding']).toBe('chunked');
      expect(seen[1].body.toString()).toBe('part one, part two');
    } finally {
      agent.destroy();
    }
  });

  it('a body over maxHttpBody gets 413 and the connection closes, without the hook', async () => {
    const seen: HttpRequest[] = [];
    const { port } = await serve({ threads: 1, maxHttpBody: 1000, http: echoHook(seen) });
    const atBound = await raw(port);
    atBound.write(`POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(1000)}`);
    expect((await atBound.readHttp()).body).toBe('POST / 1000');

    const over = await raw(port);
    over.write('POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n');
    expect((await over.readHttp()).status).toBe(413);
    await over.waitEnd();

    const chunked = await raw(port);
    chunked.write(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n${'b'.repeat(512)}\r\n200\r\n`);
    expect((await chunked.readHttp()).status).toBe(413);
    await chunked.waitEnd();

    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'x'.repeat(5000) });
    expect(res.status).toBe(413);
    await res.arrayBuffer();
    expect(seen.length).toBe(1);
  });

  it('answers Expect: 100-continue before reading the body', async () => {
    const { port } = await serve({ threads: 1, http: echoHook() });
    const c = await raw(port);
    c.write('POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n');
    expect((await c.readHttp()).status).toBe(100);
    c.write('abc');
    expect((await c.readHttp()).body).toBe('POST / 3');
  });
});

describe('framing: what could smuggle a request gets 400 (or 501) and the connection closes', () => {
  const cases: [string, string, number][] = [
    ['Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['Transfer-Encoding and Content-Length', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\n', 400],
    ['differing Content-Lengths', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc', 400],
    ['a Content-Length list that differs', 'POST / HTTP/1.1\r\nContent-Length: 3, 30\r\n\r\nabc', 400],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc', 400],
    ['a hex Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc', 400],
    ['chunked not last', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n', 400],
    ['chunked twice', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['a misspelt coding', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n', 400],
    ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['a bare LF in the chunked body', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n', 400],
    ['chunk data longer than its size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n', 400],
    ['a bad chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', 400],
    ['a coding before chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
    ['a body on an upgrade', `${upgradeRequest('/').slice(0, -2)}Content-Length: 5\r\n\r\nhello`, 400],
  ];
  for (const [what, request, status] of cases) {
    it(what, async () => {
      const seen: HttpRequest[] = [];
      const { port } = await serve({ threads: 1, http: echoHook(seen) });
      const c = await raw(port);
      // The request, then one that a parser disagreeing about its end would see.
      c.write(`${request}GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect((await c.readHttp()).status).toBe(status);
      await c.waitEnd();
      expect(c.unread.length).toBe(0);
      expect(seen).toEqual([]);
    });
  }
});

describe('streamed responses', () => {
  it('an async iterable body is sent chunked and read by the client as it comes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { port } = await serve({
      threads: 1,
      http: () => ({
        headers: { 'content-type': 'text/plain' },
        body: (async function* () {
          yield 'first;';
          await gate;
          yield Buffer.from('second;');
          yield 'third';
        })(),
      }),
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const got: string[] = [];
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/s', agent }, resolve).on('error', reject);
      });
      expect(res.headers['transfer-encoding']).toBe('chunked');
      expect(res.headers['content-length']).toBeUndefined();
      res.on('data', (d: Buffer) => got.push(d.toString()));
      const ended = new Promise<void>((r) => res.on('end', () => r()));
      await waitFor(() => got.join('') === 'first;', 2000, 'the first chunk before the rest exists');
      release();
      await ended;
      expect(got.join('')).toBe('first;second;third');
      // The connection serves the next request.
      const next = await agentGet(port, agent, '/s');
      expect(next.reused).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('a Node Readable is a body, and fetch reads it', async () => {
    const { port } = await serve({ threads: 1, http: () => ({ body: Readable.from(['a', 'b', 'c'].map((s) => s.repeat(10_000))) }) });
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('a'.repeat(10_000) + 'b'.repeat(10_000) + 'c'.repeat(10_000));
  });

  it('a slow reader holds the stream, not memory: pulling stops while it does not read, and everything arrives once it does', async () => {
    const piece = Buffer.alloc(64 * 1024, 7);
    const pieces = 1024;  // 64 MiB in all
    let pulled = 0;
    const { port } = await serve({
      threads: 1,
      http: () => ({
        body: (async function* () {
          for (let i = 0; i < pieces; i++) {
            pulled++;
            yield piece;
          }
        })(),
      }),
    });
    const c = await raw(port);
    c.socket.pause();
    c.write('GET /big HTTP/1.1\r\n\r\n');
    await delay(500);
    const stalledAt = pulled;
    await delay(300);
    // It stopped: only what the kernel's socket buffers hold, plus the 16 KiB mark and a piece, was pulled.
    expect(pulled).toBe(stalledAt);
    expect(pulled * piece.length).toBeLessThan(32 * 1024 * 1024);
    let received = 0;
    c.socket.removeAllListeners('data');
    const done = new Promise<void>((resolve) => {
      c.socket.on('data', (d: Buffer) => {
        received += d.length;
        if (d.subarray(-5).toString() === '0\r\n\r\n') resolve();
      });
    });
    c.socket.resume();
    await done;
    expect(pulled).toBe(pieces);
    expect(received).toBeGreaterThan(pieces * piece.length);
  });

  it('a client that reads none of a stream for idleTimeout is dropped, and the iterator ends', async () => {
    let finished = false;
    const { port, server } = await serve({
      threads: 1,
      idleTimeout: 1,
      http: () => ({
        body: (async function* () {
          try {
            for (;;) yield Buffer.alloc(256 * 1024);
          } finally {
            finished = true;
          }
        })(),
      }),
    });
    const c = await raw(port);
    c.socket.pause();
    c.write('GET / HTTP/1.1\r\n\r\n');
    await waitFor(() => finished, 5000, 'the stalled stream ended');
    expect(server.stats().idleCloses).toBe(1);
  });

  it('a client that goes mid-stream ends the iterator (its finally runs)', async () => {
    let finished = false;
    const { port } = await serve({
      threads: 1,
      http: () => ({
        body: (async function* () {
          try {
            for (;;) {
              yield Buffer.alloc(16 * 1024);
              await delay(1);
            }
          } finally {
            finished = true;
          }
        })(),
      }),
    });
    const c = await raw(port);
    c.write('GET / HTTP/1.1\r\n\r\n');
    await waitFor(() => c.unread.length > 32 * 1024, 2000, 'some of the stream');
    c.destroy();
    await waitFor(() => finished, 3000, "the generator's finally");
  });

  it('a stream that fails after the head closes the connection and is reported; one that fails before it gets 500', async () => {
    const errors: unknown[] = [];
    const { port } = await serve({
      threads: 1,
      http: (req) => ({
        body: (async function* () {
          if (req.url === '/late') yield 'partial';
          throw new Error(`stream failed at ${req.url}`);
        })(),
      }),
      error: (err) => void errors.push(err),
    });
    const c = await raw(port);
    c.write('GET /late HTTP/1.1\r\n\r\n');
    await c.waitEnd();
    expect(c.unread.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n7\r\npartial\r\n$/);
    expect(c.unread.toString()).not.toContain('0\r\n\r\n');
    await waitFor(() => errors.length === 1, 2000, 'the report');
    expect((errors[0] as Error).message).toBe('stream failed at /late');
  });

  it('a hook that throws before answering gets 500 and the connection serves the next request', async () => {
    const errors: unknown[] = [];
    const { port } = await serve({
      threads: 1,
      http(req) {
        if (req.url === '/boom') throw new Error('boom');
        return { body: 'fine' };
      },
      error: (err) => void errors.push(err),
    });
    const c = await raw(port);
    c.write('GET /boom HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n');
    expect((await c.readHttp()).status).toBe(500);
    expect((await c.readHttp()).body).toBe('fine');
    expect(errors.length).toBe(1);
  });
});

describe('HEAD, 204 and 304', () => {
  it('HEAD gets the head a GET would get and no body; a streamed body is not read and its iterator ends', async () => {
    let pulledForHead = 0;
    const streams: Readable[] = [];
    const { port } = await serve({
      threads: 1,
      http(req) {
        if (req.url === '/stream') {
          const stream = new Readable({
            read() {
              pulledForHead++;
              this.push('never sent');
            },
          });
          streams.push(stream);
          return { body: stream };
        }
        return { body: 'twelve bytes' };
      },
    });
    const c = await raw(port);
    // HEAD, HEAD of a stream, then a GET on the same connection: the HEADs' heads
    // carry the framing a GET would get, and nothing follows them but the next response.
    c.write('HEAD /fixed HTTP/1.1\r\n\r\nHEAD /stream HTTP/1.1\r\n\r\nGET /fixed HTTP/1.1\r\n\r\n');
    await waitFor(() => c.unread.toString().endsWith('twelve bytes'), 2000, 'the GET after the HEADs');
    const responses = c.unread.toString().split(/(?=HTTP\/1\.1 )/);
    expect(responses.length).toBe(3);
    expect(responses[0]).toMatch(/\r\nContent-Length: 12\r\n\r\n$/);
    expect(responses[1]).toMatch(/\r\nTransfer-Encoding: chunked\r\n\r\n$/);
    expect(responses[2]).toMatch(/\r\nContent-Length: 12\r\n\r\ntwelve bytes$/);
    expect(pulledForHead).toBe(0);
    await waitFor(() => streams[0].destroyed, 2000, 'the unread stream destroyed by its iterator');

    const res = await fetch(`http://127.0.0.1:${port}/fixed`, { method: 'HEAD' });
    expect(res.headers.get('content-length')).toBe('12');
    expect(await res.text()).toBe('');
  });

  it('204 and 304 have no body and no framing header; a body with them is a hook error (500)', async () => {
    const errors: unknown[] = [];
    const { port } = await serve({
      threads: 1,
      http: (req) => (req.url === '/bad' ? { status: 204, body: 'x' } : { status: req.url === '/304' ? 304 : 204 }),
      error: (err) => void errors.push(err),
    });
    const c = await raw(port);
    c.write('GET /204 HTTP/1.1\r\n\r\nGET /304 HTTP/1.1\r\n\r\nGET /bad HTTP/1.1\r\n\r\n');
    const a = await c.readHttp();
    const b = await c.readHttp();
    const bad = await c.readHttp();
    expect([a.status, b.status, bad.status]).toEqual([204, 304, 500]);
    expect(a.headers['content-length']).toBeUndefined();
    expect(b.headers['transfer-encoding']).toBeUndefined();
    expect((errors[0] as Error).message).toMatch(/204/);
  });
});

describe('a raw frame right after an upgrade that followed HTTP', () => {
  it('is read as the first frame (early data is kept across the switch)', async () => {
    const { port } = await serve({ threads: 1, http: echoHook(), ...echoOptions() });
    const c = await raw(port);
    c.write('GET / HTTP/1.1\r\n\r\n');
    await c.readHttp();
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/')), encodeFrame({ opcode: 1, payload: Buffer.from('early'), mask: true })]));
    expect((await c.readHttp()).status).toBe(101);
    expect((await c.readFrame()).payload.toString()).toBe('early');
  });
});
