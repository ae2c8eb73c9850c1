// Rooms per connection: join (history, then live, with nothing lost or doubled
// at the seam), leave, chat messages, and presence lists on every change.
import { LOCAL_PREFIX } from './feed.mjs';
import { messageJson, presenceJson } from './protocol.mjs';

export const roomTopic = (room) => `room:${room}`;
const presenceTopic = (room) => `${LOCAL_PREFIX}presence:${room}`;

export class Rooms {
  /**
   * `server`: the corews Server; `history`: from openHistory(); `presence`: a
   * Presence (memory or Redis); `log`: for errors that are not the client's.
   */
  constructor({ server, history, presence, log }) {
    this.server = server;
    this.history = history;
    this.presence = presence;
    this.log = log;
    /** room → joins whose history is still on its way: { ws, buffer: [{ id, json }] }. */
    this.staging = new Map();
    /** `room\nuser` → local connections holding that user in that room. */
    this.holders = new Map();
    /** room → the tail of its publish chain (this process publishes a room's messages in id order). */
    this.chains = new Map();
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

  /** A room message seen by this process (its own or another's); buffers it for joins in progress. */
  seen(room, json, id) {
    const joins = this.staging.get(room);
    if (!joins || joins.size === 0) return;
    if (id === undefined) {
      try {
        id = JSON.parse(json).id;
      } catch {
        return;
      }
    }
    for (const join of joins) join.buffer.push({ id, json });
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
      [history] = await Promise.all([this.history.recent(channel, since), this.#hold(channel, user)]);
    } catch (err) {
      joins.delete(join);
      if (state.rooms.get(channel) === join) state.rooms.delete(channel);
      this.#release(channel, user);
      throw err;
    }
    joins.delete(join);
    if (state.rooms.get(channel) !== join || ws.readyState !== 1) return; // left or gone meanwhile
    // The seam: history, then what went live while it loaded (minus what the history
    // already holds), then the native subscription, all in this tick.
    const ids = new Set();
    for (const m of history) {
      ids.add(m.id);
      ws.send(messageJson(m));
    }
    for (const { id, json } of join.buffer) {
      if (ids.has(id) || (since !== undefined && id <= since)) continue;
      ids.add(id);
      ws.send(json);
    }
    join.buffer = null;
    ws.subscribe(roomTopic(channel));
    ws.subscribe(presenceTopic(channel));
    const users = await this.presence.members(channel);
    if (state.rooms.get(channel) === join) ws.send(presenceJson(channel, users));
  }

  leave(ws, channel) {
    const join = ws.data.rooms.get(channel);
    if (!join) return false;
    ws.data.rooms.delete(channel);
    this.staging.get(channel)?.delete(join);
    ws.unsubscribe(roomTopic(channel));
    ws.unsubscribe(presenceTopic(channel));
    this.#release(channel, join.user);
    return true;
  }

  /** The connection is gone: its subscriptions ended with it, its presence ends here. */
  closed(ws) {
    for (const [channel, join] of ws.data.rooms) {
      this.staging.get(channel)?.delete(join);
      this.#release(channel, join.user);
    }
    ws.data.rooms.clear();
  }

  /** Stores and publishes a message from `ws`, which must have joined `channel` (else false). */
  message(ws, channel, text) {
    const join = ws.data.rooms.get(channel);
    if (!join) return null;
    const prev = this.chains.get(channel) ?? Promise.resolve();
    const done = prev.then(async () => {
      const msg = await this.history.add(channel, join.user, text);
      const json = messageJson(msg);
      this.seen(channel, json, msg.id);
      this.server.publish(roomTopic(channel), json);
    });
    const tail = done.catch(() => {});
    this.chains.set(channel, tail);
    void tail.then(() => {
      if (this.chains.get(channel) === tail) this.chains.delete(channel);
    });
    return done;
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
