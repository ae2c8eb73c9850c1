// Rooms per connection: join (history, then live, with nothing lost or doubled
// at the seam), leave, chat messages, and presence lists on every change.
import { LOCAL_PREFIX } from './feed.mjs';
import { messageJson, presenceJson } from './protocol.mjs';

export const roomTopic = (room) => `room:${room}`;
const ID_AT_END = /,"id":(\d+),"ts":\d+\}$/;
/** How long a join waits for the room's mark before it goes live anyway. */
const LIVE_WAIT_MS = 2000;
const presenceTopic = (room) => `${LOCAL_PREFIX}presence:${room}`;

export class Rooms {
  /**
   * `server`: the corews Server; `history`: from openHistory(); `presence`: a
   * Presence (memory or Redis); `log`: for errors that are not the client's.
   */
  constructor({ server, history, presence, log, lastIds }) {
    this.server = server;
    this.history = history;
    this.presence = presence;
    this.log = log;
    /** room → joins not yet live: { ws, user, buffer: [{ id, json }], sent?: Set, waitFor?, timer? }. */
    this.staging = new Map();
    /**
     * room → { w, ahead }: every id ≤ w has passed through this process (published here or
     * delivered from another), and `ahead` the ids above w that did. A room's ids have no
     * gaps (history.mjs), so w tells when a join may go live: once w reaches the last id of
     * its history, no message of that history can still be on its way to be delivered twice.
     * `top` is the highest id that passed: a join's history must reach it, as what passed
     * before the join began is not buffered for it.
     */
    this.marks = new Map([...lastIds].map(([room, w]) => [room, { w, top: w, ahead: new Set() }]));
    /** `room\nuser` → local connections holding that user in that room. */
    this.holders = new Map();
    /** room → { running, again }: presence lists are fetched one at a time per room, the latest wins. */
    this.presenceJobs = new Map();
    const changed = (room) => this.#sendPresence(room);
    presence.on('join', changed);
    presence.on('leave', changed);
  }

  /** Per-connection state, for ws.data. */
  static connection() {
    return { rooms: new Map() };
  }

  /**
   * A room message that passed through this process, after it was delivered to the room's
   * live sockets (its own publish, or another process's): buffered for the joins in
   * progress, and it moves the room's mark, which may let waiting joins go live.
   */
  seen(room, json, id) {
    if (id === undefined) {
      const m = ID_AT_END.exec(json); // messageJson() ends with the id and ts; a string cannot hold a bare quote
      if (!m) return;
      id = Number(m[1]);
    }
    const mark = this.marks.get(room);
    if (mark) {
      if (id > mark.top) mark.top = id;
      if (id === mark.w + 1) {
        mark.w = id;
        while (mark.ahead.delete(mark.w + 1)) mark.w++;
      } else if (id > mark.w) {
        mark.ahead.add(id);
        if (mark.ahead.size > 10_000) this.#resync(mark, Math.max(...mark.ahead));
      }
    }
    const joins = this.staging.get(room);
    if (!joins || joins.size === 0) return;
    for (const join of joins) {
      join.buffer.push({ id, json });
      if (join.waitFor !== undefined && mark && mark.w >= join.waitFor) this.#goLive(room, join);
    }
  }

  async join(ws, { channel, user, since }) {
    const state = ws.data;
    if (state.rooms.has(channel)) this.leave(ws, channel);
    const join = { ws, user, buffer: [] };
    state.rooms.set(channel, join);
    let joins = this.staging.get(channel);
    if (!joins) this.staging.set(channel, (joins = new Set()));
    joins.add(join);
    let history;
    try {
      // What passed before this join was staged is not in its buffer: the history must hold it.
      const upTo = this.marks.get(channel)?.top ?? 0;
      [history] = await Promise.all([this.history.recent(channel, since, upTo), this.#hold(channel, user)]);
    } catch (err) {
      joins.delete(join);
      if (state.rooms.get(channel) === join) state.rooms.delete(channel);
      this.#release(channel, user);
      throw err;
    }
    if (state.rooms.get(channel) !== join || ws.readyState !== 1) {
      joins.delete(join); // left or gone meanwhile
      return;
    }
    // The seam: history, then what passed through while it loaded (less what the history
    // holds); live once the room's mark reached the history's last id (at once, mostly).
    join.sent = new Set();
    if (since !== undefined) join.since = since;
    let last = 0;
    for (const m of history) {
      join.sent.add(m.id);
      last = Math.max(last, m.id);
      ws.send(messageJson(m));
    }
    // The history is one run of ids up to `last` (a snapshot of PostgreSQL, or a cache
    // that cacheHolds() accepted): a buffered id at or below it is in it or older than it.
    join.last = last;
    const mark = this.marks.get(channel);
    if (!mark || mark.w >= last) {
      this.#goLive(channel, join);
      return;
    }
    join.waitFor = last;
    // A mark that does not get there (messages published before this process held the
    // room, or dropped by the broker) is moved up: better a rare repeat than a stuck join.
    join.timer = setTimeout(() => {
      this.#resync(mark, last);
      this.#goLive(channel, join);
    }, LIVE_WAIT_MS);
  }

  /** Sends what was buffered and the history lacks, then subscribes natively, in one tick. */
  #goLive(channel, join) {
    const { ws } = join;
    this.staging.get(channel)?.delete(join);
    clearTimeout(join.timer);
    join.waitFor = undefined;
    if (ws.data.rooms.get(channel) !== join || ws.readyState !== 1) return;
    for (const { id, json } of join.buffer) {
      if (id <= join.last || join.sent.has(id) || (join.since !== undefined && id <= join.since)) continue;
      join.sent.add(id);
      ws.send(json);
    }
    join.buffer = null;
    join.sent = null;
    ws.subscribe(roomTopic(channel));
    ws.subscribe(presenceTopic(channel));
    this.presence.members(channel).then(
      (users) => {
        if (ws.data.rooms.get(channel) === join) ws.send(presenceJson(channel, users));
      },
      (err) => this.log(`presence of ${channel}: ${err.message}`),
    );
  }

  #resync(mark, w) {
    if (mark.w >= w) return;
    mark.w = w;
    for (const id of mark.ahead) if (id <= w) mark.ahead.delete(id);
    while (mark.ahead.delete(mark.w + 1)) mark.w++;
    if (mark.w > mark.top) mark.top = mark.w;
  }

  leave(ws, channel) {
    const join = ws.data.rooms.get(channel);
    if (!join) return false;
    ws.data.rooms.delete(channel);
    this.staging.get(channel)?.delete(join);
    clearTimeout(join.timer);
    ws.unsubscribe(roomTopic(channel));
    ws.unsubscribe(presenceTopic(channel));
    this.#release(channel, join.user);
    return true;
  }

  /** The connection is gone: its subscriptions ended with it, its presence ends here. */
  closed(ws) {
    for (const [channel, join] of ws.data.rooms) {
      this.staging.get(channel)?.delete(join);
      clearTimeout(join.timer);
      this.#release(channel, join.user);
    }
    ws.data.rooms.clear();
  }

  /**
   * Stores and publishes a message from `ws`, which must have joined `channel` (else null).
   * A room's adds resolve in id order (history.mjs batches them), so this process publishes
   * them in id order without waiting for one before storing the next.
   */
  message(ws, channel, text) {
    const join = ws.data.rooms.get(channel);
    if (!join) return null;
    return this.history.add(channel, join.user, text).then((msg) => {
      const json = messageJson(msg);
      this.server.publish(roomTopic(channel), json);
      this.seen(channel, json, msg.id);
    });
  }

  async #hold(room, user) {
    const key = `${room}\n${user}`;
    const n = this.holders.get(key) ?? 0;
    this.holders.set(key, n + 1);
    if (n === 0) await this.presence.join(room, user);
  }

  #release(room, user) {
    const key = `${room}\n${user}`;
    const n = this.holders.get(key) ?? 0;
    if (n > 1) {
      this.holders.set(key, n - 1);
      return;
    }
    this.holders.delete(key);
    if (n === 1) this.presence.leave(room, user).catch((err) => this.log(`presence leave: ${err.message}`));
  }

  #sendPresence(room) {
    let job = this.presenceJobs.get(room);
    if (job) {
      job.again = true;
      return;
    }
    job = { again: false };
    this.presenceJobs.set(room, job);
    const run = async () => {
      do {
        job.again = false;
        try {
          const users = await this.presence.members(room);
          this.server.publish(presenceTopic(room), presenceJson(room, users));
        } catch (err) {
          this.log(`presence of ${room}: ${err.message}`);
        }
      } while (job.again);
      this.presenceJobs.delete(room);
    };
    void run();
  }
}
