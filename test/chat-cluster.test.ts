// The chat system deployed: two chat processes (examples/chat/server.mjs)
// behind nginx, sharing Redis (pub/sub, presence) and PostgreSQL (history),
// all real and on loopback, started by examples/chat/deploy/cluster.mjs as a
// user would start them. nginx balances by a consistent hash of the client's
// address (or its chat_route cookie): the tests' clients bind to 127.0.0.x
// source addresses found to land on different processes, and check that they
// keep landing there.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WS from 'ws';
import { startCluster, type Cluster } from '../examples/chat/deploy/cluster.mjs';
import { launchChromium, type Chromium } from './helpers/browser';
import { afterRenewal } from './helpers/presence-renewal';
import { chatClient, type ChatClient, type ChatMessage } from './helpers/chat-server';

const LEASE_MS = 2000;
const ROOM = 'general';
/** The web UI's room (its own, so that the pages' messages stay out of ROOM's history). */
const UI_ROOM = 'lobby';
const ARTIFACTS = path.join(__dirname, 'artifacts');

let cluster: Cluster;
/** chat process port → a source address nginx sends to it. */
const sourceFor = new Map<number, string>();

/** The process (its port) nginx sent a WebSocket handshake to, from its X-Chat-Upstream header. */
function upstreamOf(options: { localAddress?: string; cookie?: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WS(cluster.wsUrl, {
      localAddress: options.localAddress,
      headers: options.cookie ? { cookie: `chat_route=${options.cookie}` } : {},
    });
    ws.once('upgrade', (res) => {
      const addr = String(res.headers['x-chat-upstream'] ?? '');
      // After a failed try nginx lists every server it tried: the last one answered.
      const last = addr.split(',').pop()!.trim();
      resolve(Number(last.slice(last.lastIndexOf(':') + 1)));
    });
    ws.once('open', () => ws.close());
    ws.once('error', reject);
  });
}

function httpGet(path: string, headers: Record<string, string> = {}): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${cluster.url.replace(/\/$/, '')}${path}`, { headers }, (res) => {
      res.resume();
      res.once('end', () => resolve(res));
    });
    req.once('error', reject);
  });
}

const clients: ChatClient[] = [];
async function joined(user: string, localAddress: string, since?: number): Promise<ChatClient> {
  const c = await chatClient(cluster.wsUrl, { localAddress });
  clients.push(c);
  c.send({ type: 'join', channel: ROOM, user, ...(since === undefined ? {} : { since }) });
  return c;
}

/** A presence list of ROOM with exactly `users`. */
const isPresence = (users: string[]) => (m: ChatMessage) =>
  m.type === 'presence' && m.channel === ROOM && [...(m.users ?? [])].sort().join(',') === [...users].sort().join(',');
/** The first message `c` received at or after index `from` that matches `pred`. */
const since = (c: ChatClient, from: number, pred: (m: ChatMessage) => boolean, ms: number, what: string) =>
  c.until((m) => c.received.indexOf(m) >= from && pred(m), ms, what);
const chatMessages = (c: ChatClient) => c.received.filter((m) => m.type === 'message' && m.channel === ROOM);
/** What `c` received of ROOM, as id:user:text in id order. */
const byIdOf = (c: ChatClient) =>
  chatMessages(c).map((m) => `${m.id}:${m.user}:${m.text}`).sort((x, y) => parseInt(x, 10) - parseInt(y, 10));

beforeAll(async () => {
  cluster = await startCluster({ env: { PRESENCE_LEASE_MS: String(LEASE_MS), ROOMS: `${ROOM},${UI_ROOM}` } });
  // Source addresses 127.0.0.2… until each process has one.
  const want = new Set(cluster.chats.map((c) => c.port));
  for (let i = 2; i < 60 && sourceFor.size < want.size; i++) {
    const addr = `127.0.0.${i}`;
    const port = await upstreamOf({ localAddress: addr });
    if (want.has(port) && !sourceFor.has(port)) sourceFor.set(port, addr);
  }
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await cluster?.stop();
}, 60_000);

describe('nginx in front of two chat processes', () => {
  it('sends each client address to one process, every time, and spreads addresses over both', async () => {
    expect(sourceFor.size).toBe(2);
    for (const [port, addr] of sourceFor) {
      for (let i = 0; i < 5; i++) expect(await upstreamOf({ localAddress: addr })).toBe(port);
    }
  });

  it('follows the chat_route cookie over the address, and gives one to clients without it', async () => {
    const [a, b] = [...sourceFor.values()];
    for (const cookie of ['alpha', 'beta', 'gamma', 'delta']) {
      const port = await upstreamOf({ localAddress: a, cookie });
      expect(await upstreamOf({ localAddress: b, cookie })).toBe(port);
      expect(await upstreamOf({ localAddress: a, cookie })).toBe(port);
    }
    const fresh = await httpGet('/');
    expect(fresh.statusCode).toBe(200);
    expect(String(fresh.headers['set-cookie'])).toMatch(/^chat_route=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Lax$/);
    const known = await httpGet('/', { cookie: 'chat_route=alpha' });
    expect(known.headers['set-cookie']).toBeUndefined();
  });

  it('listens on 127.0.0.1 only', () => {
    const conf = fs.readFileSync(cluster.nginx.confFile, 'utf8');
    expect(conf.match(/^\s*listen\s+(\S+);/gm)).toEqual([`    listen 127.0.0.1:${cluster.nginx.port};`]);
  });
});

describe('the web UI in Chromium, two pages on two processes', () => {
  let chromium: Chromium | undefined;
  afterAll(async () => {
    await chromium?.close();
  }, 30_000);

  it('chats between the pages through nginx, each page sticking to its process by cookie', async () => {
    // Cookies nginx hashes to one process and to the other.
    const cookieFor = new Map<number, string>();
    for (let i = 0; cookieFor.size < 2 && i < 64; i++) {
      const port = await upstreamOf({ cookie: `page${i}` });
      if (!cookieFor.has(port)) cookieFor.set(port, `page${i}`);
    }
    expect(cookieFor.size).toBe(2);
    chromium = await launchChromium();
    const users = ['ann', 'ben'];
    const pages = [];
    for (const [k, [port, cookie]] of [...cookieFor].entries()) {
      const context = await chromium.browser.newContext();
      await context.addCookies([{ name: 'chat_route', value: cookie, url: cluster.url }]);
      const page = await context.newPage();
      page.on('pageerror', (e) => chromium!.log.push(`page error: ${e.message}`));
      // Which process nginx sent the page's WebSocket to: the handshake's X-Chat-Upstream header.
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      const upstream = new Promise<string>((resolve) =>
        cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
          const h = e.response.headers as Record<string, string>;
          resolve(h['X-Chat-Upstream'] ?? h['x-chat-upstream'] ?? '');
        }),
      );
      await page.goto(`${cluster.url}#${UI_ROOM}`, { timeout: 10_000 });
      await page.fill('#name', users[k]);
      await page.click('#login button[type=submit]');
      expect(await upstream).toBe(`127.0.0.1:${port}`);
      pages.push(page);
    }
    // Each page lists both users, then sees the other's message.
    for (const page of pages) {
      // Strings, not functions: nothing of this file's compiled code runs in the page.
      const listed = `${JSON.stringify(users)}.every((n) => [...document.querySelectorAll('#users li')].some((li) => li.textContent === n))`;
      await page.waitForFunction(listed, undefined, { timeout: 10_000 });
    }
    for (const [k, page] of pages.entries()) {
      await page.fill('#text', `hello from ${users[k]}`);
      await page.click('#send button[type=submit]');
    }
    for (const page of pages) {
      const shown = `${JSON.stringify(users)}.every((n) => [...document.querySelectorAll('#messages li .text')].some((t) => t.textContent === 'hello from ' + n))`;
      await page.waitForFunction(shown, undefined, { timeout: 10_000 });
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // Both pages first, then close them (a closed page leaves the other's presence list).
    for (const [k, page] of pages.entries()) await page.screenshot({ path: path.join(ARTIFACTS, `chat-cluster-${users[k]}.png`) });
    for (const page of pages) await page.context().close();
  }, 60_000);
});

describe('one room over two processes', () => {
  let alice: ChatClient;
  let bob: ChatClient;
  let aliceAddr: string;
  let bobAddr: string;
  let bobPort: number;

  it('lists both users in presence, and delivers both sides, each in the order sent', async () => {
    const [[, a], [pb, b]] = [...sourceFor];
    aliceAddr = a;
    bobAddr = b;
    bobPort = pb;
    alice = await joined('alice', aliceAddr);
    bob = await joined('bob', bobAddr);
    await alice.until(isPresence(['alice', 'bob']), 10_000, 'presence of alice and bob at alice');
    await bob.until(isPresence(['alice', 'bob']), 10_000, 'presence of alice and bob at bob');

    // 15 each: the join and the messages stay within the chat's burst of 20 per connection.
    const N = 15;
    for (let i = 0; i < N; i++) {
      alice.send({ type: 'message', channel: ROOM, text: `a${i}` });
      bob.send({ type: 'message', channel: ROOM, text: `b${i}` });
    }
    const all = (c: ChatClient) => chatMessages(c).length >= 2 * N;
    await alice.until(() => all(alice), 15_000, `${2 * N} messages at alice`);
    await bob.until(() => all(bob), 15_000, `${2 * N} messages at bob`);
    // The same messages at both, with the same ids (the room's order, which the
    // web UI shows them in). Arrival order may differ between the processes: a
    // process delivers its own messages at once, the other's after Redis.
    expect(byIdOf(bob)).toEqual(byIdOf(alice));
    const ids = chatMessages(alice).map((m) => m.id!);
    expect(new Set(ids).size).toBe(2 * N);
    // At both, each sender's messages in the order sent, and ids rising with it.
    for (const c of [alice, bob]) {
      for (const [user, p] of [['alice', 'a'], ['bob', 'b']]) {
        const mine = chatMessages(c).filter((m) => m.user === user);
        expect(mine.map((m) => m.text)).toEqual(Array.from({ length: N }, (_, i) => `${p}${i}`));
        expect(mine.map((m) => m.id!)).toEqual(mine.map((m) => m.id!).sort((x, y) => x - y));
      }
    }
    expect([...alice.received, ...bob.received].filter((m) => m.type === 'error')).toEqual([]);
  });

  it('gives a client that joins later the history from PostgreSQL', async () => {
    const carol = await joined('carol', aliceAddr);
    await carol.until(() => chatMessages(carol).length >= chatMessages(alice).length, 10_000, 'the history at carol');
    // The history comes in id order.
    const history = chatMessages(carol).map((m) => `${m.id}:${m.user}:${m.text}`);
    expect(history).toEqual(byIdOf(alice));
    await carol.close();
  });

  it('moves the users of a killed process to the other one, and drops the rest from presence within the lease', async () => {
    // dave shares bob's process and does not come back.
    const dave = await joined('dave', bobAddr);
    await alice.until(isPresence(['alice', 'bob', 'dave']), 10_000, 'dave in presence');
    const bobChat = cluster.chats.find((c) => c.port === bobPort)!;
    const seenBefore = alice.received.length;
    // Killed just after it renewed dave's hold: the freshest hold a dead process can leave,
    // so the longest wait for its expiry.
    await afterRenewal(cluster.redis.url, ROOM, 'dave');
    const killedAt = Date.now();
    await bobChat.kill();
    await bob.closed;
    await dave.closed;
    // bob reconnects through nginx from the same address: the live process takes him.
    expect(await upstreamOf({ localAddress: bobAddr })).not.toBe(bobPort);
    const lastId = Math.max(...chatMessages(bob).map((m) => m.id!));
    const bob2 = await joined('bob', bobAddr, lastId);
    // dave's hold runs out (no process renews it) and the living announce his leave: within
    // the lease (PRESENCE_LEASE_MS), the bound redisPresence promises.
    await since(alice, seenBefore, isPresence(['alice', 'bob']), LEASE_MS * 4, 'presence without dave');
    const converged = Date.now() - killedAt;
    console.log(`presence converged ${converged} ms after the kill (lease ${LEASE_MS} ms)`);
    expect(converged).toBeLessThanOrEqual(LEASE_MS);
    bob2.send({ type: 'message', channel: ROOM, text: 'back' });
    await alice.until((m) => m.type === 'message' && m.text === 'back', 10_000, "bob's message after the move");

    // The killed process comes back; bob's address goes to it again (consistent hash).
    // nginx takes a failed server back once its fail_timeout (2 s, nginx.conf)
    // has passed since the last failure: until then the live one answers.
    await bobChat.start();
    let upstream = await upstreamOf({ localAddress: bobAddr });
    for (let i = 0; upstream !== bobPort && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      upstream = await upstreamOf({ localAddress: bobAddr });
    }
    expect(upstream).toBe(bobPort);
    await bob2.close();
    const seenBack = alice.received.length;
    bob = await joined('bob', bobAddr, lastId);
    await since(alice, seenBack, isPresence(['alice', 'bob']), 10_000, 'bob back on his process');
  });

  it('resumes delivery across processes after Redis restarts; both count the reconnect, and history has what live delivery missed', async () => {
    const alicePort = cluster.chats.find((c) => c.port !== bobPort)!.port;
    const before = await Promise.all([alicePort, bobPort].map(adapterMetrics));
    const lastBefore = Math.max(...chatMessages(bob).map((m) => m.id!));
    const seenBefore = bob.received.length;
    // Redis dies without warning and comes back empty on the same port.
    await cluster.redis.kill();
    const K = 5;
    for (let i = 0; i < K; i++) alice.send({ type: 'message', channel: ROOM, text: `during${i}` });
    // Not waiting for them: the chat stores and publishes them when it can (history
    // goes through Redis too, so they may wait for it).
    await new Promise((r) => setTimeout(r, 500));
    await cluster.redis.start();
    // Delivery resumes: a message from alice's process reaches bob on the other one.
    let got: ChatMessage | undefined;
    for (let i = 0; !got && i < 15; i++) {
      alice.send({ type: 'message', channel: ROOM, text: `after${i}` });
      got = await since(bob, seenBefore, (m) => m.type === 'message' && String(m.text).startsWith('after'), 1000, 'a message after the restart').catch(() => undefined);
    }
    expect(got, 'a message across processes after the restart').toBeDefined();
    // Both processes count Redis's return (once both their connections are back).
    let after = await Promise.all([alicePort, bobPort].map(adapterMetrics));
    for (let i = 0; i < 100 && after.some((m, k) => m.reconnects <= before[k].reconnects); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await Promise.all([alicePort, bobPort].map(adapterMetrics));
    }
    for (const [i, m] of after.entries()) expect(m.reconnects, `reconnects of process ${i + 1}: ${JSON.stringify({ before, after })}`).toBeGreaterThan(before[i].reconnects);
    // What bob missed live and what the adapter counted as dropped are logged,
    // not compared: a publish Redis takes while bob's process is not subscribed
    // again yet is lost uncounted (pub/sub keeps nothing; one run here missed 5
    // of 5 with 0 counted, others missed none) ...
    const during = (c: ChatClient) => c.received.filter((m) => m.type === 'message' && String(m.text).startsWith('during'));
    const missing = K - during(bob).length;
    const dropped = after[0].dropped - before[0].dropped;
    console.log(`redis restart: ${missing} of ${K} messages missed live at bob; alice's process counted ${dropped} dropped, buffered ${after[0].buffered}`);
    // ... and nothing is lost to the system: a join with since gets all of them from PostgreSQL.
    const bob3 = await joined('bob3', bobAddr, lastBefore);
    await bob3.until(() => during(bob3).length === K, 15_000, 'the outage\'s messages from history');
    expect(during(bob3).map((m) => m.text)).toEqual(Array.from({ length: K }, (_, i) => `during${i}`));
  });
});

/** A chat process's scale-out adapter counters, from its Prometheus /metrics (corews's server.metrics()). */
async function adapterMetrics(port: number): Promise<{ dropped: number; reconnects: number; buffered: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string): number => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    if (!m) throw new Error(`no ${name} in /metrics of port ${port}: ${text.slice(0, 300)}`);
    return Number(m[1]);
  };
  return { dropped: value('corews_adapter_dropped_total'), reconnects: value('corews_adapter_reconnects_total'), buffered: value('corews_adapter_buffered') };
}
