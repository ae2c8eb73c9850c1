// Message history: every message is stored in PostgreSQL (a server given by
// DATABASE_URL, or an embedded PGlite in a data folder), and the last N of each
// room are cached (a Redis list with REDIS_URL, else in memory).
//
// Ids come from a per-room counter row, bumped in the same statement as the
// insert: the row lock serializes a room's inserts across processes, so a
// room's ids commit in order and any snapshot of it is a prefix by id.
//
// Under load a room's messages are stored in batches (batch.mjs): what arrives
// while the room's previous INSERT is on its way goes in the next one, a single
// multi-row statement that bumps the counter by the batch's size, so the ids stay
// gap-free and in arrival order. The cache is pushed after the batch is stored and
// nobody waits for it: delivery does not depend on Redis being up.

import { RoomBatches } from './batch.mjs';

/** Schema versions, applied in order; `chat_migrations` records which ran. */
const MIGRATIONS = [
  {
    version: 1,
    sql: `
      CREATE TABLE chat_rooms (name text PRIMARY KEY, last_id bigint NOT NULL DEFAULT 0);
      CREATE TABLE chat_messages (
        room text NOT NULL REFERENCES chat_rooms(name),
        id bigint NOT NULL,
        user_name text NOT NULL,
        text text NOT NULL,
        ts bigint NOT NULL,
        PRIMARY KEY (room, id)
      );`,
  },
  {
    // Who wrote what, for moderation look-ups; also shows a second migration running.
    version: 2,
    sql: 'CREATE INDEX chat_messages_user ON chat_messages (user_name, ts);',
  },
];

/**
 * The database behind one interface: `query(sql, params) → rows`, `close()`, and
 * `transaction(fn)`, where fn gets `query` and `exec(sql)` (several statements) of the transaction.
 */
async function openDatabase({ databaseUrl, dataDir }) {
  if (databaseUrl) {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
    pool.on('error', (err) => console.error('postgres:', err.message));
    return {
      kind: `PostgreSQL ${redact(databaseUrl)}`,
      query: async (sql, params) => (await pool.query(sql, params)).rows,
      async transaction(fn) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const out = await fn(
            (sql, params) => client.query(sql, params).then((r) => r.rows),
            (sql) => client.query(sql).then(() => {}), // no parameters: the simple protocol, several statements
          );
          await client.query('COMMIT');
          return out;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        } finally {
          client.release();
        }
      },
      close: () => pool.end(),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  // Relaxed durability: a query resolves before its writes reach the folder (5× the
  // inserts a second here); a crash may lose the last messages, a clean stop loses none.
  const db = await PGlite.create(dataDir, { relaxedDurability: true });
  return {
    kind: `embedded PGlite in ${dataDir}`,
    query: async (sql, params) => (await db.query(sql, params)).rows,
    transaction: (fn) =>
      db.transaction((tx) => fn((sql, params) => tx.query(sql, params).then((r) => r.rows), (sql) => tx.exec(sql).then(() => {}))),
    close: () => db.close(),
  };
}

/** A URL without its password, for the start-up line. */
function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

/** Applies the migrations not yet recorded, under an advisory lock so that processes starting together agree. */
async function migrate(db) {
  return db.transaction(async (q, exec) => {
    await q('SELECT pg_advisory_xact_lock(727001)');
    await q('CREATE TABLE IF NOT EXISTS chat_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await q('SELECT version FROM chat_migrations')).map((r) => Number(r.version)));
    const applied = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await exec(m.sql);
      await q('INSERT INTO chat_migrations (version) VALUES ($1)', [m.version]);
      applied.push(m.version);
    }
    return applied;
  });
}

/** The last-N cache kept in this process (embedded mode). */
function memoryCache(size) {
  const lists = new Map();
  return {
    kind: 'in-memory',
    async push(room, msgs) {
      let l = lists.get(room);
      if (!l) lists.set(room, (l = []));
      l.push(...msgs);
      if (l.length > size) l.splice(0, l.length - size);
    },
    async recent(room) {
      return [...(lists.get(room) ?? [])];
    },
    async close() {},
  };
}

/** The last-N cache in Redis lists (`chat:recent:<room>`, newest first), shared by every process. */
async function redisCache(url, size) {
  const { default: Redis } = await import('ioredis');
  // No offline queue: while Redis is unreachable a command fails at once instead of
  // waiting for reconnects (the push is skipped, a read falls back to PostgreSQL).
  const redis = new Redis(url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
  redis.on('error', () => {}); // reconnects by itself
  // Connected before the first push (without an offline queue it would fail), or given
  // up on at the first error: the chat starts anyway, reading PostgreSQL till Redis is back.
  await new Promise((resolve) => {
    redis.once('ready', resolve);
    redis.once('error', resolve);
  });
  const key = (room) => `chat:recent:${room}`;
  return {
    kind: 'Redis lists',
    /** One LPUSH of the batch (oldest first, so the newest is at the head) and one LTRIM, in one round trip. */
    async push(room, msgs) {
      const k = key(room);
      await redis.multi().lpush(k, ...msgs.map((m) => JSON.stringify(m))).ltrim(k, 0, size - 1).exec();
    },
    async recent(room) {
      const raw = await redis.lrange(key(room), 0, size - 1);
      return raw.map((s) => JSON.parse(s)).reverse();
    },
    close: () => redis.quit().then(() => {}, () => {}),
  };
}

const byId = (a, b) => a.id - b.id;
const rowToMessage = (r) => ({ channel: r.room, user: r.user_name, text: r.text, id: Number(r.id), ts: Number(r.ts) });

/**
 * True when `cached` (sorted by id) can stand for the room's last `size` messages up
 * to at least `upTo`: full (a short one may be cold: a restarted Redis), one run of ids
 * (a push skipped while Redis was unreachable leaves a hole), and not behind what this
 * process has already delivered (pushes land after delivery).
 */
function cacheHolds(cached, size, upTo) {
  if (cached.length !== size) return false;
  for (let i = 1; i < cached.length; i++) if (cached[i].id !== cached[i - 1].id + 1) return false;
  return cached[cached.length - 1].id >= upTo;
}

/** One multi-row INSERT of a room's batch: the counter moves by the batch's size, ids in array order. */
const INSERT_BATCH = `
  WITH seq AS (UPDATE chat_rooms SET last_id = last_id + $2 WHERE name = $1 RETURNING last_id)
  INSERT INTO chat_messages (room, id, user_name, text, ts)
  SELECT $1, seq.last_id - $2 + m.ord, m.user_name, m.text, m.ts
  FROM seq, unnest($3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS m(user_name, text, ts, ord)
  RETURNING id`;

/**
 * Opens the store: `add(room, user, text)` stores a message and returns it with
 * its id and ts (a room's adds resolve in id order); `recent(room, since?, upTo?)`
 * the last `size` messages (or all after `since`), oldest first, holding every id
 * up to `upTo` at least. The cache answers when it can prove it holds them
 * (cacheHolds), else PostgreSQL does.
 */
export async function openHistory({ databaseUrl, dataDir, redisUrl, rooms, size }) {
  const db = await openDatabase({ databaseUrl, dataDir });
  const applied = await migrate(db);
  for (const room of rooms) await db.query('INSERT INTO chat_rooms (name) VALUES ($1) ON CONFLICT DO NOTHING', [room]);
  const cache = redisUrl ? await redisCache(redisUrl, size) : memoryCache(size);

  async function fromDb(room, since) {
    const rows =
      since === undefined
        ? await db.query('SELECT * FROM chat_messages WHERE room = $1 ORDER BY id DESC LIMIT $2', [room, size])
        : await db.query('SELECT * FROM chat_messages WHERE room = $1 AND id > $2 ORDER BY id LIMIT 10000', [room, since]);
    return rows.map(rowToMessage).sort(byId);
  }

  const batches = new RoomBatches(async (room, items) => {
    const rows = await db.query(INSERT_BATCH, [room, items.length, items.map((m) => m.user), items.map((m) => m.text), items.map((m) => m.ts)]);
    const ids = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
    const msgs = items.map((m, i) => ({ channel: room, user: m.user, text: m.text, id: ids[i], ts: m.ts }));
    cache.push(room, msgs).catch(() => {}); // not awaited: a cache push that fails leaves a hole cacheHolds() sees
    return msgs;
  });

  return {
    describe: `history in ${db.kind} (migrations applied now: ${applied.join(', ') || 'none'}), last ${size} per room cached in ${cache.kind}`,
    add: (room, user, text) => batches.add(room, { user, text, ts: Date.now() }),
    async recent(room, since, upTo = 0) {
      let cached;
      try {
        cached = (await cache.recent(room)).sort(byId);
      } catch {
        cached = [];
      }
      if (cacheHolds(cached, size, upTo) && (since === undefined || since >= cached[0].id - 1)) {
        return since === undefined ? cached : cached.filter((m) => m.id > since);
      }
      return fromDb(room, since);
    },
    /** room → its last id now. */
    async lastIds() {
      const rows = await db.query('SELECT name, last_id FROM chat_rooms');
      return new Map(rows.map((r) => [r.name, Number(r.last_id)]));
    },
    async close() {
      await cache.close();
      await db.close();
    },
  };
}
