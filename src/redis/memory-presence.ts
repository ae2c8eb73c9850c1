// memoryPresence(): presence within one process, no Redis (one-process deployments,
// embedded modes). Same interface and events as redisPresence(); nothing expires, since
// nothing but this process can die with its holds.
import { EventEmitter } from 'node:events';
import { checkNames, Holds, type Presence } from './presence';

class MemoryPresence extends EventEmitter implements Presence {
  /** Holds per room, then member. */
  readonly #rooms = new Map<string, Holds<string>>();
  /** Rooms watched without holding. */
  readonly #watched = new Set<string>();
  #closed = false;

  async join(room: string, member: string): Promise<void> {
    checkNames('join', room, member, true);
    if (this.#closed) throw new Error('join: the presence tracker is closed');
    let holds = this.#rooms.get(room);
    if (holds === undefined) this.#rooms.set(room, (holds = new Holds()));
    if (holds.add(member)) this.emit('join', room, member);
  }

  async leave(room: string, member: string): Promise<void> {
    checkNames('leave', room, member, true);
    const holds = this.#rooms.get(room);
    if (holds === undefined || !holds.remove(member)) return;
    if (holds.keys().length === 0) this.#rooms.delete(room);
    this.emit('leave', room, member);
  }

  async members(room: string): Promise<string[]> {
    checkNames('members', room);
    return (this.#rooms.get(room)?.keys() ?? []).sort();
  }

  watch(room: string): void {
    checkNames('watch', room);
    this.#watched.add(room);
  }

  unwatch(room: string): void {
    checkNames('unwatch', room);
    this.#watched.delete(room);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [room, holds] of [...this.#rooms]) {
      this.#rooms.delete(room);
      for (const member of holds.keys()) this.emit('leave', room, member);
    }
    this.#watched.clear();
  }
}

/**
 * Presence within this process only (no Redis): the {@link Presence} interface of
 * `redisPresence()` for a deployment of one process.
 */
export function memoryPresence(): Presence {
  return new MemoryPresence();
}
