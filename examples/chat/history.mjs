// Message history: every message is stored in PostgreSQL (a server given by
// DATABASE_URL, or an embedded PGlite in a data folder), and the last N of each
// room are cached (a Redis list with REDIS_URL, else in memory).
//
// Ids come from a per-room counter row, bumped in the same statement as the
// insert: the row lock serializes a room's inserts across processes, so a
// room's ids commit in order and any snapshot of it is a prefix by id.

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
    async push(room, msg) {
      let l = lists.get(room);
      if (!l) lists.set(room, (l = []));
      l.push(msg);
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
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  redis.on('error', () => {}); // reconnects by itself; a failed command falls back to PostgreSQL
  const key = (room) => `chat:recent:${room}`;
  return {
    kind: 'Redis lists',
    async push(room, msg) {
      await redis.multi().lpush(key(room), JSON.stringify(msg)).ltrim(key(room), 0, size - 1).exec();
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
 * Opens the store: `add(room, user, text)` stores a message and returns it with
 * its id and ts; `recent(room, since?)` the last `size` messages (or all after
 * `since`), oldest first. The cache answers when it can prove it holds them:
 * only a full cache (`size` entries) is trusted, as one that is short may be
 * cold (a restarted Redis), so a young room reads PostgreSQL.
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

  return {
    describe: `history in ${db.kind} (migrations applied now: ${applied.join(', ') || 'none'}), last ${size} per room cached in ${cache.kind}`,
    async add(room, user, text) {
      const ts = Date.now();
      const [row] = await db.query(
        `WITH seq AS (UPDATE chat_rooms SET last_id = last_id + 1 WHERE name = $1 RETURNING last_id)
         INSERT INTO chat_messages (room, id, user_name, text, ts) SELECT $1, last_id, $2, $3, $4 FROM seq RETURNING id`,
        [room, user, text, ts],
      );
      const msg = { channel: room, user, text, id: Number(row.id), ts };
      await cache.push(room, msg).catch(() => {});
      return msg;
    },
    async recent(room, since) {
      let cached;
      try {
        cached = (await cache.recent(room)).sort(byId);
      } catch {
        cached = [];
      }
      if (cached.length === size && (since === undefined || since >= cached[0].id - 1)) {
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
