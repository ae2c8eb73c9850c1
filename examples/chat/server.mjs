// The chat system's entry point: reads the environment, picks the services
// (Redis and PostgreSQL when given, else in-process pub/sub and an embedded
// PGlite), and wires them to a corews server that also serves the web UI.
//
//   node examples/chat/server.mjs            (npm run chat)
//   PORT  REDIS_URL  DATABASE_URL  ROOMS  MAX_TEXT  HISTORY  CHAT_DATA_DIR  RATE  BURST  PRESENCE_LEASE_MS  HOST
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'corews';
import { memoryPresence, redisAdapter, redisPresence } from 'corews/redis';
import { roomFeed } from './feed.mjs';
import { openHistory } from './history.mjs';
import { ChatError, ErrorCode, errorJson, parseClientMessage } from './protocol.mjs';
import { ErrorWindow, TokenBucket } from './rate-limit.mjs';
import { Rooms, roomTopic } from './rooms.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;

function intEnv(name, fallback, min) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`chat: ${name} must be an integer ≥ ${min}, not "${raw}"`);
    process.exit(2);
  }
  return n;
}

const config = {
  port: intEnv('PORT', 8080, 0),
  host: env.HOST || undefined,
  rooms: (env.ROOMS || 'general,random,help').split(',').map((r) => r.trim()).filter(Boolean),
  maxText: intEnv('MAX_TEXT', 2000, 1),
  historySize: intEnv('HISTORY', 50, 1),
  redisUrl: env.REDIS_URL || undefined,
  databaseUrl: env.DATABASE_URL || undefined,
  dataDir: path.resolve(env.CHAT_DATA_DIR || path.join(here, '.data')),
  leaseMs: intEnv('PRESENCE_LEASE_MS', 15_000, 100),
  // Per connection: 10 messages a second, bursts of 20 (joins and leaves: the same, counted apart);
  // 50 errors within 10 s close it.
  rate: intEnv('RATE', 10, 1),
  burst: intEnv('BURST', 20, 1),
  maxErrors: 50,
  errorWindowMs: 10_000,
};
const log = (line) => console.error(`chat: ${line}`);

const history = await openHistory({
  databaseUrl: config.databaseUrl,
  dataDir: config.dataDir,
  redisUrl: config.redisUrl,
  rooms: config.rooms,
  size: config.historySize,
});
const presence = config.redisUrl ? redisPresence({ url: config.redisUrl, leaseMs: config.leaseMs }) : memoryPresence();
for (const room of config.rooms) presence.watch(room);

const rooms = new Set(config.rooms);
const limits = { rooms, maxText: config.maxText };
const publicFiles = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

let chat;
const server = createServer({
  // A JSON message carries at most MAX_TEXT characters; 64 KiB leaves room for escapes.
  maxPayload: Math.max(64 * 1024, config.maxText * 12 + 1024),
  async http(req) {
    const url = new URL(req.url, 'http://x');
    if (req.method !== 'GET' && req.method !== 'HEAD') return { status: 405, body: 'GET only' };
    if (url.pathname === '/config.json') {
      return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rooms: config.rooms, maxText: config.maxText }) };
    }
    if (url.pathname === '/health') return { body: 'ok' };
    // corews's counters in the Prometheus text format, the Redis adapter's
    // (corews_adapter_*: reconnects, buffered, dropped) among them.
    if (url.pathname === '/metrics') return { headers: { 'content-type': 'text/plain; version=0.0.4' }, body: server.metrics() };
    const file = publicFiles[url.pathname];
    if (!file) return { status: 404, body: 'not found' };
    return { headers: { 'content-type': file[1], 'cache-control': 'no-cache' }, body: await readFile(path.join(here, 'public', file[0])) };
  },
  open(ws) {
    ws.data = {
      ...Rooms.connection(),
      // Chat messages only: joins and leaves do not spend a client's message burst. They
      // have a bucket of their own, as each join reads the history.
      bucket: new TokenBucket(config.rate, config.burst),
      joins: new TokenBucket(config.rate, config.burst),
      errors: new ErrorWindow(config.maxErrors, config.errorWindowMs),
    };
  },
  message(ws, data, isBinary) {
    let msg;
    try {
      msg = parseClientMessage(data, isBinary, limits);
      if (!(msg.type === 'message' ? ws.data.bucket : ws.data.joins).take()) {
        const what = msg.type === 'message' ? 'messages' : 'joins and leaves';
        throw new ChatError(ErrorCode.RATE_LIMITED, `at most ${config.rate} ${what} a second (bursts of ${config.burst})`);
      }
      if (msg.type !== 'join' && !ws.data.rooms.has(msg.channel)) {
        throw new ChatError(ErrorCode.NOT_JOINED, `join "${msg.channel}" first`);
      }
    } catch (err) {
      if (!(err instanceof ChatError)) throw err;
      refuse(ws, err);
      return;
    }
    if (msg.type === 'join') chat.join(ws, msg).catch((err) => internal(ws, 'join', err));
    else if (msg.type === 'leave') chat.leave(ws, msg.channel);
    else chat.message(ws, msg.channel, msg.text).catch((err) => internal(ws, 'message', err));
  },
  close(ws) {
    if (ws.data) chat.closed(ws);
  },
  error(err) {
    log(`handler error: ${err.stack ?? err}`);
  },
});

/** Answers a client's mistake; one that keeps making them is closed with 1008. */
function refuse(ws, err) {
  ws.send(errorJson(err.code, err.message));
  if (ws.data.errors.hit()) ws.close(1008, 'too many errors');
}

/** A failure that is not the client's (the database or Redis is down): said to the client, logged. */
function internal(ws, what, err) {
  log(`${what}: ${err.message}`);
  ws.send(errorJson('internal', `the server could not ${what === 'join' ? 'load the history' : 'store the message'}; try again`));
}

// With Redis, publishes cross processes through the adapter, wrapped by the room
// feed (feed.mjs). In one process there is nothing to adapt: every room message
// is published here, and Rooms sees it as it publishes.
if (config.redisUrl) {
  const feed = roomFeed(redisAdapter({ url: config.redisUrl }), (topic, text) => chat.seen(topic.slice('room:'.length), text));
  server.adapt(feed.adapter);
  for (const room of config.rooms) feed.hold(roomTopic(room));
}
// Read after the room topics are held, so the feed sees every message after these ids
// (but for any published while the broker's SUBSCRIBE was on its way: rooms.mjs copes).
chat = new Rooms({ server, history, presence, log, lastIds: await history.lastIds() });

await server.listen(config.port, config.host);
// What it uses, on stdout before the listening line.
console.log(`chat: rooms ${config.rooms.join(', ')}; texts up to ${config.maxText} characters`);
console.log(config.redisUrl ? `chat: pub/sub and presence via Redis ${config.redisUrl}` : 'chat: pub/sub and presence in this process (no REDIS_URL)');
console.log(`chat: ${history.describe}`);
console.log(`listening ${server.address().port}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.close({ timeout: 2000 });
  await presence.close().catch(() => {});
  await history.close().catch(() => {});
  process.exit(0);
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
