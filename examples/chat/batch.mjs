// Per-room batching of stores: at most one store of a room in flight from this
// process; what arrives meanwhile waits and goes in the next one, all together.
// A room's results come back in the order the items were added, batch after
// batch, so whoever awaits them (rooms.mjs publishes) sees them in id order.

/** Items per store at most: bounds one statement's size when a room's queue runs long. */
const MAX_BATCH = 500;

export class RoomBatches {
  /** `store(room, items) → results` (one per item, in order): one round trip for the lot. */
  constructor(store) {
    this.store = store;
    /** room → { queue: [{ item, resolve, reject }], busy } */
    this.rooms = new Map();
  }

  /** Queues `item` for `room`; resolves with its result once its batch is stored. */
  add(room, item) {
    let r = this.rooms.get(room);
    if (!r) this.rooms.set(room, (r = { queue: [], busy: false }));
    return new Promise((resolve, reject) => {
      r.queue.push({ item, resolve, reject });
      // Not at once: the rest of this tick's messages (one read from the socket holds many) join the batch.
      if (!r.busy) {
        r.busy = true;
        setImmediate(() => this.#flush(room, r));
      }
    });
  }

  async #flush(room, r) {
    while (r.queue.length > 0) {
      const batch = r.queue.splice(0, MAX_BATCH);
      try {
        const results = await this.store(room, batch.map((b) => b.item));
        for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
      } catch (err) {
        if (batch.length === 1) batch[0].reject(err);
        // One bad item (a text PostgreSQL refuses) must not fail the others: a failed
        // statement stored nothing, so each goes again on its own, in order.
        else for (const b of batch) await this.store(room, [b.item]).then(([r]) => b.resolve(r), b.reject);
      }
    }
    r.busy = false;
    this.rooms.delete(room);
  }
}
