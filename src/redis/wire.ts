// One Redis pub/sub message of the adapter. The topic is the channel (after the prefix);
// the message is a fixed 18-byte header, then the payload as published:
//   byte 0      format version (1)
//   byte 1      flags: bit 0 set for a binary message (else text, UTF-8)
//   bytes 2–9   the publishing process's origin id (random), so it skips its own
//   bytes 10–17 the publish time, ms since the epoch, float64 little-endian (for lagMs)
// Binary-safe: payloads travel as Buffers, never through a string.

export const WIRE_VERSION = 1;
export const ORIGIN_BYTES = 8;
export const HEADER_BYTES = 2 + ORIGIN_BYTES + 8;

/** A message as read off the wire. */
export interface WireMessage {
  binary: boolean;
  origin: Buffer;
  sentAt: number;
  payload: Buffer;
}

/** Frames one message: the header, then `data` (a string is written as UTF-8). */
export function encode(origin: Buffer, binary: boolean, data: Uint8Array | string): Buffer {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  const out = Buffer.allocUnsafe(HEADER_BYTES + size);
  out[0] = WIRE_VERSION;
  out[1] = binary ? 1 : 0;
  origin.copy(out, 2, 0, ORIGIN_BYTES);
  out.writeDoubleLE(Date.now(), 2 + ORIGIN_BYTES);
  if (typeof data === 'string') out.write(data, HEADER_BYTES, 'utf8');
  else out.set(data, HEADER_BYTES);
  return out;
}

/** Reads one message; undefined for one not in this format (another writer on the channel). */
export function decode(message: Buffer): WireMessage | undefined {
  if (message.length < HEADER_BYTES || message[0] !== WIRE_VERSION || (message[1] & ~1) !== 0) return undefined;
  return {
    binary: (message[1] & 1) === 1,
    origin: message.subarray(2, 2 + ORIGIN_BYTES),
    sentAt: message.readDoubleLE(2 + ORIGIN_BYTES),
    payload: message.subarray(HEADER_BYTES),
  };
}
