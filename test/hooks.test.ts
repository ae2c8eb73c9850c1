// The `upgrade` and `http` hooks: what they see, what their answers do, and
// how failures and vanished clients are handled.
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type HttpRequest, type UpgradeRequest, type UpgradeResult } from '../src/index';
import { closeAllClients, closeAllServers, connect, expectRefused, httpGet, serve } from './helpers/clients';
import { encodeFrame, RawClient, upgradeRequest } from './helpers/raw-client';
import { echoOptions, waitFor } from './helpers/server';

afterEach(async () => {
  await closeAllClients();
  await closeAllServers();
});

describe('upgrade hook', () => {
  it('sees method, url, lower-case headers, remoteAddress, offered protocols and the chosen protocol', async () => {
    const seen: UpgradeRequest[] = [];
    const { url } = await serve({
      threads: 1,
      protocols: ['chat', 'b'],
      upgrade(req) {
        seen.push(req);
      },
    });
    await connect('ws', `${url}/room/1?k=v`, ['x', 'b', 'chat'], { headers: { 'X-Custom-Thing': 'Hello There', Cookie: 'a=1' } });
    expect(seen.length).toBe(1);
    const req = seen[0];
    expect(req.method).toBe('GET');
    expect(req.url).toBe('/room/1?k=v');
    expect(req.remoteAddress).toBe('127.0.0.1');
    expect(req.protocols).toEqual(['x', 'b', 'chat']);
    expect(req.protocol).toBe('chat');
    expect(req.headers['x-custom-thing']).toBe('Hello There');
    expect(req.headers.cookie).toBe('a=1');
    expect(req.headers.upgrade).toBe('websocket');
    expect(req.headers['sec-websocket-version']).toBe('13');
    expect(req.headers.host).toMatch(/^127\.0\.0\.1:\d+$/);
    for (const name of Object.keys(req.headers)) expect(name).toBe(name.toLowerCase());
  });

  it('joins repeated request headers with ", "', async () => {
    const seen: UpgradeRequest[] = [];
    const { port } = await serve({ threads: 1, upgrade: (req) => void seen.push(req) });
    const raw = await RawClient.connect(port);
    try {
      raw.write(upgradeRequest('/').replace('\r\n\r\n', '\r\nX-Rep: one\r\nx-rep: two\r\n\r\n'));
      expect((await raw.readHttp()).status).toBe(101);
      expect(seen[0].headers['x-rep']).toBe('one, two');
    } finally {
      raw.destroy();
    }
  });

  it('{ accept: true, data } becomes ws.data in open and message', async () => {
    const seen: unknown[] = [];
    const { url } = await serve<{ user: string }>({
      threads: 2,
      upgrade: () => ({ accept: true, data: { user: 'a' } }),
      open(ws) {
        seen.push(['open', ws.data]);
      },
      message(ws, data) {
        seen.push(['message', ws.data]);
        ws.send(`${ws.data.user}:${String(data)}`);
      },
    });
    const c = await connect('ws', url);
    c.send('hi');
    expect((await c.next()).data).toBe('a:hi');
    expect(seen).toEqual([
      ['open', { user: 'a' }],
      ['message', { user: 'a' }],
    ]);
  });

  it('returning undefined accepts with defaults (protocol from the `protocols` option, data undefined)', async () => {
    const opened: WebSocket[] = [];
    const { url } = await serve({ threads: 1, protocols: ['p'], upgrade: () => undefined, open: (ws) => void opened.push(ws) });
    const c = await connect('undici', url, ['p']);
    expect(c.protocol).toBe('p');
    await waitFor(() => opened.length === 1);
    expect(opened[0].protocol).toBe('p');
    expect(opened[0].data).toBeUndefined();
  });

  it('an async hook works', async () => {
    const { url } = await serve<{ n: number }>({
      threads: 1,
      async upgrade() {
        await delay(20);
        return { accept: true, data: { n: 7 } };
      },
      message(ws, data) {
        ws.send(`${ws.data.n}${String(data)}`);
      },
    });
    for (const kind of ['ws', 'undici'] as const) {
      const c = await connect(kind, url);
      c.send('!');
      expect((await c.next()).data).toBe('7!');
    }
  });

  it('{ accept: true, protocol } picks that protocol when offered', async () => {
    const opened: WebSocket[] = [];
    const { url } = await serve({
      threads: 1,
      protocols: ['a'],
      upgrade: () => ({ accept: true, protocol: 'b' }),
      open: (ws) => void opened.push(ws),
    });
    const c = await connect('ws', url, ['a', 'b']);
    expect(c.protocol).toBe('b');
    const d = await connect('undici', url, ['b']);
    expect(d.protocol).toBe('b');
    await waitFor(() => opened.length === 2);
    expect(opened.map((ws) => ws.protocol)).toEqual(['b', 'b']);
  });

  it('a protocol the client did not offer gets 500 and is reported', async () => {
    const errors: unknown[] = [];
    const opened: WebSocket[] = [];
    const { url } = await serve({
      threads: 1,
      upgrade: () => ({ accept: true, protocol: 'zzz' }),
      open: (ws) => void opened.push(ws),
      error: (err) => void errors.push(err),
    });
    const res = await expectRefused(url, ['a', 'b']);
    expect(res.status).toBe(500);
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(String(errors[0])).toMatch(/zzz/);
    expect(opened.length).toBe(0);
  });

  it('{ accept: false, status, body, headers } is sent as the refusal', async () => {
    const { url, port } = await serve({
      threads: 1,
      upgrade: () => ({ accept: false, status: 401, body: 'nope', headers: { 'x-why': 'auth', 'WWW-Authenticate': 'Bearer' } }),
    });
    const res = await expectRefused(url);
    expect(res.status).toBe(401);
    expect(res.body).toBe('nope');
    expect(res.headers['x-why']).toBe('auth');
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    // undici fails the connection without opening it.
    await expect(connect('undici', url)).rejects.toThrow();
    // Exactly the body, then the connection ends.
    const raw = await RawClient.connect(port);
    try {
      raw.write(upgradeRequest('/'));
      const ans = await raw.readHttp();
      expect(ans.status).toBe(401);
      expect(ans.headers['content-length']).toBe('4');
      await raw.waitEnd();
      expect(raw.unread.length).toBe(0);
    } finally {
      raw.destroy();
    }
  });

  it('{ accept: false } defaults to 403 with a body; a Uint8Array body is sent as is', async () => {
    let answer: 'default' | 'bytes' = 'default';
    const { url } = await serve({
      threads: 1,
      upgrade: () =>
        answer === 'default'
          ? { accept: false }
          : { accept: false, status: 503, body: new Uint8Array([0x68, 0x69]), headers: { 'content-type': 'application/x-test' } },
    });
    const a = await expectRefused(url);
    expect(a.status).toBe(403);
    expect(a.body.length).toBeGreaterThan(0);
    answer = 'bytes';
    const b = await expectRefused(url);
    expect(b.status).toBe(503);
    expect(b.body).toBe('hi');
    expect(b.headers['content-type']).toBe('application/x-test');
  });

  it('a throwing or rejecting hook answers 500 and the `error` option gets the error', async () => {
    const errors: unknown[] = [];
    let mode: 'throw' | 'reject' | 'bad-status' | 'bad-result' = 'throw';
    const { url } = await serve({
      threads: 1,
      upgrade() {
        if (mode === 'throw') throw new Error('sync failure');
        if (mode === 'reject') return Promise.reject(new Error('async failure'));
        if (mode === 'bad-status') return { accept: false, status: 99 };
        return 42 as unknown as undefined;
      },
      error: (err) => void errors.push(err),
    });
    expect((await expectRefused(url)).status).toBe(500);
    mode = 'reject';
    expect((await expectRefused(url)).status).toBe(500);
    mode = 'bad-status';
    expect((await expectRefused(url)).status).toBe(500);
    mode = 'bad-result';
    expect((await expectRefused(url)).status).toBe(500);
    expect(errors.length).toBe(4);
    expect((errors[0] as Error).message).toBe('sync failure');
    expect((errors[1] as Error).message).toBe('async failure');
    expect(errors[2]).toBeInstanceOf(RangeError);
    expect(errors[3]).toBeInstanceOf(TypeError);
  });

  it('a header value with CR/LF answers 500 and injects nothing', async () => {
    const errors: unknown[] = [];
    let which = 0;
    const { port } = await serve({
      threads: 1,
      upgrade(): UpgradeResult<unknown> {
        which++;
        if (which === 1) return { accept: false, status: 401, headers: { 'x-a': 'ok\r\nSet-Cookie: evil=1' } };
        if (which === 2) return { accept: true, headers: { 'x-b': 'ok\nSet-Cookie: evil=1' } };
        if (which === 3) return { accept: true, headers: { 'x-c\r\nSet-Cookie': 'evil=1' } };
        return { accept: false, headers: { 'x-d': 'nul\0byte' } };
      },
      error: (err) => void errors.push(err),
    });
    for (let i = 0; i < 4; i++) {
      const raw = await RawClient.connect(port);
      try {
        raw.write(upgradeRequest('/'));
        const res = await raw.readHttp();
        expect(res.status).toBe(500);
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(Object.keys(res.headers).some((k) => k.startsWith('x-'))).toBe(false);
        await raw.waitEnd();
      } finally {
        raw.destroy();
      }
    }
    expect(errors.length).toBe(4);
    for (const e of errors) expect(e).toBeInstanceOf(TypeError);
  });

  it('reserved response headers cannot be set by the hook (500)', async () => {
    const errors: unknown[] = [];
    const { url } = await serve({
      threads: 1,
      upgrade: () => ({ accept: true, headers: { 'Sec-WebSocket-Accept': 'forged' } }),
      error: (err) => void errors.push(err),
    });
    expect((await expectRefused(url)).status).toBe(500);
    expect(String(errors[0])).toMatch(/set by the server/);
  });

  it('extra headers on accept reach the 101 response', async () => {
    const { port } = await serve({ threads: 1, upgrade: () => ({ accept: true, headers: { 'x-session': 's1' } }) });
    const raw = await RawClient.connect(port);
    try {
      raw.write(upgradeRequest('/'));
      const res = await raw.readHttp();
      expect(res.status).toBe(101);
      expect(res.headers['x-session']).toBe('s1');
    } finally {
      raw.destroy();
    }
  });

  it('a client that disconnects while an async hook is pending: no open, no crash, server still serves', async () => {
    const opens: unknown[] = [];
    const closes: unknown[] = [];
    const errors: unknown[] = [];
    const gates: (() => void)[] = [];
    let hold = true;
    const { port, url, server } = await serve<string>({
      threads: 2,
      async upgrade(req) {
        if (hold) await new Promise<void>((r) => gates.push(r));
        return { accept: true, data: req.url };
      },
      open: (ws) => void opens.push(ws.data),
      close: (ws) => void closes.push(ws.data),
      message: (ws, data) => void ws.send(data),
      error: (err) => void errors.push(err),
    });
    // Several clients, each gone before its hook answers: some long before, one just before.
    const raws = await Promise.all(Array.from({ length: 6 }, () => RawClient.connect(port)));
    raws.forEach((r, i) => r.write(upgradeRequest(`/gone/${i}`)));
    await waitFor(() => gates.length === 6, 5000, 'six pending hooks');
    for (const r of raws) r.destroy();
    await delay(100);
    for (const open of gates.splice(0)) open();
    // An answer right after a disconnect (likely before the server heard of it).
    const late = await RawClient.connect(port);
    late.write(upgradeRequest('/late'));
    await waitFor(() => gates.length === 1, 5000, 'the late hook');
    late.destroy();
    gates.splice(0)[0]();
    await delay(100);
    hold = false;
    const c = await connect('ws', url);
    c.send('served');
    expect((await c.next()).data).toBe('served');
    await waitFor(() => opens.length === 1);
    expect(opens).toEqual(['/']);
    expect(closes).toEqual([]);
    expect(errors).toEqual([]);
    expect(server.connections).toBe(1);
  });

  it('frames a client pipelines behind its upgrade request wait for the async hook, then arrive in order', async () => {
    const got: string[] = [];
    const { port } = await serve({
      threads: 1,
      async upgrade() {
        await delay(30);
        return { accept: true };
      },
      message: (ws, data) => {
        got.push(String(data));
        ws.send(data);
      },
    });
    const raw = await RawClient.connect(port);
    try {
      raw.write(Buffer.concat([
        Buffer.from(upgradeRequest('/')),
        encodeFrame({ opcode: 1, payload: 'first' }),
        encodeFrame({ opcode: 2, payload: Buffer.from('second') }),
      ]));
      expect((await raw.readHttp()).status).toBe(101);
      const a = await raw.readFrame();
      const b = await raw.readFrame();
      expect([a.opcode, a.payload.toString(), b.opcode, b.payload.toString()]).toEqual([1, 'first', 2, 'second']);
      expect(got).toEqual(['first', 'second']);
    } finally {
      raw.destroy();
    }
  });

  it('200 concurrent upgrades through an async hook all open', async () => {
    let active = 0;
    let maxActive = 0;
    const { url, server } = await serve<number>({
      threads: 2,
      async upgrade(req) {
        active++;
        maxActive = Math.max(maxActive, active);
        await delay(20);
        active--;
        return { accept: true, data: Number(new URL(req.url, 'ws://x').searchParams.get('id')) };
      },
      message(ws, data) {
        ws.send(`${ws.data}:${String(data)}`);
      },
    });
    const clients = await Promise.all(Array.from({ length: 200 }, (_, id) => connect(id % 2 ? 'ws' : 'undici', `${url}/?id=${id}`)));
    await waitFor(() => server.connections === 200, 5000, '200 connections');
    clients.forEach((c) => c.send('m'));
    await Promise.all(clients.map(async (c, id) => expect((await c.next()).data).toBe(`${id}:m`)));
    // The hooks really ran concurrently.
    expect(maxActive).toBeGreaterThan(1);
  });
});

describe('http hook', () => {
  it('answers GET /health with 200 ok (text/plain) readable by fetch and http.get', async () => {
    const seen: HttpRequest[] = [];
    const { port } = await serve({
      threads: 2,
      http(req) {
        seen.push(req);
        if (req.url === '/health') return { status: 200, body: 'ok' };
        return { status: 404, body: 'not here' };
      },
    });
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('ok');
    const g = await httpGet(port, '/health', { 'X-Probe': 'Yes' });
    expect(g.status).toBe(200);
    expect(g.body).toBe('ok');
    expect(g.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(g.headers.connection).toBe('close');
    const miss = await httpGet(port, '/missing');
    expect(miss.status).toBe(404);
    expect(miss.body).toBe('not here');
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/health', remoteAddress: '127.0.0.1' });
    expect(seen[1].headers['x-probe']).toBe('Yes');
  });

  it('sends custom headers and a Uint8Array body; status defaults to 200', async () => {
    const body = new Uint8Array([0, 1, 2, 250, 255]);
    const { port } = await serve({
      threads: 1,
      async http() {
        await delay(5);
        return { headers: { 'content-type': 'application/octet-stream', 'x-served-by': 'corews' }, body };
      },
    });
    const res = await httpGet(port, '/bin');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['x-served-by']).toBe('corews');
    expect(res.headers['content-length']).toBe('5');
    expect([...res.raw]).toEqual([...body]);
    const f = await fetch(`http://127.0.0.1:${port}/bin`, { method: 'POST' });
    expect(f.status).toBe(200);
    expect([...new Uint8Array(await f.arrayBuffer())]).toEqual([...body]);
  });

  it('without the hook a plain GET gets 426', async () => {
    const { port } = await serve({ threads: 1 });
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    await res.arrayBuffer();
  });

  it('a throwing or rejecting http hook answers 500 and is reported', async () => {
    const errors: unknown[] = [];
    const { port } = await serve({
      threads: 1,
      http(req) {
        if (req.url === '/sync') throw new Error('sync http failure');
        if (req.url === '/bad') return { status: 1000 };
        return Promise.reject(new Error('async http failure'));
      },
      error: (err) => void errors.push(err),
    });
    expect((await httpGet(port, '/sync')).status).toBe(500);
    expect((await httpGet(port, '/async')).status).toBe(500);
    expect((await httpGet(port, '/bad')).status).toBe(500);
    expect((errors as Error[]).map((e) => e.message)).toEqual([
      'sync http failure',
      'async http failure',
      expect.stringMatching(/status/) as unknown as string,
    ]);
  });

  it('a client that disconnects while an async http hook is pending gets nothing written; the server goes on', async () => {
    const gates: (() => void)[] = [];
    const errors: unknown[] = [];
    const { port } = await serve({
      threads: 1,
      async http(req) {
        if (req.url === '/slow') await new Promise<void>((r) => gates.push(r));
        return { body: req.url };
      },
      error: (err) => void errors.push(err),
    });
    const raw = await RawClient.connect(port);
    raw.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => gates.length === 1, 5000, 'the pending hook');
    raw.destroy();
    await delay(50);
    gates[0]();
    await delay(20);
    expect((await httpGet(port, '/fast')).body).toBe('/fast');
    expect(errors).toEqual([]);
  });

  it('server.close() while hooks are pending: close resolves, late answers are ignored', async () => {
    const gates: (() => void)[] = [];
    const errors: unknown[] = [];
    const opens: unknown[] = [];
    const { port, server } = await serve({
      threads: 2,
      async upgrade() {
        await new Promise<void>((r) => gates.push(r));
        return { accept: true };
      },
      async http() {
        await new Promise<void>((r) => gates.push(r));
        return { body: 'late' };
      },
      open: (ws) => void opens.push(ws),
      error: (err) => void errors.push(err),
    });
    const up = await RawClient.connect(port);
    up.write(upgradeRequest('/'));
    const plain = await RawClient.connect(port);
    plain.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      await waitFor(() => gates.length === 2, 5000, 'two pending hooks');
      const t0 = Date.now();
      await server.close();
      expect(Date.now() - t0).toBeLessThan(1000);
      for (const open of gates) open();
      await delay(50);
      await up.waitEnd();
      await plain.waitEnd();
      expect(opens).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      up.destroy();
      plain.destroy();
    }
  });

  it('upgrades still work next to the http hook', async () => {
    const { url, port } = await serve({ threads: 1, http: () => ({ body: 'page' }), ...echoOptions() });
    const c = await connect('ws', url);
    expect((await httpGet(port, '/')).body).toBe('page');
    c.send('ws too');
    expect((await c.next()).data).toBe('ws too');
  });
});
