// The Buffer a handler gets for a binary message, ping or pong: a view into its
// batch's ArrayBuffer (see native/addon/batch_to_js.h), made once per message.

/**
 * A Buffer made straight from an ArrayBuffer known to be one, with bounds known to be in it.
 * `Buffer.from(arrayBuffer, offset, length)` first asks C++ what its argument is
 * (`isAnyArrayBuffer`, a call out of JIT-compiled code) and checks the bounds in JS; at one
 * message per call that was a large share of a small message's cost on the JS thread
 * (docs/where-the-time-goes.md, "32 B at depth 16"). The result is a Buffer in every way
 * a handler can use one: `instanceof Buffer`, `Buffer.isBuffer`, every Buffer method, its
 * `constructor` is `Buffer` (so `subarray`/`slice` give Buffers, as a Buffer's do); only
 * `Object.getPrototypeOf` tells it apart (one prototype more in its chain).
 */
class ArenaBuffer extends Uint8Array {}
Object.setPrototypeOf(ArenaBuffer.prototype, Buffer.prototype);
Object.defineProperty(ArenaBuffer.prototype, 'constructor', { value: Buffer, writable: true, configurable: true, enumerable: false });

/** A Buffer over `length` bytes of `arena` from `offset`; the caller keeps both in bounds. */
export function arenaBuffer(arena: ArrayBuffer, offset: number, length: number): Buffer {
  return new ArenaBuffer(arena, offset, length) as unknown as Buffer;
}
