// The chat (examples/chat/server.mjs) when Redis dies, and its rate limit: one chat
// process with a real redis-server (killed by PID) and the embedded PGlite, driven by
// `ws` clients.
//
// - Redis down must not stall message handling: the last-N cache is a cache, so its
//   push is skipped when Redis is unreachable, and messages go on being stored and
//   delivered (the code before waited for each push, and ioredis kept each one
//   queued across its reconnect attempts: seconds per message once it had backed off).
// - The rate limit counts chat messages, not joins: a client that joined three rooms
//   still has its whole burst of messages.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatClient, startChat, type ChatClient, type ChatMessage, type ChatProcess } from './helpers/chat-server';
import { startRedis, type RedisServer } from './helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const BURST = 10;

let redis: RedisServer;
let chat: ChatProcess;
let dataDir: string;
const clients: ChatClient[] = [];
async function client(): Promise<ChatClient> {
  const c = await chatClient(chat.url);
  clients.push(c);
  return c;
}
async function joined(c: ChatClient, channel: string, user: string, since?: number): Promise<ChatMessage[]> {
  const before = c.received.length;
  c.send({ type: 'join', channel, user, ...(since === undefined ? {} : { since }) });
  await c.until((m) => m.type === 'presence' && m.channel === channel && m.users!.includes(user), 15_000, `presence after joining ${channel}`, before);
  return c.received.slice(before).filter((m) => m.type === 'message' && m.channel === channel);
}

beforeAll(async () => {
  redis = await startRedis();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-chat-limits-'));
  chat = await startChat({ REDIS_URL: redis.url, CHAT_DATA_DIR: dataDir, HISTORY: '5', RATE: '1', BURST: String(BURST) });
}, 150_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await chat?.stop();
  await redis?.stop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('chat rate limit', () => {
  it('counts messages, not joins: after three joins the whole burst of messages goes through, and no more', async () => {
    const c = await client();
    for (const room of ['general', 'random', 'help']) await joined(c, room, 'joiner');
    const n = 15;
    for (let k = 0; k < n; k++) c.send({ type: 'message', channel: 'general', text: `burst ${k}` });
    // Every one is answered: a message of its own back, or an error.
    await c.until(() => c.received.filter((m) => (m.type === 'message' && m.user === 'joiner') || m.type === 'error').length === n, 15_000, 'an answer to each');
    const accepted = c.received.filter((m) => m.type === 'message' && m.user === 'joiner').map((m) => m.text);
    const errors = c.received.filter((m) => m.type === 'error');
    // The first BURST are the bucket's; the joins took none of it.
    expect(accepted.slice(0, BURST)).toEqual(Array.from({ length: BURST }, (_, k) => `burst ${k}`));
    // RATE=1: the rest is refused, but for the one or two tokens that refilled meanwhile.
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(new Set(errors.map((e) => e.code))).toEqual(new Set(['rate_limited']));
  }, 60_000);
});

describe('chat with Redis down', () => {
  it('goes on storing and delivering messages while redis-server is dead, and serves them from the database after', async () => {
    const sender = await client();
    const reader = await client();
    await joined(sender, 'random', 'sender');
    await joined(reader, 'random', 'reader');
    sender.send({ type: 'message', channel: 'random', text: 'before' });
    const before = await reader.until((m) => m.text === 'before', 15_000, 'a message with Redis up');

    process.kill(redis.pid, 'SIGKILL');
    // Long enough for the Redis clients to be in their reconnect back-off.
    await sleep(3000);
    const n = BURST;
    for (let k = 0; k < n; k++) sender.send({ type: 'message', channel: 'random', text: `down ${k}` });
    const down = (c: ChatClient) => c.received.filter((m) => m.type === 'message' && String(m.text).startsWith('down'));
    // A generous bound: the point is that they come while Redis is still dead (the code
    // before this took seconds for each), not how fast.
    await reader.until(() => down(reader).length === n, 10_000, `${n} messages while Redis is down`);
    expect(down(reader).map((m) => m.text)).toEqual(Array.from({ length: n }, (_, k) => `down ${k}`));
    expect(down(reader).map((m) => m.id)).toEqual(Array.from({ length: n }, (_, k) => before.id! + 1 + k));
    expect(sender.received.filter((m) => m.type === 'error')).toEqual([]);

    // Stored: once Redis is back (empty), a join with `since` reads them from the database.
    await redis.restart();
    const late = await client();
    const history = await joined(late, 'random', 'late', before.id);
    expect(history.map((m) => m.text)).toEqual(Array.from({ length: n }, (_, k) => `down ${k}`));
    // And a plain join: the cache is cold, so the last HISTORY come from the database too.
    const plain = await client();
    const recent = await joined(plain, 'random', 'plain');
    expect(recent.map((m) => m.id)).toEqual(Array.from({ length: 5 }, (_, k) => before.id! + n - 4 + k));
  }, 90_000);
});
