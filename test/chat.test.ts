// The chat system (examples/chat/) end to end in one process, started as a
// child (`node examples/chat/server.mjs`, PORT=0) and driven by `ws` clients
// speaking its JSON protocol: join, history then live with nothing lost or
// doubled at the seam, presence, catch-up with `since`, every error code, a
// flood, embedded PGlite persisting across a restart, and a real PostgreSQL.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatClient, startChat, type ChatClient, type ChatMessage, type ChatProcess } from './helpers/chat-server';
import { startPostgres, type PostgresServer } from './helpers/postgres-server';
import { startRedis } from './helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const isMsg = (channel: string) => (m: ChatMessage): boolean => m.type === 'message' && m.channel === channel;
const isPresence = (channel: string, users: string[]) => (m: ChatMessage): boolean =>
  m.type === 'presence' && m.channel === channel && JSON.stringify(m.users) === JSON.stringify(users);
const isError = (code: string) => (m: ChatMessage): boolean => m.type === 'error' && m.code === code;

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-chat-'));
  dirs.push(d);
  return d;
}
const clients: ChatClient[] = [];
async function client(url: string): Promise<ChatClient> {
  const c = await chatClient(url);
  clients.push(c);
  return c;
}
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Joins and waits for the presence list that ends the join (history came before it). */
async function joined(c: ChatClient, channel: string, user: string, since?: number): Promise<ChatMessage[]> {
  const before = c.received.length;
  c.send({ type: 'join', channel, user, ...(since === undefined ? {} : { since }) });
  await c.until((m) => m.type === 'presence' && m.channel === channel && m.users!.includes(user), 15_000, `presence after joining ${channel}`, before);
  return c.received.slice(before).filter(isMsg(channel));
}

/**
 * Four writers publish 1,000 messages into `room` as fast as the server stores them (the
 * server runs with a rate limit high enough), while sixteen clients join in the middle of
 * it, half from the cache (a plain join) and half from the database (since: 0, the whole
 * room). Each must see one run of ids without a gap or a repeat, in order, up to the last.
 * With `joinUrl` the joiners are on another process: live messages reach them through Redis.
 */
async function seamTest(url: string, room: string, historySize: number, joinUrl = url): Promise<void> {
  const writers = await Promise.all(Array.from({ length: 4 }, () => client(url)));
  await Promise.all(writers.map((w, i) => joined(w, room, `writer${i}`)));
  const perWriter = 250;
  const sending = writers.map(async (w, i) => {
    for (let k = 0; k < perWriter; k++) {
      w.send({ type: 'message', channel: room, text: `w${i} #${k}` });
      if (k % 25 === 24) await sleep(15);
    }
  });
  const joiners: ChatClient[] = [];
  const joining: Promise<unknown>[] = [];
  for (let j = 0; j < 16; j++) {
    await sleep(40);
    const c = await client(joinUrl);
    joiners.push(c);
    joining.push(joined(c, room, `joiner${j}`, j % 2 === 0 ? 0 : undefined));
  }
  await Promise.all([...sending, ...joining]);
  const total = writers.length * perWriter;
  // writer 0 has every writer's last message (so all of them: one publisher's order holds)
  for (let i = 0; i < writers.length; i++) await writers[0].until((m) => m.text === `w${i} #${perWriter - 1}`, 30_000);
  const ids0 = writers[0].received.filter(isMsg(room)).map((m) => m.id!);
  const lastId = Math.max(...ids0);
  let midway = 0;
  for (const [j, c] of joiners.entries()) {
    await c.until((m) => m.type === 'message' && m.id === lastId, 30_000, `id ${lastId}`);
    const ids = c.received.filter(isMsg(room)).map((m) => m.id!);
    // strictly increasing (history, then live, in id order), and contiguous: the writers are
    // all on one process, which publishes a room's messages in id order
    for (let i = 1; i < ids.length; i++) {
      if (ids[i] !== ids[i - 1] + 1) expect.fail(`joiner ${j}: id ${ids[i]} after ${ids[i - 1]} (${ids.slice(Math.max(0, i - 5), i + 5).join(',')})`);
    }
    expect(ids.at(-1)).toBe(lastId);
    if (j % 2 === 0) expect(ids[0]).toBe(1); // since: 0 is everything
    else expect(ids.length).toBeGreaterThanOrEqual(historySize); // a full history first
    // joins that met live traffic: messages after the presence that ends the join
    const p = c.received.findIndex((m) => m.type === 'presence');
    if (c.received.slice(p).some(isMsg(room))) midway++;
  }
  expect(ids0.length).toBe(total);
  expect(midway).toBeGreaterThanOrEqual(2); // some joins did happen while messages were flowing
  await Promise.all([...writers, ...joiners].map((c) => c.close()));
}

describe('embedded mode (PGlite, in-process pub/sub)', () => {
  let chat: ChatProcess;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = tempDir();
    chat = await startChat({ CHAT_DATA_DIR: dataDir, HISTORY: '20' });
  }, 150_000);
  afterAll(async () => {
    await chat?.stop();
  });

  it('says what it uses before listening, and serves the page and its config on the same port', async () => {
    const banner = chat.banner.join('\n');
    expect(banner).toContain('pub/sub and presence in this process');
    expect(banner).toContain(`embedded PGlite in ${dataDir}`);
    expect(banner).toContain('cached in in-memory');
    const page = await fetch(`http://127.0.0.1:${chat.port}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<script src="/app.js">');
    const config = (await (await fetch(`http://127.0.0.1:${chat.port}/config.json`)).json()) as unknown;
    expect(config).toEqual({ rooms: ['general', 'random', 'help'], maxText: 2000 });
    expect((await fetch(`http://127.0.0.1:${chat.port}/nope`)).status).toBe(404);
  });

  it('joins, delivers messages with id and ts to the room, and keeps presence on join, leave and close', async () => {
    const alice = await client(chat.url);
    await joined(alice, 'random', 'alice');
    expect(alice.received.find(isPresence('random', ['alice']))).toBeDefined();
    const t0 = Date.now();
    alice.send({ type: 'message', channel: 'random', text: 'Hello!' });
    const hello = await alice.next(isMsg('random'), 10_000, 'alice\'s own message');
    expect(hello).toMatchObject({ type: 'message', channel: 'random', user: 'alice', text: 'Hello!' });
    expect(Number.isSafeInteger(hello.id)).toBe(true);
    expect(hello.ts).toBeGreaterThanOrEqual(t0 - 1000);
    expect(hello.ts).toBeLessThanOrEqual(Date.now() + 1000);
    expect(Object.keys(hello).sort()).toEqual(['channel', 'id', 'text', 'ts', 'type', 'user']);

    const bob = await client(chat.url);
    const history = await joined(bob, 'random', 'bob');
    expect(history.map((m) => m.id)).toEqual([hello.id]); // the history before the presence
    await alice.until(isPresence('random', ['alice', 'bob']), 10_000, 'presence with bob');
    bob.send({ type: 'message', channel: 'random', text: 'hi alice' });
    const fromBob = await alice.next(isMsg('random'), 10_000, 'bob\'s message');
    expect(fromBob).toMatchObject({ user: 'bob', text: 'hi alice', id: hello.id! + 1 });

    bob.send({ type: 'leave', channel: 'random' });
    await alice.until(isPresence('random', ['alice']), 10_000, 'presence after bob left', alice.received.indexOf(fromBob) + 1);
    bob.send({ type: 'message', channel: 'random', text: 'gone?' });
    await bob.next(isError('not_joined'), 10_000, 'not_joined after leave');

    const carol = await client(chat.url);
    await joined(carol, 'random', 'carol');
    await alice.until(isPresence('random', ['alice', 'carol']));
    const n = alice.received.length;
    await carol.close();
    await alice.until(isPresence('random', ['alice']), 10_000, 'presence after carol closed', n);    await Promise.all([alice.close(), bob.close()]);
  });

  it('two connections of one user: the user stays present until the last leaves', async () => {
    const a1 = await client(chat.url);
    const a2 = await client(chat.url);
    const watcher = await client(chat.url);
    await joined(watcher, 'help', 'watcher');
    await joined(a1, 'help', 'dora');
    await joined(a2, 'help', 'dora');
    await a1.close();
    // a message after the close proves the server handled it; presence must still list dora
    a2.send({ type: 'message', channel: 'help', text: 'still here' });
    await watcher.until((m) => isMsg('help')(m) && m.text === 'still here');
    const last = [...watcher.received].reverse().find((m) => m.type === 'presence');
    expect(last!.users).toEqual(['dora', 'watcher']);
    await a2.close();
    await watcher.until(isPresence('help', ['watcher']), 10_000, 'dora gone');
  });

  it('history then live with nothing lost or doubled at the seam while others publish', async () => {
    const fast = await startChat({ CHAT_DATA_DIR: tempDir(), HISTORY: '20', RATE: '100000', BURST: '100000' });
    try {
      await seamTest(fast.url, 'general', 20);
    } finally {
      await fast.stop();
    }
  }, 240_000);

  it('catches up with since: only the messages after that id, then live', async () => {
    const w = await client(chat.url);
    await joined(w, 'help', 'writer');
    for (let k = 0; k < 5; k++) w.send({ type: 'message', channel: 'help', text: `catch ${k}` });
    const mine = [];
    for (let k = 0; k < 5; k++) mine.push(await w.next((m) => isMsg('help')(m) && m.text === `catch ${k}`));
    const c = await client(chat.url);
    const got = await joined(c, 'help', 'late', mine[1].id);
    expect(got.map((m) => m.text)).toEqual(['catch 2', 'catch 3', 'catch 4']);
    // since older than the cache holds (HISTORY=20): read from the database, all of them
    for (let k = 0; k < 25; k++) {
      w.send({ type: 'message', channel: 'help', text: `more ${k}` });
      if (k % 10 === 9) await sleep(1100);
    }
    await w.until((m) => m.text === 'more 24', 15_000);
    const c2 = await client(chat.url);
    const all = await joined(c2, 'help', 'later', mine[0].id);
    expect(all.map((m) => m.text)).toEqual([...['catch 1', 'catch 2', 'catch 3', 'catch 4'], ...Array.from({ length: 25 }, (_, k) => `more ${k}`)]);
    const live = await client(chat.url);
    const recent = await joined(live, 'help', 'fresh');
    expect(recent.length).toBe(20);
    expect(recent.at(-1)!.text).toBe('more 24');
    w.send({ type: 'message', channel: 'help', text: 'live one' });
    await c.until((m) => m.text === 'live one');
    await Promise.all([w, c, c2, live].map((x) => x.close()));
  }, 40_000);

  it('answers every error code without closing the connection', async () => {
    const c = await client(chat.url);
    const cases: [unknown, string][] = [
      ['{"type":"join"', 'bad_json'],
      ['[1,2]', 'bad_json'],
      [JSON.stringify({ type: 'shout', channel: 'general' }), 'unknown_type'],
      [JSON.stringify({ channel: 'general' }), 'missing_field'],
      [JSON.stringify({ type: 'join', user: 'x' }), 'missing_field'],
      [JSON.stringify({ type: 'join', channel: 'general' }), 'missing_field'],
      [JSON.stringify({ type: 'join', channel: 'general', user: 'x'.repeat(33) }), 'missing_field'],
      [JSON.stringify({ type: 'join', channel: 'general', user: 'x', since: -1 }), 'missing_field'],
      [JSON.stringify({ type: 'join', channel: 'nowhere', user: 'x' }), 'unknown_room'],
      [JSON.stringify({ type: 'message', channel: 'general', text: 'hi' }), 'not_joined'],
      [JSON.stringify({ type: 'message', channel: 'general' }), 'missing_field'],
    ];
    for (const [raw, code] of cases) {
      c.sendRaw(raw as string);
      const err = await c.next((m) => m.type === 'error', 10_000, `error for ${String(raw)}`);
      expect(err.code, String(raw)).toBe(code);
      expect(typeof err.message).toBe('string');
      expect(Object.keys(err).sort()).toEqual(['code', 'message', 'type']);
    }
    c.sendRaw(Buffer.from('{"type":"leave","channel":"general"}'));
    expect((await c.next((m) => m.type === 'error')).code).toBe('bad_json'); // binary frames are not the protocol
    await joined(c, 'general', 'errorprone');
    c.send({ type: 'message', channel: 'general', text: 'x'.repeat(2001) });
    expect((await c.next((m) => m.type === 'error')).code).toBe('text_too_long');
    c.send({ type: 'message', channel: 'general', text: '😀'.repeat(2000) }); // 2000 characters, 4000 UTF-16 units
    expect(await c.next(isMsg('general'))).toMatchObject({ user: 'errorprone', text: '😀'.repeat(2000) });
    expect(c.ws.readyState).toBe(1);
    await c.close();
  });

  it('a flood gets rate_limited, then 1008; others in the room are not disturbed', async () => {
    const calm = await client(chat.url);
    await joined(calm, 'random', 'calm');
    const flood = await client(chat.url);
    await joined(flood, 'random', 'flooder');
    await sleep(2100); // a full bucket for the flooder
    for (let k = 0; k < 200; k++) flood.send({ type: 'message', channel: 'random', text: `flood ${k}` });
    calm.send({ type: 'message', channel: 'random', text: 'calm 1' });
    const closed = await flood.closed;
    expect(closed.code).toBe(1008);
    const errors = flood.received.filter((m) => m.type === 'error');
    expect(errors.length).toBe(50); // the 50th error within 10 s closes
    expect(new Set(errors.map((e) => e.code))).toEqual(new Set(['rate_limited']));
    await calm.until((m) => m.text === 'calm 1');
    calm.send({ type: 'message', channel: 'random', text: 'calm 2' });
    await calm.until((m) => m.text === 'calm 2');
    await calm.until(isPresence('random', ['calm']), 10_000, 'the flooder gone from presence');
    // The bucket let 20 through (plus what refilled in the few ms of the flood), no more
    const flooded = calm.received.filter((m) => m.type === 'message' && m.user === 'flooder');
    expect(flooded.length).toBeGreaterThanOrEqual(20);
    expect(flooded.length).toBeLessThan(25);
    await calm.close();
  });

  it('keeps the history in the data folder across a restart, ids going on', async () => {
    const c = await client(chat.url);
    await joined(c, 'help', 'persist');
    c.send({ type: 'message', channel: 'help', text: 'before restart' });
    const before = await c.next((m) => m.text === 'before restart');
    await c.close();
    expect(await chat.stop()).toBe(0);
    chat = await startChat({ CHAT_DATA_DIR: dataDir, HISTORY: '20' });
    expect(chat.banner.join('\n')).toContain('migrations applied now: none');
    const d = await client(chat.url);
    const history = await joined(d, 'help', 'persist');
    expect(history.at(-1)).toMatchObject({ text: 'before restart', id: before.id, user: 'persist' });
    d.send({ type: 'message', channel: 'help', text: 'after restart' });
    expect((await d.next((m) => m.text === 'after restart')).id).toBe(before.id! + 1);
    await d.close();
  }, 150_000);
});

describe('with a real PostgreSQL (DATABASE_URL)', () => {
  let postgres: PostgresServer;
  let dbUrl: string;
  let chat: ChatProcess | undefined;
  beforeAll(async () => {
    postgres = await startPostgres();
    dbUrl = await postgres.createDatabase('chat_test');
  }, 150_000);
  afterAll(async () => {
    await chat?.stop();
    await postgres?.stop();
  });

  it('creates and migrates its schema, stores every message there, and serves history from it after a restart', async () => {
    const dataDir = tempDir();
    chat = await startChat({ DATABASE_URL: dbUrl, CHAT_DATA_DIR: dataDir, ROOMS: 'lobby,dev', MAX_TEXT: '10' });
    const banner = chat.banner.join('\n');
    expect(banner).toContain(`PostgreSQL postgres://postgres@127.0.0.1:${postgres.port}/chat_test`);
    expect(banner).toContain('migrations applied now: 1, 2');
    expect(fs.readdirSync(dataDir)).toEqual([]); // no PGlite when a database is given
    const c = await client(chat.url);
    await joined(c, 'lobby', 'pat');
    c.send({ type: 'join', channel: 'general', user: 'pat' });
    expect((await c.next((m) => m.type === 'error')).code).toBe('unknown_room'); // ROOMS replaces the default list
    c.send({ type: 'message', channel: 'lobby', text: '0123456789x' });
    expect((await c.next((m) => m.type === 'error')).code).toBe('text_too_long'); // MAX_TEXT=10
    for (const text of ['one', 'two', 'three']) c.send({ type: 'message', channel: 'lobby', text });
    const sent = [];
    for (const text of ['one', 'two', 'three']) sent.push(await c.next((m) => m.text === text));

    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    try {
      const rows = (await db.query('SELECT room, id, user_name, text, ts FROM chat_messages ORDER BY id')).rows as { id: string; ts: string }[];
      expect(rows.map((r) => ({ ...r, id: Number(r.id), ts: Number(r.ts) }))).toEqual(
        sent.map((m) => ({ room: 'lobby', id: m.id, user_name: 'pat', text: m.text, ts: m.ts })),
      );
      expect((await db.query('SELECT version FROM chat_migrations ORDER BY version')).rows).toEqual([{ version: 1 }, { version: 2 }]);
      expect((await db.query('SELECT name, last_id FROM chat_rooms ORDER BY name')).rows).toEqual([
        { name: 'dev', last_id: '0' },
        { name: 'lobby', last_id: String(sent[2].id) },
      ]);
    } finally {
      await db.end();
    }
    await c.close();
    expect(await chat.stop()).toBe(0);
    chat = await startChat({ DATABASE_URL: dbUrl, ROOMS: 'lobby,dev' });
    expect(chat.banner.join('\n')).toContain('migrations applied now: none');
    const d = await client(chat.url);
    const history = await joined(d, 'lobby', 'quinn');
    expect(history).toEqual(sent);
    await d.close();
  }, 150_000);
  it('with Redis too: two processes share rooms, presence and the seam (live messages from the other process are buffered during a join)', async () => {
    const redis = await startRedis();
    const url = await postgres.createDatabase('chat_two');
    const env = { DATABASE_URL: url, REDIS_URL: redis.url, HISTORY: '20', RATE: '100000', BURST: '100000', PRESENCE_LEASE_MS: '2000' };
    const [a, b] = await Promise.all([startChat(env), startChat(env)]);
    try {
      expect(a.banner.join('\n')).toContain(`pub/sub and presence via Redis ${redis.url}`);
      expect(a.banner.join('\n')).toContain('cached in Redis lists');
      const onA = await client(a.url);
      const onB = await client(b.url);
      await joined(onA, 'random', 'ann');
      await joined(onB, 'random', 'ben');
      await onA.until(isPresence('random', ['ann', 'ben']), 15_000, 'ben on the other process in presence');
      onB.send({ type: 'message', channel: 'random', text: 'from b' });
      const got = await onA.until((m) => m.text === 'from b', 15_000);
      expect(got).toMatchObject({ user: 'ben', channel: 'random' });
      // one presence list per change, not one per process: count the lists after ben's close
      const n = onA.received.length;
      await onB.close();
      await onA.until(isPresence('random', ['ann']), 15_000, 'ben gone', n);
      await sleep(500);
      expect(onA.received.slice(n).filter((m) => m.type === 'presence').length).toBe(1);

      await seamTest(a.url, 'general', 20, b.url);
      // the last 20 of the room are in Redis, newest first
      const cached = redis.cli('LRANGE', 'chat:recent:general', '0', '-1').map((l) => JSON.parse(l) as ChatMessage);
      expect(cached.length).toBe(20);
      expect(cached.map((m) => m.id)).toEqual(Array.from({ length: 20 }, (_, i) => 1000 - i)); // the writers' 1,000 messages
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await redis.stop();
    }
  }, 240_000);
});
