// wss://: the TLS transport with real clients (ws, undici, openssl s_client,
// Python's websockets), bad input on the TLS port, SNI and certificate
// rotation, and backpressure, idle timeouts, topics and the upgrade hook over
// TLS. The CA and certificates are made by test/helpers/tls-certs.ts.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Agent, WebSocket as UndiciWebSocket } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, SendStatus, type Server, type ServerOptions, type WebSocket } from '../src/index';
import { RawClient, upgradeRequest } from './helpers/raw-client';
import { waitFor } from './helpers/server';
import { testPki, type TestPki } from './helpers/tls-certs';

const MiB = 1024 * 1024;
let pki: TestPki;
const servers: Server<any>[] = [];
const sockets: (net.Socket | WS)[] = [];

beforeAll(() => {
  pki = testPki();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    if (s instanceof WS) s.terminate();
    else s.destroy();
  }
  await Promise.all(servers.splice(0).map((s) => s.close({ timeout: 500 }).catch(() => {})));
});

async function serveTls<U = unknown>(options: ServerOptions<U> = {}): Promise<{ server: Server<U>; port: number; url: string }> {
  const server = createServer<U>({
    threads: 1,
    tls: { key: pki.server.key, cert: pki.server.cert },
    message(ws, data, isBinary) {
      ws.send(data, { binary: isBinary });
    },
    ...options,
  });
  servers.push(server);
  await server.listen(0, '127.0.0.1');
  const port = server.address()!.port;
  return { server, port, url: `wss://localhost:${port}` };
}

function wsClient(url: string, opts: WS.ClientOptions = {}): Promise<WS> {
  return new Promise((resolve, reject) => {
    const ws = new WS(url, { ca: pki.ca, ...opts });
    sockets.push(ws);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WS, ms = 10_000): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out waiting for a message')), ms);
    ws.once('message', (data, binary) => {
      clearTimeout(t);
      resolve({ data: data as Buffer, binary });
    });
  });
}

function closed(ws: WS): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** The CN of the certificate the server presents for `servername`. */
function peerCn(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, ca: pki.ca, checkServerIdentity: () => undefined }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.once('error', reject);
  });
}

/** A raw WebSocket client over TLS (RawClient on a TLSSocket). */
async function rawTls(port: number): Promise<RawClient> {
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const sock = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.ca }, () => resolve(sock));
    sock.once('error', reject);
  });
  sockets.push(s);
  const c = RawClient.wrap(s);
  c.write(upgradeRequest('/'));
  const res = await c.readHttp();
  expect(res.status).toBe(101);
  return c;
}

interface Run {
  code: number | null;
  out: string;
}

/** Runs a command, writing `input` to its stdin after `delayMs`, then closing stdin after `endMs`. */
function run(cmd: string, args: string[], input = '', delayMs = 300, endMs = 600, killMs = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.stdin.on('error', () => {});
    setTimeout(() => input && p.stdin.write(input), delayMs);
    setTimeout(() => p.stdin.end(), endMs);
    const k = setTimeout(() => p.kill('SIGKILL'), killMs);
    p.on('close', (code) => {
      clearTimeout(k);
      resolve({ code, out });
    });
  });
}

function sClient(port: number, extra: string[], input = '', delayMs = 300, endMs = 600): Promise<Run> {
  return run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', pki.caPath, ...extra], input, delayMs, endMs);
}

async function echoOnce(url: string): Promise<void> {
  const ws = await wsClient(url);
  const m = nextMessage(ws);
  ws.send('still serving');
  expect((await m).data.toString()).toBe('still serving');
  ws.close();
}

// ---------------------------------------------------------------- clients

describe('wss:// with real clients', () => {
  it('ws: echo of text and binary, several MiB both ways, close handshake', async () => {
    const { server, url } = await serveTls({ threads: 2 });
    const ws = await wsClient(url);
    let m = nextMessage(ws);
    ws.send('hello over TLS');
    expect(await m).toEqual({ data: Buffer.from('hello over TLS'), binary: false });
    const big = Buffer.alloc(6 * MiB);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    m = nextMessage(ws);
    ws.send(big);
    const got = await m;
    expect(got.binary).toBe(true);
    expect(got.data.equals(big)).toBe(true);
    const done = closed(ws);
    ws.close(4000, 'bye');
    expect((await done).code).toBe(4000);
    await waitFor(() => server.stats().tls!.handshakes === 1);
    expect(server.stats().tls!.handshakeFailures).toBe(0);
  });

  it("undici's WebSocket with the test CA: echo, large message, close", async () => {
    const { url } = await serveTls();
    const dispatcher = new Agent({ connect: { ca: pki.ca } });
    const ws = new UndiciWebSocket(url, { dispatcher } as any);
    ws.binaryType = 'arraybuffer';
    const messages: (string | ArrayBuffer)[] = [];
    const waiters: (() => void)[] = [];
    ws.addEventListener('message', (ev) => {
      messages.push(ev.data as string | ArrayBuffer);
      waiters.shift()?.();
    });
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('undici failed to connect')));
    });
    const next = async (): Promise<string | ArrayBuffer> => {
      if (messages.length === 0) await new Promise<void>((r) => waiters.push(r));
      return messages.shift()!;
    };
    ws.send('text');
    expect(await next()).toBe('text');
    const big = new Uint8Array(3 * MiB).map((_, i) => i % 251);
    ws.send(big);
    const back = new Uint8Array((await next()) as ArrayBuffer);
    expect(Buffer.from(back).equals(Buffer.from(big))).toBe(true);
    const done = new Promise<number>((r) => ws.addEventListener('close', (ev) => r(ev.code)));
    ws.close(1000);
    expect(await done).toBe(1000);
    await dispatcher.close();
  });

  it("Python's websockets with an SSL context", async (ctx) => {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import websockets'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      console.warn('skipped: /usr/bin/python3 has no websockets module (Debian: apt-get install python3-websockets)');
      ctx.skip();
      return;
    }
    const { url } = await serveTls();
    const script = `
import asyncio, ssl, sys, websockets
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[2])
    async with websockets.connect(sys.argv[1], ssl=ctx, max_size=None) as ws:
        await ws.send("hi from python")
        print("text", await ws.recv())
        data = bytes(range(256)) * 8192
        await ws.send(data)
        back = await ws.recv()
        print("binary", len(back), back == data)
    print("closed", ws.close_code)
asyncio.run(main())
`;
    const r = await run('/usr/bin/python3', ['-c', script, url, pki.caPath], '', 0, 0, 20_000);
    expect(r.out).toContain('text hi from python');
    expect(r.out).toContain('binary 2097152 True');
    expect(r.out).toContain('closed 1000');
    expect(r.code).toBe(0);
  });
});

// ---------------------------------------------------------------- openssl s_client

describe('openssl s_client', () => {
  for (const [flag, name] of [['-tls1_2', 'TLSv1.2'], ['-tls1_3', 'TLSv1.3']] as const) {
    it(`${name}, with ALPN http/1.1 answered`, async () => {
      const { server, port } = await serveTls();
      const r = await sClient(port, [flag, '-alpn', 'http/1.1', '-servername', 'localhost']);
      expect(r.out).toMatch(new RegExp(`Protocol\\s*: ${name.replace('.', '\\.')}`));
      expect(r.out).toContain('ALPN protocol: http/1.1');
      expect(r.out).toContain('Verify return code: 0 (ok)');
      await waitFor(() => server.stats().tls![name === 'TLSv1.2' ? 'tls12' : 'tls13'] === 1);
    });
  }

  it('ALPN without http/1.1 gets no ALPN answer, and the handshake still completes', async () => {
    const { port } = await serveTls();
    const r = await sClient(port, ['-alpn', 'h2']);
    expect(r.out).toContain('No ALPN negotiated');
    expect(r.out).toContain('Verify return code: 0 (ok)');
  });

  for (const version of ['-tls1_2', '-tls1_3']) {
    it(`session resumption (${version}): -sess_out then -sess_in is "Reused", across 4 workers`, async () => {
      const { server, port } = await serveTls({ threads: 4 });
      const sess = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'corews-sess-')), 'session.pem');
      const first = await sClient(port, [version, '-sess_out', sess], '', 300, 800);
      expect(first.out).toContain('New,');
      for (let i = 0; i < 4; i++) {
        const again = await sClient(port, [version, '-sess_in', sess]);
        expect(again.out).toContain('Reused,');
      }
      await waitFor(() => server.stats().tls!.resumed === 4);
    });
  }

  it('SNI selects the certificate: exact names and one-label wildcards (addContext)', async () => {
    const { server, port } = await serveTls();
    server.addContext('a.example.test', { key: pki.named.key, cert: pki.named.cert });
    server.addContext('*.wild.test', { key: pki.wildcard.key, cert: pki.wildcard.cert });
    const cn = async (name: string) => {
      const r = await sClient(port, ['-servername', name]);
      return /subject=CN\s*=\s*([^\n]+)/.exec(r.out)?.[1]?.trim();
    };
    expect(await cn('a.example.test')).toBe('a.example.test');
    expect(await cn('A.Example.Test')).toBe('a.example.test');
    expect(await cn('x.wild.test')).toBe('*.wild.test');
    expect(await cn('x.y.wild.test')).toBe('localhost');
    expect(await cn('wild.test')).toBe('localhost');
    expect(await cn('other.test')).toBe('localhost');
    expect(await peerCn(port, 'a.example.test')).toBe('a.example.test');
  });

  it('renegotiation is refused: the connection closes, counted, and the server serves the next client', async () => {
    const { server, port, url } = await serveTls();
    const r = await sClient(port, ['-tls1_2'], 'R\n', 400, 2000);
    expect(r.out).toContain('RENEGOTIATING');
    await waitFor(() => server.stats().tls!.renegotiationsRefused === 1, 5000, 'the refused renegotiation');
    expect(r.out).not.toMatch(/RENEGOTIATING[\s\S]*Verify return code: 0 \(ok\)[\s\S]*Verify return code/);
    await echoOnce(url);
  });
});

// ---------------------------------------------------------------- bad input

/** The first flight of a real TLS client: its ClientHello. */
async function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sink = net.createServer((s) => {
      s.once('data', (d) => {
        resolve(d);
        s.destroy();
        sink.close();
      });
    });
    sink.listen(0, '127.0.0.1', () => {
      const port = (sink.address() as net.AddressInfo).port;
      const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost' });
      c.on('error', () => {});
      c.on('close', () => c.destroy());
    });
    sink.on('error', reject);
  });
}

/** Sends `bytes` on a plain TCP connection; resolves with what came back once the server closed it. */
function sendRaw(port: number, bytes: Buffer, end: boolean): Promise<{ reply: Buffer; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.write(bytes);
      if (end) s.end();
    });
    sockets.push(s);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve({ reply: Buffer.concat(chunks), ms: Date.now() - started }));
    setTimeout(() => reject(new Error('the server did not close the connection')), 8000);
  });
}

describe('bad input on the TLS port', () => {
  it('plain HTTP, garbage, a truncated ClientHello and a client stalled mid-handshake: each closed and counted, the next client served', async () => {
    const { server, port, url } = await serveTls({ handshakeTimeout: 400 });
    const hello = await captureClientHello();
    expect(hello[0]).toBe(0x16);  // a handshake record
    const failures = () => server.stats().tls!.handshakeFailures;

    await sendRaw(port, Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n'), false);
    await waitFor(() => failures() === 1, 5000, 'plain HTTP counted');
    await echoOnce(url);

    await sendRaw(port, Buffer.from('\x00\x01garbage, not TLS at all\xff'.repeat(20), 'latin1'), false);
    await waitFor(() => failures() === 2, 5000, 'garbage counted');
    await echoOnce(url);

    // Half a ClientHello, then FIN.
    await sendRaw(port, hello.subarray(0, Math.floor(hello.length / 2)), true);
    await waitFor(() => failures() === 3, 5000, 'a truncated hello counted');
    await echoOnce(url);

    // Half a ClientHello, then nothing: the handshake timeout ends it.
    const stalled = await sendRaw(port, hello.subarray(0, Math.floor(hello.length / 2)), false);
    expect(stalled.ms).toBeGreaterThanOrEqual(350);
    expect(stalled.ms).toBeLessThan(3000);
    await waitFor(() => failures() === 4, 5000, 'a stalled handshake counted');
    expect(server.stats().handshakes.rejected['408']).toBe(1);
    await echoOnce(url);

    // A TCP connection that sends nothing at all is also a handshake that failed (by timeout).
    const silent = await sendRaw(port, Buffer.alloc(0), false);
    expect(silent.reply.length).toBe(0);
    await waitFor(() => failures() === 5, 5000, 'a silent connection counted');
    await echoOnce(url);
    expect(server.stats().tls!.handshakes).toBe(5);
  });

  it('many bad clients at once do not stall the worker', async () => {
    const { server, port, url } = await serveTls({ handshakeTimeout: 2000 });
    const junk = Array.from({ length: 50 }, (_, i) => sendRaw(port, Buffer.alloc(100 + i, i), i % 2 === 0));
    await echoOnce(url);
    await Promise.all(junk);
    await waitFor(() => server.stats().tls!.handshakeFailures === 50);
  });
});

// ---------------------------------------------------------------- options

describe('the tls option', () => {
  it('checks shapes, naming the option', () => {
    const bad = (tlsOption: unknown) => () => createServer({ tls: tlsOption as any });
    expect(bad('x')).toThrow(new TypeError(`option 'tls' must be an object, got "x"`));
    expect(bad({ cert: 'x' })).toThrow(new TypeError(`option 'tls.key' is required`));
    expect(bad({ key: 'x' })).toThrow(new TypeError(`option 'tls.cert' is required`));
    expect(bad({ key: 1, cert: 'x' })).toThrow(new TypeError(`option 'tls.key' must be a PEM string or Buffer, got 1`));
    expect(bad({ key: pki.server.key, cert: [pki.server.cert, 2] })).toThrow(/option 'tls.cert\[1\]' must be a PEM string/);
    expect(bad({ key: pki.server.key, cert: pki.server.cert, minVersion: 'TLSv1' })).toThrow(RangeError);
    expect(bad({ key: pki.server.key, cert: pki.server.cert, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' })).toThrow(RangeError);
    expect(bad({ key: pki.server.key, cert: pki.server.cert, sni: {} })).toThrow(new TypeError(`unknown option 'tls.sni'`));
  });

  it('a bad PEM, a key that does not match, a wrong passphrase: a clear error at createServer', () => {
    expect(() => createServer({ tls: { key: pki.server.key, cert: 'not a certificate' } })).toThrow(/option 'tls.cert' holds no PEM certificate/);
    expect(() => createServer({ tls: { key: 'nope', cert: pki.server.cert } })).toThrow(/option 'tls.key' cannot be read/);
    expect(() => createServer({ tls: { key: pki.strayKey, cert: pki.server.cert } })).toThrow(/option 'tls.key' does not match the certificate/);
    expect(() => createServer({ tls: { key: pki.encryptedKey, cert: pki.server.cert } })).toThrow(/no passphrase given/);
    expect(() => createServer({ tls: { key: pki.encryptedKey, cert: pki.server.cert, passphrase: 'wrong' } })).toThrow(/wrong passphrase/);
    expect(() => createServer({ tls: { key: pki.server.key, cert: pki.server.cert, ciphers: 'NOPE-NOPE' } })).toThrow(/option 'tls.ciphers' is invalid/);
  });

  it('Buffers, key objects with their own passphrase, ca, ciphers and versions are taken', async () => {
    const { server, port } = await serveTls({
      tls: {
        key: [{ pem: Buffer.from(pki.encryptedKey), passphrase: 'secret' }],
        cert: [Buffer.from(pki.server.cert)],
        ca: Buffer.from(pki.ca),
        ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384',
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.3',
        sessionTimeout: 60,
      },
    });
    expect(server.secure).toBe(true);
    const r12 = await sClient(port, ['-tls1_2']);
    expect(r12.out).toContain('ECDHE-ECDSA-AES128-GCM-SHA256');
    const r13 = await sClient(port, ['-tls1_3']);
    expect(r13.out).toContain('TLS_AES_256_GCM_SHA384');
    // With ca, the chain sent includes the CA (built from it).
    const chain = await sClient(port, ['-showcerts']);
    expect(chain.out).toContain('corews test CA');
  });

  it('addContext and setSecureContext on a plain server are TypeErrors; bad sets throw and change nothing', async () => {
    const plain = createServer({ threads: 1 });
    expect(() => plain.addContext('x.test', { key: pki.server.key, cert: pki.server.cert })).toThrow(TypeError);
    expect(() => plain.setSecureContext({ key: pki.server.key, cert: pki.server.cert })).toThrow(TypeError);
    const { server, port } = await serveTls();
    expect(() => server.setSecureContext({ key: pki.strayKey, cert: pki.server.cert })).toThrow(/does not match/);
    expect(() => server.addContext('', { key: pki.server.key, cert: pki.server.cert })).toThrow(TypeError);
    expect(await peerCn(port, 'localhost')).toBe('localhost');
  });
});

// ---------------------------------------------------------------- rotation

describe('certificate rotation', () => {
  it('setSecureContext: a connection made before keeps working, a new one sees the new certificate, tickets still resume', async () => {
    const { server, port, url } = await serveTls({ threads: 2 });
    const before = await wsClient(url);
    expect(((before as any)._socket as tls.TLSSocket).getPeerCertificate().subject.CN).toBe('localhost');
    const sess = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'corews-sess-')), 'session.pem');
    expect((await sClient(port, ['-tls1_3', '-sess_out', sess], '', 300, 800)).out).toContain('New,');

    server.setSecureContext({ key: pki.rotated.key, cert: pki.rotated.cert });

    const after = await wsClient(url);
    expect(((after as any)._socket as tls.TLSSocket).getPeerCertificate().subject.CN).toBe('localhost rotated');
    expect(await peerCn(port, 'localhost')).toBe('localhost rotated');
    for (const ws of [before, after]) {
      const m = nextMessage(ws);
      ws.send('after rotation');
      expect((await m).data.toString()).toBe('after rotation');
    }
    expect((await sClient(port, ['-tls1_3', '-sess_in', sess])).out).toContain('Reused,');
    before.close();
    after.close();
  });
});

// ---------------------------------------------------------------- the rest, over TLS

describe('over TLS, the same as over TCP', () => {
  for (const policy of ['drop', 'close'] as const) {
    it(`backpressure (${policy}): a non-reading TLS client's queue stays bounded, held output included`, async () => {
      const maxBackpressure = 512 * 1024;
      let peer: WebSocket | undefined;
      const { server, port } = await serveTls({ maxBackpressure, backpressurePolicy: policy, open: (ws) => (peer = ws) });
      const c = await rawTls(port);
      c.socket.pause();
      await waitFor(() => peer !== undefined);
      const chunk = Buffer.alloc(64 * 1024, 1);
      let maxBuffered = 0;
      let refused = false;
      const deadline = Date.now() + 20_000;
      while (!refused && Date.now() < deadline) {
        for (let i = 0; i < 8 && !refused; i++) {
          refused = peer!.send(chunk) === SendStatus.DROPPED;
          maxBuffered = Math.max(maxBuffered, peer!.bufferedAmount);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      expect(refused).toBe(true);
      // The bound, one message past it, and what the transport may hold encrypted.
      expect(maxBuffered).toBeLessThanOrEqual(maxBackpressure + chunk.length + 256 * 1024);
      const s = server.stats();
      if (policy === 'drop') expect(s.backpressure.drops).toBeGreaterThan(0);
      else expect(s.backpressure.closes).toBeGreaterThan(0);
    });
  }

  it('idle timeout over TLS: a silent client is closed with 1001', async () => {
    const { server, url } = await serveTls({ idleTimeout: 0.4, pingInterval: 0 });
    const ws = await wsClient(url);
    const started = Date.now();
    const c = await closed(ws);
    expect(c.code).toBe(1001);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(server.stats().idleCloses).toBe(1);
  });

  it('topics over TLS: a publish reaches every subscriber on every worker, framed once and encrypted per connection', async () => {
    const { server, url } = await serveTls({
      threads: 3,
      open: (ws) => ws.subscribe('news'),
      message: (ws, data) => ws.publish('news', data),
    });
    const clients = await Promise.all(Array.from({ length: 6 }, () => wsClient(url)));
    await waitFor(() => server.connections === 6);
    const got = clients.slice(1).map((ws) => nextMessage(ws));
    clients[0].send('to everyone else');
    for (const m of await Promise.all(got)) expect(m.data.toString()).toBe('to everyone else');
    const all = clients.map((ws) => nextMessage(ws));
    const big = Buffer.alloc(2 * MiB, 9);
    server.publish('news', big);
    for (const m of await Promise.all(all)) expect(m.data.equals(big)).toBe(true);
  });

  it('the upgrade hook over TLS: refusals get their HTTP answer, acceptances their data', async () => {
    const { url } = await serveTls<{ user: string }>({
      upgrade: (req) => (req.url.includes('deny') ? { accept: false, status: 401, body: 'no' } : { accept: true, data: { user: 'alice' } }),
      message: (ws) => ws.send(`hello ${ws.data.user}`),
    });
    const ws = await wsClient(`${url}/ok`);
    const m = nextMessage(ws);
    ws.send('who am I');
    expect((await m).data.toString()).toBe('hello alice');
    const status = await new Promise<number>((resolve) => {
      const d = new WS(`${url}/deny`, { ca: pki.ca });
      sockets.push(d);
      d.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      d.on('error', () => {});
    });
    expect(status).toBe(401);
  });
});
