// `corews bench` end to end: the CLI (bin/corews.js, so dist/ must be built)
// in a child process against a corews server in this process. Runs are short
// and the assertions are about counts, never speed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { BenchReport } from '../src/cli/bench';
import { createServer, type Server, type WebSocket } from '../src/index';
import { testPki, type TestPki } from './helpers/tls-certs';

const CLI = path.join(__dirname, '..', 'bin', 'corews.js');
const SHORT = ['--duration', '0.5', '--warmup', '0.2', '--json'];
/** A file that is no PEM at all. */
const NOT_PEM = path.join(__dirname, '..', 'package.json');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node bin/corews.js …` to completion (SIGKILL after `ms`). */
function cli(args: string[], ms = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    proc.once('error', reject);
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The one JSON line of a successful `--json` run, checked for its exact shape (wss://: with `tls`; --deflate: with `deflate`). */
function report(run: Run, mode: BenchReport['mode'], connections: number, secure = false, deflate = false): BenchReport {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const r = JSON.parse(lines[0]) as BenchReport;
  expect(Object.keys(r).sort()).toEqual(
    ['connections', 'errors', 'handshakes', 'latencyUs', 'mbPerSec', 'messages', 'mode', 'msgsPerSec', 'open', 'seconds', ...(secure ? ['tls'] : []), ...(deflate ? ['deflate'] : [])].sort(),
  );
  if (secure) expect(Object.keys(r.tls!).sort()).toEqual(['alpn', 'cipher', 'handshakes', 'handshakesPerSec', 'protocol', 'verified']);
  if (deflate) {
    expect(Object.keys(r.deflate!).sort()).toEqual(['agreed', 'bytesIn', 'bytesOut', 'compressedIn', 'negotiated', 'ratioIn', 'ratioOut']);
  }
  expect(Object.keys(r.latencyUs).sort()).toEqual(['max', 'p50', 'p90', 'p99', 'p999'].sort());
  for (const v of [r.messages, r.seconds, r.msgsPerSec, r.mbPerSec, r.errors, r.open, r.handshakes, ...Object.values(r.latencyUs)]) {
    expect(typeof v).toBe('number');
    expect(v).toBeGreaterThanOrEqual(0);
  }
  expect(r.mode).toBe(mode);
  expect(r.connections).toBe(connections);
  // A window was measured; how long it took is the machine's business.
  expect(r.seconds).toBeGreaterThan(0);
  expect(r.errors).toBe(0);
  return r;
}

function expectLatencies(r: BenchReport): void {
  const l = r.latencyUs;
  expect(l.p50).toBeGreaterThan(0);
  expect(l.p50).toBeLessThanOrEqual(l.p90);
  expect(l.p90).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.p999);
  expect(l.p999).toBeLessThanOrEqual(l.max);
}

type Role = 'echo' | 'publisher' | 'subscriber';

/** What the server saw. */
const seen = { text: 0, binary: 0, malformed: 0, handlerErrors: 0, published: 0, deliveries: 0, opened: 0, subscribers: 0, publishers: 0, maxOpen: 0,
  // Publishes after a subscriber of the run had closed, and their deliveries: at the run's end
  // the load generator closes every connection at once, and a publish still in flight can
  // reach JS after a subscriber's close (another worker's batch).
  publishedAfterClose: 0, deliveriesAfterClose: 0 };
let subscriberClosed = false;
/** Messages per connection, for the run in progress (measured() clears it). */
const perConnection = new Map<WebSocket<Role>, number>();
let server: Server<Role>;
let url = '';
const subscribers = new Set<WebSocket<Role>>();

beforeAll(async () => {
  // Echo (text as text, binary as binary), and the fan-out convention of
  // `corews bench fanout`: what ?role=publisher sends goes to every ?role=subscriber.
  server = createServer<Role>({
    threads: 1,
    open(ws) {
      seen.opened++;
      seen.maxOpen = Math.max(seen.maxOpen, server.connections);
      const role = /[?&]role=(publisher|subscriber)/.exec(ws.url)?.[1];
      ws.data = role === 'publisher' || role === 'subscriber' ? role : 'echo';
      if (ws.data === 'subscriber') {
        seen.subscribers++;
        subscribers.add(ws);
      } else if (ws.data === 'publisher') seen.publishers++;
    },
    message(ws, data, isBinary) {
      perConnection.set(ws, (perConnection.get(ws) ?? 0) + 1);
      // Text arrives as a string, binary as a Buffer; anything else is the server's fault.
      if (isBinary ? !Buffer.isBuffer(data) : typeof data !== 'string') {
        seen.malformed++;
        return;
      }
      if (ws.data === 'publisher') {
        seen.published++;
        for (const s of subscribers) s.send(data, { binary: isBinary });
        seen.deliveries += subscribers.size;
        if (subscriberClosed) {
          seen.publishedAfterClose++;
          seen.deliveriesAfterClose += subscribers.size;
        }
        return;
      }
      if (isBinary) seen.binary++;
      else seen.text++;
      ws.send(data, { binary: isBinary });
    },
    close(ws) {
      if (subscribers.delete(ws)) subscriberClosed = true;
    },
    error() {
      seen.handlerErrors++;
    },
  });
  await server.listen(0, '127.0.0.1');
  url = `ws://127.0.0.1:${server.address()!.port}/`;
});

afterAll(async () => {
  await server?.close();
});

/** Runs the CLI while counting what the server sees during the run. */
async function measured(args: string[]): Promise<{ run: Run; during: typeof seen }> {
  // The previous run's connections may still be closing (connect mode drops
  // them with RST at its end): start from none.
  for (let waited = 0; server.connections > 0 && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  expect(server.connections).toBe(0);
  const before = { ...seen };
  perConnection.clear();
  subscriberClosed = false;
  seen.maxOpen = server.connections;
  const sampler = setInterval(() => (seen.maxOpen = Math.max(seen.maxOpen, server.connections)), 5);
  try {
    const run = await cli(args);
    await new Promise((r) => setTimeout(r, 50)); // the server's last batch
    const during = { ...seen };
    for (const k of Object.keys(during) as (keyof typeof seen)[]) if (k !== 'maxOpen') during[k] -= before[k];
    expect(during.malformed).toBe(0);
    expect(during.handlerErrors).toBe(0);
    return { run, during };
  } finally {
    clearInterval(sampler);
  }
}

describe('corews bench modes against a corews server', () => {
  it('echo (binary): every message counted came back from the server', async () => {
    const { run, during } = await measured(['bench', 'echo', url, '--connections', '4', '--depth', '2', '--size', '64', ...SHORT]);
    const r = report(run, 'echo', 4);
    expect(r.messages).toBeGreaterThan(0);
    expect(during.binary).toBeGreaterThanOrEqual(r.messages);
    expect(during.text).toBe(0);
    expect(r.open).toBe(4);
    expect(r.handshakes).toBe(4);
    // msgsPerSec comes from the unrounded window, seconds is rounded to 1 ms.
    expect(Math.abs(r.msgsPerSec - r.messages / r.seconds)).toBeLessThanOrEqual(r.msgsPerSec * 0.01 + 1);
    expect(r.mbPerSec).toBeGreaterThan(0);
    expectLatencies(r);
  });

  it('echo --text sends text frames', async () => {
    const { run, during } = await measured(['bench', 'echo', url, '--connections', '2', '--size', '100', '--text', ...SHORT]);
    const r = report(run, 'echo', 2);
    expect(r.messages).toBeGreaterThan(0);
    expect(during.text).toBeGreaterThanOrEqual(r.messages);
    expect(during.binary).toBe(0);
  });

  it('echo with 8 MiB messages on two threads: a frame larger than the socket buffers goes out over many passes', async () => {
    // No echo can come back before the server has a whole frame, so nothing
    // but the generator's own retries can finish the first write.
    const size = 8 << 20;
    const depth = 2;
    const { run, during } = await measured(['bench', 'echo', url, '--connections', '2', '--depth', String(depth), '--size', String(size), '--threads', '2', '--duration', '1', '--warmup', '0.2', '--json']);
    const r = report(run, 'echo', 2);
    expect(r.messages).toBeGreaterThan(0);
    expect(during.binary).toBeGreaterThanOrEqual(r.messages);
    expect(r.open).toBe(2);
    // Every message counted was a whole echo.
    expect(Math.round(r.mbPerSec * 1e6 * r.seconds)).toBeGreaterThanOrEqual(Math.floor(r.messages * size * 0.99));
    // Traffic kept flowing, not only at the start: each connection sent more
    // than its first `depth` messages, so it sent again after echoes of
    // 8 MiB came back, and its writes of later frames finished too.
    expect(perConnection.size).toBe(2);
    for (const n of perConnection.values()) expect(n).toBeGreaterThan(depth);
  });

  it('echo: connections the server closes mid-run are errors; the others go on', async () => {
    // A second server that closes every other connection after its 20th message.
    let closedByServer = 0;
    const quitter = createServer<{ n: number; index: number }>({
      threads: 1,
      open(ws) {
        ws.data = { n: 0, index: quitter.connections };
      },
      message(ws, data) {
        if (++ws.data.n === 20 && ws.data.index % 2 === 0) {
          closedByServer++;
          ws.close(1000, 'enough');
          return;
        }
        ws.send(data, { binary: true });
      },
    });
    await quitter.listen(0, '127.0.0.1');
    try {
      const run = await cli(['bench', 'echo', `ws://127.0.0.1:${quitter.address()!.port}/`, '--connections', '6', '--depth', '2', '--duration', '0.5', '--warmup', '0.2', '--json']);
      expect(run.code).toBe(0);
      const r = JSON.parse(run.stdout) as BenchReport;
      expect(closedByServer).toBeGreaterThan(0);
      expect(r.errors).toBe(closedByServer);
      expect(r.open).toBe(6 - closedByServer);
      expect(r.messages).toBeGreaterThan(0);
    } finally {
      await quitter.close();
    }
  });

  it('latency: one message in flight per connection, percentiles filled', async () => {
    const { run, during } = await measured(['bench', 'latency', url, '--connections', '3', ...SHORT]);
    const r = report(run, 'latency', 3);
    expect(r.messages).toBeGreaterThan(0);
    expect(during.binary).toBeGreaterThanOrEqual(r.messages);
    expect(r.open).toBe(3);
    expectLatencies(r);
  });

  it('connect: handshakes counted by both sides', async () => {
    const { run, during } = await measured(['bench', 'connect', url, '--connections', '2', ...SHORT]);
    const r = report(run, 'connect', 2);
    expect(r.handshakes).toBeGreaterThan(0);
    expect(r.messages).toBe(r.handshakes);
    expect(during.opened).toBeGreaterThanOrEqual(r.handshakes);
  });

  it('idle: every connection opens and stays open; the server sees all of them', async () => {
    const { run, during } = await measured(['bench', 'idle', url, '--connections', '20', '--duration', '0.5', '--warmup', '0', '--json']);
    const r = report(run, 'idle', 20);
    expect(r.open).toBe(20);
    expect(r.handshakes).toBe(20);
    expect(r.messages).toBe(0);
    expect(during.opened).toBe(20);
    expect(during.maxOpen).toBe(20);
  });

  it('fanout: one publisher, N subscribers, deliveries counted at the receivers', async () => {
    const { run, during } = await measured(['bench', 'fanout', url, '--connections', '5', '--depth', '2', '--size', '32', ...SHORT]);
    const r = report(run, 'fanout', 5);
    expect(during.subscribers).toBe(5);
    expect(during.publishers).toBe(1);
    expect(r.open).toBe(6);
    expect(r.handshakes).toBe(6);
    expect(r.messages).toBeGreaterThan(0);
    // Every publish until the first subscriber closed went to all five; after
    // it, only what was in flight when the run ended (the depth, 2) may follow.
    expect(during.deliveries - during.deliveriesAfterClose).toBe((during.published - during.publishedAfterClose) * 5);
    expect(during.publishedAfterClose).toBeLessThanOrEqual(2);
    expect(during.deliveries).toBeGreaterThanOrEqual(r.messages);
    expectLatencies(r); // from the send time in the first 8 bytes
  });
});

describe('corews bench --deflate', () => {
  // An echo server with permessage-deflate; threshold 0: every message goes back compressed.
  let deflating: Server<{ n: number }>;
  let deflateUrl = '';
  const got = { text: 0, binary: 0, notJson: 0, sizes: new Set<number>() };

  beforeAll(async () => {
    deflating = createServer<{ n: number }>({
      threads: 1,
      perMessageDeflate: { threshold: 0 },
      open(ws) {
        ws.data = { n: 0 };
      },
      message(ws, data, isBinary) {
        if (isBinary) got.binary++;
        else {
          got.text++;
          got.sizes.add((data as string).length);
          try {
            JSON.parse(data as string);
          } catch {
            got.notJson++;
          }
        }
        ws.send(data, { binary: isBinary });
      },
    });
    await deflating.listen(0, '127.0.0.1');
    deflateUrl = `ws://127.0.0.1:${deflating.address()!.port}/`;
  });

  afterAll(async () => {
    await deflating?.close();
  });

  it('echo: agreed on every connection, every message compressed both ways, bytes on the wire counted', async () => {
    const before = deflating.stats().perMessageDeflate!;
    const run = await cli(['bench', 'echo', deflateUrl, '--connections', '3', '--depth', '2', '--size', '4096', '--text', '--payload', 'json', '--deflate', ...SHORT]);
    const after = deflating.stats().perMessageDeflate!;
    const r = report(run, 'echo', 3, false, true);
    const d = r.deflate!;
    expect(r.messages).toBeGreaterThan(0);
    expect(d.negotiated).toBe(3);
    expect(d.agreed).toBe('permessage-deflate');
    expect(d.compressedIn).toBe(r.messages);
    // Both sides saw compressed messages: the server inflated what the generator sent.
    expect(after.messagesInflated - before.messagesInflated).toBeGreaterThanOrEqual(r.messages);
    expect(after.messagesCompressed - before.messagesCompressed).toBeGreaterThanOrEqual(r.messages);
    // Payload counted inflated, the wire compressed: JSON-like text shrinks several times.
    expect(d.bytesIn.payload).toBe(r.messages * 4096);
    expect(d.bytesIn.wire).toBeGreaterThan(0);
    expect(d.ratioIn).toBeGreaterThan(2);
    expect(d.ratioOut).toBeGreaterThan(2);
    expect(d.ratioIn).toBeCloseTo(d.bytesIn.payload / d.bytesIn.wire, 2);
    expect(got.notJson).toBe(0);
    expect([...got.sizes]).toEqual([4096]);
  });

  it('idle --messages K: each connection exchanges K compressed messages, then holds', async () => {
    const before = deflating.stats();
    const run = await cli(['bench', 'idle', deflateUrl, '--connections', '4', '--messages', '5', '--size', '1500', '--deflate', '--duration', '0.5', '--warmup', '0', '--json']);
    const after = deflating.stats();
    const r = report(run, 'idle', 4, false, true);
    expect(r.open).toBe(4);
    expect(r.messages).toBe(20);
    expect(r.deflate!.negotiated).toBe(4);
    expect(r.deflate!.compressedIn).toBe(20);
    expect(after.messages.in - before.messages.in).toBe(20);
    expect(after.perMessageDeflate!.messagesInflated - before.perMessageDeflate!.messagesInflated).toBe(20);
  });

  it('a server without deflate declines: the connections run uncompressed, no error', async () => {
    const run = await cli(['bench', 'echo', url, '--connections', '2', '--size', '2000', '--deflate', ...SHORT]);
    const r = report(run, 'echo', 2, false, true);
    expect(r.messages).toBeGreaterThan(0);
    expect(r.deflate).toMatchObject({ negotiated: 0, agreed: '', compressedIn: 0 });
    // Uncompressed: the wire carries the payload and the frame headers.
    expect(r.deflate!.ratioIn).toBeLessThan(1);
  });

  it('an answer the generator did not offer fails the connection (RFC 7692 §7.1)', async () => {
    // A raw server that accepts the upgrade with a parameter no client may be sent.
    const raw = net.createServer((sock) => {
      let head = '';
      sock.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1];
        if (!head.includes('\r\n\r\n') || key === undefined) return;
        const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n` +
          'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits\r\n\r\n');
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const port = (raw.address() as net.AddressInfo).port;
      const run = await cli(['bench', 'idle', `ws://127.0.0.1:${port}/`, '--connections', '2', '--deflate', '--duration', '0.3', '--warmup', '0', '--json']);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toMatchObject({ open: 0, errors: 2, deflate: { negotiated: 0 } });
    } finally {
      await new Promise((r) => raw.close(r));
    }
  });
});

describe('corews bench arguments', () => {
  const bad: [string, string[], RegExp][] = [
    ['an unknown mode', ['bench', 'flood', 'ws://127.0.0.1:1/'], /unknown mode "flood"/],
    ['--connections 0', ['bench', 'echo', 'ws://127.0.0.1:1/', '--connections', '0'], /--connections/],
    ['--size x', ['bench', 'echo', 'ws://127.0.0.1:1/', '--size', 'x'], /--size/],
    ['a missing url', ['bench', 'echo'], /<url>/],
    ['an unknown option', ['bench', 'echo', 'ws://127.0.0.1:1/', '--bogus'], /--bogus/],
    ['an unknown --payload', ['bench', 'echo', 'ws://127.0.0.1:1/', '--payload', 'xml'], /--payload must be one of pattern, json, got "xml"/],
    ['--payload without a value', ['bench', 'echo', 'ws://127.0.0.1:1/', '--payload'], /--payload needs a value/],
    ['--messages outside idle mode', ['bench', 'echo', 'ws://127.0.0.1:1/', '--messages', '3'], /--messages applies to the idle mode only/],
    ['--messages 0', ['bench', 'idle', 'ws://127.0.0.1:1/', '--messages', '0'], /--messages must be between 1 and/],
    ['an unknown short option', ['bench', 'echo', 'wss://127.0.0.1:1/', '-x'], /unknown option -x/],
    ['an http:// url', ['bench', 'echo', 'http://127.0.0.1:1/', '--duration', '0.1'], /only ws:\/\/ and wss:\/\/ URLs are supported, got http:/],
    ['--ca without a file', ['bench', 'echo', 'wss://127.0.0.1:1/', '--ca'], /--ca needs a file/],
    ['--ca followed by an option', ['bench', 'echo', 'wss://127.0.0.1:1/', '--ca', '--json'], /--ca needs a file/],
    ['--ca with --insecure', ['bench', 'echo', 'wss://127.0.0.1:1/', '--ca', __filename, '-k'], /--ca and --insecure contradict each other/],
    ['--insecure with a ws:// url', ['bench', 'echo', 'ws://127.0.0.1:1/', '--insecure', '--duration', '0.1'], /--insecure applies to wss:\/\/ URLs only/],
    ['--ca with a ws:// url', ['bench', 'echo', 'ws://127.0.0.1:1/', '--ca', __filename, '--duration', '0.1'], /--ca applies to wss:\/\/ URLs only/],
    ['--ca with a missing file', ['bench', 'echo', 'wss://127.0.0.1:1/', '--ca', path.join(__dirname, 'no-such-ca.pem'), '--duration', '0.1'], /--ca: cannot read ".*no-such-ca\.pem": ENOENT/],
    ['--ca with a file that holds no certificate', ['bench', 'echo', 'wss://127.0.0.1:1/', '--ca', NOT_PEM, '--duration', '0.1'], /--ca: ".*package\.json" holds no PEM certificate/],
  ];
  for (const [what, args, names] of bad) {
    it(`${what}: exit code 1, named on stderr`, async () => {
      const run = await cli(args);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(names);
      expect(run.stdout).toBe('');
    });
  }

  it('a bad --ca is refused with a one-line reason, not a stack trace', async () => {
    const run = await cli(['bench', 'echo', 'wss://127.0.0.1:1/', '--ca', NOT_PEM, '--duration', '0.1']);
    expect(run.stderr.trim().split('\n')).toEqual([`corews bench: --ca: ${JSON.stringify(NOT_PEM)} holds no PEM certificate`]);
  });

  it('a --ca file whose PEM markers hold no certificate the native side can read: named as such', async () => {
    const file = path.join(testPki().dir, 'broken-ca.pem');
    fs.writeFileSync(file, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    const run = await cli(['bench', 'echo', 'wss://127.0.0.1:1/', '--ca', file, '--duration', '0.1']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([`corews bench: --ca: ${JSON.stringify(file)}: no PEM certificate among the trusted CAs`]);
  });

  it('nothing listening: the report shows the errors, and the exit code is 1', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = s.address() as net.AddressInfo;
        s.close(() => resolve(p));
      });
    });
    const run = await cli(['bench', 'echo', `ws://127.0.0.1:${port}/`, '--connections', '5', '--duration', '0.2', '--warmup', '0', '--json']);
    expect(run.code).toBe(1);
    const r = JSON.parse(run.stdout) as BenchReport;
    expect(r).toMatchObject({ handshakes: 0, open: 0, messages: 0, errors: 5 });
    expect(run.stderr).toMatch(/no connection could be opened/);
  });

  it('--help: usage on stdout, exit code 0', async () => {
    const run = await cli(['bench', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^usage: corews bench <mode> <url>/);
    for (const mode of ['echo', 'latency', 'connect', 'idle', 'fanout']) expect(run.stdout).toContain(mode);
  });
});

describe('corews bench over wss://', () => {
  let pki: TestPki;
  // A corews TLS server whose default certificate is for a.example.test and
  // whose 'localhost' one is chosen by SNI: a client that sends no SNI (or the
  // wrong one) gets a certificate that does not name the host it asked for.
  let secure: Server;
  let securePort = 0;
  const secureSeen = { binary: 0, text: 0 };
  // ws over https.createServer, with the same localhost certificate.
  let httpsServer: https.Server;
  let wss: WebSocketServer;
  let wsPort = 0;
  const wsSeen = { opened: 0, messages: 0 };

  beforeAll(async () => {
    pki = testPki();
    secure = createServer({
      threads: 1,
      tls: { key: pki.named.key, cert: pki.named.cert },
      message(ws, data, isBinary) {
        if (isBinary) secureSeen.binary++;
        else secureSeen.text++;
        ws.send(data, { binary: isBinary });
      },
    });
    secure.addContext('localhost', { key: pki.server.key, cert: pki.server.cert });
    await secure.listen(0, '127.0.0.1');
    securePort = secure.address()!.port;

    httpsServer = https.createServer({ key: pki.server.key, cert: pki.server.cert });
    wss = new WebSocketServer({ server: httpsServer, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      wsSeen.opened++;
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => {
        wsSeen.messages++;
        ws.send(data, { binary: isBinary });
      });
    });
    await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve));
    wsPort = (httpsServer.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await secure?.close();
    for (const c of wss?.clients ?? []) c.terminate();
    wss?.close();
    await new Promise((r) => (httpsServer ? httpsServer.close(r) : r(undefined)));
  });

  it('echo against a corews TLS server, the certificate checked against --ca and chosen by SNI', async () => {
    const before = { ...secureSeen, tls: secure.stats().tls! };
    const run = await cli(['bench', 'echo', `wss://localhost:${securePort}/`, '--ca', pki.caPath, '--connections', '4', '--depth', '2', ...SHORT]);
    const r = report(run, 'echo', 4, true);
    expect(r.messages).toBeGreaterThan(0);
    expect(r.open).toBe(4);
    expect(r.handshakes).toBe(4);
    expect(secureSeen.binary - before.binary).toBeGreaterThanOrEqual(r.messages);
    expect(secureSeen.text - before.text).toBe(0);
    expect(r.tls).toMatchObject({ handshakes: 4, handshakesPerSec: null, protocol: 'TLSv1.3', alpn: 'http/1.1', verified: true });
    expect(r.tls!.cipher).toMatch(/^TLS_/);
    const after = secure.stats().tls!;
    expect(after.handshakes - before.tls.handshakes).toBe(4);
    expect(after.resumed - before.tls.resumed).toBe(0);
    expectLatencies(r);
  });

  it('without SNI (an IP address in the URL) the default certificate comes, and its name is checked', async () => {
    const started = Date.now();
    const run = await cli(['bench', 'echo', `wss://127.0.0.1:${securePort}/`, '--ca', pki.caPath, '--connections', '4', '--duration', '20', '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      `corews bench: wss://127.0.0.1:${securePort}/: TLS handshake: certificate verify failed: IP address mismatch; --ca <file> trusts the CA that issued it, -k/--insecure skips the check`,
    ]);
    // A rejected certificate ends the run at once, not after the 20 s window.
    expect(Date.now() - started).toBeLessThan(10_000);
    const r = JSON.parse(run.stdout) as BenchReport;
    expect(r).toMatchObject({ handshakes: 0, open: 0, messages: 0 });
    expect(r.tls).toMatchObject({ handshakes: 0, verified: true });
  });

  it('connect: TLS handshakes per second, every one a full handshake the server counted', async () => {
    const before = secure.stats().tls!;
    const run = await cli(['bench', 'connect', `wss://localhost:${securePort}/`, '--ca', pki.caPath, '--connections', '4', ...SHORT]);
    const r = report(run, 'connect', 4, true);
    expect(r.handshakes).toBeGreaterThan(0);
    const t = r.tls!;
    expect(t.handshakes).toBeGreaterThan(0);
    // The window cuts a few connections between their TLS and their upgrade.
    expect(Math.abs(t.handshakes - r.handshakes)).toBeLessThanOrEqual(4);
    expect(Math.abs(t.handshakesPerSec! - t.handshakes / r.seconds)).toBeLessThanOrEqual(t.handshakesPerSec! * 0.01 + 1);
    const after = secure.stats().tls!;
    expect(after.handshakes - before.handshakes).toBeGreaterThanOrEqual(t.handshakes);
    expect(after.resumed - before.resumed).toBe(0); // no session is resumed
  });

  it('echo and latency against ws over https.createServer, with --insecure and -k', async () => {
    const before = { ...wsSeen };
    let run = await cli(['bench', 'echo', `wss://localhost:${wsPort}/`, '--insecure', '--connections', '3', '--depth', '4', '--text', ...SHORT]);
    let r = report(run, 'echo', 3, true);
    expect(r.messages).toBeGreaterThan(0);
    expect(wsSeen.opened - before.opened).toBe(3);
    expect(wsSeen.messages - before.messages).toBeGreaterThanOrEqual(r.messages);
    expect(r.tls).toMatchObject({ handshakes: 3, protocol: 'TLSv1.3', verified: false });
    run = await cli(['bench', 'latency', `wss://127.0.0.1:${wsPort}/`, '-k', '--connections', '2', ...SHORT]);
    r = report(run, 'latency', 2, true);
    expect(r.messages).toBeGreaterThan(0);
    expectLatencies(r);
  });

  it('ws over https with its certificate checked against --ca', async () => {
    const run = await cli(['bench', 'echo', `wss://localhost:${wsPort}/`, '--ca', pki.caPath, '--connections', '2', ...SHORT]);
    const r = report(run, 'echo', 2, true);
    expect(r.messages).toBeGreaterThan(0);
    expect(r.tls!.verified).toBe(true);
  });

  describe('a self-signed certificate', () => {
    let self: Server;
    let url = '';
    beforeAll(async () => {
      self = createServer({ threads: 1, tls: { key: pki.selfSigned.key, cert: pki.selfSigned.cert }, message: (ws, d, b) => ws.send(d, { binary: b }) });
      await self.listen(0, '127.0.0.1');
      url = `wss://localhost:${self.address()!.port}/`;
    });
    afterAll(async () => {
      await self?.close();
    });

    for (const [what, extra] of [['without --ca or --insecure (Node\'s root CAs)', []], ['with --ca naming another CA', ['--ca', '<ca>']]] as const) {
      it(`is rejected ${what}: exit code 1, one clear line, the run stopped at once`, async () => {
        const started = Date.now();
        const args = extra.map((x) => (x === '<ca>' ? pki.caPath : x));
        const run = await cli(['bench', 'connect', url, ...args, '--connections', '4', '--duration', '20', '--json']);
        expect(run.code).toBe(1);
        expect(run.stderr.trim().split('\n')).toEqual([
          `corews bench: ${url}: TLS handshake: certificate verify failed: self-signed certificate; --ca <file> trusts the CA that issued it, -k/--insecure skips the check`,
        ]);
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(JSON.parse(run.stdout)).toMatchObject({ handshakes: 0, open: 0 });
      });
    }

    it('is accepted with -k, and with --ca naming the certificate itself', async () => {
      let run = await cli(['bench', 'echo', url, '-k', '--connections', '2', ...SHORT]);
      expect(report(run, 'echo', 2, true).tls!.verified).toBe(false);
      run = await cli(['bench', 'echo', url, '--ca', pki.selfSigned.certPath, '--connections', '2', ...SHORT]);
      const r = report(run, 'echo', 2, true);
      expect(r.tls!.verified).toBe(true);
      expect(r.messages).toBeGreaterThan(0);
    });
  });

  it('wss:// to a server that does not speak TLS: no connection, the TLS error named', async () => {
    // A plain HTTP server that answers whatever comes with a 400 (as a ws://
    // server does, once its handshake timeout is over).
    const accepted = new Set<net.Socket>();
    const plain = net.createServer((sock) => {
      accepted.add(sock);
      sock.on('error', () => {});
      sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const target = `wss://127.0.0.1:${(plain.address() as net.AddressInfo).port}/`;
      const run = await cli(['bench', 'echo', target, '-k', '--connections', '2', '--duration', '0.2', '--warmup', '0', '--json']);
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr.trim()).toMatch(new RegExp(`^corews bench: no connection could be opened to ${target} \\(the first: TLS handshake: [a-z].+\\)$`));
      expect(JSON.parse(run.stdout)).toMatchObject({ handshakes: 0, open: 0, errors: 2 });
    } finally {
      for (const sock of accepted) sock.destroy();
      await new Promise((r) => plain.close(r));
    }
  });
});
