// Headless Chromium as a client (test/helpers/browser.ts): a page served over
// https:// by the corews server itself (its http hook) talks to it over
// wss://, and a page over http:// over ws://. Text and binary messages of
// 10 B to 16 MiB go both ways, each checked by its SHA-256 on the other side;
// close codes from either side, maxPayload's 1009, the handshake the browser
// sends, and a certificate the browser must refuse. The permessage-deflate
// suite at the end is skipped until it is enabled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, SendStatus, type Server, type ServerOptions, type WebSocket } from '../src/index';
import {
  launchChromium,
  PAGE_HTML,
  payloadBytes,
  runInPage,
  sha256Hex,
  type Chromium,
  type CloseInfo,
  type CollectResult,
  type EchoResult,
} from './helpers/browser';
import { waitFor } from './helpers/server';
import { testPki, type TestPki } from './helpers/tls-certs';

const MiB = 1024 * 1024;
type Kind = 'text' | 'binary' | 'json';
interface Step {
  kind: Kind;
  size: number;
  seed: number;
}

/** 10 B to 16 MiB (maxPayload's default, the largest message allowed), across the 7/16/64-bit length forms. */
const SIZES = [10, 125, 126, 65_535, 65_536, MiB + 3, 16 * MiB];
const steps = (kinds: Kind[], seed0: number): Step[] =>
  kinds.flatMap((kind, k) => SIZES.map((size, i) => ({ kind, size, seed: seed0 + 100 * k + i })));
/**
 * Less the 16 MiB text: the slowest thing Chromium does here (seconds each way on a loaded
 * machine), so it goes once each way per file section (the wss:// echo; with deflate, the
 * JSON), not in every test.
 */
const lessBigText = (plan: Step[]): Step[] => plan.filter((s) => !(s.kind === 'text' && s.size === 16 * MiB));

const expectedHashes = new Map<string, string>();
/** The SHA-256 of a step's payload, computed in Node from the page's own generator. */
function expectedHash({ kind, size, seed }: Step): string {
  const key = `${kind}:${size}:${seed}`;
  let h = expectedHashes.get(key);
  if (h === undefined) {
    h = sha256Hex(payloadBytes(kind, size, seed));
    expectedHashes.set(key, h);
  }
  return h;
}
const wireKind = (kind: Kind): 'text' | 'binary' => (kind === 'binary' ? 'binary' : 'text');

/** What the server saw of one conversation (keyed by the page's ?id=). */
interface Conversation {
  path: string;
  received: { kind: 'text' | 'binary'; size: number; sha256: string }[];
  closed?: { code: number; reason: string };
}

/**
 * The test server: GET / answers the page (http hook); a WebSocket at /echo
 * echoes each message; at /push the server sends PUSH (pacing itself by the
 * send status and drain) and then closes with 4001. Everything a connection
 * receives is recorded by hash.
 */
class TestServer {
  conversations = new Map<string, Conversation>();
  server!: Server<Conversation>;
  port = 0;
  #next = 0;

  constructor(private readonly push: Step[]) {}

  async start(options: ServerOptions<Conversation> = {}): Promise<this> {
    const push = this.push;
    const pump = (ws: WebSocket<Conversation>, state: { i: number }): void => {
      while (state.i < push.length) {
        const step = push[state.i++];
        const bytes = payloadBytes(step.kind, step.size, step.seed);
        const status = ws.send(step.kind === 'binary' ? bytes : Buffer.from(bytes).toString('utf8'), { binary: step.kind === 'binary' });
        if (status === SendStatus.DROPPED) throw new Error(`push: send of ${step.size} B dropped`);
        if (status === SendStatus.BACKPRESSURE) return; // drain continues
      }
      ws.close(4001, 'pushed all');
    };
    const pumps = new WeakMap<object, { i: number }>();
    this.server = createServer<Conversation>({
      threads: 1,
      // A 16 MiB send onto an empty queue returns SENT (it waits behind nothing) but fills the default
      // maxBackpressure (16 MiB) by itself, so the next send would be DROPPED and close with 1008: room for one
      // more message behind it, so that /push can pace itself by the send status and drain alone.
      maxBackpressure: 32 * MiB,
      protocols: ['corews.test.v1'],
      http: (req) =>
        req.url === '/' || req.url.startsWith('/?')
          ? { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body: PAGE_HTML }
          : { status: 404, body: 'not found' },
      open: (ws) => {
        const url = new URL(ws.url, 'http://x');
        const conv: Conversation = { path: url.pathname, received: [] };
        this.conversations.set(url.searchParams.get('id') ?? '', conv);
        ws.data = conv;
        if (conv.path === '/push') {
          const state = { i: 0 };
          pumps.set(conv, state);
          pump(ws, state);
        }
      },
      drain: (ws) => {
        const state = pumps.get(ws.data);
        if (state) pump(ws, state);
      },
      message: (ws, data, isBinary) => {
        const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
        ws.data.received.push({ kind: isBinary ? 'binary' : 'text', size: bytes.length, sha256: sha256Hex(bytes) });
        if (ws.data.path === '/echo') ws.send(data, { binary: isBinary });
      },
      close: (ws, code, reason) => {
        ws.data.closed = { code, reason };
      },
      ...options,
    });
    await this.server.listen(0, '127.0.0.1');
    this.port = this.server.address()!.port;
    return this;
  }

  /** A fresh conversation id for a WebSocket URL. */
  id(): string {
    return `c${++this.#next}`;
  }

  async closedConversation(id: string): Promise<Conversation> {
    await waitFor(() => this.conversations.get(id)?.closed !== undefined, 10_000, `the server's close of ${id}`);
    return this.conversations.get(id)!;
  }

  stop(): Promise<void> {
    return this.server ? this.server.close({ timeout: 1000 }) : Promise.resolve();
  }
}

// What /push sends: the 16 MiB binary keeps pacing by drain in the test.
const PUSH = lessBigText(steps(['text', 'binary'], 5000));
let chromium: Chromium | undefined;
let pki: TestPki;

beforeAll(async () => {
  pki = testPki();
  // Trust exactly the test server's key; see launchChromium.
  chromium = await launchChromium({ trustCerts: [pki.server.cert] });
}, 30_000);

afterAll(async () => {
  await chromium?.close();
});

/** Runs the exchange, push and close checks against `origin` (the page) and `wsBase` (the WebSocket URLs). */
function conversationTests(
  what: string,
  get: () => { srv: TestServer; origin: string; wsBase: string },
  plan: Step[],
): void {
  const sizes = plan.some((s) => s.kind === 'text' && s.size === 16 * MiB) ? 'text and binary of 10 B to 16 MiB' : 'text of 10 B to 1 MiB and binary to 16 MiB';
  it(`${what}: ${sizes} from the page, each echoed; SHA-256 checked on both sides`, async () => {
    const { srv, origin, wsBase } = get();
    const page = await chromium!.open(`${origin}/`);
    try {
      const id = srv.id();
      const r = await runInPage<EchoResult>(page, 'echo', {
        url: `${wsBase}/echo?id=${id}`,
        protocols: ['corews.test.v2', 'corews.test.v1'],
        steps: plan,
        close: [4000, 'page done'],
      });
      expect(r.protocol).toBe('corews.test.v1');
      // Chromium offers permessage-deflate (see the handshake test); perMessageDeflate is off by default, so no extension.
      expect(r.extensions).toBe('');
      const expected = plan.map(expectedHash);
      // What the page sent is what Node expects (same generator), ...
      expect(r.results.map((x) => x.sent)).toEqual(expected);
      // ... the server received exactly that, as text or binary, ...
      const conv = await srv.closedConversation(id);
      expect(conv.received).toEqual(plan.map((s, i) => ({ kind: wireKind(s.kind), size: s.size, sha256: expected[i] })));
      // ... and its echoes came back to the page intact.
      expect(r.results.map((x) => [x.gotKind, x.gotSize, x.got])).toEqual(plan.map((s, i) => [wireKind(s.kind), s.size, expected[i]]));
      // The page's close code and reason reach the server; the server echoes the code (not the reason, §5.5.1).
      expect(r.close).toEqual({ code: 4000, reason: '', wasClean: true });
      expect(conv.closed).toEqual({ code: 4000, reason: 'page done' });
      expect(chromium!.log.filter((l) => l.startsWith('page error'))).toEqual([]);
    } finally {
      await page.close();
    }
  }, 40_000);

  it(`${what}: the server pushes text of 10 B to 1 MiB and binary to 16 MiB, paced by drain, then closes with 4001`, async () => {
    const { srv, origin, wsBase } = get();
    const page = await chromium!.open(`${origin}/`);
    try {
      const id = srv.id();
      const r = await runInPage<CollectResult>(page, 'collect', { url: `${wsBase}/push?id=${id}`, protocols: ['corews.test.v1'] });
      expect(r.messages).toEqual(PUSH.map((s) => ({ kind: wireKind(s.kind), size: s.size, sha256: expectedHash(s) })));
      expect(r.close).toEqual<CloseInfo>({ code: 4001, reason: 'pushed all', wasClean: true });
      const conv = await srv.closedConversation(id);
      expect(conv.received).toEqual([]);
      expect(conv.closed).toEqual({ code: 4001, reason: 'pushed all' });
    } finally {
      await page.close();
    }
  }, 40_000);

  it(`${what}: a message one byte over maxPayload closes with 1009`, async () => {
    const { srv, origin, wsBase } = get();
    const page = await chromium!.open(`${origin}/`);
    try {
      const id = srv.id();
      const r = await runInPage<{ close: CloseInfo; messages: number }>(page, 'sendAndWaitClose', {
        url: `${wsBase}/echo?id=${id}`,
        kind: 'zeros',
        size: 16 * MiB + 1,
        seed: 0,
      });
      expect(r.close.code).toBe(1009);
      expect(r.messages).toBe(0);
      const conv = await srv.closedConversation(id);
      expect(conv.received).toEqual([]);
      expect(conv.closed!.code).toBe(1009);
    } finally {
      await page.close();
    }
  }, 30_000);
}

describe('Chromium over wss://, the page served over https:// by the same corews server', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await new TestServer(PUSH).start({ tls: { key: pki.server.key, cert: pki.server.cert } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  conversationTests(
    'wss://',
    () => ({ srv, origin: `https://localhost:${srv.port}`, wsBase: `wss://localhost:${srv.port}` }),
    steps(['text', 'binary'], 1000),
  );

  it('the handshake Chromium sends: its Origin, a browser User-Agent, permessage-deflate offered, both subprotocols', async () => {
    const seen: Record<string, string>[] = [];
    const hooked = await new TestServer([]).start({
      tls: { key: pki.server.key, cert: pki.server.cert },
      upgrade: (req) => {
        seen.push({ ...req.headers, '(protocols)': req.protocols.join(','), '(protocol)': req.protocol });
        return { accept: true };
      },
    });
    // The page comes from srv's origin; the WebSocket goes to another corews server (WebSockets are not bound by CORS).
    const page = await chromium!.open(`https://localhost:${srv.port}/`);
    try {
      const r = await runInPage<EchoResult>(page, 'echo', {
        url: `wss://localhost:${hooked.port}/echo?id=x`,
        protocols: ['corews.test.v2', 'corews.test.v1'],
        steps: [{ kind: 'text', size: 10, seed: 1 }],
        close: [1000, ''],
      });
      expect(r.results[0].got).toBe(expectedHash({ kind: 'text', size: 10, seed: 1 }));
      expect(r.close).toEqual({ code: 1000, reason: '', wasClean: true });
      expect(seen).toHaveLength(1);
      const h = seen[0];
      expect(h.origin).toBe(`https://localhost:${srv.port}`);
      expect(h.host).toBe(`localhost:${hooked.port}`);
      expect(h['user-agent']).toMatch(/HeadlessChrome\/\d+/);
      expect(h['sec-websocket-version']).toBe('13');
      expect(h['sec-websocket-extensions']).toMatch(/^permessage-deflate\b/);
      expect(h['(protocols)']).toBe('corews.test.v2,corews.test.v1');
      expect(h['(protocol)']).toBe('corews.test.v1');
      expect(r.protocol).toBe('corews.test.v1');
    } finally {
      await page.close();
      await hooked.stop();
    }
  }, 30_000);

  it('a certificate from the same CA with another key is refused: the browser checks certificates, it trusts one key', async () => {
    const other = await new TestServer([]).start({ tls: { key: pki.rotated.key, cert: pki.rotated.cert } });
    const page = await chromium!.open(`https://localhost:${srv.port}/`);
    try {
      const r = await runInPage<{ opened: boolean; error: boolean; close: CloseInfo }>(page, 'tryOpen', {
        url: `wss://localhost:${other.port}/echo?id=refused`,
      });
      expect(r).toEqual({ opened: false, error: true, close: { code: 1006, reason: '', wasClean: false } });
      expect(other.conversations.size).toBe(0);
      await waitFor(() => other.server.stats().tls!.handshakeFailures > 0, 5000, 'a counted TLS handshake failure');
      expect(other.server.stats().tls!.handshakes).toBe(0);
    } finally {
      await page.close();
      await other.stop();
    }
  }, 30_000);
});

describe('Chromium over ws://, the page served over http:// by the same corews server', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await new TestServer(PUSH).start();
  });
  afterAll(async () => {
    await srv?.stop();
  });

  // The same frames as over wss://, on another transport; the 16 MiB text went over wss:// already.
  conversationTests(
    'ws://',
    () => ({ srv, origin: `http://127.0.0.1:${srv.port}`, wsBase: `ws://127.0.0.1:${srv.port}` }),
    lessBigText(steps(['text', 'binary'], 2000)),
  );
});

// permessage-deflate with Chromium. Chromium offers
// "permessage-deflate; client_max_window_bits" on every connection and
// compresses every message it sends once the extension is agreed.
describe('Chromium with permessage-deflate over wss://', () => {
  let srv: TestServer;
  // Random text and binary barely compress: the echo test sends 16 MiB of binary through deflate each way,
  // the push keeps the JSON's 16 MiB and random data to 1 MiB.
  const DEFLATE_PUSH = [...steps(['json'], 7000), ...steps(['text', 'binary'], 7100).filter((s) => s.size < 16 * MiB)];
  beforeAll(async () => {
    srv = await new TestServer(DEFLATE_PUSH).start({ perMessageDeflate: true, tls: { key: pki.server.key, cert: pki.server.cert } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('negotiates permessage-deflate and echoes JSON and binary of 10 B to 16 MiB and text to 1 MiB both ways', async () => {
    const page = await chromium!.open(`https://localhost:${srv.port}/`);
    try {
      const id = srv.id();
      const plan = lessBigText(steps(['json', 'text', 'binary'], 3000));
      const before = srv.server.stats().perMessageDeflate!;
      const r = await runInPage<EchoResult>(page, 'echo', { url: `wss://localhost:${srv.port}/echo?id=${id}`, steps: plan, close: [4000, 'page done'] });
      expect(r.extensions).toMatch(/^permessage-deflate\b/);
      const after = srv.server.stats().perMessageDeflate!;
      // Chromium compresses every message it sends; the server compresses its echoes from the threshold (1 KiB) up.
      expect(after.messagesInflated - before.messagesInflated).toBe(plan.length);
      expect(after.messagesCompressed - before.messagesCompressed).toBeGreaterThanOrEqual(plan.filter((s) => s.size >= 1024).length);
      const expected = plan.map(expectedHash);
      expect(r.results.map((x) => x.sent)).toEqual(expected);
      const conv = await srv.closedConversation(id);
      expect(conv.received).toEqual(plan.map((s, i) => ({ kind: wireKind(s.kind), size: s.size, sha256: expected[i] })));
      expect(r.results.map((x) => [x.gotKind, x.gotSize, x.got])).toEqual(plan.map((s, i) => [wireKind(s.kind), s.size, expected[i]]));
      expect(r.close).toEqual({ code: 4000, reason: '', wasClean: true });
      expect(conv.closed).toEqual({ code: 4000, reason: 'page done' });
    } finally {
      await page.close();
    }
  }, 60_000);

  it('pushes JSON of 10 B to 16 MiB and text and binary to 1 MiB; the JSON leaves in fewer frame bytes than its payload', async () => {
    const page = await chromium!.open(`https://localhost:${srv.port}/`);
    try {
      const id = srv.id();
      const before = srv.server.stats().bytes.out;
      const r = await runInPage<CollectResult>(page, 'collect', { url: `wss://localhost:${srv.port}/push?id=${id}` });
      expect(r.extensions).toMatch(/^permessage-deflate\b/);
      expect(r.messages).toEqual(DEFLATE_PUSH.map((s) => ({ kind: wireKind(s.kind), size: s.size, sha256: expectedHash(s) })));
      expect(r.close).toEqual<CloseInfo>({ code: 4001, reason: 'pushed all', wasClean: true });
      // stats().bytes.out counts frame bytes: the JSON (about a ninth of its size under deflate) keeps the total
      // well under the payloads' sum, while the random text and binary barely shrink.
      const payload = DEFLATE_PUSH.reduce((n, s) => n + s.size, 0);
      const jsonPayload = DEFLATE_PUSH.filter((s) => s.kind === 'json').reduce((n, s) => n + s.size, 0);
      expect(srv.server.stats().bytes.out - before).toBeLessThan(payload - jsonPayload / 2);
    } finally {
      await page.close();
    }
  }, 60_000);
});
